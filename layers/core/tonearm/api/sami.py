"""SAMI MusicTagging: ``POST /api/v1/invoke``, answered by tonearm's musicnn models.

Wire format (as SAMI's samples send it): a JSON body ``{appkey, token, namespace, payload, data}``,
where ``payload`` is itself a JSON *string* and ``data`` the base64 audio; ``version``, ``token``,
``appkey`` and ``namespace`` may also come as query parameters (the body wins). The reply is
``{task_id, namespace, status_code, status_text, payload}``, ``payload`` again a JSON string.

Success is ``status_code`` 20000000 with HTTP 200. Every failure has a non-zero ``status_code`` of the
form ``<HTTP status> * 100000 + n``, the matching HTTP 4xx/5xx, ``status_text`` with the message, and
tonearm's machine-readable ``error_code``.

A task type no model here can estimate (``MusicTaggingLang30``/``Lang24``) fails alone: the request
still succeeds, and that task's entry of ``task_flow.result`` carries the failure in the same three
fields (``status_code`` 40000003, ``status_text``, ``error_code: unsupported_task_type``) with
``pred_dim`` 0; every answered entry has ``status_code`` 20000000. Only when every requested task type
fails does the whole request fail. SAMI labels no tag supports are left out of a task's ``tags`` and
``pred`` (``pred_dim`` counts what is returned) and named in ``task_output.unsupported_tags``.

Inputs are bounded before use: ``payload`` is at most 64 KiB and 16 levels deep, ``payload.url`` at most
8192 characters, integers are JSON integers (``top_num: true`` or ``"5"`` is refused, not read as 1 or
5), and extra fields are bounded as job metadata is. Requests are rate-limited per application (the
``token``), else per client address; a refusal is a ``429`` in SAMI's shape with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from tonearm.api.errors import ValidationFailure
from tonearm.api.json_text import loads_bounded
from tonearm.api.limits import api_windows
from tonearm.api.rate_limit import RateDecision, RateLimitedError, RateLimits, refusal_message
from tonearm.api.uploads import decode_for_sync_route
from tonearm.audio.decode import PcmFormat
from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.errors import ParameterError, TonearmError
from tonearm.jobs.errors import UnauthorizedError
from tonearm.jobs.model import bounded_json
from tonearm.models.registry import default_registry
from tonearm.runtime import Services
from tonearm.tagging.service import TaggingResult, tag_tasks
from tonearm.tagging.tagger import TaskAnswer
from tonearm.tagging.task_types import RefusedTask
from tonearm.tagging.taxonomy import SAMI_VOCABULARIES

logger = logging.getLogger(__name__)

router = APIRouter(tags=["SAMI MusicTagging"])

NAMESPACE = "MusicTagging"
STATUS_OK = 20000000
PATH = "/api/v1/invoke"
#: The rate limiter SAMI's requests count in (``RateLimits``); the route counts them itself, as only it
#: sees a token sent in the body.
LIMITS = "sami"
#: The longest ``payload`` string: its audio travels in ``data`` or behind ``payload.url``, so what is
#: left is a few hundred bytes of options.
MAX_PAYLOAD_CHARS = 64 * 1024
#: The longest ``payload.url``: the job API's ``inputUrl`` limit, as the same URLs go in both (an S3
#: download URL signed with a Lambda's session token runs past 2 kB).
MAX_URL_CHARS = 8192
#: Audio formats SAMI documents, plus those tonearm also decodes.
AUDIO_FORMATS = ("wav", "pcm", "mp3", "aac", "flac", "ogg", "m4a")
_ERROR_INDEX = {
    "invalid_request": 1,
    "invalid_parameter": 2,
    "unsupported_task_type": 3,
    "unsupported_namespace": 4,
    "unsupported_format": 5,
    "audio_undecodable": 6,
    "audio_too_long": 7,
    "audio_too_short": 8,
    "audio_silent": 9,
    "audio_empty": 10,
    "invalid_pcm_parameters": 11,
    "url_forbidden": 12,
    "fetch_failed": 13,
    "rate_limited": 14,
    "busy": 15,  # 503: every decode slot stayed taken for DECODE_QUEUE_WAIT_SECONDS (Retry-After)
}


class AudioInfo(BaseModel):
    """``payload.audio_info``: needed for raw PCM (16-bit little-endian), advisory otherwise."""

    model_config = ConfigDict(extra="allow")

    format: str | None = Field(default=None, description=f"One of {', '.join(AUDIO_FORMATS)}.")
    # strict: a JSON integer, never true (1) or "16000"
    sample_rate: StrictInt | None = Field(default=None, gt=0, description="Hz; required for pcm.")
    channel: StrictInt | None = Field(default=None, ge=1, le=32, description="Channels; required for pcm.")


class Extra(BaseModel):
    """``payload.extra``."""

    model_config = ConfigDict(extra="allow")

    enable_tag: bool = True
    enable_embed: bool = False
    top_num: StrictInt | None = Field(
        default=None, ge=1, description="Keep each task's most probable labels."
    )
    segments: bool = Field(default=False, description="tonearm: also tag every 3 s segment.")
    use_tag: bool | None = Field(
        default=None, description="SAMI's flag (its Go sample sends false); accepted, without effect here."
    )


class TaskSpec(BaseModel):
    """One entry of ``payload.task_flow.task``."""

    model_config = ConfigDict(extra="allow")

    task_type: str


class TaskFlow(BaseModel):
    """``payload.task_flow``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["merge"] = "merge"
    task: list[TaskSpec] = Field(min_length=1)


