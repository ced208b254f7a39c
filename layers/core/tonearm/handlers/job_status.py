"""Job status task of every state machine: record the status change and publish it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from tonearm.bootstrap import get_services
from tonearm.handlers.tracing import handler_tracer
from tonearm.jobs.errors import InvalidTransitionError, JobNotFoundError
from tonearm.jobs.model import JobStatus
from tonearm.jobs.task_failures import job_error_from_catch

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()


class JobStatusEvent(BaseModel):
    """The state machine's input to this task."""

    model_config = ConfigDict(extra="forbid")

    jobId: str  # noqa: N815 - wire name
    status: JobStatus
    result: dict[str, Any] | None = None
    outputs: dict[str, str] | None = None
    error: dict[str, Any] | None = None  # a Catch output: {"Error": ..., "Cause": ...}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=JobStatusEvent)
def handler(event: JobStatusEvent, context: LambdaContext) -> dict[str, Any]:
    """Apply one transition; a deleted job or a finished one is logged, not retried forever."""
    error = job_error_from_catch(event.error) if event.error is not None else None
    try:
        job = get_services().jobs.transition(
            event.jobId, event.status, result=event.result, outputs=event.outputs, error=error
        )
    except (JobNotFoundError, InvalidTransitionError) as exc:
        logger.warning("status change not applied", extra={"jobId": event.jobId, "reason": exc.message})
        return {"jobId": event.jobId, "applied": False, "reason": exc.code}
    metrics.add_metric(name=f"Jobs{job.status.value.title()}", unit=MetricUnit.Count, value=1)
    return {"jobId": job.id, "applied": True, "status": job.status.value}
