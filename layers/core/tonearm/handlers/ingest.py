"""IngestQueue consumer: each S3 ``Object Created`` under ``ingest/`` becomes one job per object version.

The bucket's notification reaches the default bus; ``IngestRule`` puts it on ``IngestQueue``; this
function drains the queue (10 messages a batch, at most ``IngestConcurrency`` instances at once). A
message whose job could not be started (StartExecution throttled) is reported failed
(``batchItemFailures``) and delivered again; the job it made stays QUEUED and starts then. A direct
EventBridge event (``sam local invoke``, an older rule) is handled too.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services
from tonearm.handlers.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def ingest(event: S3EventBridgeNotificationEvent) -> dict[str, Any]:
    """Create (or find, or start once more) the job for this object version."""
    obj = event.detail.object
    if obj.key.endswith("/"):
        return {"jobId": None, "reason": "folder marker"}
    # unversioned buckets have no version id; the sequencer then orders writes of one key
    version = obj.version_id or obj.sequencer
    job = get_services().jobs.create_ingest_job(key=obj.key, version_id=version, size=obj.size)
    metrics.add_metric(name="IngestObjects", unit=MetricUnit.Count, value=1)
    logger.info("ingest object", extra={"key": obj.key, "versionId": version, "jobId": job.id})
    return {"jobId": job.id, "status": job.status.value}


def _record(record: SQSRecord) -> dict[str, Any]:
    return ingest(S3EventBridgeNotificationEvent(json.loads(record.body)))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch from IngestQueue (``batchItemFailures`` names the messages to deliver again)."""
    if "Records" in event:
        answer = process_partial_response(
            event=event, record_handler=_record, processor=processor, context=context
        )
        return dict(answer)
    return ingest(S3EventBridgeNotificationEvent(event))
