"""``create_app``: the whole HTTP API as one FastAPI app (Lambda via Mangum, or locally via uvicorn)."""

from __future__ import annotations

import importlib.util
import sys

from fastapi import FastAPI

import tonearm
from tonearm.api import acousticsense_webhook, health
from tonearm.api.errors import install_error_handlers
from tonearm.api.jobs import router as jobs_router
from tonearm.api.limits import install_rate_limits
from tonearm.api.local_files import local_files_router
from tonearm.api.metrics import install_metrics
from tonearm.api.openapi_errors import install_openapi_errors
from tonearm.api.rate_limit import RateLimits
from tonearm.api.sofy import install_sofy
from tonearm.api.web import install_web
from tonearm.runtime import Services

DESCRIPTION = """
tonearm answers the APIs of several music-AI services from one deployment. The job API under `/v1`
follows Music.AI's REST contract: its clients work unchanged apart from the base URL.
`/api/v1/invoke` answers SAMI MusicTagging requests and `/analyze-audio` and `/analyze-with-webhook`
AcousticSense's, on the musicnn models (see `models/musicnn`). `/generate-music`,
`/music-status/{task_id}` and `/download-music/{task_id}` answer Sofy's text-to-music clients (no key
needed); `/metrics` is Prometheus text (behind a key when `METRICS_API_KEY` is set). `/api/health`,
`/api/raw_features/`, `/api/features/` and `/api/prediction/` answer MusicFlow's stream-count clients
(public, as MusicFlow's were); `/api/model` shows and (with a key) trains the model they use.

Authenticate with `Authorization: <api key>` (or `Bearer <api key>`). Errors are
`{"error": {"code": "...", "message": "..."}}` with a 4xx status for anything the caller can fix
(SAMI's, Sofy's and MusicFlow's routes answer in their own shapes, which carry the same object).
Every API is rate-limited per application (its key), or per client address without a key: a `429`
with `Retry-After` (seconds) and the `X-RateLimit-Limit`/`-Remaining`/`-Reset` headers.
"""


#: What the routes that run models synchronously need: present locally and in the container image, absent
#: from the zip functions' layer (whose API function then serves the light routes only).
MODEL_STACK = ("numpy", "onnxruntime", "soundfile")


def _installed(name: str) -> bool:
    if name in sys.modules:  # imported already, or blocked (None), as a test of the layer does
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def _include_model_routes(app: FastAPI, limits: RateLimits) -> None:
    # Asked of the installed packages, not by catching ImportError, so that a real import error in the
    # routes' own code surfaces instead of silently leaving the routes out.
    if not all(_installed(name) for name in MODEL_STACK):
        return
    from tonearm.api import acousticsense, musicflow, sami

    sami.install_sami(app, limits)  # before MusicFlow: /api/v1/invoke is SAMI's, not one of /api/...
    musicflow.install_musicflow(app, limits)
    app.include_router(acousticsense.router)


def create_app(services: Services) -> FastAPI:
    """Build the API over ``services`` (``tonearm.bootstrap.get_services()`` in Lambda)."""
    # root_path: API Gateway passes paths without the stage (/v1/job), while browsers and clients see
    # /prod/v1/job; routing ignores it, /docs and the OpenAPI servers use it
    app = FastAPI(
        title="tonearm",
        version=tonearm.__version__,
        description=DESCRIPTION,
        root_path=services.settings.api_root_path,
        docs_url=None,  # install_web serves /docs and /redoc with their files from the package, not a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.validation_shapers = {}
    install_error_handlers(app)
    limits = install_rate_limits(app, services.settings, shared=services.rate_counter)
    app.include_router(health.router)
    app.include_router(jobs_router)
    app.include_router(acousticsense_webhook.router)
    install_sofy(app, services.settings, limits)
    _include_model_routes(app, limits)
    install_web(app)  # the page at / (and /ui/...), /docs, /redoc: none of them in the OpenAPI document
    # last: its middleware is the outermost, so it also counts 429s
    install_metrics(app, api_key=services.settings.metrics_api_key)
    install_openapi_errors(app)
    blobs = app.state.services.blobs
    if blobs.serves_presigned_urls:
        app.include_router(local_files_router(blobs))
    return app