class InvokePayload(BaseModel):
    """The decoded ``payload`` string of a request."""

    model_config = ConfigDict(extra="allow")

    audio_info: AudioInfo = Field(default_factory=AudioInfo)
    extra: Extra = Field(default_factory=Extra)
    task_flow: TaskFlow = Field(
        default_factory=lambda: TaskFlow(task=[TaskSpec(task_type="MusicTaggingMTT")])
    )
    url: str | None = Field(
        default=None, max_length=MAX_URL_CHARS, description="Fetch the audio from here instead of `data`."
    )


class InvokeRequest(BaseModel):
    """The request body."""

    model_config = ConfigDict(extra="allow")

    appkey: str | None = None
    token: str | None = None
    namespace: str | None = None
    payload: str | None = Field(
        default=None, max_length=MAX_PAYLOAD_CHARS, description="JSON string: see InvokePayload."
    )
    data: str | None = Field(default=None, description="Base64 audio.")

    @model_validator(mode="after")
    def _bounded_extras(self) -> InvokeRequest:
        # fields SAMI's clients may add are kept, as SAMI ignores them, within the bounds of job metadata
        if self.model_extra:
            bounded_json(self.model_extra, what="the request's extra fields")
        return self


class InvokeResponse(BaseModel):
    """The reply (success or failure)."""

    task_id: str
    namespace: str
    status_code: int
    status_text: str
    payload: str = Field(description="JSON string: pred, embed, task_flow.result[], segments.")
    error_code: str | None = Field(default=None, description="tonearm's machine-readable error code.")


class UnsupportedNamespaceError(TonearmError):
    """A namespace other than MusicTagging."""

    code = "unsupported_namespace"
    status = 400


def validation_failure(failure: ValidationFailure) -> JSONResponse:
    """The SAMI-shaped reply to a body FastAPI could not parse or validate (see ``install_sami``)."""
    return _fail(
        str(uuid.uuid4()),
        NAMESPACE,
        ParameterError(f"invalid request body: {failure.message}", code="invalid_request"),
    )


def refused(decision: RateDecision) -> JSONResponse:
    """The SAMI-shaped ``429`` of a client over its limit (the limiter adds ``Retry-After``)."""
    return _fail(str(uuid.uuid4()), NAMESPACE, RateLimitedError(refusal_message(decision)))


def install_sami(app: FastAPI, limits: RateLimits) -> None:
    """Add ``POST /api/v1/invoke``, its error shape for bodies that do not validate, and its limits."""
    app.include_router(router)
    app.state.validation_shapers[PATH] = validation_failure
    services: Services = app.state.services
    limits.add(LIMITS, PATH.__eq__, api_windows(services.settings), refused, in_route=True)


