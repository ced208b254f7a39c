"""The job record and the wire formats of the job API (Music.AI's REST contract)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

CUSTOM_STORAGE = "[custom storage]"


class JobStatus(StrEnum):
    """The four states of a job; SUCCEEDED and FAILED are terminal."""

    QUEUED = "QUEUED"
    STARTED = "STARTED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """Whether no further transition is possible."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


#: Allowed transitions; a repeated transition to the same state is idempotent (Step Functions retries).
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.STARTED, JobStatus.FAILED}),
    JobStatus.STARTED: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO-8601 UTC with millisecond precision and a ``Z`` suffix (``Job.created_at``'s form,
    so stores can compare these strings)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """Now as ISO-8601 UTC with millisecond precision and a ``Z`` suffix."""
    return iso_utc(datetime.now(UTC))


class JobError(BaseModel):
    """Why a job failed: a machine-readable code and a human message."""

    code: str
    message: str


class Callback(BaseModel):
    """A one-job webhook chosen by the caller (AcousticSense's ``webhook``), not the application's.

    The body is the seed API's result shape (``format``) and is signed with the caller's secret. The
    secret lives only in the job record: job views, events and logs never carry it.
    """

    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str = Field(repr=False)
    timeout_s: float = 30.0
    format: Literal["acousticsense"] = "acousticsense"


class Job(BaseModel):
    """A job as stored. ``outputs`` maps file outputs to storage keys; URLs are minted on read."""

    model_config = ConfigDict(extra="ignore")

    id: str
    app: str
    name: str
    workflow: str
    workflow_params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    batch_name: str | None = None
    status: JobStatus = JobStatus.QUEUED
    result: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    copy_results_to: dict[str, str] = Field(default_factory=dict)
    error: JobError | None = None
    #: percent done while STARTED (reported by the task; never decreases), 100 once SUCCEEDED
    progress: float | None = None
    created_at: str = Field(default_factory=utc_now)
    started_at: str | None = None
    completed_at: str | None = None
    expires_at: int = 0
    # the ingest object this job was made from: {"key": ..., "versionId": ...}
    source: dict[str, str] | None = None
    # a per-job webhook that replaces the application's (see Callback)
    callback: Callback | None = None


#: The deepest nesting and the largest size (as compact JSON) a job's ``params`` or ``metadata`` may have:
#: checked before anything is stored, so no record exists that a store, a JSON encoder or an event
#: cannot carry (metadata 200 deep once made a job that answered 500 on every read). The size leaves the
#: record room for its result inside DynamoDB's 400 KB item; events carry a reference past 240 KB.
MAX_JSON_DEPTH = 16
MAX_JSON_BYTES = 320 * 1024


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar is 0; ``{"a": 1}`` is 1), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
            deepest = max(deepest, depth + 1)
    return deepest


def bounded_json(value: dict[str, Any], *, what: str) -> dict[str, Any]:
    """``value`` if it nests at most ``MAX_JSON_DEPTH`` deep and is at most ``MAX_JSON_BYTES``; else a
    ``ValueError`` (a 422 naming the field)."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    size = len(json.dumps(value, separators=(",", ":")))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{what} is {size} bytes as JSON; the limit is {MAX_JSON_BYTES}")
    return value


class CreateJobRequest(BaseModel):
    """``POST /v1/job`` body."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    workflow: str = Field(min_length=1, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    copyResultsTo: dict[str, str] = Field(default_factory=dict)  # noqa: N815 - wire name
    batchName: str | None = Field(default=None, max_length=256)  # noqa: N815 - wire name

    @field_validator("params", "metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return bounded_json(value, what=str(info.field_name))


class JobView(BaseModel):
    """``GET /v1/job/{id}``: the job as Music.AI's clients read it."""

    id: str
    app: str
    name: str
    batchName: str | None  # noqa: N815
    metadata: dict[str, Any]
    workflow: str
    workflowParams: dict[str, Any]  # noqa: N815
    status: JobStatus
    result: dict[str, Any]
    error: JobError | None
    progress: float | None = Field(
        default=None, description="Percent done, when the workflow reports it (tonearm/generate does)."
    )
    createdAt: str  # noqa: N815
    startedAt: str | None  # noqa: N815
    completedAt: str | None  # noqa: N815


class JobIdView(BaseModel):
    """``POST /v1/job`` reply."""

    id: str


class JobStatusView(BaseModel):
    """``GET /v1/job/{id}/status`` reply."""

    id: str
    status: JobStatus


class UploadView(BaseModel):
    """``GET /v1/upload`` reply: a presigned PUT URL and a GET URL for the same object."""

    uploadUrl: str  # noqa: N815
    downloadUrl: str  # noqa: N815


class ApplicationView(BaseModel):
    """``GET /v1/application`` reply."""

    id: str
    name: str
    webhookUrl: str | None = None  # noqa: N815
