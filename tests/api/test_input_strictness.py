"""Inputs are read strictly and refused in each API's own shape (issue 18, part 7; ``payload.url``'s limit
of part 6): unparsable JSON, JSON nested past any use, booleans or numeric strings where an integer
belongs, over-long URLs; a 405 says what is allowed; the OpenAPI document lists the statuses that come
back."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tonearm.local_stack.runtime import LocalRuntime

KEY = "test-key"
AUTH = {"Authorization": KEY}
JSON = {"Content-Type": "application/json"}
#: Bodies no JSON parser turns into a value: broken, not UTF-8, and nested past the parser's own limit.
UNPARSABLE = {
    "truncated": b'{"prompt": "x"',
    "not utf-8": b'{"prompt": "\xff\xfe"}',
    "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.fixture
def client(local_runtime: LocalRuntime) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


def sami_body(payload: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    """A SAMI request with ``payload`` (a dict is sent as JSON text, as SAMI's clients do) and no audio
    beyond a few bytes: every refusal below comes before any decoding."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return {"token": KEY, "namespace": "MusicTagging", "payload": text, "data": "AAAA", **fields}


def nested_text(depth: int) -> str:
    """JSON nested ``depth`` deep, as text (``json.dumps`` would recurse)."""
    return '{"a":' * depth + "1" + "}" * depth


def assert_sami_error(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text[:300]
    body: dict[str, Any] = reply.json()
    assert set(body) >= {"task_id", "namespace", "status_code", "status_text", "payload", "error_code"}
    assert body["status_code"] // 100000 == status and body["error_code"] == code
    return body


# --- unparsable JSON gets the API's own error shape ---------------------------------------------------
@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_unparsable_json_on_sami_gets_samis_shape(client: TestClient, raw: bytes) -> None:
    assert_sami_error(client.post("/api/v1/invoke", content=raw, headers=JSON), 400, "invalid_request")


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_unparsable_json_on_sofy_gets_sofys_shape(client: TestClient, raw: bytes) -> None:
    reply = client.post("/generate-music", content=raw, headers=JSON)
    assert reply.status_code == 422, reply.text[:300]
    body = reply.json()
    assert isinstance(body["detail"], list) and body["detail"][0]["loc"][0] == "body"
    assert body["error"]["code"] == "invalid_request" and body["error"]["message"]


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_unparsable_json_on_the_job_api_is_a_400_in_its_envelope(client: TestClient, raw: bytes) -> None:
    reply = client.post("/v1/job", content=raw, headers={**JSON, **AUTH})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_request"


# --- nesting and size of JSON inside requests -------------------------------------------------------
@pytest.mark.parametrize("depth", [17, 1000, 5000])
def test_a_deeply_nested_sami_payload_is_a_400_not_a_500(client: TestClient, depth: int) -> None:
    reply = client.post("/api/v1/invoke", json=sami_body(nested_text(depth)))
    body = assert_sami_error(reply, 400, "invalid_parameter")
    assert "nests deeper than 16" in body["status_text"]


def test_a_sami_payload_within_bounds_is_read(client: TestClient) -> None:
    # 16 levels in an extra field is fine: the refusal is then about the (missing) audio, not the payload
    payload = json.loads(nested_text(15))
    reply = client.post("/api/v1/invoke", json=sami_body({"extra": {"top_num": 3}, "note": payload}))
    assert reply.status_code in (400, 415) and "payload" not in reply.json()["status_text"]


def test_an_oversized_sami_payload_is_refused(client: TestClient) -> None:
    reply = client.post("/api/v1/invoke", json=sami_body({"note": "x" * 70_000}))
    assert_sami_error(reply, 400, "invalid_request")


def test_deeply_nested_extra_fields_of_a_sami_body_are_refused(client: TestClient) -> None:
    raw = '{"token": "test-key", "payload": "{}", "data": "AAAA", "mine": ' + nested_text(500) + "}"
    reply = client.post("/api/v1/invoke", content=raw.encode(), headers=JSON)
    body = assert_sami_error(reply, 400, "invalid_request")
    assert "extra fields" in body["status_text"]


# --- strict integers (floats still take integers) ---------------------------------------------------
@pytest.mark.parametrize("extra", [{"top_num": True}, {"top_num": "5"}, {"top_num": 2.0}])
def test_sami_top_num_takes_an_integer_only(client: TestClient, extra: dict[str, Any]) -> None:
    reply = client.post("/api/v1/invoke", json=sami_body({"extra": extra}))
    body = assert_sami_error(reply, 400, "invalid_parameter")
    assert "top_num" in body["status_text"]


@pytest.mark.parametrize(
    "info", [{"sample_rate": "16000", "channel": 1}, {"sample_rate": 16000, "channel": True}]
)
def test_sami_pcm_parameters_take_integers_only(client: TestClient, info: dict[str, Any]) -> None:
    reply = client.post("/api/v1/invoke", json=sami_body({"audio_info": {"format": "pcm", **info}}))
    assert_sami_error(reply, 400, "invalid_parameter")


@pytest.mark.parametrize(
    "field",
    [
        {"duration_seconds": True},
        {"duration_seconds": "5"},
        {"bpm": "120"},
        {"bpm": 120.0},
        {"seed": False},
        {"temperature": True},
        {"temperature": "1.2"},
    ],
)
def test_sofy_numbers_are_json_numbers(client: TestClient, field: dict[str, Any]) -> None:
    reply = client.post("/generate-music", json={"prompt": "calm piano", **field})
    assert reply.status_code == 422, reply.text
    assert next(iter(field)) in reply.json()["error"]["message"]


def test_sofy_floats_still_take_integers(client: TestClient) -> None:
    # Sofy's clients may send "temperature": 1; only bools and strings are refused
    reply = client.post(
        "/generate-music",
        json={"prompt": "calm piano", "duration_seconds": 1, "temperature": 1, "density": 1},
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("workflow", "params"),
    [
        ("tonearm/tagging", {"topNum": True}),
        ("tonearm/tagging", {"topNum": "3"}),
        ("tonearm/generate", {"prompt": "x", "bpm": "100"}),
        ("tonearm/batch", {"workflow": "tonearm/audio-info", "prefix": "ingest/x/", "maxConcurrency": True}),
    ],
)
def test_job_params_take_integers_only(
    client: TestClient, local_runtime: LocalRuntime, workflow: str, params: dict[str, Any]
) -> None:
    if workflow == "tonearm/tagging":
        upload = client.get("/v1/upload", headers=AUTH).json()
        params = {"inputUrl": upload["downloadUrl"], **params}
    reply = client.post("/v1/job", json={"name": "n", "workflow": workflow, "params": params}, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_params"


def test_acousticsense_webhook_timeout_is_a_number(client: TestClient) -> None:
    body = {
        "audio_url": "https://example.com/a.mp3",
        "webhook": {"url": "https://example.com/hook", "secret_token": "s" * 16, "timeout": True},
    }
    reply = client.post("/analyze-with-webhook", json=body, headers=AUTH)
    assert reply.status_code == 400 and "timeout" in reply.json()["error"]["message"]


# --- URL lengths ------------------------------------------------------------------------------------
def test_an_over_long_sami_payload_url_is_refused_before_any_fetch(
    client: TestClient, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fetch(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an over-long URL must be refused before it is fetched")

    monkeypatch.setattr(local_runtime.services.http, "download_to", no_fetch)
    url = "https://example.com/" + "a" * 9000
    body = sami_body({"url": url})
    del body["data"]
    reply = client.post("/api/v1/invoke", json=body)
    body = assert_sami_error(reply, 400, "invalid_parameter")
    assert "url" in body["status_text"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/analyze-with-webhook",
            {
                "audio_url": "https://e.com/" + "a" * 9000,
                "webhook": {"url": "https://e.com", "secret_token": "s" * 9},
            },
        ),
        (
            "/analyze-with-webhook",
            {
                "audio_url": "https://e.com/a",
                "webhook": {"url": "https://e.com/" + "a" * 3000, "secret_token": "s" * 9},
            },
        ),
        (
            "/v1/job",
            {
                "name": "n",
                "workflow": "tonearm/audio-info",
                "params": {"inputUrl": "https://e.com/" + "a" * 9000},
            },
        ),
    ],
)
def test_every_other_url_field_has_a_length_limit(
    client: TestClient, path: str, body: dict[str, Any]
) -> None:
    assert client.post(path, json=body, headers=AUTH).status_code == 400


# --- 405 says what is allowed -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/health", "GET"),
        ("DELETE", "/generate-music", "POST"),
        ("PATCH", "/v1/job/some-id", "GET, DELETE"),
        ("PUT", "/api/model", "GET, POST"),
        ("BREW", "/v1/job", "GET, POST"),
    ],
)
def test_a_405_carries_allow(client: TestClient, method: str, path: str, allowed: str) -> None:
    reply = client.request(method, path, headers=AUTH)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == allowed
    assert reply.json()["error"]["code"] == "method_not_allowed"


# --- the OpenAPI document lists the statuses that really come back ------------------------------------
def _wav_bytes() -> bytes:
    return b"RIFF" + b"\x00" * 40


#: (method, route as documented, request) for requests that each end in an error status.
PROBES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/job", {"json": {"name": ""}, "headers": AUTH}),
    ("POST", "/v1/job", {"json": {"name": "n", "workflow": "nope"}, "headers": AUTH}),
    ("POST", "/v1/job", {"json": {"name": "n", "workflow": "tonearm/audio-info"}}),
    ("GET", "/v1/job", {"params": {"page": "x"}, "headers": AUTH}),
    ("GET", "/v1/job", {"params": {"after": "nope"}, "headers": AUTH}),
    ("GET", "/v1/job/{job_id}", {"url": "/v1/job/nope", "headers": AUTH}),
    ("GET", "/v1/job/{job_id}/status", {"url": "/v1/job/nope/status", "headers": AUTH}),
    ("DELETE", "/v1/job/{job_id}", {"url": "/v1/job/nope", "headers": AUTH}),
    ("GET", "/v1/workflow", {"params": {"size": 0}, "headers": AUTH}),
    ("GET", "/v1/upload", {}),
    ("GET", "/v1/application", {"headers": {"Authorization": "wrong"}}),
    ("POST", "/analyze-with-webhook", {"json": {}, "headers": AUTH}),
    ("POST", "/analyze-with-webhook", {"json": {}}),
    ("POST", "/analyze-audio", {"headers": AUTH}),
    ("POST", "/analyze-audio", {"files": {"file": ("a.txt", b"text")}, "headers": AUTH}),
    ("POST", "/analyze-audio", {"files": {"file": ("a.wav", b"x")}}),
    ("POST", "/analyze-audio", {"files": {"file": ("a.wav", _wav_bytes())}, "headers": AUTH}),
    ("POST", "/api/v1/invoke", {"json": {"token": KEY, "data": base64.b64encode(b"not audio").decode()}}),
    ("POST", "/api/v1/invoke", {"json": {"token": "wrong"}}),
    ("POST", "/api/v1/invoke", {"content": b"{", "headers": JSON}),
    ("POST", "/generate-music", {"json": {}}),
    ("POST", "/generate-music", {"json": {"prompt": "x"}, "headers": {"Authorization": "wrong"}}),
    ("GET", "/music-status/{task_id}", {"url": "/music-status/nope"}),
    ("GET", "/download-music/{task_id}", {"url": "/download-music/nope"}),
    ("GET", "/api/prediction/", {}),
    ("GET", "/api/prediction/", {"params": {"song": "s", "artist": "a"}}),
    ("GET", "/api/features/", {"params": {"song": "s"}}),
    ("GET", "/api/features/", {"params": {"song": "s", "artist": "a"}}),
    ("GET", "/api/raw_features/", {"params": {"song": "s", "artist": "a"}}),
    ("GET", "/api/model", {}),
    ("POST", "/api/model", {"files": [("history", ("h.json", b"[]"))]}),
    ("POST", "/api/model", {"files": [("history", ("h.json", b"not json"))], "headers": AUTH}),
    ("POST", "/api/prediction", {}),
    ("GET", "/metrics", {}),
]


