"""No job left behind: Step Functions ``Execution Status Change`` target, and a scheduled sweep.

The state machines' Catch marks jobs FAILED, but some failures cannot be caught (``States.Runtime``,
a timed-out or aborted execution). This subscriber marks the job FAILED then, unless it already ended.

Every few minutes (the template's schedule, whose input is ``{"sweep": {"graceSeconds": ...}}``) it also
sweeps the unfinished jobs (:class:`tonearm.jobs.watchdog.JobWatchdog`): a job stored QUEUED whose
StartExecution never happened (the API function died between the two) is started, and a job whose
execution ended without finishing it (its end event lost) is failed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services
from tonearm.handlers.tracing import handler_tracer
from tonearm.jobs.errors import InvalidTransitionError, JobNotFoundError
from tonearm.jobs.model import JobError, JobStatus
from tonearm.jobs.watchdog import DEFAULT_BATCH, DEFAULT_GRACE_S, JobWatchdog

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Sweep (scheduled input), or fail the job named by the execution if it is still QUEUED or STARTED."""
    sweep = event.raw_event.get("sweep")
    if isinstance(sweep, dict):
        return _sweep(sweep)
    detail = event.detail
    job_id = str(detail.get("name", ""))
    status = str(detail.get("status", ""))
    reason = detail.get("error") or status
    cause = detail.get("cause") or ""
    error = JobError(
        code="workflow_failed", message=f"the workflow ended {status}: {reason} {cause}".strip()[:1000]
    )
    jobs = get_services().jobs
    current = jobs.store.get(job_id)
    if current is None or current.status.terminal:
        return {"jobId": job_id, "applied": False}
    try:
        job = jobs.transition(job_id, JobStatus.FAILED, error=error)
    except (JobNotFoundError, InvalidTransitionError):  # deleted or finished meanwhile
        return {"jobId": job_id, "applied": False}
    metrics.add_metric(name="OrphanedExecutions", unit=MetricUnit.Count, value=1)
    logger.warning("job failed by its execution's end", extra={"jobId": job_id, "status": status})
    return {"jobId": job.id, "applied": True, "status": job.status.value}


def _sweep(options: dict[str, Any]) -> dict[str, Any]:
    services = get_services()
    jobs = services.jobs
    watchdog = JobWatchdog(jobs=jobs, workflows=jobs.workflows, orchestrator=jobs.orchestrator)
    report = watchdog.sweep(
        grace_s=float(options.get("graceSeconds", DEFAULT_GRACE_S)),
        limit=int(options.get("limit", DEFAULT_BATCH)),
    )
    counts = report.to_dict()
    metrics.add_metric(name="JobsRedriven", unit=MetricUnit.Count, value=counts["redriven"])
    metrics.add_metric(name="JobsFailedByWatchdog", unit=MetricUnit.Count, value=counts["failed"])
    if report.redriven or report.failed:
        logger.warning("watchdog sweep", extra={"redriven": report.redriven, "failed": report.failed})
    return {"sweep": counts}
