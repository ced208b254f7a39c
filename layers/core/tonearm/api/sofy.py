"""Sofy's text-to-music API, answered by the ``tonearm/generate`` workflow.

- ``POST /generate-music`` (Sofy's body, plus an optional ``seed``) starts a job and answers
  ``{task_id, status: "started", message, estimated_duration}``; ``task_id`` is the job id.
- ``GET /music-status/{task_id}``: ``generating`` (with the job's progress), ``completed`` (with
  ``filename`` and ``download_url``) or ``failed`` (with ``error``).
- ``GET /download-music/{task_id}``: the WAV. From local storage it is streamed. From S3 it is
  answered with a ``307`` to a presigned S3 URL, for two limits of API Gateway + Lambda: a response
  holds at most 6 MB (base64 included; a 25 s track is 4.8 MB), and API Gateway only turns a base64
  body back into bytes when the request's first ``Accept`` type is one of the API's binary media
  types, which Sofy's clients (``Accept: */*``) do not send. A request that accepts ``audio/*`` or
  ``application/octet-stream`` first gets files up to ``inline_download_max_bytes`` inline.

Sofy's clients send no API key: their tasks belong to the public application ``Settings.sofy_app``
and anyone holding a task id can read it (as on Sofy). A request with ``Authorization`` or
``X-API-Key`` acts as that key's application; ``Settings.sofy_require_api_key`` makes the key
mandatory. Only the job service is needed here, so the light API function (no numpy) serves these
routes; the generation itself runs in GenerateFunction.

Errors carry Sofy's ``detail`` and tonearm's ``error: {code, message}`` side by side; a body that does
not validate is FastAPI's 422 (``detail`` as a list) with ``error.message`` naming each field.
Requests are rate-limited per client (``tonearm.api.rate_limit``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tonearm.api.errors import ErrorBody, ValidationFailure
from tonearm.api.key_usage import KeyUsage, key_usage_middleware
from tonearm.api.limits import sofy_windows
from tonearm.api.rate_limit import LimitedApi, RateDecision, RateLimits
from tonearm.errors import NotFoundError, TonearmError
from tonearm.generation.params import GenerationParams, estimate_seconds
from tonearm.generation.workflow import GENERATE
from tonearm.jobs.errors import UnauthorizedError
from tonearm.jobs.model import CreateJobRequest, Job, JobStatus
from tonearm.ports import Application
from tonearm.runtime import Services
from tonearm.settings import Settings

router = APIRouter(tags=["Sofy (text to music)"])

STARTED_MESSAGE = "Music generation started. Use the task_id to check status and download the file."
#: The paths Sofy's rate limits apply to.
SOFY_PREFIXES = ("/generate-music", "/music-status/", "/download-music/")
#: Longer than any job id: anything longer is not a task (and is not sent to the store).
_MAX_TASK_ID = 64


class GenerateMusicResponse(BaseModel):
    """``POST /generate-music`` reply."""

    task_id: str = Field(description="The job id: poll /music-status/{task_id} (or GET /v1/job/{id}).")
    status: Literal["started"] = "started"
    message: str = STARTED_MESSAGE
    estimated_duration: int = Field(description="Expected seconds until the track is ready.")


class MusicStatusResponse(BaseModel):
    """``GET /music-status/{task_id}`` reply."""

    task_id: str
    status: Literal["generating", "completed", "failed"]
    progress_percentage: float = Field(description="0-100; 100 only once the file can be downloaded.")
    filename: str | None = None
    download_url: str | None = None
    error: str | None = None


class SofyErrorResponse(BaseModel):
    """Sofy's ``detail`` and tonearm's error object, in one body."""

    detail: str
    error: ErrorBody


class SofyValidationResponse(BaseModel):
    """A body that does not validate (or cannot be read): FastAPI's ``detail`` list and tonearm's error."""

    detail: list[dict[str, Any]]
    error: ErrorBody


class TaskNotFoundError(NotFoundError):
    """No generation task with that id is visible to the caller."""

    code = "task_not_found"


class NotCompletedError(TonearmError):
    """The track cannot be downloaded (yet): the task is still running, or failed."""

    code = "not_completed"
    status = 400


#: What Sofy's routes answer besides their results: a key that is sent but unknown (or missing where
#: required), a task that is not the caller's, the client over its rate limit (``Retry-After``).
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": SofyErrorResponse, "description": "unauthorized"},
    404: {"model": SofyErrorResponse, "description": "task_not_found / file_not_found"},
    429: {"model": SofyErrorResponse, "description": "rate_limited (see Retry-After)"},
}
#: ``POST /generate-music`` alone: its body, and the job that could not start.
_GENERATE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _ERRORS[401],
    422: {"model": SofyValidationResponse, "description": "the body does not validate, or is not JSON"},
    429: _ERRORS[429],
    503: {"model": SofyErrorResponse, "description": "the generation could not be started"},
}


def sofy_error(status: int, code: str, message: str, *, detail: str | None = None) -> JSONResponse:
    """An error body both Sofy's clients (``detail``) and tonearm's (``error``) understand."""
    return JSONResponse(
        status_code=status,
        content={"detail": detail or message, "error": {"code": code, "message": message}},
    )


def _from(exc: TonearmError, *, detail: str | None = None) -> JSONResponse:
    return sofy_error(exc.status, exc.code, exc.message, detail=detail)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _owner(request: Request, services: Services) -> Application:
    """The application acting: the key's, or (no key sent) the public Sofy application."""
    key = request.headers.get("authorization") or request.headers.get("x-api-key")
    if key:
        return services.jobs.authenticate(key)
    settings = services.settings
    if settings.sofy_require_api_key:
        raise UnauthorizedError("missing API key: send it in the Authorization or X-API-Key header")
    return services.store.application_by_id(settings.sofy_app) or Application(
        id=settings.sofy_app, name="Sofy (public)", key_sha256=""
    )


