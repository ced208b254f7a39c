"""The job service: create, read, list, delete jobs and move them through their states.

Every status change is stored first (conditionally, so concurrent or repeated updates cannot
regress a job) and then published on the event bus.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from tonearm.audio.errors import EmptyAudioError, InputTooLargeError
from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.jobs.catalogue import Catalogue
from tonearm.jobs.errors import (
    InvalidParamsError,
    InvalidTransitionError,
    JobNotFoundError,
    OrchestrationError,
    UnauthorizedError,
)
from tonearm.jobs.model import (
    TRANSITIONS,
    Callback,
    CreateJobRequest,
    Job,
    JobError,
    JobStatus,
    JobView,
    UploadView,
    utc_now,
)
from tonearm.jobs.spec import MAX_PARAMS_FILE_BYTES, WorkflowSpec
from tonearm.jobs.store import JobStore
from tonearm.net.safe_http import SafeHttpClient
from tonearm.ports import Application, BlobNotFoundError, BlobStore, EventBus, Orchestrator
from tonearm.settings import Settings

EVENT_SOURCE = "tonearm"
DETAIL_TYPES = {
    JobStatus.QUEUED: "Job Queued",
    JobStatus.STARTED: "Job Started",
    JobStatus.SUCCEEDED: "Job Succeeded",
    JobStatus.FAILED: "Job Failed",
}
#: EventBridge's entry limit is 256 KB including the envelope; leave room for it.
MAX_EVENT_DETAIL_BYTES = 240 * 1024
#: Namespace for ingest job ids, so one object version always maps to one job id.
INGEST_NAMESPACE = uuid.UUID("8f1c5a52-3f0e-4d4e-9a55-1f3e1c7b2a10")
MAX_PAGE_SIZE = 100


def copy_target_key(blobs: BlobStore, url: str, *, app_id: str) -> str | None:
    """The key a ``copyResultsTo`` URL of this bucket may write, or ``None`` for an external URL.

    Only an upload URL of the caller's own (``uploads/<app>/``, which ``GET /v1/upload`` mints) is a write
    target here: a download URL of a result, or another application's upload, is refused, so nobody
    overwrites what they may only read. (The local store also checks the URL was signed for PUT.)
    """
    key = blobs.key_for_url(url, method="PUT")
    if key is not None and not key.startswith(f"uploads/{app_id}/"):
        raise InvalidParamsError(
            "a copyResultsTo URL of this service must be an uploadUrl from your own GET /v1/upload; "
            "download URLs and other applications' uploads are not write targets"
        )
    return key


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key: stores keep hashes, never keys."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_authorization(header: str | None) -> str:
    """The API key in an ``Authorization`` header: ``<key>`` or ``Bearer <key>``."""
    value = (header or "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value:
        raise UnauthorizedError("missing API key: send it in the Authorization header")
    return value


class JobService:
    """Use cases of the job API, independent of HTTP and of AWS."""

    def __init__(
        self,
        *,
        workflows: Catalogue,
        store: JobStore,
        blobs: BlobStore,
        orchestrator: Orchestrator,
        bus: EventBus,
        http: SafeHttpClient,
        settings: Settings,
    ) -> None:
        #: the workflows jobs may name (``tonearm.workflows.CATALOGUE`` in every deployment)
        self.workflows = workflows
        self.store = store
        self.blobs = blobs
        self.orchestrator = orchestrator
        self.bus = bus
        self.http = http
        self.settings = settings

    # --- applications -------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Application:
        """The application that owns the API key in ``authorization``; raises ``UnauthorizedError``."""
        app = self.store.application_by_key_hash(hash_api_key(parse_authorization(authorization)))
        if app is None:
            raise UnauthorizedError("invalid API key")
        return app

    # --- uploads ------------------------------------------------------------------------------
    def create_upload(self, app: Application) -> UploadView:
        """A presigned PUT URL and a GET URL for one new object under ``uploads/``."""
        key = f"uploads/{app.id}/{uuid.uuid4()}"
        ttl = self.settings.url_ttl_s
        return UploadView(
            uploadUrl=self.blobs.presign_put(key, ttl_s=ttl),
            downloadUrl=self.blobs.presign_get(key, ttl_s=ttl),
        )

    # --- creating jobs ------------------------------------------------------------------------
    def create_job(
        self, app: Application, request: CreateJobRequest, *, callback: Callback | None = None
    ) -> Job:
        """Validate, store (QUEUED), publish and start a job. Bad input fails here, before any work.

        ``callback`` replaces the application's webhook for this job (its URL is checked here too).
        """
        spec = self.workflows.get(request.workflow)
        params = spec.validate_params(request.params)
        if spec.takes_input:
            self._check_input(params["inputUrl"])
        self._check_copy_targets(spec, request.copyResultsTo, app_id=app.id)
        if callback is not None:
            self.http.check_url(callback.url)
        job = Job(
            id=str(uuid.uuid4()),
            app=app.id,
            name=request.name,
            workflow=spec.slug,
            workflow_params=params,
            metadata=request.metadata,
            batch_name=request.batchName,
            copy_results_to=request.copyResultsTo,
            expires_at=self._expiry(),
            callback=callback,
        )
        self.store.create(job)
        self._publish(job)
        return self._start(job, spec)

    def create_ingest_job(self, *, key: str, version_id: str, size: int | None = None) -> Job:
        """The job for one ingest object version; the same version always yields the same job."""
        job_id = str(uuid.uuid5(INGEST_NAMESPACE, f"{key}\n{version_id}"))
        spec = self.workflows.for_ingest_key(key)
        existing = self.store.get(job_id)
        if existing is not None:
            if existing.status is JobStatus.QUEUED and spec is not None:
                # a redelivery after a start that failed (throttled): start it now. StartExecution is
                # idempotent by name (the job id), so a start that did happen is not repeated.
                return self._start(existing, spec, retry_later=True)
            return existing
        job = Job(
            id=job_id,
            app=self.settings.ingest_app,
            name=key.rsplit("/", 1)[-1],
            workflow=spec.slug if spec else key.split("/")[1] if key.count("/") >= 2 else "",
            source={"key": key, "versionId": version_id},
            expires_at=self._expiry(),
        )
        if not self.store.create(job):
            return self.store.get(job_id) or job
        self._publish(job)
        if spec is None:
            return self.transition(
                job_id,
                JobStatus.FAILED,
                error=JobError(
                    code="unknown_workflow",
                    message=f"no workflow matches {key!r}; drop files under ingest/<workflow-slug>/",
                ),
            )
        # the limit holds before any work, as for API jobs; a params drop is a small JSON file
        limit = DEFAULT_LIMITS.max_bytes if spec.takes_input else MAX_PARAMS_FILE_BYTES
        if size is not None and size > limit and not spec.takes_input:
            too_big = InvalidParamsError(
                f"a {spec.slug} drop is a JSON params file of at most {MAX_PARAMS_FILE_BYTES} bytes; "
                f"this one is {size} bytes"
            )
            return self.transition(job_id, JobStatus.FAILED, error=JobError(**too_big.to_dict()))
        if size is not None and size > limit:
            too_large = InputTooLargeError(
                f"the input is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB"
            )
            return self.transition(job_id, JobStatus.FAILED, error=JobError(**too_large.to_dict()))
        return self._start(job, spec, retry_later=True)

    def redrive(self, job: Job) -> Job:
        """Start the execution of a job that has none (the watchdog's re-drive); idempotent by job id."""
        return self._start(job, self.workflows.get(job.workflow))

    def republish(self, job: Job) -> None:
        """Publish the job's current state again, e.g. an end whose event a crash may have lost.

        Subscribers see it at least once: the webhook id of a job event is derived from the job and the
        event type, so a receiver that already has it recognises the repeat.
        """
        self._publish(job)

    def _start(self, job: Job, spec: WorkflowSpec, *, retry_later: bool = False) -> Job:
        """Start the job's execution. Nothing is lost when that fails: an API job is FAILED (its caller
        hears it), an ingest job (``retry_later``) stays QUEUED and the error is raised, so its queue
        delivers the object again (and, after its last attempt, keeps it in the dead-letter queue)."""
        try:
            self.orchestrator.start(
                state_machine=spec.state_machine, execution_name=job.id, execution_input={"jobId": job.id}
            )
        except Exception as exc:
            error = OrchestrationError(f"could not start the workflow: {exc}")
            if retry_later:
                raise error from exc
            return self.transition(job.id, JobStatus.FAILED, error=JobError(**error.to_dict()))
        return job

    def _check_input(self, url: str) -> None:
        key = self.blobs.key_for_url(url)
        if key is None:
            self.http.check_url(url)
            return
        size = self.blobs.size(key)
        if size is None:
            raise BlobNotFoundError(f"nothing was uploaded to {url.split('?')[0]}; PUT the file first")
        if size == 0:
            raise EmptyAudioError("the uploaded input is empty (0 bytes)")
        if size > DEFAULT_LIMITS.max_bytes:
            raise InputTooLargeError(
                f"the input is {size / 2**20:.1f} MB; the limit is {DEFAULT_LIMITS.max_bytes / 2**20:.0f} MB"
            )

    def _check_copy_targets(self, spec: WorkflowSpec, targets: dict[str, str], *, app_id: str) -> None:
        for name, url in targets.items():
            if name not in spec.outputs:
                raise InvalidParamsError(
                    f"copyResultsTo names {name!r}, which is not an output of {spec.slug}; "
                    f"outputs are: {', '.join(spec.outputs)}"
                )
            if copy_target_key(self.blobs, url, app_id=app_id) is None:
                self.http.check_url(url)

    def _expiry(self) -> int:
        return int(time.time()) + self.settings.retention_days * 86400

    # --- reading ------------------------------------------------------------------------------
    def get_job(self, app: Application, job_id: str) -> Job:
        """The caller's job; another application's job is reported as not found."""
        job = self.store.get(job_id)
        if job is None or job.app != app.id:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return job

    def list_jobs(
        self,
        app: Application,
        *,
        statuses: list[JobStatus],
        workflows: list[str],
        batch_name: str | None,
        page: int,
        size: int,
        after: str | None = None,
    ) -> list[Job]:
        """One page of the caller's jobs, newest first: page ``page`` (0-based, Music.AI's offset paging),
        or with ``after`` (a job id, the last of the previous page) the ``size`` jobs after that one, which
        reads no earlier page again however deep the listing goes."""
        if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidParamsError(f"page must be >= 0 and size between 1 and {MAX_PAGE_SIZE}")
        older_than = None
        if after is not None:
            if page:
                raise InvalidParamsError("give either page or after, not both")
            last = self.get_job(app, after)  # another application's job is not found, as everywhere
            older_than = (last.created_at, last.id)
        return self.store.list(
            app=app.id,
            statuses=statuses,
            workflows=workflows,
            batch_name=batch_name,
            offset=page * size,
            limit=size,
            older_than=older_than,
        )

    def delete_job(self, app: Application, job_id: str) -> None:
        """Delete the job's record and its stored outputs."""
        job = self.get_job(app, job_id)
        self.blobs.delete_prefix(f"results/{job.id}/")
        self.store.delete(job.id)

    def view(self, job: Job) -> JobView:
        """The wire form, with fresh time-limited download URLs for file outputs."""
        result = dict(job.result)
        for name, key in job.outputs.items():
            result[name] = self.blobs.presign_get(key, ttl_s=self.settings.url_ttl_s)
        params = dict(job.workflow_params)
        if job.source and "inputUrl" not in params:
            params["inputUrl"] = self.blobs.presign_get(job.source["key"], ttl_s=self.settings.url_ttl_s)
        return JobView(
            id=job.id,
            app=job.app,
            name=job.name,
            batchName=job.batch_name,
            metadata=job.metadata,
            workflow=job.workflow,
            workflowParams=params,
            status=job.status,
            result=result,
            error=job.error,
            progress=job.progress,
            createdAt=job.created_at,
            startedAt=job.started_at,
            completedAt=job.completed_at,
        )

    # --- state changes ------------------------------------------------------------------------
    def transition(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        outputs: dict[str, str] | None = None,
        error: JobError | None = None,
    ) -> Job:
        """Move a job to ``status``, store it, publish the event. Repeating a transition is a no-op."""
        for _ in range(5):
            job = self.store.get(job_id)
            if job is None:
                raise JobNotFoundError(f"no job with id {job_id!r}")
            if job.status == status:
                return job
            if status not in TRANSITIONS[job.status]:
                raise InvalidTransitionError(f"job {job_id} is {job.status}; it cannot become {status}")
            now = utc_now()
            changes: dict[str, Any] = {"status": status}
            if status is JobStatus.STARTED:
                changes["started_at"] = now
            if status.terminal:
                changes["completed_at"] = now
                changes["started_at"] = job.started_at or now
            if status is JobStatus.SUCCEEDED and job.progress is not None:
                changes["progress"] = 100.0
            if result is not None:
                changes["result"] = result
            if outputs is not None:
                changes["outputs"] = outputs
            if error is not None:
                changes["error"] = error
            updated = job.model_copy(update=changes)
            if self.store.replace(updated, expected_status=job.status):
                self._publish(updated)
                return updated
        raise InvalidTransitionError(f"job {job_id} kept changing while being updated; try again")

    def report_progress(self, job_id: str, percent: float) -> bool:
        """Record that a STARTED job is ``percent`` (0-100) done; return whether it was stored.

        No event is published: progress is polled (``GET /v1/job/{id}``, Sofy's status). The write is
        conditional on the job still being STARTED, so a late report cannot touch a finished job, and
        a report at or below the stored progress is dropped, so progress never goes backwards.
        """
        percent = round(min(100.0, max(0.0, float(percent))), 1)
        for _ in range(3):
            job = self.store.get(job_id)
            if job is None or job.status is not JobStatus.STARTED:
                return False
            if job.progress is not None and percent <= job.progress:
                return False
            updated = job.model_copy(update={"progress": percent})
            if self.store.replace(updated, expected_status=JobStatus.STARTED):
                return True
        return False

    def _publish(self, job: Job) -> None:
        detail: dict[str, Any] = self.view(job).model_dump(mode="json")
        if len(json.dumps(detail)) > MAX_EVENT_DETAIL_BYTES:
            # too big for EventBridge: send a reference the subscriber resolves with the job store
            detail = {"id": job.id, "app": job.app, "status": job.status.value, "truncated": True}
        self.bus.put(source=EVENT_SOURCE, detail_type=DETAIL_TYPES[job.status], detail=detail)
