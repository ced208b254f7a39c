"""What the workflow tests share: the local application and its jobs."""

from __future__ import annotations

from collections.abc import Sequence

from tonearm.jobs.model import Job, JobStatus
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime
from tonearm.ports import Application


def local_app(runtime: LocalRuntime) -> Application:
    """The local runtime's application (the one its API key and ingest jobs belong to)."""
    app = runtime.services.store.application_by_id(LOCAL_APP_ID)
    assert app is not None
    return app


def local_jobs(runtime: LocalRuntime, workflow: str, statuses: Sequence[JobStatus] = ()) -> list[Job]:
    """The local application's newest jobs (up to 10) of ``workflow`` in ``statuses`` (any if empty)."""
    return runtime.services.store.list(
        app=LOCAL_APP_ID, statuses=list(statuses), workflows=[workflow], batch_name=None, offset=0, limit=10
    )
