"""Runtime configuration, read from environment variables set by template.yaml (or the local runtime)."""

from __future__ import annotations

import json
import os
from typing import Literal

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Everything a tonearm process needs to know about where it runs.

    In AWS the values come from the template's ``Globals``/``Environment``; locally the runtime
    builds them from command-line options. Nothing else reads the environment.
    """

    runtime: Literal["aws", "local"] = "local"
    # AWS resource names (set by template.yaml)
    bucket_name: str = ""
    table_name: str = ""
    event_bus_name: str = "default"
    webhook_dlq_url: str = ""
    state_machine_arns: dict[str, str] = Field(default_factory=dict)
    # behaviour
    retention_days: int = 7
    url_ttl_s: int = 3600
    allow_loopback_egress: bool = False
    allow_private_egress: bool = False
    allow_http_egress: bool = False
    webhook_max_attempts: int = 6
    webhook_base_delay_s: float = 1.0
    ingest_app: str = "ingest"
    # Sofy's text-to-music API: its clients send no key, so their tasks belong to this application
    # (a request that does carry a key is its application's); require_api_key turns that off.
    sofy_app: str = "sofy"
    sofy_require_api_key: bool = False
    # per client (API key, else IP) on Sofy's routes, as Sofy limits them; 0 switches a window off
    rate_limit_per_minute: int = 60
    rate_limit_per_hour: int = 1000
    # from S3, downloads bigger than this are redirected to a presigned URL (a Lambda response through
    # API Gateway holds at most 6 MB, binary bodies base64-encoded); see tonearm.api.sofy
    inline_download_max_bytes: int = 4 * 1024 * 1024
    # MusicFlow: Spotify's Web API with client credentials, directly or from a Secrets Manager secret
    # (JSON {"client_id", "client_secret"}); with neither, predictions run on tonearm's library alone.
    # The URLs are overridable so tests can point spotipy at a local server that speaks the same API.
    spotify_client_id: str = ""
    spotify_client_secret: str = Field(default="", repr=False)
    spotify_secret_id: str = ""
    spotify_api_url: str = "https://api.spotify.com/v1/"
    spotify_token_url: str = "https://accounts.spotify.com/api/token"
    #: longest Retry-After (seconds) tonearm waits out on a 429 before answering 503 itself
    spotify_max_wait_s: float = 2.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from ``TONEARM_*`` and template environment variables."""
        e = dict(os.environ if env is None else env)

        def flag(name: str, default: bool = False) -> bool:
            return e.get(name, str(default)).strip().lower() in {"1", "true", "yes"}

        return cls(
            runtime="aws" if e.get("TONEARM_RUNTIME", "local") == "aws" else "local",
            bucket_name=e.get("BUCKET_NAME", ""),
            table_name=e.get("JOBS_TABLE_NAME", ""),
            event_bus_name=e.get("EVENT_BUS_NAME", "default"),
            webhook_dlq_url=e.get("WEBHOOK_DLQ_URL", ""),
            state_machine_arns=json.loads(e.get("STATE_MACHINE_ARNS", "{}") or "{}"),
            retention_days=int(e.get("RETENTION_DAYS", "7")),
            url_ttl_s=int(e.get("URL_TTL_SECONDS", "3600")),
            allow_loopback_egress=flag("ALLOW_LOOPBACK_EGRESS"),
            allow_private_egress=flag("ALLOW_PRIVATE_EGRESS"),
            allow_http_egress=flag("ALLOW_HTTP_EGRESS"),
            webhook_max_attempts=int(e.get("WEBHOOK_MAX_ATTEMPTS", "6")),
            webhook_base_delay_s=float(e.get("WEBHOOK_BASE_DELAY_SECONDS", "1.0")),
            ingest_app=e.get("INGEST_APP", "ingest"),
            sofy_app=e.get("SOFY_APP", "sofy"),
            sofy_require_api_key=flag("SOFY_REQUIRE_API_KEY"),
            rate_limit_per_minute=int(e.get("RATE_LIMIT_PER_MINUTE", "60")),
            rate_limit_per_hour=int(e.get("RATE_LIMIT_PER_HOUR", "1000")),
        ).model_copy(update=spotify_from_env(e))


def spotify_from_env(e: dict[str, str]) -> dict[str, str]:
    """The Spotify settings present in the environment ``e`` (``SPOTIFY_*``)."""
    names = {
        "spotify_client_id": "SPOTIFY_CLIENT_ID",
        "spotify_client_secret": "SPOTIFY_CLIENT_SECRET",
        "spotify_secret_id": "SPOTIFY_SECRET_ID",
        "spotify_api_url": "SPOTIFY_API_URL",
        "spotify_token_url": "SPOTIFY_TOKEN_URL",
    }
    return {field: e[var] for field, var in names.items() if e.get(var)}
