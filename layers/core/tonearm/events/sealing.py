"""Webhook secrets at rest: sealed where they are stored, opened only where a webhook is signed.

Two kinds of secrets are stored: an application's webhook secret (``Application.webhook_secret``) and a
job's callback secret (AcousticSense's ``secret_token``, ``Job.callback.secret``). :class:`SealingJobStore`
wraps any :class:`~tonearm.jobs.store.JobStore` and seals them on the two writes that bring them in
(``put_application``, ``create``), bound to the record (``{"application": id}``, ``{"job": id}``). Every
other call passes through untouched: records are read and rewritten (status changes, progress) with the
secret still sealed, so only the process that stores a new secret needs to seal (in AWS: the API function
and ``tonearm app create``) and only the webhook deliverer opens (:func:`open_webhook_secret`,
:func:`open_callback_secret`). Values stored before sealing (no ``sealed:v1:`` prefix) are used as they are.
"""

from __future__ import annotations

from typing import Any

from tonearm.jobs.model import Job, JobStatus
from tonearm.jobs.store import JobStore
from tonearm.ports import Application, SecretSealer, SecretSealError, is_sealed

__all__ = [
    "SealingJobStore",
    "application_context",
    "job_context",
    "open_callback_secret",
    "open_webhook_secret",
    "seal_application",
    "seal_job",
    "sealer_of",
]


def application_context(app_id: str) -> dict[str, str]:
    """The context an application's webhook secret is sealed with."""
    return {"application": app_id}


def job_context(job_id: str) -> dict[str, str]:
    """The context a job's callback secret is sealed with."""
    return {"job": job_id}


def seal_application(app: Application, sealer: SecretSealer) -> Application:
    """``app`` with its webhook secret sealed (unchanged if it has none or it is sealed already)."""
    if not app.webhook_secret or is_sealed(app.webhook_secret):
        return app
    sealed = sealer.seal(app.webhook_secret, context=application_context(app.id))
    return app.model_copy(update={"webhook_secret": sealed})


def seal_job(job: Job, sealer: SecretSealer) -> Job:
    """``job`` with its callback secret sealed (unchanged without a callback, or if it is sealed already)."""
    callback = job.callback
    if callback is None or not callback.secret or is_sealed(callback.secret):
        return job
    sealed = sealer.seal(callback.secret, context=job_context(job.id))
    return job.model_copy(update={"callback": callback.model_copy(update={"secret": sealed})})


def _open(value: str, sealer: SecretSealer | None, context: dict[str, str]) -> str:
    if not is_sealed(value):
        return value  # stored before secrets were sealed
    if sealer is None:
        raise SecretSealError("this secret is sealed, and this process has no key to open it")
    return sealer.open(value, context=context)


def open_webhook_secret(app: Application, sealer: SecretSealer | None) -> str:
    """The application's webhook secret in plaintext, to sign with."""
    return _open(app.webhook_secret, sealer, application_context(app.id))


def open_callback_secret(job: Job, sealer: SecretSealer | None) -> str:
    """The job's callback secret in plaintext, to sign with (``""`` without a callback)."""
    if job.callback is None:
        return ""
    return _open(job.callback.secret, sealer, job_context(job.id))


class SealingJobStore:
    """A ``JobStore`` that seals secrets on their way in (see the module docstring).

    Built by ``tonearm.bootstrap`` around the deployment's store when it has a key (always locally; in
    AWS when the template's key is configured). Calls it does not define go to the wrapped store as they
    are, so a store's own additions stay reachable.
    """

    def __init__(self, store: JobStore, sealer: SecretSealer) -> None:
        self.inner = store
        self.sealer = sealer

    def create(self, job: Job) -> bool:
        """Insert ``job`` with its callback secret sealed."""
        return self.inner.create(seal_job(job, self.sealer))

    def put_application(self, app: Application) -> None:
        """Create or replace ``app`` with its webhook secret sealed."""
        self.inner.put_application(seal_application(app, self.sealer))

    # --- the rest passes through (the secrets stay as stored) ---------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job as stored."""
        return self.inner.get(job_id)

    def replace(self, job: Job, *, expected_status: JobStatus) -> bool:
        """Compare-and-set, as the wrapped store does (a rewrite keeps the secret as it was read)."""
        return self.inner.replace(job, expected_status=expected_status)

    def delete(self, job_id: str) -> bool:
        """Delete the record."""
        return self.inner.delete(job_id)

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
        """The wrapped store's listing."""
        return self.inner.list(
            app=app,
            statuses=statuses,
            workflows=workflows,
            batch_name=batch_name,
            offset=offset,
            limit=limit,
            older_than=older_than,
        )

    def application_by_key_hash(self, key_sha256: str) -> Application | None:
        """The application as stored."""
        return self.inner.application_by_key_hash(key_sha256)

    def application_by_id(self, app_id: str) -> Application | None:
        """The application as stored."""
        return self.inner.application_by_id(app_id)

    def count_keys(self) -> int:
        """The wrapped store's count."""
        return self.inner.count_keys()

    def __getattr__(self, name: str) -> Any:
        # methods a store adds beyond the JobStore protocol (only reached for names not defined here)
        if name in ("inner", "sealer"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def sealer_of(store: JobStore) -> SecretSealer | None:
    """The sealer of a :class:`SealingJobStore` (what opens the secrets it sealed); ``None`` otherwise."""
    return store.sealer if isinstance(store, SealingJobStore) else None
