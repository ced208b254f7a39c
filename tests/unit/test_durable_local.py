"""Durable local execution: the journal, the bus and orchestrator on it, the watchdog, start-up recovery.

Issue 18: after ``kill -9`` during 160 submissions, 82 of 139 jobs never finished; pending webhooks were
lost by design; slow webhook receivers held up every job. Each test here builds the state a crash
leaves (a second object on the same journal file is the restarted process) and checks what comes back.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT, encode, render_tone, wait_for, wait_for_terminal
from tonearm.adapters.local.bus import LocalBus, Rule
from tonearm.adapters.local.journal import RuntimeJournal
from tonearm.adapters.local.orchestrator import LocalOrchestrator
from tonearm.adapters.local.sqlite_jobs import SqliteJobStore
from tonearm.events.webhooks import webhook_message_id
from tonearm.jobs.model import Job, JobStatus, utc_now
from tonearm.jobs.watchdog import JobWatchdog
from tonearm.local_stack.runtime import SubscriberPools, build_local_runtime
from tonearm.workflows import CATALOGUE

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def _rule(name: str, target: str) -> Rule:
    return Rule(name=name, bus="b", pattern={"source": ["test"]}, target=target)


# --- the journal ----------------------------------------------------------------------------------
def test_journal_keeps_executions_and_deliveries_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "runtime.sqlite3"
    first = RuntimeJournal(path)
    assert first.begin_execution("job-1", "M", {"jobId": "job-1"})
    assert not first.begin_execution("job-1", "M", {"jobId": "job-1"})  # a name is used once
    assert first.begin_execution("job-2", "M", {"jobId": "job-2"})
    first.end_execution("job-2")
    restarted = RuntimeJournal(path)
    assert [e.name for e in restarted.running_executions()] == ["job-1"]
    assert restarted.execution("job-2") is not None and restarted.execution("job-2").status == "ENDED"  # type: ignore[union-attr]
    assert path.stat().st_mode & 0o777 == 0o600


# --- the bus --------------------------------------------------------------------------------------
def test_a_delivery_interrupted_by_a_crash_is_delivered_after_the_restart(tmp_path: Path) -> None:
    path = tmp_path / "runtime.sqlite3"
    release = threading.Event()
    seen: list[dict[str, Any]] = []

    def stuck(_target: str, event: dict[str, Any]) -> None:
        release.wait(5)  # the process "dies" while the subscriber is busy: it never finishes

    pools = SubscriberPools(workers=2)
    bus = LocalBus(
        bus_name="b", rules=[_rule("r", "Hook")], invoke=stuck, executor=pools, journal=RuntimeJournal(path)
    )
    event = bus.publish_raw(bus="b", source="test", detail_type="t", detail={"id": "j"})
    restarted_journal = RuntimeJournal(path)
    pending = restarted_journal.pending_deliveries()
    assert [d.event["id"] for d in pending] == [event["id"]]
    release.set()
    pools.shutdown()

    restarted = LocalBus(
        bus_name="b",
        rules=[_rule("r", "Hook")],
        invoke=lambda _t, e: seen.append(e),
        executor=SubscriberPools(workers=1),
        journal=restarted_journal,
    )
    for delivery in pending:
        assert restarted.redeliver(delivery)
    wait_for(lambda: not restarted_journal.pending_deliveries(), timeout_s=5)
    assert [e["id"] for e in seen] == [event["id"]]  # the same event: receivers can deduplicate


def test_a_slow_subscriber_does_not_hold_up_another() -> None:
    release = threading.Event()
    delivered: list[str] = []

    def invoke(target: str, _event: dict[str, Any]) -> None:
        if target == "WebhookFunction":
            release.wait(10)
        else:
            delivered.append(target)

    pools = SubscriberPools(workers=2)
    rules = [_rule("hooks", "WebhookFunction"), _rule("watch", "ExecutionWatchdogFunction")]
    bus = LocalBus(bus_name="b", rules=rules, invoke=invoke, executor=pools)
    for _ in range(8):  # more stuck webhooks than the webhook pool has threads
        bus.publish_raw(bus="b", source="test", detail_type="t", detail={})
    wait_for(lambda: len(delivered) == 8, timeout_s=5)
    release.set()
    pools.shutdown()


# --- the orchestrator -----------------------------------------------------------------------------
def _orchestrator(journal: RuntimeJournal, ended: list[str]) -> LocalOrchestrator:
    from concurrent.futures import ThreadPoolExecutor

    return LocalOrchestrator(
        definitions=lambda _m: (PASS_MACHINE, {}),
        resolve_task=lambda _r: lambda payload: payload,
        executor=ThreadPoolExecutor(max_workers=2),
        on_finished=lambda _m, name, _i, _o: ended.append(name),
        journal=journal,
    )


def test_an_execution_is_journalled_until_its_end_is_announced(tmp_path: Path) -> None:
    journal = RuntimeJournal(tmp_path / "runtime.sqlite3")
    ended: list[str] = []
    orchestrator = _orchestrator(journal, ended)
    orchestrator.start(state_machine="M", execution_name="job-1", execution_input={"jobId": "job-1"})
    wait_for(lambda: ended == ["job-1"], timeout_s=5)
    wait_for(lambda: journal.execution("job-1").status == "ENDED", timeout_s=5)  # type: ignore[union-attr]
    # a restarted process does not run a used name again
    again: list[str] = []
    restarted = _orchestrator(RuntimeJournal(tmp_path / "runtime.sqlite3"), again)
    restarted.start(state_machine="M", execution_name="job-1", execution_input={"jobId": "job-1"})
    time.sleep(0.2)
    assert again == []
    assert restarted.execution_status(state_machine="M", execution_name="job-1") == "ENDED"
    assert restarted.execution_status(state_machine="M", execution_name="nope") is None


def test_an_interrupted_execution_is_resumed(tmp_path: Path) -> None:
    journal = RuntimeJournal(tmp_path / "runtime.sqlite3")
    journal.begin_execution("job-1", "M", {"jobId": "job-1"})  # started, then the process died
    ended: list[str] = []
    restarted = _orchestrator(RuntimeJournal(tmp_path / "runtime.sqlite3"), ended)
    (execution,) = restarted_running = RuntimeJournal(tmp_path / "runtime.sqlite3").running_executions()
    assert restarted_running
    assert restarted.resume(execution)
    wait_for(lambda: ended == ["job-1"], timeout_s=5)
    assert not RuntimeJournal(tmp_path / "runtime.sqlite3").running_executions()


# --- the watchdog ---------------------------------------------------------------------------------
class _Executions:
    """An orchestrator whose executions' statuses the test sets."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.started: list[str] = []

    def start(self, *, state_machine: str, execution_name: str, execution_input: Any) -> None:
        self.started.append(execution_name)
        self.status[execution_name] = "RUNNING"

    def execution_status(self, *, state_machine: str, execution_name: str) -> str | None:
        return self.status.get(execution_name)


