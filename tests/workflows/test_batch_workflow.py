"""statemachines/batch.asl.json as BatchStateMachine on the local runner: a Distributed Map over a prefix."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import encode, render_tone, wait_for_terminal
from tests.workflows.helpers import local_app
from tonearm.batch.workflow import child_job_id
from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.model import CreateJobRequest, Job, JobStatus
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime

PREFIX = f"uploads/{LOCAL_APP_ID}/batch/"


def _put_files(runtime: LocalRuntime, count: int, broken: frozenset[int] = frozenset()) -> list[str]:
    # 0.5 s mono at 8 kHz: the shortest audio accepted, 8 KB a file
    wav = encode(render_tone(seconds=0.5, sr=8000, channels=1), sr=8000, fmt="WAV")
    keys = [f"{PREFIX}{index:03d}.wav" for index in range(count)]
    for index, key in enumerate(keys):
        data = b"not audio, just text" * 8 if index in broken else wav
        runtime.services.blobs.put_bytes(key, data, content_type="audio/wav")
    return keys


def _submit(runtime: LocalRuntime, **params: object) -> str:
    request = CreateJobRequest(
        name="batch", workflow="tonearm/batch", params={"workflow": "tonearm/audio-info", **params}
    )
    return runtime.services.jobs.create_job(local_app(runtime), request).id


def _children(runtime: LocalRuntime, batch_id: str) -> list[Job]:
    found: list[Job] = []
    while True:
        page = runtime.services.store.list(
            app=LOCAL_APP_ID, statuses=[], workflows=[], batch_name=batch_id, offset=len(found), limit=100
        )
        found += page
        if len(page) < 100:
            return found


def _watch_progress(runtime: LocalRuntime, job_id: str) -> tuple[list[float], threading.Event]:
    seen: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            job = runtime.services.store.get(job_id)
            if job is not None and job.progress is not None and (not seen or seen[-1] != job.progress):
                seen.append(job.progress)
            time.sleep(0.01)

    threading.Thread(target=poll, daemon=True).start()
    return seen, stop


def test_a_batch_over_200_files_makes_200_child_jobs(local_runtime: LocalRuntime, tmp_path: Path) -> None:
    keys = _put_files(local_runtime, 200)
    started = time.monotonic()
    batch_id = _submit(local_runtime, prefix=PREFIX, maxConcurrency=16)
    progress, stop = _watch_progress(local_runtime, batch_id)
    batch = wait_for_terminal(lambda: local_runtime.services.store.get(batch_id), timeout_s=120)
    stop.set()
    elapsed = time.monotonic() - started
    assert batch.status is JobStatus.SUCCEEDED, batch.error
    assert batch.result == {"total": 200, "succeeded": 200, "failed": 0}
    children = _children(local_runtime, batch_id)
    assert len(children) == 200 and {c.status for c in children} == {JobStatus.SUCCEEDED}
    assert {c.workflow for c in children} == {"tonearm/audio-info"}
    assert {c.source["key"] for c in children if c.source} == set(keys)
    assert all(abs(c.result["duration"] - 0.5) < 1e-3 for c in children)
    # progress: reported while it ran, never backwards, 100 at the end
    assert len(progress) > 3 and progress == sorted(progress) and batch.progress == 100.0, progress
    assert any(0 < p < 100 for p in progress)
    items_file = tmp_path / "items.json"
    local_runtime.services.blobs.download_to(batch.outputs["items"], items_file)
    items = json.loads(items_file.read_text())
    assert [item["key"] for item in items] == keys
    assert {item["status"] for item in items} == {"SUCCEEDED"}
    assert all(item["jobId"] == child_job_id(batch_id, item["key"]) for item in items)
    # the Map's ResultWriter output, in AWS's layout under results/<batch id>/<map run>/
    bucket = local_runtime.services.blobs.local_path(batch.outputs["items"])
    assert bucket is not None
    manifests = list(bucket.parent.glob("*/manifest.json"))
    assert len(manifests) == 1 and (manifests[0].parent / "SUCCEEDED_0.json").is_file()
    print(f"200-item batch: {elapsed:.1f} s")


@pytest.mark.parametrize(("tolerated", "status"), [(100, JobStatus.SUCCEEDED), (0, JobStatus.FAILED)])
def test_broken_items_fail_alone_unless_over_the_tolerance(
    local_runtime: LocalRuntime, tmp_path: Path, tolerated: int, status: JobStatus
) -> None:
    keys = _put_files(local_runtime, 12, broken=frozenset({3, 7}))
    batch_id = _submit(local_runtime, prefix=PREFIX, toleratedFailurePercentage=tolerated, maxConcurrency=1)
    batch = wait_for_terminal(lambda: local_runtime.services.store.get(batch_id), timeout_s=60)
    assert batch.status is status, batch.error
    children = {c.source["key"]: c for c in _children(local_runtime, batch_id) if c.source}
    for index in (3, 7) if tolerated else (3,):
        child = children[keys[index]]
        assert child.status is JobStatus.FAILED and child.error is not None
        assert child.error.code != "internal_error"
    if status is JobStatus.SUCCEEDED:
        assert batch.result == {"total": 12, "succeeded": 10, "failed": 2}
        items_file = tmp_path / "items.json"
        local_runtime.services.blobs.download_to(batch.outputs["items"], items_file)
        failed = [item for item in json.loads(items_file.read_text()) if item["status"] == "FAILED"]
        assert [item["key"] for item in failed] == [keys[3], keys[7]]
        assert failed[0]["error"]["code"] == children[keys[3]].error.code  # type: ignore[union-attr]
    else:
        assert batch.error is not None and batch.error.code == "batch_items_failed"
        assert len(children) < 12  # the Map Run stopped after the first failure (one at a time)


def test_a_manifest_batch_and_a_batch_dropped_as_params(local_runtime: LocalRuntime) -> None:
    keys = _put_files(local_runtime, 3)
    batch_id = _submit(local_runtime, manifest=keys[:2])
    batch = wait_for_terminal(lambda: local_runtime.services.store.get(batch_id), timeout_s=30)
    assert batch.status is JobStatus.SUCCEEDED and batch.result["total"] == 2, batch.error
    # an S3 drop: a JSON params file under ingest/tonearm/batch/ (ingest jobs belong to the local app)
    drop = {"workflow": "tonearm/audio-info", "manifest": [keys[2]]}
    local_runtime.services.blobs.put_bytes(
        "ingest/tonearm/batch/one.json", json.dumps(drop).encode(), content_type="application/json"
    )

    def dropped() -> Job | None:
        found = local_runtime.services.store.list(
            app=LOCAL_APP_ID, statuses=[], workflows=["tonearm/batch"], batch_name=None, offset=0, limit=10
        )
        return next((job for job in found if job.source), None)

    batch = wait_for_terminal(dropped, timeout_s=30)
    assert batch.status is JobStatus.SUCCEEDED and batch.result["total"] == 1, batch.error
    assert _children(local_runtime, batch.id)[0].source == {"key": keys[2]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prefix": "results/"}, "prefix must be under uploads/ or ingest/"),
        ({"prefix": "uploads/a/", "manifest": ["uploads/a/b"]}, "exactly one of prefix or manifest"),
        ({"prefix": "uploads/a/", "workflow": "tonearm/generate"}, "workflow must be one of"),
        ({"prefix": "uploads/a/", "params": {"inputUrl": "https://x"}}, "inputUrl: not allowed"),
        ({"prefix": "uploads/a/", "workflow": "tonearm/tagging", "params": {"topNum": "x"}}, "params.params"),
        ({"prefix": "uploads/a/", "maxConcurrency": 0}, "maxConcurrency"),
    ],
)
def test_bad_batch_params_are_refused_before_any_work(
    local_runtime: LocalRuntime, params: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        _submit(local_runtime, **params)


def test_a_batch_over_another_apps_uploads_or_nothing_fails(local_runtime: LocalRuntime) -> None:
    other = _submit(local_runtime, prefix="uploads/someone-else/")
    empty = _submit(local_runtime, prefix=PREFIX)
    for batch_id, message in ((other, "own application's uploads"), (empty, "no objects under")):
        batch = wait_for_terminal(lambda b=batch_id: local_runtime.services.store.get(b), timeout_s=30)
        assert batch.status is JobStatus.FAILED and batch.error is not None
        assert batch.error.code == "invalid_params" and message in batch.error.message


def test_the_job_api_runs_a_batch_and_lists_its_children(local_runtime: LocalRuntime) -> None:
    from fastapi.testclient import TestClient

    from tonearm.api.app import create_app

    client = TestClient(create_app(local_runtime.services))
    headers = {"Authorization": local_runtime.api_key}
    keys = _put_files(local_runtime, 3)
    params = {"workflow": "tonearm/audio-info", "prefix": PREFIX, "params": {}}
    reply = client.post(
        "/v1/job", json={"name": "b", "workflow": "tonearm/batch", "params": params}, headers=headers
    )
    assert reply.status_code == 200, reply.text
    batch_id = reply.json()["id"]
    wait_for_terminal(lambda: local_runtime.services.store.get(batch_id), timeout_s=30)
    batch = client.get(f"/v1/job/{batch_id}", headers=headers).json()
    assert batch["status"] == "SUCCEEDED" and batch["result"]["succeeded"] == 3, batch
    assert batch["result"]["items"].startswith("http")  # the items file, as a download URL
    listed = client.get("/v1/job", params={"batchName": batch_id}, headers=headers).json()
    assert sorted(job["name"] for job in listed) == sorted(key.rsplit("/", 1)[1] for key in keys)
    assert {job["workflow"] for job in listed} == {"tonearm/audio-info"}
    refused = client.post(
        "/v1/job",
        json={"name": "b", "workflow": "tonearm/batch", "params": {**params, "prefix": "flow/models/"}},
        headers=headers,
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_params"
