"""AWS adapters (boto3): S3, DynamoDB, Step Functions, EventBridge, SQS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tonearm.runtime import Services
    from tonearm.settings import Settings


def build_aws_services(settings: Settings) -> Services:
    """Services backed by the resources the template names in the environment."""
    import boto3
    from botocore.config import Config

    from tonearm.adapters.aws.dynamodb import DynamoJobStore
    from tonearm.adapters.aws.eventbridge import EventBridgeBus
    from tonearm.adapters.aws.s3 import S3BlobStore
    from tonearm.adapters.aws.sqs import SqsDeadLetterSink
    from tonearm.adapters.aws.stepfunctions import StepFunctionsOrchestrator
    from tonearm.runtime import Services

    config = Config(retries={"mode": "standard", "max_attempts": 5}, signature_version="s3v4")
    return Services(
        settings=settings,
        store=DynamoJobStore(boto3.resource("dynamodb", config=config).Table(settings.table_name)),
        blobs=S3BlobStore(boto3.client("s3", config=config), settings.bucket_name),
        orchestrator=StepFunctionsOrchestrator(
            boto3.client("stepfunctions", config=config), settings.state_machine_arns
        ),
        bus=EventBridgeBus(boto3.client("events", config=config), settings.event_bus_name),
        dead_letters=SqsDeadLetterSink(boto3.client("sqs", config=config), settings.webhook_dlq_url),
    )
