"""``tonearm/generate`` (GenerateStateMachine on the local runner, real handlers): jobs without input.

Through the Music.AI job API, through ingest drops of JSON params files, and failing cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_for, wait_for_terminal
from tests.workflows.helpers import local_jobs
from tonearm.generation.telemetry import GENERATIONS
from tonearm.jobs.model import JobStatus
from tonearm.local_stack.runtime import LocalRuntime
from tonearm.midi.fluidsynth import FluidSynthUnavailableError

KEY = {"Authorization": "test-key"}


@pytest.fixture
def client(local_runtime: LocalRuntime) -> Iterator[TestClient]:
    from tonearm.api.app import create_app

    local_runtime.services.settings.rate_limit_per_minute = 0
    yield TestClient(create_app(local_runtime.services))


def _fetch(client: TestClient, url: str) -> bytes:
    """GET a local signed URL (minted for http://127.0.0.1:3999) from the app itself."""
    parts = urlsplit(url)
    reply = client.get(f"{parts.path}?{parts.query}")
    assert reply.status_code == 200, reply.text
    return reply.content


def _wait_job(client: TestClient, job_id: str) -> dict[str, Any]:
    holder: list[dict[str, Any]] = []

    def done() -> bool:
        job = client.get(f"/v1/job/{job_id}", headers=KEY).json()
        holder[:] = [job]
        return job["status"] in ("SUCCEEDED", "FAILED")

    wait_for(done, timeout_s=60)
    return holder[0]


def test_generate_through_the_job_api(client: TestClient) -> None:
    body = {
        "name": "a generated track",
        "workflow": "tonearm/generate",
        "params": {"prompt": "dreamy ambient pads", "duration_seconds": 3, "bpm": 80, "seed": 5},
    }
    reply = client.post("/v1/job", json=body, headers=KEY)
    assert reply.status_code == 200, reply.text
    job = _wait_job(client, reply.json()["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["progress"] == 100.0
    result = job["result"]
    assert result["seed"] == 5 and result["duration"] == 3.0 and result["bpm"] > 0
    assert result["key"] and result["style"] and result["genre"]
    assert result["loudnessLufs"] < 0 and result["truePeakDbtp"] <= 0 and result["generationSeconds"] > 0
    wav = _fetch(client, result["wav"])
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert _fetch(client, result["midi"])[:4] == b"MThd"
    plan = json.loads(_fetch(client, result["plan"]))
    assert plan["seed"] == 5
    assert "/generated.wav?" in result["wav"] and "/generated.mid?" in result["midi"]


def test_the_workflow_is_listed_without_an_input(client: TestClient) -> None:
    listed = {w["slug"]: w for w in client.get("/v1/workflow", headers=KEY).json()}
    spec = listed["tonearm/generate"]
    assert "inputUrl" not in spec["params"]["properties"] and spec["params"]["required"] == ["prompt"]
    assert set(spec["outputs"]) >= {"wav", "midi", "plan", "seed", "bpm", "key", "style"}
    assert spec["outputs"]["wav"]["contentType"] == "audio/wav"


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "x", "inputUrl": "https://example.com/a.wav"},
        {"duration_seconds": 3},
        {"prompt": "x", "bpm": 10},
    ],
)
def test_bad_params_are_refused_before_any_work(client: TestClient, params: dict[str, Any]) -> None:
    body = {"name": "bad", "workflow": "tonearm/generate", "params": params}
    reply = client.post("/v1/job", json=body, headers=KEY)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_params"


def _drop(runtime: LocalRuntime, name: str, data: bytes) -> None:
    folder = runtime.services.blobs.root / "ingest" / "tonearm" / "generate"  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (name + ".part")
    part.write_bytes(data)
    part.rename(folder / name)


def _dropped_job(runtime: LocalRuntime, name: str) -> Any:
    found: list[Any] = []

    def made() -> bool:
        found[:] = [j for j in local_jobs(runtime, "tonearm/generate") if j.name == name]
        return bool(found)

    wait_for(made, timeout_s=30)
    return wait_for_terminal(lambda: runtime.services.store.get(found[0].id), timeout_s=60)