def _fail(task_id: str, namespace: str, exc: TonearmError) -> JSONResponse:
    status = exc.status if 400 <= exc.status < 600 else 500
    body = InvokeResponse(
        task_id=task_id,
        namespace=namespace,
        status_code=status * 100000 + _ERROR_INDEX.get(exc.code, 99),
        status_text=exc.message,
        payload="",
        error_code=exc.code,
    )
    response = JSONResponse(status_code=status, content=body.model_dump())
    retry_after = getattr(exc, "retry_after_s", None)  # 503 busy: the decode slots were full
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _ranked(answer: TaskAnswer, top_num: int | None) -> list[tuple[str, float]]:
    """A task's (label, probability) pairs: label order, or its ``top_num`` most probable, descending."""
    if top_num is None:
        return list(zip(answer.labels, answer.probabilities, strict=True))
    return answer.most_probable(top_num)


def _refused_result(refused: RefusedTask, extra: Extra) -> dict[str, Any]:
    """The ``task_flow.result`` entry of a task type that failed alone: SAMI's status fields, per task."""
    error = refused.error
    vocabulary = SAMI_VOCABULARIES.get(refused.name, ())
    output: dict[str, Any] = {"tags": []}
    if vocabulary and extra.enable_tag:
        output["unsupported_tags"] = list(vocabulary)
    return {
        "task_type": refused.name,
        "pred_dim": 0,
        "embed_dim": 0,
        "task_output": output,
        "status_code": error.status * 100000 + _ERROR_INDEX.get(error.code, 99),
        "status_text": error.message,
        "error_code": error.code,
    }


def build_payload(result: TaggingResult, extra: Extra) -> dict[str, Any]:
    """The reply payload: ``pred`` (all tasks' probabilities, request order), ``embed``, per-task results."""
    pred: list[float] = []
    embed: list[float] = []
    results = []
    for answer in result.requested or result.answers:
        if isinstance(answer, RefusedTask):
            results.append(_refused_result(answer, extra))
            continue
        pairs = _ranked(answer, extra.top_num)
        pred += [round(p, 6) for _, p in pairs]
        if extra.enable_embed:
            embed += [round(float(v), 6) for v in answer.embedding]
        output: dict[str, Any] = {"tags": [label for label, _ in pairs] if extra.enable_tag else []}
        if answer.task.unsupported and extra.enable_tag:
            output["unsupported_tags"] = list(answer.task.unsupported)
        results.append(
            {
                "task_type": answer.task.name,
                "pred_dim": len(pairs),
                "embed_dim": int(answer.embedding.shape[0]) if extra.enable_embed else 0,
                "task_output": output,
                "status_code": STATUS_OK,
                "status_text": "OK",
            }
        )
    payload: dict[str, Any] = {
        "pred": pred if extra.enable_tag else [],
        "task_flow": {"type": "merge", "result": results},
    }
    if extra.enable_embed:
        payload["embed"] = embed
    payload["duration"] = round(result.duration_s, 3)
    if result.segments is not None:
        payload["segments"] = [
            {
                "start": round(seg.start_s, 3),
                "end": round(seg.end_s, 3),
                "task_flow": {
                    "result": [
                        {
                            "task_type": a.task.name,
                            "tags": [
                                {"label": label, "prob": round(p, 6)}
                                for label, p in _ranked(a, extra.top_num)
                            ],
                        }
                        for a in seg.answers
                    ]
                },
            }
            for seg in result.segments
        ]
    return payload


def _audio_bytes(body: InvokeRequest, payload: InvokePayload, services: Services) -> bytes:
    if payload.url:
        if body.data:
            raise ParameterError("send the audio either as `data` or as `payload.url`, not both")
        buffer = io.BytesIO()
        services.http.download_to(payload.url, buffer, max_bytes=DEFAULT_LIMITS.max_bytes)
        return buffer.getvalue()
    if not body.data:
        raise ParameterError("no audio: send base64 audio in `data` or a URL in `payload.url`")
    try:
        return base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ParameterError(f"`data` is not valid base64: {exc}") from exc


def _pcm_format(info: AudioInfo) -> PcmFormat | None:
    fmt = (info.format or "").lower()
    if fmt and fmt not in AUDIO_FORMATS:
        raise ParameterError(f"audio_info.format {info.format!r} is not one of {', '.join(AUDIO_FORMATS)}")
    if fmt != "pcm":
        return None
    if info.sample_rate is None or info.channel is None:
        raise ParameterError("raw pcm needs audio_info.sample_rate and audio_info.channel")
    return PcmFormat(sample_rate=info.sample_rate, channels=info.channel, sample_format="s16le")


