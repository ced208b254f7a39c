"""Workflow task handlers (the container image's functions)."""

from __future__ import annotations

from collections.abc import Callable
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


#: The workflows ``tagging_handler`` (TaggingFunction) runs.
TAGGING_WORKFLOWS = frozenset({"tonearm/tagging", "tonearm/genre"})
#: The workflows ``beats_and_chords_handler`` (BeatsAndChordsFunction) runs.
CHORD_WORKFLOWS = frozenset({"tonearm/beats-and-chords", "music-ai/generate-chords"})

#: The workflows ``generate_handler`` (GenerateFunction) runs.
GENERATE_WORKFLOWS = frozenset({"tonearm/generate"})

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
#: Told the task's ``{"result", "outputs"}`` after a success, e.g. to add workflow-specific metrics.
ResultHook = Callable[[dict[str, Any]], None]


def _task_handler(
    name: str,
    summary: str,
    *,
    task: TaskFunction | None = None,
    workflows: frozenset[str] | None = None,
    on_result: ResultHook | None = None,
) -> Handler:
    """A Lambda handler that runs one job's task: ``task``, or the job's own among ``workflows``."""

    def handler(event: TaskEvent, context: LambdaContext) -> dict[str, Any]:
        done = _run(event.jobId, task, workflows=workflows)
        if on_result is not None:
            on_result(done)
        return done

    # named before decorating: logs, traces and the cold-start metric carry the handler's name
    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary
    parsed = event_parser(model=TaskEvent)(handler)
    measured = metrics.log_metrics(capture_cold_start_metric=True)(parsed)
    return logger.inject_lambda_context(tracer.capture_lambda_handler(measured))


audio_info_handler = _task_handler(
    "audio_info_handler", "Run ``tonearm/audio-info`` for one job.", task=audio_info
)
analyze_handler = _task_handler("analyze_handler", "Run ``tonearm/analyze`` for one job.", task=analyze_audio)
tagging_handler = _task_handler(
    "tagging_handler",
    "Run a tagging-family job (``tonearm/tagging`` or ``tonearm/genre``): the job names the task.",
    workflows=TAGGING_WORKFLOWS,
)
beats_and_chords_handler = _task_handler(
    "beats_and_chords_handler",
    "Run ``tonearm/beats-and-chords`` or ``music-ai/generate-chords`` for one job.",
    workflows=CHORD_WORKFLOWS,
)
transcribe_handler = _task_handler(
    "transcribe_handler",
    "Run ``tonearm/transcribe`` for one job.",
    workflows=frozenset({"tonearm/transcribe"}),
)


def _generation_metrics(done: dict[str, Any]) -> None:
    """CloudWatch (EMF) metrics of one generation: its wall time and its real-time factor."""
    result = done.get("result", {})
    seconds, duration = result.get("generationSeconds"), result.get("duration")
    metrics.add_metric(name="Generations", unit=MetricUnit.Count, value=1)
    if isinstance(seconds, int | float) and seconds > 0:
        metrics.add_metric(name="GenerationSeconds", unit=MetricUnit.Seconds, value=seconds)
        if isinstance(duration, int | float):
            # seconds of audio per second of work: > 1 is faster than real time
            metrics.add_metric(
                name="GenerationRealTimeFactor", unit=MetricUnit.Count, value=duration / seconds
            )


generate_handler = _task_handler(
    "generate_handler",
    "Run ``tonearm/generate`` (text to music) for one job.",
    workflows=GENERATE_WORKFLOWS,
    on_result=_generation_metrics,
)


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
