"""Per-job callbacks: the body a caller-chosen webhook receives, in the shape of the API that asked.

AcousticSense's ``POST /analyze-with-webhook`` promises "a POST of the same result body" as
``POST /analyze-audio``; the wire models of that reply live here so the webhook deliverer (a zip
function without numpy or the models) and the API router share one definition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from tonearm.jobs.model import Job, JobError, JobStatus, utc_now

__all__ = [
    "AnalysisFailure",
    "AnalysisResponse",
    "GenreConfidence",
    "acousticsense_response",
    "callback_body",
]

#: AcousticSense reports the five most likely genres.
TOP_GENRES = 5


class GenreConfidence(BaseModel):
    """One genre and its share, percent."""

    genre: str
    confidence: float = Field(description="Percent; the supported genres' shares sum to 100.")


class AnalysisResponse(BaseModel):
    """AcousticSense's reply (and webhook body)."""

    request_id: str
    timestamp: str
    analysis_results: list[GenreConfidence]
    top_genre: str
    top_confidence: float
    unsupported_genres: list[str] = Field(description="tonearm: genres no model here can estimate.")


class AnalysisFailure(BaseModel):
    """The webhook body when the analysis failed (AcousticSense documents none; tonearm sends this)."""

    request_id: str
    timestamp: str
    status: Literal["failed"] = "failed"
    error: JobError


def acousticsense_response(
    genres: Sequence[tuple[str, float]], *, request_id: str, unsupported: Sequence[str], timestamp: str = ""
) -> AnalysisResponse:
    """Shape a genre ranking (percent, most likely first) as AcousticSense's reply: its top 5."""
    top = [GenreConfidence(genre=g, confidence=round(c, 2)) for g, c in genres[:TOP_GENRES]]
    return AnalysisResponse(
        request_id=request_id,
        timestamp=timestamp or utc_now(),
        analysis_results=top,
        top_genre=top[0].genre,
        top_confidence=top[0].confidence,
        unsupported_genres=list(unsupported),
    )


def callback_body(job: Job) -> bytes:
    """The JSON body a finished job's callback receives (compact UTF-8).

    A SUCCEEDED ``tonearm/genre`` job gives AcousticSense's reply with ``request_id`` = the job id; a
    FAILED job gives :class:`AnalysisFailure` with the job's error code and message.
    """
    timestamp = job.completed_at or utc_now()
    body: BaseModel
    if job.status is JobStatus.SUCCEEDED:
        genres = [(str(item["genre"]), float(item["confidence"])) for item in job.result["genres"]]
        body = acousticsense_response(
            genres,
            request_id=job.id,
            unsupported=list(job.result.get("unsupportedGenres", [])),
            timestamp=timestamp,
        )
    else:
        error = job.error or JobError(code="internal_error", message="the analysis failed")
        body = AnalysisFailure(request_id=job.id, timestamp=timestamp, error=error)
    return json.dumps(body.model_dump(mode="json"), separators=(",", ":")).encode()
