"""Start-up after a crash: what the last process left half-done is finished, nothing twice that must be once.

In AWS, Step Functions and EventBridge outlive any Lambda; locally they live in the server's process,
so the runtime journals them (:mod:`tonearm.adapters.local.journal`) and, before it serves, replays:

1. **partial files**: ``*.part`` files in the bucket are writes a crash interrupted (uploads, outputs);
   the write never completed, so nobody holds a URL to them: removed.
2. **bus deliveries** not finished (a webhook mid-retry, an ingest drop not yet a job): delivered again
   with the same event, so a webhook keeps its ``webhook-id``.
3. **executions** not ended: one whose job already ended had its end stored but perhaps not announced,
   so the job's end event is published again (same ``webhook-id``) unless a delivery of it is pending;
   every other one runs again from its start (tasks are idempotent by job id).
4. **jobs never started** (stored QUEUED, then the process died before StartExecution): the watchdog's
   sweep starts them, and fails any whose execution ended without finishing it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tonearm.adapters.local.bus import LocalBus
from tonearm.adapters.local.journal import RuntimeJournal
from tonearm.adapters.local.orchestrator import LocalOrchestrator
from tonearm.jobs.service import DETAIL_TYPES, JobService
from tonearm.jobs.watchdog import JobWatchdog

logger = logging.getLogger(__name__)

#: How long an ended execution's name stays used (Step Functions: 90 days), then its row is dropped.
EXECUTION_NAME_KEPT_S = 90 * 86400.0


@dataclass
class RecoveryReport:
    """What start-up found and did (counts are logged; tests read the lists)."""

    partial_files: list[str] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the log."""
        return ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in self.__dict__.items())

    @property
    def empty(self) -> bool:
        """Whether the last process left nothing to do (a clean stop)."""
        return not any(self.__dict__.values())


def remove_partial_files(bucket_root: Path) -> list[str]:
    """Delete ``*.part`` files under the bucket (interrupted writes); return their keys."""
    removed: list[str] = []
    if not bucket_root.exists():
        return removed
    for path in bucket_root.rglob("*.part"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.relative_to(bucket_root).as_posix())
    return removed


def recover(
    *,
    journal: RuntimeJournal,
    orchestrator: LocalOrchestrator,
    bus: LocalBus,
    jobs: JobService,
    watchdog: JobWatchdog,
    bucket_root: Path,
) -> RecoveryReport:
    """Finish what the previous process left; call once, after the services are installed."""
    report = RecoveryReport(partial_files=remove_partial_files(bucket_root))
    journal.prune_ended(older_than_s=EXECUTION_NAME_KEPT_S)
    pending = journal.pending_deliveries()
    announced = {
        (str(d.event.get("detail", {}).get("id", "")), str(d.event.get("detail-type", ""))) for d in pending
    }
    for delivery in pending:
        if bus.redeliver(delivery):
            report.redelivered.append(delivery.id)
    for execution in journal.running_executions():
        job = jobs.store.get(str(execution.execution_input.get("jobId", "")))
        if job is not None and job.status.terminal:
            if (job.id, DETAIL_TYPES[job.status]) not in announced:
                jobs.republish(job)
                report.republished.append(job.id)
            journal.end_execution(execution.name)
        elif orchestrator.resume(execution):
            report.resumed.append(execution.name)
    # grace 0: nothing of this process can be starting a job yet, so whatever is unfinished and has no
    # execution was left by the last one
    swept = watchdog.sweep(grace_s=0.0, limit=1_000_000)
    report.redriven, report.failed = swept.redriven, swept.failed
    if not report.empty:
        logger.warning("recovered from an unclean stop: %s", report.summary())
    return report