def test_an_ingest_drop_of_params_generates(local_runtime: LocalRuntime) -> None:
    _drop(
        local_runtime,
        "night.json",
        json.dumps({"prompt": "night drive synthwave", "duration_seconds": 2, "seed": 8}).encode(),
    )
    job = _dropped_job(local_runtime, "night.json")
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["seed"] == 8 and set(job.outputs) == {"wav", "midi", "plan"}
    assert job.workflow_params["prompt"] == "night drive synthwave"  # the file's params, stored on the job


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("notes.json", b"this is not json", "not JSON"),
        ("list.json", b"[1, 2]", "JSON object"),
        ("range.json", json.dumps({"prompt": "x", "bpm": 500}).encode(), "params.bpm"),
        ("song.wav", b"RIFF" + bytes(70_000), "at most 65536 bytes"),
    ],
)
def test_a_bad_drop_fails_its_job_with_invalid_params(
    local_runtime: LocalRuntime, name: str, data: bytes, says: str
) -> None:
    _drop(local_runtime, name, data)
    job = _dropped_job(local_runtime, name)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "invalid_params" and says in job.error.message


def test_a_failing_generation_ends_failed_with_its_code(
    client: TestClient, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.generation import service

    def broken(params: Any, *, progress: Any = None) -> Any:
        progress(0.3, "render")
        raise FluidSynthUnavailableError("no General MIDI SoundFont found")

    monkeypatch.setattr(service, "generate", broken)
    failed_before = GENERATIONS.snapshot().counts.get("failed", 0)
    reply = client.post("/generate-music", json={"prompt": "x", "duration_seconds": 2})
    task_id = reply.json()["task_id"]
    job = wait_for_terminal(lambda: local_runtime.services.store.get(task_id), timeout_s=30)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "synth_unavailable"
    status = client.get(f"/music-status/{task_id}").json()
    assert status["status"] == "failed" and status["download_url"] is None
    assert status["error"] == "synth_unavailable: no General MIDI SoundFont found"
    assert GENERATIONS.snapshot().counts["failed"] == failed_before + 1
    reply = client.get(f"/download-music/{task_id}")
    assert reply.status_code == 400 and reply.json()["detail"] == "Music generation not completed"


def test_a_crashing_generation_is_an_internal_error(
    client: TestClient, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.generation import service

    def crash(params: Any, *, progress: Any = None) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(service, "generate", crash)
    task_id = client.post("/generate-music", json={"prompt": "x", "duration_seconds": 1}).json()["task_id"]
    job = wait_for_terminal(lambda: local_runtime.services.store.get(task_id), timeout_s=30)
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error.code == "internal_error" and "a bug" in job.error.message


def test_progress_is_visible_while_generating(
    client: TestClient, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # an engine that waits between its reports, so the API can be read mid-way
    import threading

    from tonearm.generation import service

    real = service.generate
    at_half, release = threading.Event(), threading.Event()

    def slow(params: Any, *, progress: Any = None) -> Any:
        progress(0.5, "render")
        at_half.set()
        assert release.wait(10)
        return real(params, progress=progress)

    monkeypatch.setattr(service, "generate", slow)
    task_id = client.post("/generate-music", json={"prompt": "x", "duration_seconds": 1, "seed": 2}).json()[
        "task_id"
    ]
    assert at_half.wait(10)
    mid = client.get(f"/music-status/{task_id}").json()
    job = client.get(f"/v1/job/{task_id}", headers=KEY).json()
    release.set()
    assert mid["status"] == "generating" and mid["progress_percentage"] == 50.0
    assert job["status"] == "STARTED" and job["progress"] == 50.0
    final = wait_for_terminal(lambda: local_runtime.services.store.get(task_id), timeout_s=30)
    assert final.status is JobStatus.SUCCEEDED and final.progress == 100.0
