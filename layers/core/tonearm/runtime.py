"""``Services``: the adapters one process runs on, and the services built on them.

``tonearm.bootstrap`` builds them (boto3 adapters in AWS; files, SQLite, the ASL runner and the local bus
locally) and is the only module that constructs an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from tonearm.events.delivery import RetryPolicy
from tonearm.jobs.service import JobService
from tonearm.jobs.store import JobStore
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient
from tonearm.ports import BlobStore, DeadLetterSink, EventBus, Orchestrator, RateCounter
from tonearm.settings import Settings
from tonearm.workflows import CATALOGUE

if TYPE_CHECKING:
    from tonearm.jobs.runner import TaskRunner
    from tonearm.prediction.service import MusicFlowService
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
    #: request counts shared across processes (AWS: the jobs table); None: each process counts its own
    rate_counter: RateCounter | None = None
    #: builds the metadata source (``tonearm.bootstrap.metadata_source``) on first use; none by default
    make_metadata_source: Callable[[], MetadataSource | None] = field(default=lambda: None)

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
            workflows=CATALOGUE,
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
        from tonearm.jobs.runner import TaskRunner

        return TaskRunner(
            workflows=CATALOGUE,
            store=self.store,
            blobs=self.blobs,
            http=self.http,
            report_progress=self.jobs.report_progress,
        )

    @cached_property
    def musicflow(self) -> MusicFlowService:
        """The MusicFlow service (Spotify when credentials are configured, the library always)."""
        from tonearm.prediction.service import MusicFlowService

        return MusicFlowService(blobs=self.blobs, metadata=self.spotify)

    @cached_property
    def spotify(self) -> MetadataSource | None:
        """Spotify's Web API, or ``None`` when no credentials are configured (built on first use)."""
        return self.make_metadata_source()

    @property
    def webhook_policy(self) -> RetryPolicy:
        """Retry policy for webhook delivery."""
        return RetryPolicy(
            max_attempts=self.settings.webhook_max_attempts, base_delay_s=self.settings.webhook_base_delay_s
        )
