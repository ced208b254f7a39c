"""MusicFlow: ``/api/health``, ``/api/raw_features/``, ``/api/features/``, ``/api/prediction/`` (GET and
POST with audio) and ``/api/model`` (the current model's card; training from history exports).

MusicFlow's routes are public, as MusicFlow's were; training replaces the model everyone's
predictions use, so ``POST /api/model`` takes a tonearm API key. Errors carry MusicFlow's ``detail``
(``status``, ``failure_type``, ``description``, ``status_code``) and tonearm's ``error`` envelope;
``spotify_rate_limited`` also sets ``Retry-After``. The routes are rate-limited per application (a key
sent), else per client address: ``429 rate_limited`` in the same shape, with ``Retry-After``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

import tonearm
from tonearm.api.errors import ErrorBody, ValidationFailure
from tonearm.api.limits import api_windows
from tonearm.api.rate_limit import RateDecision, RateLimitedError, RateLimits, refusal_message
from tonearm.api.uploads import copy_upload, sync_decode_wait
from tonearm.audio.decode_slots import DecoderBusyError
from tonearm.audio.errors import InputTooLargeError
from tonearm.errors import TonearmError
from tonearm.prediction.history import MAX_STREAMS
from tonearm.prediction.messages import BANDS
from tonearm.prediction.schema import Features, ModelCard, Prediction
from tonearm.prediction.sources import SpotifyRateLimitedError
from tonearm.runtime import Services

router = APIRouter(prefix="/api", tags=["MusicFlow"])

T = TypeVar("T")

#: The largest history upload ``POST /api/model`` takes (a synchronous route's body limit).
MAX_HISTORY_BYTES = 10 * 1024 * 1024
_BANDS_DOC = "; ".join(f"< {bound:g}: {emoji} {text}" for bound, emoji, text in BANDS[:-1])
_BANDS_DOC += f"; otherwise {BANDS[-1][1]} {BANDS[-1][2]}"

Song = Annotated[str, Query(min_length=1, max_length=300, description="Track title.")]
Artist = Annotated[str, Query(min_length=1, max_length=300, description="Artist name.")]


class FlowHealth(BaseModel):
    """``GET /api/health``: MusicFlow's fields, and what this deployment has."""

    name: str = "MusicFlow API (tonearm)"
    description: str
    api_version: str
    model_version: str | None = Field(description="The current model's version; null before training.")
    project_url: str = "https://github.com/tonearm"
    status: str = "healthy"
    spotify: str = Field(description="`configured` or `not_configured` (then the library alone is used).")


class FlowFailure(BaseModel):
    """MusicFlow's ``detail`` of a failure."""

    status: str = "failed"
    failure_type: str = Field(description="tonearm's error code.")
    description: str
    status_code: int


class FlowErrorResponse(BaseModel):
    """A MusicFlow error: its ``detail`` (a list, FastAPI's, when the request does not validate) and
    tonearm's error object."""

    detail: FlowFailure | list[dict[str, Any]]
    error: ErrorBody


#: What each status MusicFlow's routes answer means (``_errors`` picks a route's).
_STATUS_MEANING = {
    400: "invalid_history / not_enough_data, or audio that cannot be analysed",
    401: "unauthorized: the key sent is unknown (or none was sent where one is needed)",
    404: "track_not_found",
    409: "no_model: no model has been trained yet",
    413: "input_too_large / history_too_large",
    415: "unsupported_format",
    422: "the request does not validate (`detail` is FastAPI's list)",
    429: "rate_limited (see Retry-After)",
    502: "spotify_unavailable / spotify_auth_failed",
    503: "spotify_rate_limited or busy (see Retry-After)",
}