def test_every_error_status_that_comes_back_is_documented(local_runtime: LocalRuntime) -> None:
    from tonearm.api.app import create_app

    settings = local_runtime.services.settings
    settings.metrics_api_key = "metrics-key"
    settings.sync_upload_max_bytes = 20
    client = TestClient(create_app(local_runtime.services))
    operations = client.get("/openapi.json").json()["paths"]
    undocumented = []
    for method, route, request in PROBES:
        request = dict(request)
        url = request.pop("url", route)
        reply = client.request(method, url, **request)
        assert reply.status_code >= 400, (method, url, reply.text[:200])
        documented = operations[route][method.lower()]["responses"]
        if str(reply.status_code) not in documented:
            undocumented.append(f"{method} {route}: {reply.status_code} ({reply.text[:120]})")
    assert not undocumented, "\n".join(undocumented)


def test_no_fastapi_default_422_is_documented_where_tonearm_answers_400(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    for route in ("/v1/job", "/api/v1/invoke", "/analyze-audio", "/analyze-with-webhook"):
        for operation in document["paths"][route].values():
            assert "422" not in operation["responses"] and "400" in operation["responses"]
    assert "422" in document["paths"]["/generate-music"]["post"]["responses"]  # Sofy's is a real 422
    # a route no request can fail validation on documents no 400 for it
    assert "400" not in document["paths"]["/v1/application"]["get"]["responses"]
