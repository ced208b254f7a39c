"""The steps of every batch job's state machine (``statemachines/batch.asl.json``), by ``action``.

``prepare`` (the items manifest), ``item`` (one child job), ``progress`` (finished items) and ``summary``
(the ``items`` file and the result); see ``tonearm.batch.service``. Expected failures become
``JobTaskError`` so their code reaches the job through the state machine's Catch.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from tonearm.batch.service import BatchService
from tonearm.bootstrap import get_services
from tonearm.errors import TonearmError
from tonearm.handlers.tracing import handler_tracer
from tonearm.jobs.task_failures import JobTaskError
from tonearm.workflows import CATALOGUE

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()


class BatchEvent(BaseModel):
    """The state machine's input to one step; ``jobId`` is the batch job's."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["prepare", "item", "progress", "summary"]
    jobId: str  # noqa: N815 - wire name
    #: prepare: every item task function, logical id -> ARN (the state machine's substitutions)
    functions: dict[str, str] = Field(default_factory=dict)
    #: item: the object; progress: this item's index and the batch's size
    key: str | None = None
    index: int | None = None
    total: int | None = None
    #: summary: the Map's ResultWriterDetails ({"Bucket", "Key"})
    results: dict[str, Any] | None = None


def _service() -> BatchService:
    services = get_services()
    return BatchService(jobs=services.jobs, store=services.store, blobs=services.blobs, workflows=CATALOGUE)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=BatchEvent)
def handler(event: BatchEvent, context: LambdaContext) -> dict[str, Any]:
    """Run one step of a batch job."""
    service = _service()
    try:
        if event.action == "prepare":
            return service.prepare(event.jobId, event.functions)
        if event.action == "item" and event.key is not None:
            return service.item(event.jobId, event.key)
        if event.action == "progress" and event.index is not None and event.total is not None:
            return {"jobId": event.jobId, "stored": service.progress(event.jobId, event.index, event.total)}
        if event.action == "summary" and event.results is not None:
            done = service.summary(event.jobId, event.results)
            metrics.add_metric(name="BatchItems", unit=MetricUnit.Count, value=done["result"]["total"])
            return done
    except TonearmError as exc:
        logger.info(
            "batch step failed", extra={"jobId": event.jobId, "action": event.action, "code": exc.code}
        )
        raise JobTaskError(exc) from exc
    raise ValueError(f"the {event.action} step needs more fields than {event.model_dump(exclude_none=True)}")
