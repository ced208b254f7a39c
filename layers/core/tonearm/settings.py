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
        )
