"""The job engine's storage port: job records and applications (DynamoDB, or SQLite locally)."""

from __future__ import annotations

import builtins
from typing import Protocol

from tonearm.jobs.model import Job, JobStatus
from tonearm.ports import Application


class JobStore(Protocol):
    """Job records and applications (DynamoDB, or SQLite locally)."""

    def create(self, job: Job) -> bool:
        """Insert ``job``; return ``False`` (and change nothing) if its id already exists."""

    def get(self, job_id: str) -> Job | None:
        """The job, or ``None``."""

    def replace(self, job: Job, *, expected_status: JobStatus) -> bool:
        """Overwrite ``job`` if the stored status is still ``expected_status``; return whether it did."""

    def delete(self, job_id: str) -> bool:
        """Delete the record; return whether it existed."""

    def list(
        self,
        *,
        app: str,
        statuses: list[JobStatus],
        workflows: list[str],
        batch_name: str | None,
        offset: int,
        limit: int,
        older_than: tuple[str, str] | None = None,
    ) -> list[Job]:
        """The app's jobs, newest first (by creation time, then id), filtered (empty filter lists match
        everything); with ``older_than = (created_at, id)``, only jobs after that one in this order
        (keyset paging: no earlier page is read again)."""

    def put_application(self, app: Application) -> None:
        """Create or replace an application."""

    def application_by_key_hash(self, key_sha256: str) -> Application | None:
        """The application whose API key hashes to ``key_sha256``."""

    def application_by_id(self, app_id: str) -> Application | None:
        """The application with id ``app_id``."""

    def count_keys(self) -> int:
        """How many API keys (applications' keys) the deployment has."""

    def unfinished(self, *, created_before: str, limit: int) -> builtins.list[Job]:
        """Up to ``limit`` QUEUED or STARTED jobs of any application created before ``created_before``
        (ISO-8601 UTC, as ``Job.created_at``), oldest first: what the watchdog re-drives or fails."""