def _task(request: Request, services: Services, task_id: str) -> Job:
    owner = _owner(request, services)
    job = services.store.get(task_id) if 0 < len(task_id) <= _MAX_TASK_ID else None
    if job is None or job.workflow != GENERATE.slug or job.app != owner.id:
        raise TaskNotFoundError(f"no generation task with id {task_id!r}")
    return job


def estimated_duration(params: GenerationParams) -> int:
    """Seconds the generation is expected to take (at least 1)."""
    return max(1, math.ceil(estimate_seconds(params)))


def status_view(job: Job) -> MusicStatusResponse:
    """A job as Sofy's status: QUEUED/STARTED → generating, SUCCEEDED → completed, FAILED → failed."""
    if job.status is JobStatus.SUCCEEDED:
        return MusicStatusResponse(
            task_id=job.id,
            status="completed",
            progress_percentage=100.0,
            filename=f"{job.id}.wav",
            download_url=f"/download-music/{job.id}",
        )
    # 100 % is kept for "downloadable": a task whose engine is done is still storing its files
    progress = min(99.0, job.progress or 0.0) if job.status is JobStatus.STARTED else 0.0
    if job.status is JobStatus.FAILED:
        error = f"{job.error.code}: {job.error.message}" if job.error else "generation failed"
        return MusicStatusResponse(
            task_id=job.id, status="failed", progress_percentage=job.progress or 0.0, error=error
        )
    return MusicStatusResponse(task_id=job.id, status="generating", progress_percentage=progress)


@router.post(
    "/generate-music",
    response_model=GenerateMusicResponse,
    responses=_GENERATE_ERRORS,
    summary="Start generating a track from a text prompt",
)
def generate_music(request: Request, body: GenerationParams) -> Response | GenerateMusicResponse:
    """Start a ``tonearm/generate`` job; answers at once with its ``task_id``."""
    services = _services(request)
    try:
        job = services.jobs.create_job(
            _owner(request, services),
            CreateJobRequest(
                name=body.prompt[:256], workflow=GENERATE.slug, params=body.model_dump(exclude_none=True)
            ),
        )
    except TonearmError as exc:
        return _from(exc)
    if job.status is JobStatus.FAILED and job.error is not None:  # the workflow could not start
        return sofy_error(503, job.error.code, job.error.message)
    return GenerateMusicResponse(task_id=job.id, estimated_duration=estimated_duration(body))


@router.get(
    "/music-status/{task_id}",
    response_model=MusicStatusResponse,
    responses=_ERRORS,
    summary="Status and progress of a generation task",
)
def music_status(task_id: str, request: Request) -> Response | MusicStatusResponse:
    """``generating`` with ``progress_percentage``, ``completed`` with the download URL, or ``failed``."""
    try:
        return status_view(_task(request, _services(request), task_id))
    except TaskNotFoundError as exc:
        return _from(exc, detail="Task not found")
    except TonearmError as exc:
        return _from(exc)