#: Every failure is SAMI's body (``status_code``, ``status_text``, ``error_code``) with this HTTP status.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": InvokeResponse, "description": "invalid_request / invalid_parameter / audio errors"},
    401: {"model": InvokeResponse, "description": "unauthorized: no valid token, or appkey not its app"},
    413: {"model": InvokeResponse, "description": "input_too_large"},
    415: {"model": InvokeResponse, "description": "unsupported_format"},
    429: {"model": InvokeResponse, "description": "rate_limited (see Retry-After)"},
    502: {"model": InvokeResponse, "description": "fetch_failed: payload.url could not be fetched"},
    503: {"model": InvokeResponse, "description": "busy (see Retry-After), or the models are not installed"},
}


@router.post(PATH, response_model=InvokeResponse, responses=ERRORS, summary="Tag music (SAMI MusicTagging)")
def invoke(
    request: Request,
    body: InvokeRequest,
    version: Annotated[str | None, Query(description="Accepted and ignored.")] = None,
    token: Annotated[str | None, Query(description="tonearm API key (the body's `token` wins).")] = None,
    appkey: Annotated[str | None, Query(description="The caller's application id or name.")] = None,
    namespace: Annotated[str | None, Query()] = None,
) -> Response:
    """Tag an audio clip: genres, moods, vocals, MagnaTagATune tags..., with probabilities and embeddings."""
    limits: RateLimits = request.app.state.rate_limits
    api = limits.api(LIMITS)
    # counted before anything is decoded or run, against the token's application (else the address)
    decision = limits.hit(api, request, key=body.token or token)
    if decision is not None and not decision.allowed:
        return limits.refusal(api, decision)
    response = _invoke(request, body, token=token, appkey=appkey, namespace=namespace)
    if decision is not None:
        response.headers.update(decision.headers())
    return response


def _invoke(
    request: Request, body: InvokeRequest, *, token: str | None, appkey: str | None, namespace: str | None
) -> JSONResponse:
    task_id = str(uuid.uuid4())
    services: Services = request.app.state.services
    ns = NAMESPACE
    try:
        ns = body.namespace or namespace or NAMESPACE
        try:
            app = services.jobs.authenticate(body.token or token)
        except UnauthorizedError:
            raise UnauthorizedError(
                "send a tonearm API key as `token` (in the body or the query string) and the application's "
                "id as `appkey` (`make serve` prints both; in AWS, `tonearm app create` does)"
            ) from None
        claimed = body.appkey or appkey
        if claimed and claimed not in (app.id, app.name):
            raise UnauthorizedError(
                f"appkey {claimed!r} does not name the application this token belongs to: send its id "
                f"({app.id!r}) or name"
            )
        if ns != NAMESPACE:
            raise UnsupportedNamespaceError(f"namespace {ns!r} is not served here; use {NAMESPACE!r}")
        try:
            decoded = loads_bounded(body.payload or "{}", what="`payload`", max_chars=MAX_PAYLOAD_CHARS)
            payload = InvokePayload.model_validate(decoded)
        except ValidationError as exc:
            raise ParameterError(f"`payload` must be a JSON string of the documented shape: {exc}") from exc
        pcm = _pcm_format(payload.audio_info)
        data = _audio_bytes(body, payload, services)
        audio = decode_for_sync_route(
            data,
            pcm=pcm,
            settings=services.settings,
            size_bytes=len(data),
            use_instead="a tonearm/tagging job (POST /v1/job)",
        )
        result = tag_tasks(
            audio,
            [t.task_type for t in payload.task_flow.task],
            registry=default_registry(),
            segments=payload.extra.segments,
        )
    except TonearmError as exc:
        if exc.status >= 500:
            logger.error("tagging failed: %s", exc.message)
        return _fail(task_id, ns, exc)
    status_text = "OK" if not result.warnings else "OK; warning: " + "; ".join(result.warnings)
    reply = InvokeResponse(
        task_id=task_id,
        namespace=ns,
        status_code=STATUS_OK,
        status_text=status_text,
        payload=json.dumps(build_payload(result, payload.extra), separators=(",", ":")),
    )
    return JSONResponse(status_code=200, content=reply.model_dump(exclude_none=True))
