"""EventBridge rule target: deliver a finished job's webhook."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services
from tonearm.events.webhooks import WebhookService
from tonearm.handlers.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Deliver (with retries) or dead-letter; never raises for a receiver's failure."""
    services = get_services()
    webhooks = WebhookService(
        jobs=services.jobs, dead_letters=services.dead_letters, policy=services.webhook_policy
    )
    result = webhooks.handle(event.raw_event)
    if result is None:
        return {"delivered": False, "reason": "no webhook configured"}
    metrics.add_metric(
        name="WebhooksDelivered" if result.delivered else "WebhooksDeadLettered",
        unit=MetricUnit.Count,
        value=1,
    )
    return {"delivered": result.delivered, "attempts": len(result.attempts)}
