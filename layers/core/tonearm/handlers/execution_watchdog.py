"""Step Functions ``Execution Status Change`` target: no job is left STARTED by a dead execution.

The state machines' Catch marks jobs FAILED, but some failures cannot be caught (``States.Runtime``,
a timed-out or aborted execution). This subscriber marks the job FAILED then, unless it already ended.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services
from tonearm.jobs.errors import InvalidTransitionError, JobNotFoundError
from tonearm.jobs.model import JobError, JobStatus

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Fail the job named by the execution, if it is still QUEUED or STARTED."""
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
