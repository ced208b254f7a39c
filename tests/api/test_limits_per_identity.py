"""Limits that limit (issue 18, part 8): every API is rate-limited per application (its key, however it is
spelled or wherever it is sent), else per client address; ``X-Forwarded-For`` counts only from trusted
proxies; a 429 comes in each API's own shape with ``Retry-After``; ``/metrics`` stays bounded whatever
methods and paths it is sent, and can be put behind a key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tonearm.local_stack.runtime import LocalRuntime

KEY = "test-key"
AUTH = {"Authorization": KEY}


def limited_app(runtime: LocalRuntime, *, per_minute: int = 2, **settings: Any) -> FastAPI:
    """The app with every API limited to ``per_minute`` requests a minute (Sofy's own limit too)."""
    from tonearm.api.app import create_app

    current = runtime.services.settings
    current.api_rate_limit_per_minute = current.rate_limit_per_minute = per_minute
    for name, value in settings.items():
        setattr(current, name, value)
    return create_app(runtime.services)


def make_client(
    runtime: LocalRuntime, *, client: tuple[str, int] = ("203.0.113.1", 50000), **settings: Any
) -> TestClient:
    """A client of ``limited_app`` at the address ``client``."""
    return TestClient(limited_app(runtime, **settings), client=client)


def sami(token: str) -> dict[str, Any]:
    """A SAMI request that is refused (no audio) right after the limiter counted it: nothing is decoded."""
    return {"token": token, "namespace": "MusicTagging", "payload": "{}"}


#: One cheap request per API, the key sent the way that API's clients send it, and how the API's
#: 429 body says "rate limited".
def _tonearm(body: Any) -> bool:
    return bool(body["error"]["code"] == "rate_limited")


def _sami(body: Any) -> bool:
    return bool(body["error_code"] == "rate_limited" and body["status_code"] // 100000 == 429)


def _sofy(body: Any) -> bool:
    return bool(body["error"]["code"] == "rate_limited" and body["detail"].startswith("Rate limit exceeded"))


def _musicflow(body: Any) -> bool:
    return bool(body["detail"]["failure_type"] == "rate_limited" and body["detail"]["status_code"] == 429)


APIS: dict[str, tuple[Callable[[TestClient, str], httpx.Response], Callable[[Any], bool]]] = {
    "job API": (lambda c, key: c.get("/v1/application", headers={"Authorization": key}), _tonearm),
    "SAMI": (lambda c, key: c.post("/api/v1/invoke", json=sami(key)), _sami),
    "AcousticSense": (
        lambda c, key: c.post("/analyze-with-webhook", json={}, headers={"X-API-Key": key}),
        _tonearm,
    ),
    "MusicFlow": (lambda c, key: c.get("/api/model", headers={"Authorization": key}), _musicflow),
    "Sofy": (lambda c, key: c.get("/music-status/nope", headers={"Authorization": key}), _sofy),
}


@pytest.mark.parametrize("api", APIS)
def test_every_api_is_rate_limited_in_its_own_shape(local_runtime: LocalRuntime, api: str) -> None:
    send, is_rate_limited = APIS[api]
    client = make_client(local_runtime)
    first, second, third = (send(client, KEY) for _ in range(3))
    assert first.status_code != 429 and second.status_code != 429
    assert first.headers["X-RateLimit-Limit"] == "2" and second.headers["X-RateLimit-Remaining"] == "0"
    assert third.status_code == 429, third.text
    assert 1 <= int(third.headers["Retry-After"]) <= 60 and third.headers["X-RateLimit-Remaining"] == "0"
    assert is_rate_limited(third.json())
    # the 429 is documented on the route it came from
    document = client.get("/openapi.json").json()
    route = third.request.url.path if api != "Sofy" else "/music-status/{task_id}"
    assert "429" in document["paths"][route][third.request.method.lower()]["responses"]


@pytest.mark.parametrize("api", APIS)
def test_one_key_however_it_is_spelled_is_one_application(local_runtime: LocalRuntime, api: str) -> None:
    send, _ = APIS[api]
    client = make_client(local_runtime)
    spellings = [KEY, f"Bearer {KEY}", f"  bearer   {KEY} "]
    assert [send(client, key).status_code == 429 for key in spellings] == [False, False, True]
    # another application (another key) has its own budget
    assert send(client, "another-key").status_code != 429


def test_sami_counts_the_token_sent_in_the_body_or_the_query(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    body = sami(KEY)
    del body["token"]
    client.post("/api/v1/invoke", json=sami(KEY))
    client.post("/api/v1/invoke", params={"token": KEY}, json=body)
    assert client.post("/api/v1/invoke", json=sami(f"Bearer {KEY}")).status_code == 429
    # anonymous requests from this address have their own counter
    assert client.post("/api/v1/invoke", json=body).status_code == 401


def test_each_api_counts_its_clients_apart(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    for _ in range(2):
        client.get("/v1/application", headers=AUTH)
    assert client.get("/v1/application", headers=AUTH).status_code == 429
    assert client.get("/api/model", headers=AUTH).status_code == 409  # MusicFlow: no model yet, not 429
    assert (
        client.get("/health").status_code == 200 and "X-RateLimit-Limit" not in client.get("/health").headers
    )


def test_anonymous_requests_count_per_client_address(local_runtime: LocalRuntime) -> None:
    first = make_client(local_runtime, client=("203.0.113.1", 1000))
    second = make_client(local_runtime, client=("203.0.113.2", 1000))
    for _ in range(2):
        first.get("/api/model")
    assert first.get("/api/model").status_code == 429
    assert second.get("/api/model").status_code == 409


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)  # TRUSTED_PROXIES empty: the default
    replies = [client.get("/api/model", headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(3)]
    assert [r.status_code for r in replies] == [409, 409, 429]


def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(local_runtime: LocalRuntime) -> None:
    proxy = make_client(local_runtime, client=("10.0.0.5", 1000), trusted_proxies="10.0.0.0/8, 192.0.2.1")

    def via_proxy(forwarded: str) -> int:
        return proxy.get("/api/model", headers={"X-Forwarded-For": forwarded}).status_code

    # the client is the first address from the right that no trusted proxy added; what the client
    # itself put on the left of the header changes nothing
    assert [via_proxy("198.51.100.7"), via_proxy("1.1.1.1, 198.51.100.7, 192.0.2.1")] == [409, 409]
    assert via_proxy("2.2.2.2, 198.51.100.7") == 429
    assert via_proxy("198.51.100.8") == 409  # another client behind the same proxy


def test_behind_api_gateway_the_client_is_the_source_ip(local_runtime: LocalRuntime) -> None:
    # Mangum makes the request context's sourceIp (set by API Gateway) the peer; a header the client
    # sends cannot change it
    from mangum import Mangum

    from tests.conftest import PROJECT_ROOT

    handler = Mangum(limited_app(local_runtime), lifespan="off")  # limits of 2 a minute
    event = json.loads((PROJECT_ROOT / "events" / "ModelApiFunction" / "flow_health.json").read_text())

    def from_ip(source_ip: str, forwarded: str) -> int:
        event["requestContext"]["identity"]["sourceIp"] = source_ip
        event["headers"]["X-Forwarded-For"] = forwarded
        event["multiValueHeaders"]["X-Forwarded-For"] = [forwarded]
        return int(handler(event, None)["statusCode"])  # type: ignore[arg-type]

    assert [from_ip("203.0.113.7", f"198.51.100.{n}") for n in range(3)] == [200, 200, 429]
    assert from_ip("203.0.113.8", "203.0.113.7") == 200


def test_a_bad_trusted_proxies_setting_fails_at_start_up(local_runtime: LocalRuntime) -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        make_client(local_runtime, trusted_proxies="10.0.0.0/8, not-an-address")


def test_the_settings_come_from_the_environment() -> None:
    from tonearm.settings import Settings

    settings = Settings.from_env(
        {
            "API_RATE_LIMIT_PER_MINUTE": "30",
            "API_RATE_LIMIT_PER_HOUR": "300",
            "TRUSTED_PROXIES": "10.0.0.0/8",
            "METRICS_API_KEY": "m",
        }
    )
    assert (settings.api_rate_limit_per_minute, settings.api_rate_limit_per_hour) == (30, 300)
    assert settings.trusted_proxies == "10.0.0.0/8" and settings.metrics_api_key == "m"
    defaults = Settings()
    assert defaults.trusted_proxies == "" and defaults.metrics_api_key == ""
    assert defaults.api_rate_limit_per_minute > 0 and defaults.api_rate_limit_per_hour > 0


def plain_client(runtime: LocalRuntime) -> TestClient:
    """The app with the default settings."""
    from tonearm.api.app import create_app

    return TestClient(create_app(runtime.services))


def test_a_scheme_without_a_key_is_counted_by_address_not_a_crash(local_runtime: LocalRuntime) -> None:
    client = plain_client(local_runtime)
    reply = client.get("/music-status/nope", headers={"Authorization": "Bearer "})
    assert reply.status_code == 401, reply.text


# --- /metrics ---------------------------------------------------------------------------------------
def _series(client: TestClient) -> int:
    return sum(1 for line in client.get("/metrics").text.splitlines() if line.startswith("tonearm_http"))


def test_metrics_labels_stay_bounded_under_made_up_methods_and_paths(local_runtime: LocalRuntime) -> None:
    client = plain_client(local_runtime)  # neither /health nor unmatched paths are rate-limited
    # one request of each kind first, so that every series the loop below can reach exists already
    client.request("FOO", "/health")
    client.request("BAR", "/no-such-path")
    client.get("/no-such-path")
    _series(client)  # /metrics counts itself too
    before = _series(client)
    for n in range(300):
        client.request(f"M{n}X", "/health")
        client.request(f"Z{n}", f"/no-such-path-{n}")
        client.get(f"/no-such-path-{n}")
    assert _series(client) == before
    text = client.get("/metrics").text
    assert 'method="other"' in text and 'route="unmatched"' in text and "M17X" not in text
    assert "no-such-path" not in text


def test_metrics_can_be_put_behind_a_key(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime, per_minute=0, metrics_api_key="scrape-key")
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": KEY}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-key"})
    assert scraped.status_code == 200 and "tonearm_http_requests_total" in scraped.text
    assert json.dumps(client.get("/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]).count(
        "401"
    )


def test_the_local_server_leaves_x_forwarded_for_to_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn's own proxy headers trust every loopback client by default: locally that is every client,
    # who could then pose as any address; the app alone reads the header, from TRUSTED_PROXIES
    import uvicorn

    from tests.conftest import PROJECT_ROOT
    from tonearm.cli import main

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    args = ["serve", "--port", "0", "--data-dir", str(tmp_path), "--project-root", str(PROJECT_ROOT)]
    assert main(args) == 0
    assert served["proxy_headers"] is False
