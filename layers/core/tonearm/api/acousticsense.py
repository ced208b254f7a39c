"""AcousticSense: ``POST /analyze-audio`` (multipart upload) answered by tonearm's musicnn models.

The reply is AcousticSense's: ``{request_id, timestamp, analysis_results: [{genre, confidence}] (top 5,
confidence in percent), top_genre, top_confidence}``, plus ``unsupported_genres``: the genres of
AcousticSense's list that no tag of the models supports (Disco, Latin, Rap, Reggae) and which are
therefore never reported. Authenticate with the tonearm API key (``Authorization`` or ``X-API-Key``).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Request, UploadFile

from tonearm.api.errors import ErrorResponse
from tonearm.api.uploads import copy_upload, decode_for_sync_route
from tonearm.audio.errors import UnsupportedFormatError
from tonearm.events.callbacks import AnalysisResponse, acousticsense_response
from tonearm.models.registry import default_registry
from tonearm.runtime import Services
from tonearm.tagging.service import GenreResult, classify_genres
from tonearm.tagging.taxonomy import ACOUSTICSENSE_UNSUPPORTED

router = APIRouter(tags=["AcousticSense"])

#: Extensions AcousticSense accepts; the content decides the decoder, the name only filters.
EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".m4a")


def analysis_response(result: GenreResult, *, request_id: str) -> AnalysisResponse:
    """Shape a genre ranking as AcousticSense's reply (top 5)."""
    return acousticsense_response(result.genres, request_id=request_id, unsupported=ACOUSTICSENSE_UNSUPPORTED)


#: What ``/analyze-audio`` answers besides its result, all in tonearm's envelope.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid_request, or audio that cannot be analysed"},
    401: {"model": ErrorResponse, "description": "unauthorized: no valid API key"},
    413: {"model": ErrorResponse, "description": "input_too_large: over this route's upload limit"},
    415: {"model": ErrorResponse, "description": "unsupported_format: not mp3, wav, flac, ogg or m4a"},
    429: {"model": ErrorResponse, "description": "rate_limited (see Retry-After)"},
    503: {"model": ErrorResponse, "description": "busy (see Retry-After), or the models are not installed"},
}


@router.post(
    "/analyze-audio",
    response_model=AnalysisResponse,
    responses=ERRORS,
    summary="Top-5 genres of an uploaded file",
)
def analyze_audio(
    request: Request,
    file: Annotated[
        UploadFile,
        File(
            description=(
                "mp3, wav, flac, ogg or m4a; at most 10 min, and at most 100 MB locally or about 4 MB in AWS "
                "(API Gateway and a synchronous Lambda call): larger files go through /v1/upload and a job."
            )
        ),
    ],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> AnalysisResponse:
    """Classify the genre of an uploaded audio file."""
    services: Services = request.app.state.services
    services.jobs.authenticate(authorization or x_api_key)
    name = file.filename or ""
    if name and Path(name).suffix.lower() not in EXTENSIONS:
        raise UnsupportedFormatError(f"{name!r}: send one of {', '.join(EXTENSIONS)}")
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        size = copy_upload(file.file, spool, max_bytes=services.settings.sync_upload_max_bytes)
        spool.seek(0)
        audio = decode_for_sync_route(
            spool, settings=services.settings, size_bytes=size, use_instead="POST /analyze-with-webhook"
        )
    result = classify_genres(audio, registry=default_registry())
    return analysis_response(result, request_id=str(uuid.uuid4()))
