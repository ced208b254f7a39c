"""The Music.AI-compatible job API under ``/v1``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from tonearm.api.errors import ErrorResponse
from tonearm.jobs.model import (
    ApplicationView,
    CreateJobRequest,
    JobIdView,
    JobStatus,
    JobStatusView,
    JobView,
    UploadView,
)
from tonearm.jobs.service import JobService
from tonearm.ports import Application
from tonearm.runtime import Services

#: What every route of the job API may answer: no valid key, and the application over its rate limit
#: (``Retry-After`` says when to come back). A 400 is documented where a request can fail validation
#: (``tonearm.api.openapi_errors``).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "unauthorized: no valid API key"},
    429: {"model": ErrorResponse, "description": "rate_limited (see Retry-After)"},
}
#: A route reading one job: it may not exist (or belong to another application).
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "job_not_found"},
}
#: Creating a job checks its uploaded input's size.
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "input_too_large: the input passes the size limit"},
}


def services(request: Request) -> Services:
    """The app's services (set by ``create_app``)."""
    services: Services = request.app.state.services
    return services


def job_service(svc: Annotated[Services, Depends(services)]) -> JobService:
    """The job service."""
    return svc.jobs


def application(
    jobs: Annotated[JobService, Depends(job_service)],
    authorization: Annotated[str | None, Header(description="`<api key>` or `Bearer <api key>`")] = None,
) -> Application:
    """The caller, from the ``Authorization`` header."""
    return jobs.authenticate(authorization)


App = Annotated[Application, Depends(application)]
Jobs = Annotated[JobService, Depends(job_service)]

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/upload", response_model=UploadView, tags=["Upload"])
def get_upload(app: App, jobs: Jobs) -> UploadView:
    """A time-limited PUT URL to upload a file to, and the GET URL to pass as ``inputUrl``."""
    return jobs.create_upload(app)


@router.post("/job", response_model=JobIdView, tags=["Jobs"], responses=TOO_LARGE)
def create_job(body: CreateJobRequest, app: App, jobs: Jobs) -> JobIdView:
    """Create a job; it runs asynchronously. Poll ``GET /v1/job/{id}`` or use ``metadata.webhookUrl``."""
    return JobIdView(id=jobs.create_job(app, body).id)


@router.get("/job", response_model=list[JobView], tags=["Jobs"], responses=NOT_FOUND)
def list_jobs(
    app: App,
    jobs: Jobs,
    status: Annotated[list[JobStatus], Query()] = [],  # noqa: B006 - FastAPI reads the default
    workflow: Annotated[list[str], Query()] = [],  # noqa: B006
    batchName: str | None = None,  # noqa: N803 - wire name
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=100)] = 100,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Instead of page: the id of the last job of the previous page (keyset paging: "
            "constant cost however deep the listing goes).",
        ),
    ] = None,
) -> list[JobView]:
    """The caller's jobs, newest first; ``status`` and ``workflow`` may repeat."""
    found = jobs.list_jobs(
        app, statuses=status, workflows=workflow, batch_name=batchName, page=page, size=size, after=after
    )
    return [jobs.view(j) for j in found]


@router.get("/job/{job_id}", response_model=JobView, tags=["Jobs"], responses=NOT_FOUND)
def get_job(job_id: str, app: App, jobs: Jobs) -> JobView:
    """One job, with fresh download URLs for its file outputs."""
    return jobs.view(jobs.get_job(app, job_id))


@router.get("/job/{job_id}/status", response_model=JobStatusView, tags=["Jobs"], responses=NOT_FOUND)
def get_job_status(job_id: str, app: App, jobs: Jobs) -> JobStatusView:
    """Just the status, for cheap polling."""
    job = jobs.get_job(app, job_id)
    return JobStatusView(id=job.id, status=job.status)


@router.delete("/job/{job_id}", response_model=JobIdView, tags=["Jobs"], responses=NOT_FOUND)
def delete_job(job_id: str, app: App, jobs: Jobs) -> JobIdView:
    """Delete the job record and its stored outputs."""
    jobs.delete_job(app, job_id)
    return JobIdView(id=job_id)


@router.get("/workflow", tags=["Workflows"])
def list_workflows(
    app: App,
    jobs: Jobs,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[dict[str, Any]]:
    """The workflows: slug, name, description, params JSON schema, outputs."""
    specs = sorted(jobs.workflows, key=lambda s: s.slug)
    return [s.describe() for s in specs[page * size : (page + 1) * size]]


@router.get("/application", response_model=ApplicationView, tags=["Application"])
def get_application(app: App) -> ApplicationView:
    """The application the API key belongs to."""
    return ApplicationView(id=app.id, name=app.name, webhookUrl=app.webhook_url)
