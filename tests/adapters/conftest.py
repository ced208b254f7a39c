"""moto resources built from template.yaml, so the mocks cannot drift from the real infrastructure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from tests.conftest import PROJECT_ROOT
from tonearm.local_stack.template import LocalTemplate

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials: nothing here may reach AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def template() -> LocalTemplate:
    """The project's template."""
    return LocalTemplate(PROJECT_ROOT / "template.yaml")


def _props(template: LocalTemplate, logical_id: str) -> dict[str, Any]:
    return dict(template.resources[logical_id]["Properties"])


@pytest.fixture
def aws(template: LocalTemplate) -> Iterator[dict[str, Any]]:
    """Bucket, table, bus and queue as the template declares them, in moto."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
        bucket = "tonearm-test-bucket"
        s3.create_bucket(Bucket=bucket)
        bucket_props = _props(template, "Bucket")
        s3.put_bucket_versioning(
            Bucket=bucket,
            VersioningConfiguration={"Status": bucket_props["VersioningConfiguration"]["Status"]},
        )
        table_props = _props(template, "JobsTable")
        ddb = boto3.resource("dynamodb", region_name=REGION)
        table = ddb.create_table(
            TableName="tonearm-test-jobs",
            AttributeDefinitions=table_props["AttributeDefinitions"],
            KeySchema=table_props["KeySchema"],
            GlobalSecondaryIndexes=table_props["GlobalSecondaryIndexes"],
            BillingMode=table_props["BillingMode"],
        )
        ttl = table_props["TimeToLiveSpecification"]
        boto3.client("dynamodb", region_name=REGION).update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
        )
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name="tonearm-test-events")
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="tonearm-test-dlq")["QueueUrl"]
        yield {
            "s3": s3,
            "bucket": bucket,
            "table": table,
            "events": events,
            "bus": "tonearm-test-events",
            "sqs": sqs,
            "queue_url": queue_url,
            "sfn": boto3.client("stepfunctions", region_name=REGION),
        }
