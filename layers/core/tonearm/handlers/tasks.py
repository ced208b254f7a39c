"""Workflow task handlers (the container image's functions)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from tonearm.errors import TonearmError
from tonearm.jobs.failures import JobTaskError
from tonearm.jobs.tasks import TaskFunction, analyze_audio, audio_info
from tonearm.runtime import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class TaskEvent(BaseModel):
    """The state machine's input to a task."""

    model_config = ConfigDict(extra="forbid")

    jobId: str  # noqa: N815 - wire name


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TaskEvent)
def audio_info_handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
    """Run ``tonearm/audio-info`` for one job."""
    return _run(event.jobId, audio_info)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TaskEvent)
def analyze_handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
    """Run ``tonearm/analyze`` for one job."""
    return _run(event.jobId, analyze_audio)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TaskEvent)
def tagging_handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
    """Run a tagging-family job (``tonearm/tagging`` or ``tonearm/genre``): the job names the task."""
    return _run(event.jobId, None, workflows=TAGGING_WORKFLOWS)


#: The workflows ``tagging_handler`` (TaggingFunction) runs.
TAGGING_WORKFLOWS = frozenset({"tonearm/tagging", "tonearm/genre"})
#: The workflows ``beats_and_chords_handler`` (BeatsAndChordsFunction) runs.
CHORD_WORKFLOWS = frozenset({"tonearm/beats-and-chords", "music-ai/generate-chords"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TaskEvent)
def beats_and_chords_handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
    """Run ``tonearm/beats-and-chords`` or ``music-ai/generate-chords`` for one job."""
    return _run(event.jobId, None, workflows=CHORD_WORKFLOWS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TaskEvent)
def transcribe_handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
    """Run ``tonearm/transcribe`` for one job."""
    return _run(event.jobId, None, workflows=frozenset({"tonearm/transcribe"}))


def _run(
    job_id: str, task: TaskFunction | None, *, workflows: frozenset[str] | None = None
) -> dict[str, Any]:
    """Run one task; expected failures become ``JobTaskError`` so their code reaches the job."""
    try:
        return get_services().tasks.run(job_id, task, workflows=workflows)
    except TonearmError as exc:
        logger.info("task failed", extra={"jobId": job_id, "code": exc.code})
        metrics.add_metric(name="TaskFailures", unit=MetricUnit.Count, value=1)
        raise JobTaskError(exc) from exc
