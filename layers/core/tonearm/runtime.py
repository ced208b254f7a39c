"""Wiring: builds the adapters for where this process runs, once per process.

In AWS the adapters are boto3-backed and named by the template's environment variables; the local
runtime builds its own ``Services`` (files, SQLite, ASL runner, local bus) and installs it with
``install_services`` before any handler module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from tonearm.events.delivery import RetryPolicy
from tonearm.jobs.service import JobService
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient
from tonearm.ports import BlobStore, DeadLetterSink, EventBus, JobStore, Orchestrator
from tonearm.settings import Settings

if TYPE_CHECKING:
    from tonearm.jobs.tasks import TaskRunner
    from tonearm.prediction.service import FlowService
    from tonearm.prediction.sources import MetadataSource


@dataclass
class Services:
    """The adapters one process uses, and the services built on them."""

    settings: Settings
    store: JobStore
    blobs: BlobStore
    orchestrator: Orchestrator
    bus: EventBus
    dead_letters: DeadLetterSink

    @cached_property
    def http(self) -> SafeHttpClient:
        """The egress client, guarded as the settings allow."""
        s = self.settings
        return SafeHttpClient(
            EgressPolicy(
                allow_http=s.allow_http_egress,
                allow_loopback=s.allow_loopback_egress,
                allow_private=s.allow_private_egress,
            )
        )

    @cached_property
    def jobs(self) -> JobService:
        """The job service."""
        return JobService(
            store=self.store,
            blobs=self.blobs,
            orchestrator=self.orchestrator,
            bus=self.bus,
            http=self.http,
            settings=self.settings,
        )

    @cached_property
    def tasks(self) -> TaskRunner:
        """The task runner used by workflow task functions (imported here: it needs the audio stack)."""
        from tonearm.jobs.tasks import TaskRunner

        return TaskRunner(
            store=self.store, blobs=self.blobs, http=self.http, report_progress=self.jobs.report_progress
        )

    @cached_property
    def flow(self) -> FlowService:
        """The MusicFlow service (Spotify when credentials are configured, the library always)."""
        from tonearm.prediction.service import FlowService

        return FlowService(blobs=self.blobs, metadata=self.spotify)

    @cached_property
    def spotify(self) -> MetadataSource | None:
        """Spotify's Web API, or ``None`` when no credentials are configured."""
        s = self.settings
        client_id, client_secret = s.spotify_client_id, s.spotify_client_secret
        if s.spotify_secret_id and not (client_id and client_secret):
            from tonearm.adapters.aws.secrets import spotify_credentials

            client_id, client_secret = spotify_credentials(s.spotify_secret_id)
        if not (client_id and client_secret):
            return None
        from tonearm.adapters.spotify import SpotifyMetadata

        return SpotifyMetadata(
            client_id=client_id,
            client_secret=client_secret,
            api_url=s.spotify_api_url,
            token_url=s.spotify_token_url,
            max_wait_s=s.spotify_max_wait_s,
        )

    @property
    def webhook_policy(self) -> RetryPolicy:
        """Retry policy for webhook delivery."""
        return RetryPolicy(
            max_attempts=self.settings.webhook_max_attempts, base_delay_s=self.settings.webhook_base_delay_s
        )


_services: Services | None = None


def install_services(services: Services | None) -> None:
    """Use ``services`` for this process (the local runtime and tests); ``None`` resets."""
    global _services
    _services = services


def get_services() -> Services:
    """The process's services, built from the environment on first use (AWS Lambda)."""
    global _services
    if _services is None:
        settings = Settings.from_env()
        if settings.runtime != "aws":
            raise RuntimeError(
                "no local services installed: start the local runtime (`tonearm serve`) "
                "or set TONEARM_RUNTIME=aws with the template's environment"
            )
        from tonearm.adapters.aws import build_aws_services

        _services = build_aws_services(settings)
    return _services
