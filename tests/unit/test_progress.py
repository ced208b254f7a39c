"""Job progress: stored only while STARTED and never backwards; the runner's throttle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_job_service import APP, RecordingBus, RecordingOrchestrator
from tonearm.adapters.local.files import FileBlobStore
from tonearm.adapters.local.sqlite_jobs import SqliteJobStore
from tonearm.jobs.model import Job, JobStatus
from tonearm.jobs.runner import ThrottledProgress
from tonearm.jobs.service import JobService
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient
from tonearm.settings import Settings
from tonearm.workflows import CATALOGUE


@pytest.fixture
def service(tmp_path: Path) -> JobService:
    store = SqliteJobStore(":memory:")
    store.put_application(APP)
    return JobService(
        workflows=CATALOGUE,
        store=store,
        blobs=FileBlobStore(tmp_path / "bucket", base_url="http://127.0.0.1:3000", secret=b"s" * 32),
        orchestrator=RecordingOrchestrator(),
        bus=RecordingBus(),
        http=SafeHttpClient(EgressPolicy()),
        settings=Settings(),
    )


def _job(service: JobService, status: JobStatus) -> str:
    job = Job(id=f"job-{status.value}", app=APP.id, name="x", workflow="tonearm/generate", status=status)
    assert service.store.create(job)
    return job.id


def test_progress_is_stored_while_started_and_never_regresses(service: JobService) -> None:
    job_id = _job(service, JobStatus.STARTED)
    bus: RecordingBus = service.bus  # type: ignore[assignment]
    assert service.report_progress(job_id, 12.345)
    assert service.store.get(job_id).progress == 12.3  # type: ignore[union-attr]
    assert not service.report_progress(job_id, 10.0)
    assert not service.report_progress(job_id, 12.3)
    assert service.report_progress(job_id, 150.0)  # clamped
    assert service.store.get(job_id).progress == 100.0  # type: ignore[union-attr]
    assert bus.events == []  # no event per report: progress is polled


def test_progress_of_jobs_not_running_is_ignored(service: JobService) -> None:
    for status in (JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED):
        job_id = _job(service, status)
        assert not service.report_progress(job_id, 50.0)
        assert service.store.get(job_id).progress is None  # type: ignore[union-attr]
    assert not service.report_progress("missing", 50.0)


def test_success_completes_the_progress_and_the_view_shows_it(service: JobService) -> None:
    job_id = _job(service, JobStatus.STARTED)
    service.report_progress(job_id, 40.0)
    assert service.view(service.store.get(job_id)).progress == 40.0  # type: ignore[arg-type]
    job = service.transition(job_id, JobStatus.SUCCEEDED, result={}, outputs={})
    assert job.progress == 100.0 and service.view(job).progress == 100.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_sends_big_steps_slow_updates_and_the_end() -> None:
    sent: list[float] = []
    clock = Clock()
    progress = ThrottledProgress(sent.append, min_step=5.0, min_interval_s=1.0, clock=clock)
    for percent in (0.0, 1.0, 2.0, 6.0, 7.0, 5.0):
        progress(percent)
    assert sent == [6.0]  # 0 is where every job starts; 1, 2, 7 are too close; 5 goes backwards
    clock.now = 1.5
    progress(7.5)  # a second later, a small step is worth a write
    progress(8.0)
    progress(100.0)  # the end always goes out
    progress(100.0)
    assert sent == [6.0, 7.5, 100.0]


def test_throttle_never_fails_the_task() -> None:
    def broken(percent: float) -> None:
        raise RuntimeError("the table is throttled")

    progress = ThrottledProgress(broken)
    progress(50.0)  # logged, not raised
