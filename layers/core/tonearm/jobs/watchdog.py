"""The sweep that leaves no job behind: unfinished jobs re-driven or failed, in AWS as locally.

A job is stored QUEUED before its execution starts (so a caller can always read what it was told
about), which leaves a window: a process that dies between the two (a Lambda timeout, a ``kill -9``
of the local server) leaves a QUEUED job nobody runs. An execution can also end without finishing its
job (a state machine fails in a way its Catch cannot handle and the end event is lost). The sweep looks
at jobs unfinished for longer than a grace period and asks the orchestrator about each one's execution:

* none was ever started: start it now (Step Functions' names make this idempotent);
* it is running: leave it (Step Functions enforces the state machine's ``TimeoutSeconds``);
* it ended: the job failed with ``workflow_failed``.

Children of a batch have no execution of their own (they run inside the batch's Distributed Map):
they are failed when their batch has ended without them, and otherwise left to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tonearm.jobs.catalogue import Catalogue
from tonearm.jobs.errors import InvalidTransitionError, JobNotFoundError, UnknownWorkflowError
from tonearm.jobs.model import Job, JobError, JobStatus, iso_utc
from tonearm.jobs.service import JobService
from tonearm.ports import Orchestrator

logger = logging.getLogger(__name__)

#: How long a job may stay unfinished before the sweep looks at it: longer than any start takes (a
#: StartExecution retried with backoff), so the sweep never races a request that is still starting one.
DEFAULT_GRACE_S = 120.0
#: Jobs looked at per sweep; the next sweep takes the rest.
DEFAULT_BATCH = 200


@dataclass
class SweepReport:
    """What one sweep did, by job id."""

    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, int]:
        """Counts, for logs and metrics."""
        return {"redriven": len(self.redriven), "failed": len(self.failed), "running": len(self.running)}


class JobWatchdog:
    """Re-drives jobs whose execution never started and fails jobs whose execution ended without them."""

    def __init__(self, *, jobs: JobService, workflows: Catalogue, orchestrator: Orchestrator) -> None:
        self.jobs = jobs
        self.workflows = workflows
        self.orchestrator = orchestrator

    def sweep(
        self, *, now: datetime | None = None, grace_s: float = DEFAULT_GRACE_S, limit: int = DEFAULT_BATCH
    ) -> SweepReport:
        """Look at up to ``limit`` jobs unfinished since before ``now - grace_s``, oldest first."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=grace_s)
        report = SweepReport()
        for job in self.jobs.store.unfinished(created_before=iso_utc(cutoff), limit=limit):
            try:
                self._sweep_one(job, report)
            except Exception:  # one bad record must not stop the sweep
                logger.exception("watchdog could not sweep job %s", job.id)
        return report

    def _sweep_one(self, job: Job, report: SweepReport) -> None:
        if job.batch_name is not None:
            batch = self.jobs.store.get(job.batch_name)
            if batch is not None and batch.workflow != job.workflow and batch.id != job.id:
                # a batch child: its batch runs it; once the batch is over, nobody will
                if batch.status.terminal:
                    self._fail(job, report, f"its batch {batch.id} ended {batch.status.value} without it")
                else:
                    report.running.append(job.id)
                return
        try:
            spec = self.workflows.get(job.workflow)
        except UnknownWorkflowError:
            self._fail(job, report, f"its workflow {job.workflow!r} is no longer deployed")
            return
        status = self.orchestrator.execution_status(state_machine=spec.state_machine, execution_name=job.id)
        if status is None:
            logger.warning("re-driving job %s: its execution never started", job.id)
            self.jobs.redrive(job)
            report.redriven.append(job.id)
        elif status == "RUNNING":
            report.running.append(job.id)
        else:
            self._fail(job, report, f"its execution ended {status} without finishing it")

    def _fail(self, job: Job, report: SweepReport, why: str) -> None:
        error = JobError(code="workflow_failed", message=f"the job was left unfinished: {why}")
        try:
            self.jobs.transition(job.id, JobStatus.FAILED, error=error)
        except (JobNotFoundError, InvalidTransitionError):  # finished or deleted meanwhile
            return
        logger.warning("watchdog failed job %s: %s", job.id, why)
        report.failed.append(job.id)
