"""Runtime configuration: the one place that reads the environment (pydantic-settings).

In AWS the variables come from template.yaml's ``Globals``/``Environment``; locally from the shell (``make
serve``) and the local runtime's own choices. Each field's environment variable is its ``validation_alias``.
``Settings(...)`` takes only what it is given; :meth:`Settings.from_env` reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


def _env(name: str, default: Any, **kwargs: Any) -> Any:
    """A field read from the environment variable ``name``."""
    return Field(default, validation_alias=name, **kwargs)


class Settings(BaseSettings):
    """Everything a tonearm process needs to know about where it runs."""

    model_config = SettingsConfigDict(
        populate_by_name=True, case_sensitive=False, env_ignore_empty=True, extra="ignore"
    )

    runtime: Literal["aws", "local"] = _env("TONEARM_RUNTIME", "local")
    # AWS resource names (set by template.yaml)
    bucket_name: str = _env("BUCKET_NAME", "")
    table_name: str = _env("JOBS_TABLE_NAME", "")
    event_bus_name: str = _env("EVENT_BUS_NAME", "default")
    webhook_dlq_url: str = _env("WEBHOOK_DLQ_URL", "")
    #: ``arn:...:stateMachine:<stack>-``: a workflow's state machine ARN is this plus its logical id
    state_machine_arn_prefix: str = _env("STATE_MACHINE_ARN_PREFIX", "")
    # behaviour
    retention_days: int = _env("RETENTION_DAYS", 7)
    url_ttl_s: int = _env("URL_TTL_SECONDS", 3600)
    allow_loopback_egress: bool = _env("ALLOW_LOOPBACK_EGRESS", False)
    allow_private_egress: bool = _env("ALLOW_PRIVATE_EGRESS", False)
    allow_http_egress: bool = _env("ALLOW_HTTP_EGRESS", False)
    webhook_max_attempts: int = _env("WEBHOOK_MAX_ATTEMPTS", 6)
    webhook_base_delay_s: float = _env("WEBHOOK_BASE_DELAY_SECONDS", 1.0)
    ingest_app: str = _env("INGEST_APP", "ingest")
    # Sofy's text-to-music API: its clients send no key, so their tasks belong to this application
    # (a request that does carry a key is its application's); require_api_key turns that off.
    sofy_app: str = _env("SOFY_APP", "sofy")
    sofy_require_api_key: bool = _env("SOFY_REQUIRE_API_KEY", False)
    # per client (API key, else IP) on Sofy's routes, as Sofy limits them; 0 switches a window off
    rate_limit_per_minute: int = _env("RATE_LIMIT_PER_MINUTE", 60)
    rate_limit_per_hour: int = _env("RATE_LIMIT_PER_HOUR", 1000)
    # the same per application (its API key), else per client address, on each of the other APIs (the job
    # API, SAMI, AcousticSense, MusicFlow), each API counted apart; 0 switches a window off. Generous:
    # they stop one client from starving the others, not a client that polls its jobs every second.
    api_rate_limit_per_minute: int = _env("API_RATE_LIMIT_PER_MINUTE", 1200)
    api_rate_limit_per_hour: int = _env("API_RATE_LIMIT_PER_HOUR", 36000)
    #: proxies whose ``X-Forwarded-For`` names the client (comma-separated addresses or CIDR blocks).
    #: Empty: the client is the peer of the connection (in AWS, API Gateway's ``sourceIp``), and a client
    #: cannot pose as another by sending the header itself.
    trusted_proxies: str = _env("TRUSTED_PROXIES", "")
    #: when set, ``GET /metrics`` needs it (``Authorization: Bearer <key>``, as Prometheus sends it)
    metrics_api_key: str = _env("METRICS_API_KEY", "", repr=False)
    # from S3, downloads bigger than this are redirected to a presigned URL (a Lambda response through
    # API Gateway holds at most 6 MB, binary bodies base64-encoded); see tonearm.api.sofy
    inline_download_max_bytes: int = _env("INLINE_DOWNLOAD_MAX_BYTES", 4 * 1024 * 1024)
    # MusicFlow: Spotify's Web API with client credentials, directly or from a Secrets Manager secret
    # (JSON {"client_id", "client_secret"}); with neither, predictions run on tonearm's library alone.
    # The URLs are overridable so tests can point spotipy at a local server that speaks the same API.
    spotify_client_id: str = _env("SPOTIFY_CLIENT_ID", "")
    spotify_client_secret: str = _env("SPOTIFY_CLIENT_SECRET", "", repr=False)
    spotify_secret_id: str = _env("SPOTIFY_SECRET_ID", "")
    spotify_api_url: str = _env("SPOTIFY_API_URL", "https://api.spotify.com/v1/")
    spotify_token_url: str = _env("SPOTIFY_TOKEN_URL", "https://accounts.spotify.com/api/token")
    #: longest Retry-After (seconds) tonearm waits out on a 429 before answering 503 itself
    spotify_max_wait_s: float = _env("SPOTIFY_MAX_WAIT_SECONDS", 2.0)
    #: the largest upload a synchronous route (/analyze-audio, POST /api/prediction) reads. Locally the input
    #: limit (100 MB); in AWS the template sets what API Gateway and a synchronous Lambda call carry
    #: (6 MB, base64-encoded): larger files go through GET /v1/upload and a job
    sync_upload_max_bytes: int = _env("SYNC_UPLOAD_MAX_BYTES", 100 * 1024 * 1024)
    #: the longest audio a synchronous tagging route (SAMI's /api/v1/invoke, AcousticSense's /analyze-audio)
    #: analyses: in AWS the template sets what fits API Gateway's 29 s with room; longer audio goes
    #: through a job (/analyze-with-webhook, or a tonearm/tagging job)
    sync_max_duration_s: float = _env("SYNC_MAX_DURATION_SECONDS", 600.0)
    #: audio decodes one process runs at once (tonearm.audio.decode_slots); 0: one per CPU, at least 2
    decode_slots: int = _env("DECODE_SLOTS", 0, ge=0)
    #: how long a synchronous route waits for a decode slot before answering 503 busy with Retry-After
    decode_queue_wait_s: float = _env("DECODE_QUEUE_WAIT_SECONDS", 5.0, ge=0.0)
    #: the path prefix clients see before the API's own paths: ``/<stage>`` behind API Gateway's stage
    #: URL (set by the template), empty locally or behind a custom domain. ``/docs`` loads the OpenAPI
    #: document from under it, and the document names it as its server.
    api_root_path: str = _env("API_ROOT_PATH", "")
    #: the API's usage plan (stack output UsagePlanId): `tonearm app create` puts each key on it
    usage_plan_id: str = _env("USAGE_PLAN_ID", "")
    # the local stack (`tonearm serve`, `make serve`) and where models and SoundFonts are found
    data_dir: str = _env("TONEARM_DATA_DIR", ".tonearm")
    #: the local application's API key and webhook secret (made up, and kept in the data folder, if unset)
    api_key: str = _env("TONEARM_API_KEY", "", repr=False)
    webhook_secret: str = _env("TONEARM_WEBHOOK_SECRET", "", repr=False)
    #: ONNX models folder (default: ``models/`` of the checkout or next to the package in the image)
    models_dir: str = _env("TONEARM_MODELS_DIR", "")
    #: which variant of a model runs where the manifest offers two: ``original`` (the default) or ``fast``
    #: (``mtt_musicnn_fast`` / ``msd_musicnn_fast``: the musicnn models with rank-reduced timbral
    #: convolutions, 1.5x / 2x as fast, agreement in ``models/musicnn/FAST_musicnn.md``)
    model_variant: Literal["original", "fast"] = _env("TONEARM_MODEL_VARIANT", "original")
    #: custom tagging heads folder (default: ``heads/`` in the models folder)
    heads_dir: str = _env("TONEARM_HEADS_DIR", "")
    #: the General MIDI SoundFont to render with (default: the Debian packages' locations)
    soundfont: str = _env("TONEARM_SOUNDFONT", "")
    #: the local stack only: whether input URLs, copyResultsTo and webhooks may reach 127.0.0.0/8 and ::1
    #: (on by default, so a receiver on the same machine works; "false" forbids it as in AWS)
    local_allow_loopback_egress: bool = _env("TONEARM_ALLOW_LOOPBACK_EGRESS", True)
    #: the KMS key webhook and callback secrets are sealed with at rest (template.yaml's SecretsKey; the
    #: command line reads it from the stack output SecretsKeyArn); empty: stored unsealed (see
    #: tonearm.events.sealing)
    secrets_key_arn: str = _env("SECRETS_KEY_ARN", "")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The constructor takes only its arguments, so the local runtime and the tests get exactly the
        # settings they build; the environment is read by from_env alone.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (``os.environ``, or ``env`` where given), defaults elsewhere."""
        source = _MappingSource(cls, os.environ if env is None else env)
        return cls(**source())


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ``, or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = {key.lower(): value for key, value in env.items()}  # case-insensitive, as configured
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._mapping
