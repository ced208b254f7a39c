"""``create_app``: the whole HTTP API as one FastAPI app (Lambda via Mangum, or locally via uvicorn)."""

from __future__ import annotations

import importlib.util
import sys

from fastapi import FastAPI

import tonearm
from tonearm.api import acousticsense_webhook, health
from tonearm.api.errors import install_error_handlers
from tonearm.api.jobs import router as jobs_router
from tonearm.api.local_files import local_files_router
from tonearm.api.metrics import install_metrics
from tonearm.api.sofy import install_sofy
from tonearm.runtime import Services

DESCRIPTION = """
tonearm answers the APIs of several music-AI services from one deployment. The job API under `/v1`
follows Music.AI's REST contract: its clients work unchanged apart from the base URL.
`/api/v1/invoke` answers SAMI MusicTagging requests and `/analyze-audio` and `/analyze-with-webhook`
AcousticSense's, on the musicnn models (see `models/musicnn`). `/generate-music`,
`/music-status/{task_id}` and `/download-music/{task_id}` answer Sofy's text-to-music clients (no key
needed; rate-limited per client); `/metrics` is Prometheus text. `/api/health`, `/api/raw_features/`,
`/api/features/` and `/api/prediction/` answer MusicFlow's stream-count clients (public, as MusicFlow's
were); `/api/model` shows and (with a key) trains the model they use.

Authenticate with `Authorization: <api key>` (or `Bearer <api key>`). Errors are
`{"error": {"code": "...", "message": "..."}}` with a 4xx status for anything the caller can fix.
"""


#: What the routes that run models synchronously need: present locally and in the container image, absent
#: from the zip functions' layer (whose API function then serves the light routes only).
MODEL_STACK = ("numpy", "onnxruntime", "soundfile")


def _installed(name: str) -> bool:
    if name in sys.modules:  # imported already, or blocked (None), as a test of the layer does
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def _include_model_routes(app: FastAPI) -> None:
    # Asked of the installed packages, not by catching ImportError, so that a real import error in the
    # routes' own code surfaces instead of silently leaving the routes out.
    if not all(_installed(name) for name in MODEL_STACK):
        return
    from tonearm.api import acousticsense, musicflow, sami

    musicflow.install_musicflow(app)
    app.include_router(sami.router)
    app.include_router(acousticsense.router)
    app.state.validation_shapers["/api/v1/invoke"] = sami.validation_failure


def create_app(services: Services) -> FastAPI:
    """Build the API over ``services`` (``tonearm.bootstrap.get_services()`` in Lambda)."""
    # root_path: API Gateway passes paths without the stage (/v1/job), while browsers and clients see
    # /prod/v1/job; routing ignores it, /docs and the OpenAPI servers use it
    app = FastAPI(
        title="tonearm",
        version=tonearm.__version__,
        description=DESCRIPTION,
        root_path=services.settings.api_root_path,
    )
    app.state.services = services
    app.state.validation_shapers = {}
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs_router)
    app.include_router(acousticsense_webhook.router)
    install_sofy(app, services.settings, shared=services.rate_counter)
    _include_model_routes(app)
    install_metrics(app)  # last: its middleware is the outermost, so it also counts 429s
    blobs = app.state.services.blobs
    if blobs.serves_presigned_urls:
        app.include_router(local_files_router(blobs))
    return app
