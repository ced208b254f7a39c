"""What a workflow is, as the job engine sees it: slug, params model, outputs, state machine, task.

Each capability package declares its workflows in its own ``workflow.py`` with these types;
``tonearm.workflows`` lists them all in one :class:`~tonearm.jobs.catalogue.Catalogue`. The engine
(``tonearm.jobs``) runs any ``WorkflowSpec`` and imports no capability.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.model import Job
from tonearm.ports import BlobStore

#: The largest params file an ingest drop of a workflow without input (``tonearm/generate``) may be.
MAX_PARAMS_FILE_BYTES = 64 * 1024


class InputParams(BaseModel):
    """Params shared by every workflow that takes an input file."""

    model_config = ConfigDict(extra="forbid")

    inputUrl: str = Field(  # noqa: N815 - wire name
        min_length=1,
        max_length=8192,
        description="A downloadUrl from GET /v1/upload, or an https URL tonearm can fetch.",
    )


@dataclass(frozen=True)
class OutputSpec:
    """One named output of a workflow."""

    kind: Literal["value", "file"]
    description: str
    content_type: str = "application/json"
    extension: str = "json"
    #: the stored file's name (default ``<output name>.<extension>``)
    filename: str | None = None

    def file_name(self, name: str) -> str:
        """The name a file output is stored (and downloaded) under."""
        return self.filename or f"{name}.{self.extension}"


#: The ``duration`` output of the workflows that decode their input.
DURATION_OUTPUT = OutputSpec("value", "Decoded duration in seconds.")


@dataclass
class TaskOutput:
    """What a task function produced: JSON values and files (by output name)."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


#: ``progress(percent)``: how much of the task is done, 0-100. Cheap to call often: the runner
#: throttles the writes, and a report that would not move the job forward is dropped.
Progress = Callable[[float], None]
#: ``task(input_path, work_dir, params, progress)``: params are the job's validated workflow params;
#: ``input_path`` does not exist for workflows that take no input (``WorkflowSpec.takes_input``).
TaskFunction = Callable[[Path, Path, Mapping[str, Any], Progress], TaskOutput]
#: ``(name, unit, value)`` of a metric a task handler emits after a success; ``unit`` is CloudWatch's
#: (``Count``, ``Seconds``, ...).
TaskMetric = tuple[str, str, float]


def no_progress(percent: float) -> None:
    """A ``Progress`` that reports nowhere (the command line's tasks)."""


class ResultHook(Protocol):
    """Runs after a task succeeded, with what the job engine holds; returns values to add to the result.

    A hook belongs to another capability than the workflow's (e.g. the MusicFlow library recording
    analyses): ``tonearm.workflows`` attaches it, so neither capability imports the other.
    """

    def __call__(
        self,
        *,
        blobs: BlobStore,
        job: Job,
        params: Mapping[str, Any],
        input_path: Path,
        values: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Values to add to the job's result (their names must be outputs of the workflow)."""
        ...


def _no_metrics(result: Mapping[str, Any]) -> list[TaskMetric]:
    return []


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow: what ``GET /v1/workflow`` shows, how jobs of it start, and what runs them.

    ``function`` is the template's logical id of the Lambda function that runs ``task``
    (``TaggingFunction``); ``state_machine`` the logical id of the state machine that calls it. A contract
    test checks that ``template.yaml`` agrees with every spec.
    """

    slug: str
    name: str
    description: str
    params: type[BaseModel]
    state_machine: str
    function: str
    task: TaskFunction
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    #: whether jobs carry an input file (``params.inputUrl``, or the ingest object itself). Workflows
    #: without one (generation) take only params; their ingest drops are JSON params files.
    takes_input: bool = True
    #: run after a success, in order; see :class:`ResultHook`
    result_hooks: tuple[ResultHook, ...] = ()
    #: metrics the task handler emits after a success, from the task's ``{"result", "outputs"}``
    metrics: Callable[[Mapping[str, Any]], list[TaskMetric]] = _no_metrics
    #: for workflows without input: an example params file, quoted when a dropped one is not JSON
    drop_example: str = ""

    def with_result_hook(
        self, hook: ResultHook, *, outputs: Mapping[str, OutputSpec], description: str = ""
    ) -> WorkflowSpec:
        """This workflow, also running ``hook`` after a success, which fills ``outputs``."""
        return replace(
            self,
            description=f"{self.description} {description}".strip(),
            outputs={**self.outputs, **outputs},
            result_hooks=(*self.result_hooks, hook),
        )

    def describe(self) -> dict[str, Any]:
        """The ``GET /v1/workflow`` item: slug, name, description, params JSON schema, outputs."""
        return {
            "id": self.slug,
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "params": self.params.model_json_schema(),
            "outputs": {
                name: {"type": spec.kind, "description": spec.description, "contentType": spec.content_type}
                for name, spec in self.outputs.items()
            },
        }

    def params_from_drop(self, key: str, data: bytes | None) -> dict[str, Any]:
        """The validated params of a JSON params file dropped under ``ingest/<slug>/`` (workflows without
        input); ``InvalidParamsError`` says what is wrong with the file."""
        if data is None or len(data) > MAX_PARAMS_FILE_BYTES:
            size = "missing" if data is None else f"{len(data)} bytes"
            raise InvalidParamsError(
                f"{key!r} is {size}; a {self.slug} drop is a JSON params file of at most "
                f"{MAX_PARAMS_FILE_BYTES} bytes"
            )
        try:
            raw = json.loads(data)
        except ValueError:  # UnicodeDecodeError included
            example = f", e.g. {self.drop_example}" if self.drop_example else ""
            raise InvalidParamsError(
                f"{key!r} is not JSON; a {self.slug} drop is a JSON object of its params{example}"
            ) from None
        if not isinstance(raw, dict):
            raise InvalidParamsError(f"{key!r} must hold a JSON object of {self.slug} params")
        return self.validate_params(raw)

    def validate_params(self, params: Mapping[str, Any], *, where: str = "params") -> dict[str, Any]:
        """``params`` validated by the params model, as stored; ``InvalidParamsError`` names each problem."""
        try:
            return self.params.model_validate(dict(params)).model_dump(exclude_none=True)
        except ValidationError as exc:
            problems = "; ".join(
                f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidParamsError(f"invalid params for {self.slug}: {problems}") from None


def write_file(path: Path, data: bytes) -> Path:
    """Write a task's output file and return its path (for ``TaskOutput.files``)."""
    path.write_bytes(data)
    return path