@router.get(
    "/download-music/{task_id}",
    response_class=Response,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "The WAV (48 kHz, 16-bit, stereo)."},
        307: {"description": "Files in S3: fetch the presigned URL in Location (see the module doc)."},
        400: {"model": SofyErrorResponse, "description": "not_completed: nothing to download yet"},
        **_ERRORS,
    },
    summary="Download the generated WAV",
)
def download_music(task_id: str, request: Request) -> Response:
    """The WAV as an attachment named ``<task_id>.wav``."""
    services = _services(request)
    try:
        job = _task(request, services, task_id)
    except TaskNotFoundError as exc:
        return _from(exc, detail="Task not found")
    except TonearmError as exc:
        return _from(exc)
    if job.status is not JobStatus.SUCCEEDED:
        return _from(
            NotCompletedError(f"task {job.id} is {job.status.value}: there is nothing to download yet"),
            detail="Music generation not completed",
        )
    key = job.outputs.get("wav")
    if key is None:  # a job made through /v1/job that copied its wav elsewhere (copyResultsTo)
        message = "this task's WAV was copied to its copyResultsTo URL"
        return sofy_error(404, "file_not_found", message, detail="File not found")
    return _wav_response(request, services, key, filename=f"{job.id}.wav")


#: Types that template.yaml's BinaryMediaTypes make API Gateway pass on as bytes.
_BINARY_ACCEPT = ("audio/", "application/octet-stream")


def _accepts_binary(request: Request) -> bool:
    # API Gateway decides on the first Accept value alone (its binaryMediaTypes rule)
    first = request.headers.get("accept", "").split(",")[0].split(";")[0].strip().lower()
    return first.startswith(_BINARY_ACCEPT)


def _wav_response(request: Request, services: Services, key: str, *, filename: str) -> Response:
    blobs = services.blobs
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    path = blobs.local_path(key)
    if path is not None:
        if path.is_file():
            return FileResponse(path, media_type="audio/wav", filename=filename)
        size = None
    else:
        size = blobs.size(key)
    if size is None:
        return sofy_error(
            404, "file_not_found", "the file has expired (retention) or was deleted", detail="File not found"
        )
    if size > services.settings.inline_download_max_bytes or not _accepts_binary(request):
        return RedirectResponse(blobs.presign_get(key, ttl_s=services.settings.url_ttl_s), status_code=307)
    with tempfile.TemporaryDirectory(prefix="tonearm-download-") as tmp:
        path = Path(tmp) / filename
        blobs.download_to(key, path)
        return Response(path.read_bytes(), media_type="audio/wav", headers=disposition)


def validation_failure(failure: ValidationFailure) -> JSONResponse:
    """FastAPI's 422 (``detail``: the error list) plus tonearm's error, naming each field."""
    problems = []
    for err in failure.errors:
        loc = [str(part) for part in err.get("loc", ())]
        field = ".".join(loc[1:] if len(loc) > 1 and loc[0] == "body" else loc)
        problems.append(f"{field}: {err.get('msg', 'invalid')}")
    message = "; ".join(problems) or failure.message
    return JSONResponse(
        status_code=422,
        content={"detail": failure.errors, "error": {"code": "invalid_request", "message": message}},
    )


def refused(decision: RateDecision) -> JSONResponse:
    """The 429 of a client over its limit, in both shapes."""
    period = {60: "1 minute", 3600: "1 hour"}.get(decision.window_s, f"{decision.window_s} seconds")
    detail = f"Rate limit exceeded: {decision.limit} per {period}"
    return sofy_error(429, "rate_limited", f"{detail}; retry in {decision.reset_s} s", detail=detail)


@router.get("/api-keys/stats", tags=["Sofy"])
def api_key_stats(request: Request) -> dict[str, object]:
    """Sofy's key statistics: tonearm's keys by position (never the keys), requests and errors on Sofy's
    routes as this process counted them; ``total_keys``: every key the deployment has."""
    services: Services = request.app.state.services
    usage: KeyUsage = request.app.state.key_usage
    return usage.stats(services.store.count_keys())


def is_sofy_path(path: str) -> bool:
    """Whether Sofy's rate limits apply to ``path``."""
    return path == SOFY_PREFIXES[0] or path.startswith(SOFY_PREFIXES[1:])


def install_sofy(app: FastAPI, settings: Settings, limits: RateLimits) -> LimitedApi:
    """Add Sofy's routes, its 422 shape and its rate limits (in ``limits``) to ``app``; return them."""
    app.include_router(router)
    app.state.validation_shapers["/generate-music"] = validation_failure
    api = limits.add("sofy", is_sofy_path, sofy_windows(settings), refused)
    app.state.key_usage = KeyUsage()
    app.middleware("http")(key_usage_middleware(app.state.key_usage, is_sofy_path))
    return api