def _errors(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route answering ``statuses`` (plus 429, which every route can);
    ``meanings`` (``s422="..."``) overrides a status's description."""
    return {
        status: {
            "model": FlowErrorResponse,
            "description": meanings.get(f"s{status}", _STATUS_MEANING[status]),
        }
        for status in sorted({429, *statuses})
    }


def _musicflow_error(exc: TonearmError) -> JSONResponse:
    headers = {}
    if isinstance(exc, SpotifyRateLimitedError | DecoderBusyError):  # Spotify's 429; decode slots full
        headers["Retry-After"] = str(exc.retry_after_s)
    detail = {
        "status": "failed",
        "failure_type": exc.code,
        "description": exc.message,
        "status_code": exc.status,
    }
    return JSONResponse(
        status_code=exc.status,
        content={"detail": detail, "error": {"code": exc.code, "message": exc.message}},
        headers=headers,
    )


def refused(decision: RateDecision) -> JSONResponse:
    """MusicFlow's ``429`` of a client over its limit (the limiter adds ``Retry-After``)."""
    return _musicflow_error(RateLimitedError(refusal_message(decision)))


def _answer(fn: Callable[[], T]) -> T | JSONResponse:
    try:
        return fn()
    except TonearmError as exc:
        return _musicflow_error(exc)


def validation_failure(failure: ValidationFailure) -> JSONResponse:
    """FastAPI's 422 (``detail``: the error list, as MusicFlow's FastAPI answered) plus tonearm's error."""
    return JSONResponse(
        status_code=422,
        content={"detail": failure.errors, "error": {"code": "invalid_request", "message": failure.message}},
    )


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get(
    "/health", response_model=FlowHealth, responses=_errors(), summary="Health, versions and data sources"
)
def health(request: Request) -> FlowHealth:
    """MusicFlow's health reply; ``model_version`` is null until a model has been trained."""
    services = _services(request)
    try:
        card = services.musicflow.models.current_card()
    except TonearmError:
        card = None
    return FlowHealth(
        description="Predicts how many times a listener will stream a song (0-30) from a model trained on "
        "their own Spotify streaming history, with Spotify metadata and tonearm's audio features.",
        api_version=tonearm.__version__,
        model_version=card.version if card else None,
        spotify="configured"
        if services.settings.spotify_client_id or services.settings.spotify_secret_id
        else "not_configured",
    )


@router.get(
    "/raw_features/",
    summary="Raw metadata and analysis of a song",
    responses=_errors(404, 422, 502, 503),
)
def raw_features(request: Request, song: Song, artist: Artist) -> Any:
    """Spotify's track, album and audio-features objects as returned (null where Spotify has none),
    and tonearm's analysis of the audio when the library holds it."""
    return _answer(lambda: _services(request).musicflow.raw_features(song, artist))


@router.get(
    "/features/",
    response_model=Features,
    summary="The model's features of a song",
    responses=_errors(404, 422, 502, 503),
)
def features(request: Request, song: Song, artist: Artist) -> Any:
    """MusicFlow's ``{track, album, audio_features}``; ``feature_sources`` says which features were
    measured from audio, looked up at Spotify, or are missing (null)."""
    return _answer(lambda: _services(request).musicflow.features(song, artist))


@router.get(
    "/prediction/",
    response_model=Prediction,
    summary="Predicted streams of a song",
    description=f"Streams 0-{MAX_STREAMS}, with MusicFlow's message bands: {_BANDS_DOC}. 409 `no_model` "
    "until a model has been trained.",
    responses=_errors(404, 409, 422, 502, 503),
)
def prediction(request: Request, song: Song, artist: Artist) -> Any:
    """Predict from Spotify metadata and the library's (or Spotify's) audio features."""
    return _answer(lambda: _services(request).musicflow.predict(song, artist))


@router.post(
    "/prediction",
    response_model=Prediction,
    summary="Predicted streams of an uploaded audio file",
    description="The audio features are measured from the file; title and artist (form fields, else the "
    "file's tags) add Spotify's metadata when credentials are configured. The analysis is kept in the "
    f"library for later lookups. Message bands: {_BANDS_DOC}.",
    responses=_errors(400, 401, 409, 413, 415, 422, 502, 503),
)
def prediction_from_audio(
    request: Request,
    file: Annotated[
        UploadFile,
        File(
            description=(
                "WAV, FLAC, OGG, MP3 or AAC/M4A; at most 10 min, and at most 100 MB locally or about 4 MB in "
                "AWS (API Gateway and a synchronous Lambda call)."
            )
        ),
    ],
    song: Annotated[str | None, Form(max_length=300)] = None,
    artist: Annotated[str | None, Form(max_length=300)] = None,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Predict from the audio itself. Public, as MusicFlow's; with a tonearm API key the measured track
    is also recorded in the library (anonymous uploads must not replace another track's entry)."""
    services = _services(request)
    flow = services.musicflow

    def run() -> Prediction:
        flow.models.require()  # before reading a large body for nothing
        key = authorization or x_api_key
        remember = key is not None and bool(key.strip())
        if remember:
            services.jobs.authenticate(key)  # a key that is sent must be valid
        suffix = Path(file.filename or "").suffix.lower()[:8]
        with tempfile.NamedTemporaryFile(prefix="tonearm-flow-", suffix=suffix) as spool:
            size = copy_upload(file.file, spool, max_bytes=services.settings.sync_upload_max_bytes)
            spool.flush()
            with sync_decode_wait(services.settings):  # its decode: a slot, or 503 busy after a short wait
                return flow.predict_audio(
                    Path(spool.name),
                    song=song,
                    artist=artist,
                    filename=file.filename,
                    size_bytes=size,
                    remember=remember,
                )

    return _answer(run)


@router.get(
    "/model",
    response_model=ModelCard,
    summary="The current model's card",
    responses=_errors(409),
)
def model_card(request: Request) -> Any:
    """Data window, features, estimator and cross-validated error of the model predictions use."""
    return _answer(lambda: _services(request).musicflow.models.require().card)


@router.post(
    "/model",
    response_model=ModelCard,
    status_code=201,
    summary="Train a model on streaming-history exports and make it current",
    responses=_errors(
        400,
        401,
        413,
        422,
        502,
        503,
        s422="model_not_better_than_baseline (stored, not made current), or a request that does not "
        "validate (`detail` is FastAPI's list)",
    ),
)
def train_model(
    request: Request,
    history: Annotated[
        list[UploadFile],
        File(description="StreamingHistory_music_*.json and/or Streaming_History_Audio_*.json files."),
    ],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    force: Annotated[
        bool, Form(description="Make the model current even if it does not beat predicting the mean.")
    ] = False,
) -> Any:
    """Needs a tonearm API key: the new model replaces the one every prediction uses, if it beats
    predicting the mean (else 422 ``model_not_better_than_baseline``; the model is stored, not current)."""
    services = _services(request)

    def run() -> ModelCard:
        services.jobs.authenticate(authorization or x_api_key)
        files: list[tuple[str, bytes]] = []
        total = 0
        for upload in history:
            data = upload.file.read(MAX_HISTORY_BYTES + 1)
            total += len(data)
            if total > MAX_HISTORY_BYTES:
                raise InputTooLargeError(
                    f"history files exceed {MAX_HISTORY_BYTES:,} bytes in all; train from the command line "
                    "(`tonearm flow train --history ...`) for bigger exports"
                )
            files.append((upload.filename or f"history{len(files)}", data))
        return services.musicflow.train(files, force=force)

    result = _answer(run)
    return result


def install_musicflow(app: FastAPI, limits: RateLimits) -> None:
    """Add the MusicFlow routes, each also without (or with) its trailing slash, their 422 shape and their
    rate limits (in ``limits``).

    MusicFlow's clients call ``/api/prediction/?song=...``; the POST is documented without the slash.
    Starlette redirects a missing slash only when no route has the path at all, so ``GET
    /api/prediction`` would meet the POST route and answer 405: the aliases make both spellings work.
    """
    app.include_router(router)
    for route in list(router.routes):
        if not isinstance(route, APIRoute):
            continue
        alias = route.path[:-1] if route.path.endswith("/") else route.path + "/"
        app.add_api_route(
            alias,
            route.endpoint,
            methods=list(route.methods or ()),
            response_model=route.response_model,
            status_code=route.status_code,
            include_in_schema=False,
        )
        for path in (route.path, alias):
            app.state.validation_shapers[path] = validation_failure
    # the routes' own paths, not all of /api/: SAMI's /api/v1/invoke is another API's
    paths = frozenset(route.path.rstrip("/") for route in router.routes if isinstance(route, APIRoute))
    services: Services = app.state.services
    limits.add("musicflow", lambda path: path.rstrip("/") in paths, api_windows(services.settings), refused)
