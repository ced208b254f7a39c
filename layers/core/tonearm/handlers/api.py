"""The HTTP API function: FastAPI behind Mangum, built once per container."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from tonearm.api.app import create_app
from tonearm.bootstrap import get_services
from tonearm.handlers.tracing import handler_tracer
from tonearm.runtime import Services

logger = Logger()
tracer = handler_tracer()

_built: tuple[Services, Mangum] | None = None


def _asgi() -> Mangum:
    """The app over the process's services, built on first use (and again should they be replaced,
    as the local runtime and the tests do; in Lambda they never are)."""
    global _built
    services = get_services()
    if _built is None or _built[0] is not services:
        # lifespan off: Mangum would run startup hooks on every invocation
        _built = (services, Mangum(create_app(services), lifespan="off"))
    return _built[1]


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event in, proxy response out."""
    return dict(_asgi()(event, context))  # type: ignore[arg-type]  # Powertools' and Mangum's context types
