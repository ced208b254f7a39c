"""The HTTP API function: FastAPI behind Mangum, built once per container."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from tonearm.api.app import create_app

logger = Logger()
tracer = Tracer()

# lifespan off: Mangum would run startup hooks on every invocation
_asgi = Mangum(create_app(), lifespan="off")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event in, proxy response out."""
    return dict(_asgi(event, context))  # type: ignore[arg-type]  # Powertools' and Mangum's context types
