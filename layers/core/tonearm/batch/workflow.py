"""``tonearm/batch``: run one input-taking workflow over many objects, each item a child job.

The batch job's state machine (``statemachines/batch.asl.json``) runs a Step Functions Distributed Map;
``tonearm.batch.service`` does its steps (list the items, make each child job, report progress,
summarise). The params model is built from the workflows a deployment serves
(:func:`batch_workflow`, called by ``tonearm.workflows``), so this capability imports no other one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from tonearm.errors import TonearmError
from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.spec import OutputSpec, Progress, TaskOutput, WorkflowSpec

SLUG = "tonearm/batch"
#: the most items one batch runs (a manifest, or the objects under a prefix)
MAX_ITEMS = 10_000
#: Where a batch may read its items. Job inputs only ever come from these two prefixes (uploads and
#: ingest drops), and the item task functions may read nothing else (their IAM allows s3:GetObject on
#: uploads/* and ingest/* only). results/ holds other jobs' outputs (and batches' own manifests: a
#: batch over results/ could feed on itself), flow/ MusicFlow's library and models: never inputs.
#: Under uploads/, a batch reads only its own application's uploads (uploads/<app>/), checked when it
#: starts (``BatchService.prepare``), since the params model does not know the caller.
INPUT_PREFIXES = ("uploads/", "ingest/")
#: child job ids: one per (batch, key), so a retried step finds the same child
CHILD_NAMESPACE = uuid.UUID("5b0f3c1e-8d52-4f0b-9a43-6c2d7e9b1a04")
#: a stand-in input URL, to validate item params with the item workflow's model (inputUrl is per item)
_PLACEHOLDER_INPUT = "https://batch.invalid/item"


def child_job_id(batch_id: str, key: str) -> str:
    """The id of the batch's child job for ``key``."""
    return str(uuid.uuid5(CHILD_NAMESPACE, f"{batch_id}\n{key}"))


def _check_key(value: str, what: str) -> None:
    if not value.startswith(INPUT_PREFIXES):
        raise ValueError(f"{what} must be under {' or '.join(INPUT_PREFIXES)}, got {value!r}")
    if ".." in value.split("/") or "//" in value:
        raise ValueError(f"{what} {value!r} has an empty or '..' segment")


class BatchParams(BaseModel):
    """``tonearm/batch`` params: which workflow, over which objects, with which item params."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(
        min_length=1, max_length=128, description="The slug of a workflow that takes an input file."
    )
    prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Every object under this key prefix is an item: uploads/<app>/... or ingest/...",
    )
    manifest: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Instead of a prefix: the object keys, at most {MAX_ITEMS}.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Each item's workflow params, without inputUrl (the item is it)."
    )
    # strict: JSON numbers only (true or "40" is refused, not read as 1 or 40)
    maxConcurrency: StrictInt = Field(  # noqa: N815 - wire name
        default=40, ge=1, le=1000, description="How many items run at once."
    )
    toleratedFailurePercentage: StrictFloat = Field(  # noqa: N815 - wire name
        default=100,
        ge=0,
        le=100,
        description="The batch fails when more than this percentage of its items failed (100: never; "
        "it reports each item's outcome).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> BatchParams:
        if (self.prefix is None) == (self.manifest is None):
            raise ValueError("give exactly one of prefix or manifest")
        if self.prefix is not None:
            _check_key(self.prefix, "prefix")
        for key in self.manifest or []:
            _check_key(key, "every manifest key")
        if self.manifest is not None and len(set(self.manifest)) != len(self.manifest):
            raise ValueError("manifest keys must be distinct")
        return self


def item_params(spec: WorkflowSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` validated as ``spec``'s params minus inputUrl; raises ``InvalidParamsError``."""
    if "inputUrl" in params:
        raise InvalidParamsError("params.inputUrl: not allowed in a batch; each item's object is its input")
    validated = spec.validate_params({**params, "inputUrl": _PLACEHOLDER_INPUT}, where="params.params")
    validated.pop("inputUrl", None)
    return validated


class BatchTaskError(TonearmError):
    """A batch job was handed to a task function (a wiring fault: batches run on their Map)."""

    code = "wrong_task_function"
    status = 500


def _no_task(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    raise BatchTaskError("tonearm/batch runs on BatchStateMachine's Distributed Map, not as one task")


def batch_workflow(items: Iterable[WorkflowSpec]) -> WorkflowSpec:
    """The ``tonearm/batch`` workflow over ``items`` (those that take an input file may be batched)."""
    specs = {spec.slug: spec for spec in items if spec.takes_input}

    class Params(BatchParams):
        __doc__ = BatchParams.__doc__

        @model_validator(mode="after")
        def _item_workflow(self) -> Params:
            spec = specs.get(self.workflow)
            if spec is None:
                raise ValueError(f"workflow must be one of {', '.join(sorted(specs))}, got {self.workflow!r}")
            try:
                self.params = item_params(spec, self.params)
            except InvalidParamsError as exc:
                raise ValueError(exc.message) from None
            return self

    Params.__name__ = Params.__qualname__ = "BatchParams"
    return WorkflowSpec(
        slug=SLUG,
        name="Batch",
        description=(
            "Run one workflow over every object under a prefix (uploads/<app>/... or ingest/...), or over "
            f"a manifest of up to {MAX_ITEMS} keys, on a Step Functions Distributed Map. Each item is a "
            "child job of that workflow whose batchName is this job's id (GET /v1/job?batchName=<id>); "
            "progress counts finished items; the result counts them and lists every item's key, child "
            "job id, status and error in the items file."
        ),
        params=Params,
        state_machine="BatchStateMachine",
        function="BatchFunction",
        task=_no_task,
        takes_input=False,
        drop_example='{"workflow": "tonearm/audio-info", "prefix": "ingest/music/"}',
        outputs={
            "total": OutputSpec("value", "How many items the batch ran."),
            "succeeded": OutputSpec("value", "How many child jobs succeeded."),
            "failed": OutputSpec("value", "How many child jobs failed."),
            "items": OutputSpec("file", "Every item: key, jobId, status and error (JSON)."),
        },
    )
