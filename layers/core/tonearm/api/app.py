"""``create_app``: the whole HTTP API as one FastAPI app (Lambda via Mangum, or locally via uvicorn)."""

from __future__ import annotations

from fastapi import FastAPI

import tonearm
from tonearm.api import acousticsense_webhook, health
from tonearm.api.errors import install_error_handlers
from tonearm.api.jobs import router as jobs_router
from tonearm.api.metrics import install_metrics
from tonearm.api.sofy import install_sofy
from tonearm.runtime import Services, get_services

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


def _include_model_routes(app: FastAPI) -> None:
    # The routes that run models synchronously need numpy and onnxruntime: present locally and in the
    # container image, absent from the zip functions' layer (which then serves the job API only).
    try:
        from tonearm.api import acousticsense, flow, sami
    except ImportError:
        return
    flow.install_flow(app)
    app.include_router(sami.router)
    app.include_router(acousticsense.router)
    app.state.validation_shapers["/api/v1/invoke"] = sami.validation_failure


def create_app(services: Services | None = None) -> FastAPI:
    """Build the API over ``services`` (default: the process's, from the environment)."""
    app = FastAPI(title="tonearm", version=tonearm.__version__, description=DESCRIPTION)
    app.state.services = services or get_services()
    app.state.validation_shapers = {}
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs_router)
    app.include_router(acousticsense_webhook.router)
    install_sofy(app, app.state.services.settings)
    _include_model_routes(app)
    install_metrics(app)  # last: its middleware is the outermost, so it also counts 429s
    blobs = app.state.services.blobs
    from tonearm.adapters.local.files import FileBlobStore

    if isinstance(blobs, FileBlobStore):
        from tonearm.api.local_files import local_files_router

        app.include_router(local_files_router(blobs))
    return app
