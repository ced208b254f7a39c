"""Workflow task handlers (the container images' functions), one per template function.

``handler_for("TaggingFunction")`` is the Lambda handler of that function: it runs the job's task if the
job's workflow is one of those ``tonearm.workflows.CATALOGUE`` assigns to the function, and emits the
workflow's metrics after a success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from tonearm.bootstrap import get_services
from tonearm.errors import TonearmError
from tonearm.handlers.tracing import handler_tracer
from tonearm.jobs.spec import WorkflowSpec
from tonearm.jobs.task_failures import JobTaskError
from tonearm.workflows import CATALOGUE

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()


class TaskEvent(BaseModel):
    """The state machine's input to a task."""

    model_config = ConfigDict(extra="forbid")

    jobId: str  # noqa: N815 - wire name


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def handler_for(function: str) -> Handler:
    """The Lambda handler of the template's task function ``function`` (its logical id)."""
    specs = {spec.slug: spec for spec in CATALOGUE.for_function(function)}
    if not specs:
        raise ValueError(f"no workflow runs in {function}")  # a wiring fault, found at import
    workflows = frozenset(specs)

    def handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
        spec, done = _run(event.jobId, workflows)
        for name, unit, value in spec.metrics(done):
            metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
        return done

    # named before decorating: logs, traces and the cold-start metric carry the function's name
    handler.__name__ = handler.__qualname__ = function
    handler.__doc__ = f"Run one job of {', '.join(sorted(workflows))} ({function})."
    parsed = event_parser(model=TaskEvent)(handler)
    measured = metrics.log_metrics(capture_cold_start_metric=True)(parsed)
    return logger.inject_lambda_context(tracer.capture_lambda_handler(measured))


def _run(job_id: str, workflows: frozenset[str]) -> tuple[WorkflowSpec, dict[str, Any]]:
    """Run one task; expected failures become ``JobTaskError`` so their code reaches the job."""
    try:
        return get_services().tasks.run(job_id, workflows=workflows)
    except TonearmError as exc:
        logger.info("task failed", extra={"jobId": job_id, "code": exc.code})
        metrics.add_metric(name="TaskFailures", unit=MetricUnit.Count, value=1)
        raise JobTaskError(exc) from exc
