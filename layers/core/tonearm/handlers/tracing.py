"""The handlers' tracer: Powertools' X-Ray Tracer when the deployment asks for SDK subsegments, else none.

Why not always Powertools' ``Tracer``: constructing one imports the AWS X-Ray SDK (``aws_xray_sdk.core``
and the patchers for botocore, httplib, ...) even when tracing is disabled, and that import is
0.25-0.31 s of every function's cold start on one quiet core (``bench/results/cold_start.md``), about
three times that on a 512 MB Lambda: most of the import time of every zip function.

What is kept without it: the functions run with ``Tracing: Active`` (template.yaml), so Lambda itself
records each invocation's segment (initialisation, invocation, overhead) and Step Functions and API
Gateway add theirs, all in one trace. What the SDK adds is a subsegment per AWS SDK call (S3,
DynamoDB, EventBridge, ...) and the ``ColdStart`` annotation. A deployment that wants them sets the
template parameter ``XRaySdk`` to ``"true"`` (environment ``TONEARM_XRAY_SDK``), paying the import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["HandlerTracer", "handler_tracer", "xray_sdk_enabled"]

Handler = Callable[..., Any]

#: The environment variable that turns the X-Ray SDK on.
XRAY_SDK_ENV = "TONEARM_XRAY_SDK"


class HandlerTracer(Protocol):
    """What the handlers use of a tracer."""

    def capture_lambda_handler(self, lambda_handler: Handler) -> Handler: ...


class _Untraced:
    """No SDK subsegments: the handler is returned as it is."""

    def capture_lambda_handler(self, lambda_handler: Handler) -> Handler:
        return lambda_handler


def xray_sdk_enabled() -> bool:
    """Whether :data:`XRAY_SDK_ENV` asks for the X-Ray SDK ("true", "1" or "yes")."""
    return os.environ.get(XRAY_SDK_ENV, "false").strip().lower() in ("true", "1", "yes")


def handler_tracer() -> HandlerTracer:
    """Powertools' ``Tracer`` when :func:`xray_sdk_enabled`, else a tracer that adds nothing."""
    if xray_sdk_enabled():
        from aws_lambda_powertools import Tracer  # the 0.25 s import, only when asked for

        tracer: HandlerTracer = Tracer()
        return tracer
    return _Untraced()
