"""Turning a failed Step Functions task into a job error, and back.

Task functions raise ``JobTaskError`` for expected failures; its message is the JSON of the error's
``{"code", "message"}``, so the code survives the trip through Lambda's error report
(``{"errorMessage", "errorType", ...}``) and the state machine's Catch (``{"Error", "Cause"}``).
"""

from __future__ import annotations

import json
from typing import Any

from tonearm.errors import TonearmError
from tonearm.jobs.model import JobError


class JobTaskError(Exception):
    """Raised by a task handler; ``str(self)`` is the JSON of the job error."""

    def __init__(self, error: TonearmError) -> None:
        super().__init__(json.dumps(error.to_dict()))


def job_error_from_catch(caught: dict[str, Any]) -> JobError:
    """The job error for a Catch output ``{"Error": ..., "Cause": ...}``."""
    name = str(caught.get("Error", "States.Runtime"))
    cause = caught.get("Cause") or ""
    report: dict[str, Any] = {}
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            report = parsed
    except (TypeError, ValueError):
        pass
    message = str(report.get("errorMessage", cause))
    if name == JobTaskError.__name__:
        try:
            return JobError.model_validate_json(message)
        except ValueError:
            pass
    if name == "States.ExceedToleratedFailureThreshold":  # a batch's Distributed Map
        return JobError(code="batch_items_failed", message=f"too many items failed: {message}"[:1000])
    if name == "States.Timeout":
        return JobError(code="task_timeout", message="the task took longer than its time limit")
    return JobError(code="internal_error", message=f"{name}: {message}"[:1000] if message else name)
