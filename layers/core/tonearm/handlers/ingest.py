"""EventBridge rule target for S3 ``Object Created`` under ``ingest/``: one job per object version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=S3EventBridgeNotificationEvent)
def handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> dict[str, Any]:
    """Create (or find) the job for this object version."""
    obj = event.detail.object
    if obj.key.endswith("/"):
        return {"jobId": None, "reason": "folder marker"}
    # unversioned buckets have no version id; the sequencer then orders writes of one key
    version = obj.version_id or obj.sequencer
    job = get_services().jobs.create_ingest_job(key=obj.key, version_id=version, size=obj.size)
    metrics.add_metric(name="IngestObjects", unit=MetricUnit.Count, value=1)
    logger.info("ingest object", extra={"key": obj.key, "versionId": version, "jobId": job.id})
    return {"jobId": job.id, "status": job.status.value}
