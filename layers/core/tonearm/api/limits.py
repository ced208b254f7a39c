"""Which APIs are rate-limited, and by how much: the windows of ``Settings`` as ``Window``s.

``install_rate_limits`` puts the one rate-limit middleware on the app and limits the APIs that answer in
tonearm's own error envelope (the job API, AcousticSense); Sofy, SAMI and MusicFlow add themselves when
their routes are installed, with their own refusal bodies. Every API counts its clients apart.
"""

from __future__ import annotations

from fastapi import FastAPI

from tonearm.api.client_address import TrustedProxies
from tonearm.api.rate_limit import RateLimits, Window, default_refusal, rate_limit_middleware
from tonearm.ports import RateCounter
from tonearm.settings import Settings

#: AcousticSense's routes (both answer in tonearm's envelope).
ACOUSTICSENSE_PATHS = frozenset({"/analyze-audio", "/analyze-with-webhook"})


def api_windows(settings: Settings) -> list[Window]:
    """The job API's, SAMI's, AcousticSense's and MusicFlow's windows (each API counted apart)."""
    return [Window(60, settings.api_rate_limit_per_minute), Window(3600, settings.api_rate_limit_per_hour)]


def sofy_windows(settings: Settings) -> list[Window]:
    """Sofy's own limits (60 a minute, 1000 an hour unless configured otherwise)."""
    return [Window(60, settings.rate_limit_per_minute), Window(3600, settings.rate_limit_per_hour)]


def is_job_api_path(path: str) -> bool:
    """The Music.AI job API, under ``/v1``."""
    return path.startswith("/v1/")


def install_rate_limits(app: FastAPI, settings: Settings, *, shared: RateCounter | None) -> RateLimits:
    """Add the rate-limit middleware and the job API's and AcousticSense's limits; return the registry
    (``app.state.rate_limits``) the other APIs add themselves to.

    ``shared``: counts every process shares (AWS), so the limits hold across Lambda instances. A bad
    ``TRUSTED_PROXIES`` entry fails here, at start-up.
    """
    limits = RateLimits(TrustedProxies.parse(settings.trusted_proxies), shared=shared)
    app.state.rate_limits = limits
    app.middleware("http")(rate_limit_middleware(limits))
    limits.add("jobs", is_job_api_path, api_windows(settings), default_refusal)
    limits.add("acousticsense", ACOUSTICSENSE_PATHS.__contains__, api_windows(settings), default_refusal)
    return limits
