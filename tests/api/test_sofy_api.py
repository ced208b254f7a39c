"""Sofy's text-to-music API on the local stack: the shapes Sofy's clients read, end to end.

Generation runs for real (a 3 s track takes well under a second), in the local runtime's threads,
exactly as ``tonearm serve`` runs it.
"""

from __future__ import annotations

import io
import json
import struct
import time
import wave
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tonearm.jobs.model import Job, JobStatus
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime

KEY = "test-key"
STARTED = "Music generation started. Use the task_id to check status and download the file."


def make_client(runtime: LocalRuntime, *, per_minute: int = 0, per_hour: int = 0) -> TestClient:
    """The app over ``runtime`` with the given rate limits (0: off, so polling loops are never limited)."""
    from tonearm.api.app import create_app

    runtime.services.settings.rate_limit_per_minute = per_minute
    runtime.services.settings.rate_limit_per_hour = per_hour
    return TestClient(create_app(runtime.services))


@pytest.fixture
def client(local_runtime: LocalRuntime) -> TestClient:
    return make_client(local_runtime)


def start(client: TestClient, **body: Any) -> str:
    reply = client.post("/generate-music", json={"prompt": "calm piano", "duration_seconds": 3, **body})
    assert reply.status_code == 200, reply.text
    task_id: str = reply.json()["task_id"]
    return task_id


