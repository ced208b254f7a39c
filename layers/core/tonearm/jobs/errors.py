"""Errors raised by the job service; each maps to one HTTP status and a stable code."""

from __future__ import annotations

from tonearm.errors import NotFoundError, TonearmError


class UnauthorizedError(TonearmError):
    """Missing or unknown API key."""

    code = "unauthorized"
    status = 401


class UnknownWorkflowError(TonearmError):
    """The job names a workflow that does not exist."""

    code = "unknown_workflow"
    status = 400


class InvalidParamsError(TonearmError):
    """The workflow's params (or the request body) do not validate."""

    code = "invalid_params"
    status = 400


class JobNotFoundError(NotFoundError):
    """No job with that id for this application."""

    code = "job_not_found"


class InvalidTransitionError(TonearmError):
    """A status change that the job's current status does not allow."""

    code = "invalid_transition"
    status = 409


class OrchestrationError(TonearmError):
    """The workflow could not be started; the job is marked FAILED with this error."""

    code = "orchestration_failed"
    status = 503
