"""The page and the offline docs: served from the package with the right types, no CDN, not in OpenAPI."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tonearm.local_stack.runtime import LocalRuntime


@pytest.fixture
def client(local_runtime: LocalRuntime) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


def test_the_page_and_its_modules_are_served_with_their_types(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<base href="/">' in page.text and page.headers["cache-control"] == "no-cache"
    for src in re.findall(r'(?:src|href)="(ui/[^"]+)"', page.text):
        asset = client.get("/" + src)
        assert asset.status_code == 200, src
    modules = ["app.js", "api.js", "lanes.js", "player.js"]
    for name in modules:
        js = client.get(f"/ui/{name}")
        assert js.headers["content-type"].startswith("text/javascript"), name
        # no URL to anywhere else (the SVG namespace is a name, never fetched)
        external = set(re.findall(r"https?://[^\s\"'`]*", js.text)) - {"http://www.w3.org/2000/svg"}
        assert not external, (name, external)
        # imports are relative: the page works under a stage path
        assert all(spec.startswith("./") for spec in re.findall(r'from "([^"]+)"', js.text)), name
    assert client.get("/ui/style.css").headers["content-type"].startswith("text/css")


def test_files_revalidate_with_an_etag(client: TestClient) -> None:
    first = client.get("/ui/app.js")
    again = client.get("/ui/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path", ["/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/vendor/core.py", "/ui/nothing.js", "/ui/index.html"]
)
def test_nothing_outside_the_static_folder_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_everything_from_the_api(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text


def test_docs_under_a_stage_path(local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    from tonearm.api.app import create_app

    client = TestClient(create_app(local_runtime.services), root_path="/prod")
    assert "/prod/ui/vendor/swagger-ui-bundle.js" in client.get("/docs").text
    assert '<base href="/prod/">' in client.get("/").text


def test_the_page_routes_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/ui/{name}", "/docs", "/redoc"} & set(paths)
