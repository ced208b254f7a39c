"""AcousticSense: ``POST /analyze-with-webhook``, a genre analysis of a URL, answered by a signed webhook.

The route only validates and starts a ``tonearm/genre`` job (so it is served by the light API function,
without the models); the job's callback POSTs AcousticSense's result body to ``webhook.url`` when the
job ends, signed with ``X-Signature: hex HMAC-SHA256(secret_token, raw body)`` and the Standard Webhooks
headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) keyed with the same
``secret_token``. The secret itself is never sent. ``request_id`` is the job id: ``GET /v1/job/{id}``
with the same API key shows progress.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from tonearm.api.errors import ErrorResponse
from tonearm.jobs.model import Callback, CreateJobRequest
from tonearm.runtime import Services

router = APIRouter(tags=["AcousticSense"])


class WebhookTarget(BaseModel):
    """Where and how to deliver the result."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="An https URL tonearm may reach.")
    secret_token: str = Field(
        min_length=8, max_length=512, description="Key of the HMAC-SHA256 signatures; never sent back."
    )
    # a JSON number (an integer too), never true or "30"
    timeout: StrictFloat = Field(default=30.0, ge=1.0, le=120.0, description="Seconds per delivery attempt.")


class AnalyzeWithWebhookRequest(BaseModel):
    """``POST /analyze-with-webhook`` body."""

    model_config = ConfigDict(extra="forbid")

    audio_url: str = Field(
        min_length=1, max_length=8192, description="mp3, wav, flac, ogg or m4a; at most 100 MB and 10 min."
    )
    webhook: WebhookTarget


class ProcessingResponse(BaseModel):
    """The analysis has started; the result will be POSTed to the webhook."""

    status: Literal["processing"] = "processing"
    request_id: str = Field(description="The job id (GET /v1/job/{request_id} shows its progress).")


@router.post(
    "/analyze-with-webhook",
    response_model=ProcessingResponse,
    responses={
        400: {
            "model": ErrorResponse,
            "description": "invalid_request, or a URL tonearm may not fetch or call",
        },
        401: {"model": ErrorResponse, "description": "unauthorized: no valid API key"},
        413: {"model": ErrorResponse, "description": "input_too_large: the uploaded input passes the limit"},
        429: {"model": ErrorResponse, "description": "rate_limited (see Retry-After)"},
    },
    summary="Top-5 genres of an audio URL, delivered to a signed webhook",
)
def analyze_with_webhook(
    request: Request,
    body: AnalyzeWithWebhookRequest,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> ProcessingResponse:
    """Start a genre analysis of ``audio_url``; its result is POSTed to ``webhook.url`` when ready.

    Bad input (an unreachable or private URL, a missing upload, a webhook URL tonearm may not call)
    is refused here with a 4xx, before any work starts.
    """
    services: Services = request.app.state.services
    app = services.jobs.authenticate(authorization or x_api_key)
    job = services.jobs.create_job(
        app,
        CreateJobRequest(
            name="analyze-with-webhook", workflow="tonearm/genre", params={"inputUrl": body.audio_url}
        ),
        callback=Callback(
            url=body.webhook.url, secret=body.webhook.secret_token, timeout_s=body.webhook.timeout
        ),
    )
    return ProcessingResponse(request_id=job.id)
