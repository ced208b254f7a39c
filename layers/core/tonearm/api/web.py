"""The web page (``/`` and its files under ``/ui/``) and the API docs (``/docs``, ``/redoc``), all offline.

Nothing here is an API: the page is plain ES modules that call the public routes exactly as any client
does (``/v1/upload``, ``/v1/job``, ``/v1/workflow``, Sofy's ``/generate-music``), with the key the person
enters. Swagger UI and ReDoc come from the ``fastapi-offline`` wheel (its ``static/`` folder), served under
``/ui/vendor/``, so ``/docs`` renders on a machine without internet. None of these routes is in the
OpenAPI document.

Caching: every file answers with an ``ETag`` (size and modification time) and ``Cache-Control:
no-cache``, so a browser revalidates (a ``304`` costs nothing) and never runs a page older than the
deployment; the files are a few kilobytes apart from the vendored bundles.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from html import escape
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

#: The page's own files (shipped in the package, so in the core layer and the images alike).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Content types by suffix: explicit, not guessed from the host's mime tables (ES modules must be served
#: as JavaScript, or the browser refuses them).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
#: Vendored files the docs pages load (``fastapi_offline/static``), by the name they are served under.
VENDOR_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
#: What a vendored file would fetch from elsewhere, and what it gets instead: ReDoc's sidebar shows
#: Redocly's logo from their CDN (an ``<img>``, which hides itself when it cannot load).
VENDOR_PATCHES = {"redoc.standalone.js": ((b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,"),)}
CACHE_CONTROL = "no-cache"


def vendor_dir() -> Path | None:
    """``fastapi_offline``'s static folder, or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@lru_cache(maxsize=len(VENDOR_PATCHES))
def _patched(path: Path) -> bytes:
    data = path.read_bytes()
    for old, new in VENDOR_PATCHES[path.name]:
        data = data.replace(old, new)
    return data


def _file(request: Request, path: Path) -> Response:
    if not path.is_file():
        return Response(status_code=404, content="not found", media_type="text/plain")
    stat = path.stat()
    etag = f'"{stat.st_size:x}-{int(stat.st_mtime_ns):x}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    if path.name in VENDOR_PATCHES and path.parent != STATIC_DIR:
        return Response(_patched(path), media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


def _root(request: Request) -> str:
    """The stage prefix clients see (``/prod`` behind API Gateway), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def install_web(app: FastAPI) -> None:
    """Serve the page at ``/`` and ``/ui/...``, Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

    ``app`` must be built with ``docs_url=None, redoc_url=None`` (these replace FastAPI's CDN pages).
    """
    vendor = vendor_dir()

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> Response:
        # the page's relative URLs (its files, the API) resolve against <base>: the stage path, so the
        # page works at /prod as well as at /prod/ behind API Gateway
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        base = escape(_root(request) + "/", quote=True)
        body = html.replace('<base href="/">', f'<base href="{base}">', 1)
        headers = {"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
        return HTMLResponse(body, headers=headers)

    @app.get("/ui/{name:path}", include_in_schema=False)
    def asset(name: str, request: Request) -> Response:
        if name.startswith("vendor/"):
            file_name = name.removeprefix("vendor/")
            if vendor is None or file_name not in VENDOR_FILES:
                return Response(status_code=404, content="not found", media_type="text/plain")
            return _file(request, vendor / file_name)
        path = (STATIC_DIR / name).resolve()
        if not path.is_relative_to(STATIC_DIR) or path.name == "index.html":
            return Response(status_code=404, content="not found", media_type="text/plain")
        return _file(request, path)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        html = get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}/ui/vendor/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/ui/vendor/swagger-ui.css",
            swagger_favicon_url=f"{root}/ui/favicon.svg",
            # no validator badge: it would send the document to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
        html.headers["Cache-Control"] = CACHE_CONTROL
        return html

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        html = get_redoc_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - API reference",
            redoc_js_url=f"{root}/ui/vendor/redoc.standalone.js",
            redoc_favicon_url=f"{root}/ui/favicon.svg",
            with_google_fonts=False,
        )
        html.headers["Cache-Control"] = CACHE_CONTROL
        return html