def poll(client: TestClient, task_id: str, *, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every status seen until the task is completed or failed."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = client.get(f"/music-status/{task_id}")
        assert reply.status_code == 200, reply.text
        seen.append(reply.json())
        if seen[-1]["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} still {seen[-1]} after {timeout_s} s")


def riff_chunks(data: bytes) -> dict[bytes, bytes]:
    """The top-level chunks of a RIFF/WAVE file by id."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    chunks, pos = {}, 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks[cid] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    return chunks


# --- validation -------------------------------------------------------------------------------
OUT_OF_RANGE = [
    ("duration_seconds", 0),
    ("duration_seconds", 301),
    ("bpm", 59),
    ("bpm", 201),
    ("temperature", 0.05),
    ("temperature", 2.5),
    ("density", 0.0),
    ("density", 1.01),
    ("brightness", 0.05),
    ("brightness", 1.5),
    ("guidance", 0.5),
    ("guidance", 10.5),
    ("scale", "H_MAJOR_X_MINOR"),
    ("prompt", ""),
    ("prompt", "x" * 501),
    ("seed", -1),
]


@pytest.mark.parametrize(("field", "value"), OUT_OF_RANGE)
def test_out_of_range_params_are_refused_naming_the_field(client: TestClient, field: str, value: Any) -> None:
    body = {"prompt": "calm piano", field: value}
    reply = client.post("/generate-music", json=body)
    assert reply.status_code == 422
    data = reply.json()
    # FastAPI's own shape, for Sofy's clients...
    assert isinstance(data["detail"], list) and data["detail"][0]["loc"] == ["body", field]
    assert data["detail"][0]["msg"] and data["detail"][0]["type"]
    # ...and tonearm's, naming the field
    assert data["error"]["code"] == "invalid_request"
    assert data["error"]["message"].startswith(f"{field}: ")


def test_bpm_message_reads_like_pydantic(client: TestClient) -> None:
    reply = client.post("/generate-music", json={"prompt": "x", "bpm": 201})
    assert reply.json()["error"]["message"] == "bpm: Input should be less than or equal to 200"


def test_missing_prompt_and_extra_fields_are_refused(client: TestClient) -> None:
    reply = client.post("/generate-music", json={"bpm": 100})
    assert reply.status_code == 422
    assert reply.json()["error"]["message"] == "prompt: Field required"
    reply = client.post("/generate-music", json={"prompt": "x", "lyrics": "la la"})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["type"] == "extra_forbidden"
    assert reply.json()["error"]["message"].startswith("lyrics: ")
    reply = client.post("/generate-music", content=b"{not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_request"


def test_other_paths_keep_their_validation_shape(client: TestClient) -> None:
    reply = client.post("/v1/job", json={"name": "x"}, headers={"Authorization": KEY})
    assert reply.status_code == 400 and "detail" not in reply.json()
    assert reply.json()["error"]["code"] == "invalid_request"


# --- create, poll, download -------------------------------------------------------------------
def test_generate_poll_download(client: TestClient) -> None:
    reply = client.post(
        "/generate-music",
        json={
            "prompt": "Melancholic jazz with soft saxophone",
            "duration_seconds": 4,
            "bpm": 96,
            "temperature": 1.0,
            "density": 0.6,
            "brightness": 0.5,
            "scale": "D_MAJOR_B_MINOR",
            "guidance": 5.0,
            "seed": 1234,
        },
    )
    assert reply.status_code == 200, reply.text
    started = reply.json()
    assert set(started) == {"task_id", "status", "message", "estimated_duration"}
    assert started["status"] == "started" and started["message"] == STARTED
    assert isinstance(started["estimated_duration"], int) and started["estimated_duration"] >= 1
    task_id = started["task_id"]

    seen = poll(client, task_id)
    done = seen[-1]
    assert done == {
        "task_id": task_id,
        "status": "completed",
        "progress_percentage": 100.0,
        "filename": f"{task_id}.wav",
        "download_url": f"/download-music/{task_id}",
        "error": None,
    }
    progress = [s["progress_percentage"] for s in seen]
    assert progress == sorted(progress), progress
    for status in seen[:-1]:
        assert status["status"] == "generating" and status["filename"] is None
        assert status["download_url"] is None and status["error"] is None
        assert 0.0 <= status["progress_percentage"] < 100.0

    reply = client.get(done["download_url"])
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "audio/wav"
    assert reply.headers["content-disposition"] == f'attachment; filename="{task_id}.wav"'
    with wave.open(io.BytesIO(reply.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (48000, 2, 2)
        assert wav.getnframes() == 4 * 48000
    info = riff_chunks(reply.content)[b"LIST"]
    assert info[:4] == b"INFO" and b"tonearm" in info and b"1234" in info


def test_same_seed_gives_identical_bytes_through_the_api(client: TestClient) -> None:
    first, second = (start(client, seed=99, prompt="upbeat funk with slap bass") for _ in range(2))
    assert first != second
    downloads = []
    for task_id in (first, second):
        assert poll(client, task_id)[-1]["status"] == "completed"
        downloads.append(client.get(f"/download-music/{task_id}").content)
    assert downloads[0] == downloads[1] and len(downloads[0]) > 3 * 48000 * 4


def test_the_task_is_a_job_of_the_public_application(client: TestClient, local_runtime: LocalRuntime) -> None:
    task_id = start(client, seed=3)
    poll(client, task_id)
    reply = client.get(f"/v1/job/{task_id}", headers={"Authorization": KEY})  # locally: the local app
    assert reply.status_code == 200
    job = reply.json()
    assert job["workflow"] == "tonearm/generate" and job["status"] == "SUCCEEDED"
    assert job["progress"] == 100.0 and job["result"]["seed"] == 3
    assert job["workflowParams"]["prompt"] == "calm piano"


# --- errors -----------------------------------------------------------------------------------
def _put_job(runtime: LocalRuntime, job_id: str, status: JobStatus, **fields: Any) -> None:
    job = Job(
        id=job_id,
        app=fields.pop("app", LOCAL_APP_ID),
        name="x",
        workflow=fields.pop("workflow", "tonearm/generate"),
        workflow_params={"prompt": "x"},
        status=status,
        **fields,
    )
    assert runtime.services.store.create(job)


def test_unknown_task_is_404_in_both_shapes(client: TestClient) -> None:
    for path in ("/music-status/nope", "/download-music/nope", "/music-status/" + "a" * 500):
        reply = client.get(path)
        assert reply.status_code == 404
        body = reply.json()
        assert body["detail"] == "Task not found"
        assert body["error"]["code"] == "task_not_found"


def test_jobs_of_other_workflows_or_apps_are_not_tasks(
    client: TestClient, local_runtime: LocalRuntime
) -> None:
    _put_job(local_runtime, "job-audio", JobStatus.QUEUED, workflow="tonearm/audio-info")
    _put_job(local_runtime, "job-other-app", JobStatus.QUEUED, app="someone-else")
    for task_id in ("job-audio", "job-other-app"):
        assert client.get(f"/music-status/{task_id}").status_code == 404


def test_status_of_queued_started_and_failed_tasks(client: TestClient, local_runtime: LocalRuntime) -> None:
    _put_job(local_runtime, "queued", JobStatus.QUEUED)
    _put_job(local_runtime, "started", JobStatus.STARTED, progress=42.5)
    _put_job(local_runtime, "almost", JobStatus.STARTED, progress=100.0)
    _put_job(
        local_runtime,
        "failed",
        JobStatus.FAILED,
        progress=10.0,
        error={"code": "synth_unavailable", "message": "no SoundFont"},
    )
    status = {t: client.get(f"/music-status/{t}").json() for t in ("queued", "started", "almost", "failed")}
    assert status["queued"] == {
        "task_id": "queued",
        "status": "generating",
        "progress_percentage": 0.0,
        "filename": None,
        "download_url": None,
        "error": None,
    }
    assert status["started"]["status"] == "generating" and status["started"]["progress_percentage"] == 42.5
    # 100 % means "downloadable": a task still storing its files says 99
    assert status["almost"]["progress_percentage"] == 99.0
    assert status["failed"]["status"] == "failed"
    assert status["failed"]["error"] == "synth_unavailable: no SoundFont"
    assert status["failed"]["download_url"] is None


def test_download_before_completion_is_400(client: TestClient, local_runtime: LocalRuntime) -> None:
    _put_job(local_runtime, "running", JobStatus.STARTED, progress=50.0)
    _put_job(local_runtime, "broken", JobStatus.FAILED, error={"code": "internal_error", "message": "x"})
    for task_id in ("running", "broken"):
        reply = client.get(f"/download-music/{task_id}")
        assert reply.status_code == 400
        assert reply.json()["detail"] == "Music generation not completed"
        assert reply.json()["error"]["code"] == "not_completed"


def test_a_key_makes_the_caller_the_owner(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    reply = client.post(
        "/generate-music", json={"prompt": "x", "duration_seconds": 1}, headers={"X-API-Key": "bad"}
    )
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized" and reply.json()["detail"]
    task_id = start(client, seed=1, duration_seconds=1)
    # the local key's application is the local app: it sees the task too
    assert (
        client.get(f"/music-status/{task_id}", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    )


def test_keys_can_be_required(local_runtime: LocalRuntime) -> None:
    local_runtime.services.settings.sofy_require_api_key = True
    client = make_client(local_runtime)
    reply = client.post("/generate-music", json={"prompt": "x"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
    assert client.get("/music-status/whatever").status_code == 401
    reply = client.post(
        "/generate-music", json={"prompt": "x", "duration_seconds": 1}, headers={"X-API-Key": KEY}
    )
    assert reply.status_code == 200


def test_big_downloads_from_remote_storage_redirect(local_runtime: LocalRuntime) -> None:
    # A store that is not the local folder (S3 in AWS): small files are proxied, big ones redirected.
    import dataclasses

    from tonearm.api.app import create_app

    class RemoteLike:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def local_path(self, key: str) -> None:
            return None  # objects are not local files, as in S3 (BlobStore.local_path)

    services = dataclasses.replace(local_runtime.services, blobs=RemoteLike(local_runtime.services.blobs))
    services.settings.rate_limit_per_minute = services.settings.rate_limit_per_hour = 0
    client = TestClient(create_app(services), follow_redirects=False)
    blobs = local_runtime.services.blobs
    blobs.put_bytes("results/small/generated.wav", b"RIFF-small", content_type="audio/wav")
    blobs.put_bytes("results/big/generated.wav", b"R" * 2048, content_type="audio/wav")
    _put_job(local_runtime, "small", JobStatus.SUCCEEDED, outputs={"wav": "results/small/generated.wav"})
    _put_job(local_runtime, "big", JobStatus.SUCCEEDED, outputs={"wav": "results/big/generated.wav"})
    services.settings.inline_download_max_bytes = 1024
    binary = {"Accept": "audio/wav, */*"}
    reply = client.get("/download-music/small", headers=binary)
    assert reply.status_code == 200 and reply.content == b"RIFF-small"
    assert reply.headers["content-type"] == "audio/wav"
    assert reply.headers["content-disposition"] == 'attachment; filename="small.wav"'
    # API Gateway would hand Accept: */* clients base64 text: they are sent to S3 whatever the size
    reply = client.get("/download-music/small", headers={"Accept": "*/*"})
    assert reply.status_code == 307 and "/files/results/small/generated.wav?" in reply.headers["location"]
    reply = client.get("/download-music/big", headers=binary)
    assert reply.status_code == 307
    assert "/files/results/big/generated.wav?" in reply.headers["location"]
    blobs.delete_prefix("results/small/")
    reply = client.get("/download-music/small", headers=binary)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "file_not_found"


# --- rate limits ------------------------------------------------------------------------------
def test_rate_limit_headers_and_429(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime, per_minute=3, per_hour=1000)
    remaining = []
    for _ in range(3):
        reply = client.get("/music-status/nope")
        assert reply.status_code == 404
        assert reply.headers["X-RateLimit-Limit"] == "3"
        assert 1 <= int(reply.headers["X-RateLimit-Reset"]) <= 60
        remaining.append(int(reply.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    reply = client.post("/generate-music", json={"prompt": "x"})
    assert reply.status_code == 429
    body = reply.json()
    assert body["error"]["code"] == "rate_limited" and body["detail"] == "Rate limit exceeded: 3 per 1 minute"
    assert 1 <= int(reply.headers["Retry-After"]) <= 60 and reply.headers["X-RateLimit-Remaining"] == "0"
    # another client (an API key) has its own budget; the other APIs and /health are not limited
    assert client.get("/music-status/nope", headers={"Authorization": KEY}).status_code == 404
    assert client.get("/health").status_code == 200
    assert client.get("/v1/workflow", headers={"Authorization": KEY}).status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/health").headers


def test_the_hourly_window_reports_when_it_is_the_tighter(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime, per_minute=60, per_hour=2)
    assert client.get("/music-status/a").headers["X-RateLimit-Limit"] == "2"
    client.get("/music-status/a")
    reply = client.get("/music-status/a")
    assert reply.status_code == 429 and reply.json()["detail"] == "Rate limit exceeded: 2 per 1 hour"
    assert 1 <= int(reply.headers["Retry-After"]) <= 3600


# --- health and metrics -----------------------------------------------------------------------
def test_health_has_sofys_fields(client: TestClient) -> None:
    reply = client.get("/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "healthy" and body["message"] and body["version"]
    assert body["uptime"] >= 0 and isinstance(body["models_loaded"], list)
    assert set(body["generator"]) == {"ready", "soundfont"}
    assert body["generator"]["ready"] is True and body["generator"]["soundfont"].endswith(".sf2")


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def test_metrics_count_requests_and_generations(client: TestClient) -> None:
    key = ("tonearm_generations_total", (("status", "succeeded"),))
    before = _samples(client)
    task_id = start(client, seed=5, duration_seconds=2)
    poll(client, task_id)
    after = _samples(client)
    assert after[key] == before.get(key, 0) + 1
    assert after[("tonearm_generation_seconds_count", ())] >= 1
    assert after[("tonearm_generations_total", (("status", "failed"),))] >= 0
    polled = (
        "tonearm_http_requests_total",
        (("method", "GET"), ("route", "/music-status/{task_id}"), ("status", "200")),
    )
    assert after[polled] >= 1
    created = (
        "tonearm_http_requests_total",
        (("method", "POST"), ("route", "/generate-music"), ("status", "200")),
    )
    assert after[created] == 1
    assert (
        "tonearm_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/metrics")),
    ) in after


def test_apps_have_separate_registries(local_runtime: LocalRuntime) -> None:
    first, second = make_client(local_runtime), make_client(local_runtime)
    first.get("/health")
    key = ("tonearm_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))
    assert _samples(first)[key] == 1 and key not in _samples(second)


def test_routes_and_health_work_without_the_audio_stack() -> None:
    # The light API function (no numpy) serves Sofy's routes and /health in AWS.
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = (
        "import sys\n"
        "for name in ('numpy', 'scipy', 'soundfile'): sys.modules[name] = None\n"
        "from tonearm.api.sofy import estimated_duration\n"
        "from tonearm.api.health import generator_health, _models_loaded\n"
        "from tonearm.generation.params import GenerationParams\n"
        "assert estimated_duration(GenerationParams(prompt='x', duration_seconds=30)) == 2\n"
        "health = generator_health()\n"
        "assert health.ready is False and health.soundfont is None, health\n"
        "assert _models_loaded() == []\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_estimate_follows_the_engine(client: TestClient) -> None:
    from tonearm.api.sofy import estimated_duration
    from tonearm.generation.params import GenerationParams
    from tonearm.generation.service import estimate_seconds

    params = GenerationParams(prompt="x", duration_seconds=300)
    assert estimated_duration(params) == max(1, int(-(-estimate_seconds(params) // 1)))


def test_api_key_stats_in_sofys_shape_never_showing_keys(
    local_runtime: LocalRuntime, client: TestClient
) -> None:
    from tonearm.jobs.service import hash_api_key
    from tonearm.ports import Application

    local_runtime.services.store.put_application(
        Application(id="second", name="second", key_sha256=hash_api_key("other-key"))
    )
    assert client.get("/health").json()["api_keys_available"] == 2  # the local app's key and this one
    for key, task in ((KEY, "nope-1"), ("other-key", "nope-2"), (KEY, "nope-3")):
        assert client.get(f"/music-status/{task}", headers={"X-API-Key": key}).status_code == 404
    client.post(
        "/generate-music", json={"prompt": "calm piano", "duration_seconds": 1}, headers={"X-API-Key": KEY}
    )
    client.get("/music-status/whatever")  # no key: not a key's usage
    stats = client.get("/api-keys/stats").json()
    assert stats == {
        "total_keys": 2,
        "current_key": 0,
        "key_usage": {"0": 3, "1": 1},
        "key_errors": {"0": 2, "1": 1},
    }
    assert KEY not in json.dumps(stats) and hash_api_key(KEY)[:12] not in json.dumps(stats)


def test_one_key_however_it_is_spelled_has_one_counter(local_runtime: LocalRuntime) -> None:
    from tonearm.api.app import create_app

    local_runtime.services.settings.rate_limit_per_minute = 3
    client = TestClient(create_app(local_runtime.services))
    spellings = [KEY, f"Bearer {KEY}", f"  {KEY}  ", f"bearer   {KEY}"]
    replies = [client.get("/music-status/x", headers={"Authorization": s}) for s in spellings]
    assert [r.status_code for r in replies] == [404, 404, 404, 429]


def test_a_prompt_with_control_characters_is_refused_before_any_work(client: TestClient) -> None:
    reply = client.post("/generate-music", json={"prompt": "calm\x00piano", "duration_seconds": 1})
    assert reply.status_code == 422 and "control characters" in reply.json()["error"]["message"]
    ok = client.post("/generate-music", json={"prompt": "calm\tpiano, soft\nstrings", "duration_seconds": 1})
    assert ok.status_code == 200
