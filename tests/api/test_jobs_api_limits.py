"""The job API refuses JSON it could not store and serve back: too deep or too large, before storage."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

KEY = "test-key"


@pytest.fixture
def client(local_runtime: Any) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize("depth", [17, 200, 900, 5000])
def test_deeply_nested_metadata_is_refused_before_it_is_stored(client: TestClient, depth: int) -> None:
    metadata = '{"x":' * (depth - 1) + '{"leaf":1' + "}" * depth  # built as text: json.dumps would recurse
    body = '{"name": "n", "workflow": "tonearm/audio-info", "params": {}, "metadata": ' + metadata + "}"
    reply = client.post(
        "/v1/job", content=body, headers={"Authorization": KEY, "Content-Type": "application/json"}
    )
    assert 400 <= reply.status_code < 500, reply.text[:300]
    listed = client.get("/v1/job", headers={"Authorization": KEY})
    assert listed.status_code == 200 and listed.json() == []  # nothing was stored


def test_metadata_within_bounds_is_kept(client: TestClient, local_runtime: Any) -> None:
    from tonearm.jobs.model import CreateJobRequest

    request = CreateJobRequest(name="n", workflow="tonearm/audio-info", metadata=_nested(16))
    assert request.metadata == _nested(16)
    with pytest.raises(ValueError, match="bytes as JSON"):
        CreateJobRequest(name="n", workflow="tonearm/audio-info", metadata={"big": "x" * 400_000})


def test_an_absurd_page_number_is_a_400_not_a_500(client: TestClient) -> None:
    reply = client.get("/v1/job", params={"page": "99999999999999999999"}, headers={"Authorization": KEY})
    assert reply.status_code in (400, 422), reply.text