def _old_job(job_id: str, *, status: JobStatus = JobStatus.QUEUED, **extra: Any) -> Job:
    created = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="milliseconds")
    return Job(
        id=job_id,
        app="a",
        name=job_id,
        workflow="tonearm/audio-info",
        status=status,
        created_at=created.replace("+00:00", "Z"),
        **extra,
    )


def test_the_watchdog_redrives_never_started_jobs_and_fails_abandoned_ones(local_runtime: Any) -> None:
    jobs = local_runtime.services.jobs
    executions = _Executions()
    store = jobs.store
    store.create(_old_job("never-started"))
    store.create(_old_job("abandoned", status=JobStatus.STARTED))
    executions.status["abandoned"] = "FAILED"
    store.create(_old_job("running", status=JobStatus.STARTED))
    executions.status["running"] = "RUNNING"
    store.create(
        _old_job("batch", status=JobStatus.SUCCEEDED).model_copy(update={"workflow": "tonearm/batch"})
    )
    store.create(_old_job("child", status=JobStatus.STARTED, batch_name="batch"))
    store.create(Job(id="fresh", app="a", name="fresh", workflow="tonearm/audio-info"))  # inside the grace

    original = jobs.orchestrator
    jobs.orchestrator = executions
    try:
        report = JobWatchdog(jobs=jobs, workflows=CATALOGUE, orchestrator=executions).sweep(grace_s=120)
    finally:
        jobs.orchestrator = original
    assert report.redriven == ["never-started"] and executions.started == ["never-started"]
    assert sorted(report.failed) == ["abandoned", "child"]
    assert report.running == ["running"]
    assert store.get("abandoned").error.code == "workflow_failed"  # type: ignore[union-attr]
    assert store.get("fresh").status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_sqlite_unfinished_lists_only_open_jobs_oldest_first(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    for n, status in enumerate([JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.STARTED, JobStatus.FAILED]):
        store.create(
            _old_job(f"j{n}", status=status).model_copy(
                update={"created_at": f"2026-01-0{n + 1}T00:00:00.000Z"}
            )
        )
    assert [j.id for j in store.unfinished(created_before=utc_now(), limit=10)] == ["j0", "j2"]
    assert [j.id for j in store.unfinished(created_before="2026-01-02T00:00:00.000Z", limit=10)] == ["j0"]


def test_a_job_end_has_one_webhook_id_however_often_it_is_published() -> None:
    first = {"id": "event-1", "detail-type": "Job Succeeded", "detail": {"id": "job-1"}}
    again = {"id": "event-2", "detail-type": "Job Succeeded", "detail": {"id": "job-1"}}
    other = {"id": "event-3", "detail-type": "Job Failed", "detail": {"id": "job-1"}}
    assert webhook_message_id(first) == webhook_message_id(again) != webhook_message_id(other)


# --- start-up recovery ----------------------------------------------------------------------------
def _runtime(data_dir: Path) -> Any:
    return build_local_runtime(
        project_root=PROJECT_ROOT,
        data_dir=data_dir,
        base_url="http://127.0.0.1:3999",
        api_key="test-key",
        webhook_base_delay_s=0.01,
        watch_interval_s=0.05,
        sleep=lambda _s: None,
    )


def test_startup_finishes_what_a_crash_left(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runtime = _runtime(data_dir)
    store, blobs = runtime.services.store, runtime.services.blobs
    blobs.put_bytes(
        "uploads/local/in.wav",
        encode(render_tone(seconds=1.0), sr=44100, fmt="WAV"),
        content_type="audio/wav",
    )
    params = {"inputUrl": blobs.presign_get("uploads/local/in.wav", ttl_s=3600)}
    runtime.close()

    # the state a kill -9 leaves: a job stored but never started, an execution begun and not ended (its
    # job STARTED), a finished job whose end was never announced, a half-written upload
    journal = RuntimeJournal(data_dir / "runtime.sqlite3")
    store.create(
        Job(id="never-started", app="local", name="a", workflow="tonearm/audio-info", workflow_params=params)
    )
    store.create(
        Job(
            id="interrupted",
            app="local",
            name="b",
            workflow="tonearm/audio-info",
            workflow_params=params,
            status=JobStatus.STARTED,
        )
    )
    journal.begin_execution("interrupted", "AudioInfoStateMachine", {"jobId": "interrupted"})
    store.create(
        Job(
            id="unannounced", app="local", name="c", workflow="tonearm/audio-info", status=JobStatus.SUCCEEDED
        )
    )
    journal.begin_execution("unannounced", "AudioInfoStateMachine", {"jobId": "unannounced"})
    partial = data_dir / "bucket" / "uploads" / "local" / "x.part"
    partial.write_bytes(b"half")

    restarted = _runtime(data_dir)
    try:
        report = restarted.recovery
        assert report.partial_files == ["uploads/local/x.part"] and not partial.exists()
        assert report.redriven == ["never-started"]
        assert report.resumed == ["interrupted"]
        assert report.republished == ["unannounced"]
        for job_id in ("never-started", "interrupted"):
            job = wait_for_terminal(lambda job_id=job_id: restarted.services.store.get(job_id), timeout_s=30)
            assert job.status is JobStatus.SUCCEEDED, job.error
        wait_for(lambda: not RuntimeJournal(data_dir / "runtime.sqlite3").running_executions(), timeout_s=10)
    finally:
        restarted.close()
    # a clean stop leaves nothing to recover
    third = _runtime(data_dir)
    try:
        assert third.recovery.empty, third.recovery.summary()
    finally:
        third.close()


# --- separate pools -------------------------------------------------------------------------------
def test_receivers_that_hang_do_not_delay_other_jobs(local_runtime: Any) -> None:
    """Issue 18: 8 jobs whose webhook receivers timed out delayed every other job by 88 s."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.e2e.conftest import free_port
    from tonearm.jobs.model import CreateJobRequest

    release = threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(30)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Hanging)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    jobs, blobs = local_runtime.services.jobs, local_runtime.services.blobs
    app = jobs.store.application_by_id("local")
    blobs.put_bytes(
        "uploads/local/in.wav",
        encode(render_tone(seconds=1.0), sr=22050, fmt="WAV"),
        content_type="audio/wav",
    )
    url = blobs.presign_get("uploads/local/in.wav", ttl_s=3600)
    try:
        hooked = [
            jobs.create_job(
                app,
                CreateJobRequest(
                    name=f"hooked-{n}",
                    workflow="tonearm/audio-info",
                    params={"inputUrl": url},
                    metadata={"webhookUrl": f"http://127.0.0.1:{port}/hook"},
                ),
            )
            for n in range(12)  # more than the runtime's 8 execution threads
        ]
        for job in hooked:
            wait_for_terminal(lambda job=job: jobs.store.get(job.id), timeout_s=30)
        started = time.monotonic()
        other = jobs.create_job(
            app, CreateJobRequest(name="other", workflow="tonearm/audio-info", params={"inputUrl": url})
        )
        done = wait_for_terminal(lambda: jobs.store.get(other.id), timeout_s=10)
        assert done.status is JobStatus.SUCCEEDED
        assert time.monotonic() - started < 5.0  # not behind the webhooks' attempts
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


def test_ended_executions_are_pruned_after_the_name_reuse_window(tmp_path: Path) -> None:
    journal = RuntimeJournal(tmp_path / "runtime.sqlite3")
    journal.begin_execution("old", "M", {})
    journal.end_execution("old")
    journal.begin_execution("running", "M", {})
    assert journal.prune_ended(older_than_s=3600) == 0
    assert journal.prune_ended(older_than_s=-1) == 1  # everything ended is older than "the future"
    assert journal.execution("old") is None and journal.execution("running") is not None
