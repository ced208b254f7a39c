"""Calling a task's Python callable the way Step Functions calls a Lambda function.

Values cross the boundary as JSON (so a function cannot mutate the interpreter's data, and an
unserialisable result fails as the Lambda runtime's ``Runtime.MarshalError`` does); an uncaught
exception becomes the error AWS reports, named after the exception class with the Python runtime's
JSON cause; a Task ``TimeoutSeconds`` becomes ``States.Timeout``.
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from tonearm.adapters.local.asl_paths import StatesError

TaskCallable = Callable[[Any], Any]

TIMEOUT = "States.Timeout"


def json_copy(value: Any) -> Any:
    """A deep copy through JSON, as every value crossing a Lambda boundary is in AWS."""
    return json.loads(json.dumps(value, allow_nan=False))


def invoke_function(function: TaskCallable, payload: Any, timeout_seconds: float | None) -> Any:
    """Call ``function`` with a JSON copy of ``payload`` and return a JSON copy of its result.

    Raises ``StatesError``: ``States.Timeout`` when it runs past ``timeout_seconds``, the exception's
    class name with a Lambda-shaped cause when it raises, ``Runtime.MarshalError`` for a result that
    is not JSON.
    """
    try:
        result = _call_with_timeout(function, json_copy(payload), timeout_seconds)
    except _TimedOut:
        raise StatesError(TIMEOUT, f"The task did not finish within {timeout_seconds:g} seconds") from None
    except Exception as exc:
        raise _function_error(exc) from None
    try:
        return json_copy(result)
    except (TypeError, ValueError) as exc:
        cause = lambda_cause(f"Unable to marshal response: {exc}", "Runtime.MarshalError", [])
        raise StatesError("Runtime.MarshalError", cause) from None


def lambda_cause(message: str, error_type: str, stack: list[str]) -> str:
    """The JSON text AWS puts in ``Cause`` for a Lambda function error."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack})


def invoke_response(payload: Any) -> dict[str, Any]:
    """The result of ``arn:aws:states:::lambda:invoke``: the Lambda Invoke API response around ``payload``."""
    request_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-RequestId": request_id,
    }
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


class _TimedOut(Exception):
    """The callable did not return in time."""


def _call_with_timeout(function: TaskCallable, payload: Any, seconds: float | None) -> Any:
    if seconds is None:
        return function(payload)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = function(payload)
        except Exception as exc:
            outcome["error"] = exc

    # A daemon thread, because a timed-out task cannot be stopped and must not block interpreter exit.
    worker = threading.Thread(target=target, name="asl-task", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _TimedOut
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _function_error(exc: Exception) -> StatesError:
    # The stack trace shows the function's own frames only, like the Lambda Python runtime's.
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
    error_type = type(exc).__name__
    return StatesError(error_type, lambda_cause(str(exc), error_type, traceback.format_list(frames)))
