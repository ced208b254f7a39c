"""``GET /health``: liveness, with Sofy's fields and what this process can run.

Nothing here imports numpy or onnxruntime: the light API function (whose layer has neither) answers
``/health`` in AWS, and reports honestly that it has no models loaded and no generator.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

import tonearm

#: When this process imported the API (close enough to its start for an uptime).
PROCESS_STARTED = time.monotonic()


class GeneratorHealth(BaseModel):
    """Whether this process could generate music right now."""

    ready: bool = Field(description="numpy, the fluidsynth program and a GM SoundFont are all present.")
    soundfont: str | None = Field(description="The SoundFont generation renders with, if any.")


class HealthView(BaseModel):
    """``GET /health`` (Sofy's ``status``, ``message``, ``uptime``, ``version``, and more)."""

    status: str = "healthy"
    message: str
    version: str
    uptime: float = Field(description="Seconds since this process started.")
    api_keys_available: int = Field(description="API keys the deployment has (Sofy reports its keys' count).")
    models_loaded: list[str] = Field(description="ONNX models loaded by this process so far.")
    generator: GeneratorHealth


def _models_loaded() -> list[str]:
    # only a process that has already imported the registry can have loaded models: never import it
    # (and numpy with it) just to answer a health check
    registry = sys.modules.get("tonearm.models.registry")
    if registry is None:
        return []
    loaded: list[str] = registry.default_registry().loaded
    return loaded


def generator_health() -> GeneratorHealth:
    """What generation needs: its code and numpy, the fluidsynth program, a GM SoundFont."""
    if importlib.util.find_spec("numpy") is None:  # the light API function: no audio stack at all
        return GeneratorHealth(ready=False, soundfont=None)
    from tonearm.midi.fluidsynth import FluidSynthUnavailableError, find_soundfont

    try:
        soundfont: str | None = str(find_soundfont())
    except FluidSynthUnavailableError:
        soundfont = None
    engine = importlib.util.find_spec("tonearm.generation.service") is not None
    ready = engine and soundfont is not None and shutil.which("fluidsynth") is not None
    return GeneratorHealth(ready=ready, soundfont=soundfont)


router = APIRouter(tags=["Health"])


@router.get("/health", response_model=HealthView)
def health(request: Request) -> HealthView:
    """Liveness: always 200 while the process serves requests."""
    return HealthView(
        message="tonearm is running",
        version=tonearm.__version__,
        uptime=round(time.monotonic() - PROCESS_STARTED, 3),
        api_keys_available=request.app.state.services.store.count_keys(),
        models_loaded=_models_loaded(),
        generator=generator_health(),
    )
