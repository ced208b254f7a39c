"""The job service with in-memory fakes: validation before work, transitions, events, ingest idempotency."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tonearm.adapters.local.files import FileBlobStore, UrlSignatureError
from tonearm.adapters.local.sqlite_jobs import SqliteJobStore
from tonearm.audio.errors import EmptyAudioError
from tonearm.jobs.errors import (
    InvalidParamsError,
    InvalidTransitionError,
    JobNotFoundError,
    OrchestrationError,
    UnauthorizedError,
    UnknownWorkflowError,
)
from tonearm.jobs.model import CreateJobRequest, JobError, JobStatus
from tonearm.jobs.service import JobService, hash_api_key, parse_authorization
from tonearm.jobs.task_failures import JobTaskError, job_error_from_catch
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient, UrlForbiddenError
from tonearm.ports import Application, BlobNotFoundError, InputExpiredError
from tonearm.settings import Settings
from tonearm.workflows import CATALOGUE


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def put(self, *, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        assert source == "tonearm"
        self.events.append((detail_type, dict(detail)))


class RecordingOrchestrator:
    def __init__(self, fail: bool = False) -> None:
        self.started: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("Step Functions is down")
        if any(name == execution_name for _, name, _ in self.started):
            return  # as the port promises (and StartExecution does): a second start of one name is a no-op
        self.started.append((state_machine, execution_name, dict(execution_input)))


APP = Application(id="app1", name="App", key_sha256=hash_api_key("k1"), webhook_secret="whsec_x")


@pytest.fixture
def parts(tmp_path: Path) -> tuple[JobService, RecordingBus, RecordingOrchestrator, FileBlobStore]:
    store = SqliteJobStore(":memory:")
    store.put_application(APP)
    blobs = FileBlobStore(tmp_path / "bucket", base_url="http://127.0.0.1:3000", secret=b"s" * 32)
    bus, orchestrator = RecordingBus(), RecordingOrchestrator()
    http = SafeHttpClient(EgressPolicy(), resolver=lambda host, port: ["93.184.215.14"])
    service = JobService(
        workflows=CATALOGUE,
        store=store,
        blobs=blobs,
        orchestrator=orchestrator,
        bus=bus,
        http=http,
        settings=Settings(),
    )
    return service, bus, orchestrator, blobs


def _put(blobs: FileBlobStore, url: str, data: bytes) -> str:
    key = blobs.key_for_url(url)
    assert key is not None
    blobs.put_bytes(key, data, content_type="audio/wav")
    return url


def test_authorization_header_forms() -> None:
    assert parse_authorization("abc") == "abc"
    assert parse_authorization("Bearer abc") == "abc"
    assert parse_authorization("bearer   abc ") == "abc"
    with pytest.raises(UnauthorizedError):
        parse_authorization(None)
    with pytest.raises(UnauthorizedError):
        parse_authorization("Bearer ")


def test_authenticate(parts: Any) -> None:
    service = parts[0]
    assert service.authenticate("k1").id == "app1"
    assert service.authenticate("Bearer k1").id == "app1"
    with pytest.raises(UnauthorizedError):
        service.authenticate("k2")


def test_create_job_stores_publishes_and_starts(parts: Any) -> None:
    service, bus, orchestrator, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF....")
    job = service.create_job(
        APP,
        CreateJobRequest(
            name="n", workflow="tonearm/audio-info", params={"inputUrl": url}, metadata={"a": 1}
        ),
    )
    assert job.status is JobStatus.QUEUED and job.app == "app1" and job.expires_at > 0
    assert orchestrator.started == [("AudioInfoStateMachine", job.id, {"jobId": job.id})]
    assert [t for t, _ in bus.events] == ["Job Queued"]
    assert bus.events[0][1]["id"] == job.id and bus.events[0][1]["metadata"] == {"a": 1}


@pytest.mark.parametrize(
    ("workflow", "params", "error"),
    [
        ("nope/nope", {"inputUrl": "https://example.com/a.mp3"}, UnknownWorkflowError),
        ("tonearm/audio-info", {}, InvalidParamsError),
        ("tonearm/audio-info", {"inputUrl": "https://example.com/a.mp3", "extra": 1}, InvalidParamsError),
        ("tonearm/audio-info", {"inputUrl": "ftp://example.com/a.mp3"}, UrlForbiddenError),
        ("tonearm/audio-info", {"inputUrl": "http://10.0.0.1/a.mp3"}, UrlForbiddenError),
    ],
)
def test_bad_requests_fail_before_any_work(
    parts: Any, workflow: str, params: dict[str, Any], error: type
) -> None:
    service, bus, orchestrator, _ = parts
    with pytest.raises(error):
        service.create_job(APP, CreateJobRequest(name="n", workflow=workflow, params=params))
    assert bus.events == [] and orchestrator.started == []


def test_uploaded_input_must_exist_be_non_empty_and_signed(parts: Any) -> None:
    service, _, _, blobs = parts
    never_uploaded = service.create_upload(APP).downloadUrl
    with pytest.raises(BlobNotFoundError):
        service.create_job(
            APP,
            CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": never_uploaded}),
        )
    empty = _put(blobs, service.create_upload(APP).downloadUrl, b"")
    with pytest.raises(EmptyAudioError):
        service.create_job(
            APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": empty})
        )
    expired = blobs.presign_get("uploads/app1/old", ttl_s=-10)
    blobs.put_bytes("uploads/app1/old", b"RIFF", content_type="audio/wav")
    with pytest.raises(InputExpiredError):
        service.create_job(
            APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": expired})
        )
    forged = expired.replace("sig=", "sig=0")
    with pytest.raises(UrlSignatureError):
        service.create_job(
            APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": forged})
        )


def test_copy_results_to_must_name_outputs(parts: Any) -> None:
    service, _, _, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    with pytest.raises(InvalidParamsError, match="not an output"):
        service.create_job(
            APP,
            CreateJobRequest(
                name="n",
                workflow="tonearm/audio-info",
                params={"inputUrl": url},
                copyResultsTo={"stems": "https://example.com/x"},
            ),
        )


def test_orchestrator_failure_fails_the_job_instead_of_losing_it(parts: Any, tmp_path: Path) -> None:
    service, bus, _, blobs = parts
    service.orchestrator = RecordingOrchestrator(fail=True)
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    job = service.create_job(
        APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": url})
    )
    assert (
        job.status is JobStatus.FAILED and job.error is not None and job.error.code == "orchestration_failed"
    )
    assert [t for t, _ in bus.events] == ["Job Queued", "Job Failed"]


def test_transitions_are_checked_idempotent_and_published(parts: Any) -> None:
    service, bus, _, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    job = service.create_job(
        APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": url})
    )
    started = service.transition(job.id, JobStatus.STARTED)
    assert started.started_at is not None
    assert service.transition(job.id, JobStatus.STARTED) == started  # a Step Functions retry: no-op
    done = service.transition(
        job.id, JobStatus.SUCCEEDED, result={"duration": 1.0}, outputs={"wav": "results/x.wav"}
    )
    assert done.completed_at is not None and done.result == {"duration": 1.0}
    with pytest.raises(InvalidTransitionError):
        service.transition(job.id, JobStatus.STARTED)
    with pytest.raises(JobNotFoundError):
        service.transition("missing", JobStatus.STARTED)
    assert [t for t, _ in bus.events] == ["Job Queued", "Job Started", "Job Succeeded"]
    assert bus.events[-1][1]["result"]["wav"].startswith("http://127.0.0.1:3000/files/results/x.wav?")


def test_oversized_event_detail_becomes_a_reference(parts: Any) -> None:
    service, bus, _, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    job = service.create_job(
        APP,
        CreateJobRequest(
            name="n", workflow="tonearm/audio-info", params={"inputUrl": url}, metadata={"big": "x" * 300_000}
        ),
    )
    assert bus.events[0][1] == {"id": job.id, "app": "app1", "status": "QUEUED", "truncated": True}


def test_ingest_jobs_are_one_per_object_version(parts: Any) -> None:
    service, _, orchestrator, _ = parts
    first = service.create_ingest_job(key="ingest/tonearm/audio-info/a.wav", version_id="v1")
    again = service.create_ingest_job(key="ingest/tonearm/audio-info/a.wav", version_id="v1")
    other = service.create_ingest_job(key="ingest/tonearm/audio-info/a.wav", version_id="v2")
    assert first.id == again.id != other.id
    assert len(orchestrator.started) == 2
    assert first.workflow == "tonearm/audio-info" and first.source == {
        "key": "ingest/tonearm/audio-info/a.wav",
        "versionId": "v1",
    }
    huge = service.create_ingest_job(
        key="ingest/tonearm/audio-info/big.wav", version_id="v1", size=200 * 2**20
    )
    assert huge.status is JobStatus.FAILED and huge.error is not None and huge.error.code == "input_too_large"
    assert len(orchestrator.started) == 2  # never started
    unknown = service.create_ingest_job(key="ingest/nope/a.wav", version_id="v1")
    assert unknown.status is JobStatus.FAILED and unknown.error is not None
    assert unknown.error.code == "unknown_workflow"


def test_list_jobs_pages_and_filters(parts: Any) -> None:
    service, _, _, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    ids = [
        service.create_job(
            APP, CreateJobRequest(name=f"j{i}", workflow="tonearm/audio-info", params={"inputUrl": url})
        ).id
        for i in range(5)
    ]
    service.transition(ids[0], JobStatus.STARTED)
    page0 = service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=0, size=2)
    page2 = service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=2, size=2)
    assert len(page0) == 2 and len(page2) == 1
    started = service.list_jobs(
        APP, statuses=[JobStatus.STARTED], workflows=[], batch_name=None, page=0, size=10
    )
    assert [j.id for j in started] == [ids[0]]
    with pytest.raises(InvalidParamsError):
        service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=0, size=1000)


def test_other_apps_jobs_are_invisible(parts: Any) -> None:
    service, _, _, blobs = parts
    url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
    job = service.create_job(
        APP, CreateJobRequest(name="n", workflow="tonearm/audio-info", params={"inputUrl": url})
    )
    other = APP.model_copy(update={"id": "app2"})
    with pytest.raises(JobNotFoundError):
        service.get_job(other, job.id)
    with pytest.raises(JobNotFoundError):
        service.delete_job(other, job.id)


def test_task_errors_keep_their_code_through_lambda_and_catch() -> None:
    from tonearm.audio.errors import AudioTooLongError

    exc = JobTaskError(AudioTooLongError("audio is 700.0 s long; the limit is 600 s"))
    cause = json.dumps({"errorMessage": str(exc), "errorType": "JobTaskError", "stackTrace": []})
    assert job_error_from_catch({"Error": "JobTaskError", "Cause": cause}) == JobError(
        code="audio_too_long", message="audio is 700.0 s long; the limit is 600 s"
    )
    assert job_error_from_catch({"Error": "States.Timeout", "Cause": ""}).code == "task_timeout"
    crash = json.dumps({"errorMessage": "division by zero", "errorType": "ZeroDivisionError"})
    unknown = job_error_from_catch({"Error": "ZeroDivisionError", "Cause": crash})
    assert unknown.code == "internal_error" and "division by zero" in unknown.message


def test_an_ingest_job_whose_start_fails_stays_queued_and_starts_on_redelivery(parts: Any) -> None:
    # A throttled StartExecution must not fail a dropped file for good: the ingest queue delivers it again.
    service, bus, orchestrator, _ = parts
    service.orchestrator = RecordingOrchestrator(fail=True)
    key = "ingest/tonearm/audio-info/burst.wav"
    with pytest.raises(OrchestrationError):
        service.create_ingest_job(key=key, version_id="v1")
    listed = service.store.list(app="ingest", statuses=[], workflows=[], batch_name=None, offset=0, limit=10)
    (queued,) = listed
    assert queued.status is JobStatus.QUEUED
    with pytest.raises(OrchestrationError):  # still throttled: still queued, nothing published twice
        service.create_ingest_job(key=key, version_id="v1")
    service.orchestrator = orchestrator
    started = service.create_ingest_job(key=key, version_id="v1")
    assert started.id == queued.id and [name for _, name, _ in orchestrator.started] == [queued.id]
    assert [t for t, _ in bus.events] == ["Job Queued"]


def test_listing_pages_by_offset_or_after_a_job(parts: Any) -> None:
    service, _, _, blobs = parts
    ids = []
    for n in range(12):
        url = _put(blobs, service.create_upload(APP).downloadUrl, b"RIFF")
        request = CreateJobRequest(name=f"n{n}", workflow="tonearm/audio-info", params={"inputUrl": url})
        ids.append(service.create_job(APP, request).id)
    # newest first: by creation time, then id (jobs made in the same millisecond)
    jobs = [service.store.get(i) for i in ids]
    newest_first = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True) if j]
    by_offset = [
        j.id
        for p in range(3)
        for j in service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=p, size=5)
    ]
    after, by_key = None, []
    while page := service.list_jobs(
        APP, statuses=[], workflows=[], batch_name=None, page=0, size=5, after=after
    ):
        by_key += [j.id for j in page]
        after = page[-1].id
    assert by_offset == by_key == newest_first
    with pytest.raises(InvalidParamsError):
        service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=1, size=5, after=ids[0])
    with pytest.raises(JobNotFoundError):
        service.list_jobs(APP, statuses=[], workflows=[], batch_name=None, page=0, size=5, after="nope")
