"""Issue 18, part 9 in AWS: webhook and callback secrets sealed with KMS in the jobs table (moto)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tonearm.adapters.aws.dynamodb import DynamoJobStore
from tonearm.adapters.aws.kms import KmsSealer
from tonearm.events.sealing import SealingJobStore, open_callback_secret, open_webhook_secret, sealer_of
from tonearm.jobs.model import Callback, Job
from tonearm.jobs.service import hash_api_key
from tonearm.ports import Application, SecretSealError

from .conftest import REGION

SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="


@pytest.fixture
def key_arn(aws: dict[str, Any]) -> str:
    return str(boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"])


def _settings(aws: dict[str, Any], **extra: str) -> Any:
    from tonearm.settings import Settings

    return Settings.from_env(
        {
            "TONEARM_RUNTIME": "aws",
            "BUCKET_NAME": aws["bucket"],
            "JOBS_TABLE_NAME": aws["table"].name,
            "EVENT_BUS_NAME": aws["bus"],
            "WEBHOOK_DLQ_URL": aws["queue_url"],
            **extra,
        }
    )


def test_seal_and_open_round_trip_bound_to_the_record(key_arn: str) -> None:
    sealer = KmsSealer(boto3.client("kms", region_name=REGION), key_arn)
    sealed = sealer.seal("token-123", context={"job": "j1"})
    assert sealed.startswith("sealed:v1:kms:") and "token-123" not in sealed
    assert sealer.open(sealed, context={"job": "j1"}) == "token-123"
    with pytest.raises(SecretSealError):  # copied into another job's record: the encryption context differs
        sealer.open(sealed, context={"job": "j2"})
    with pytest.raises(SecretSealError):  # sealed by the local runtime's key file, not KMS
        sealer.open("sealed:v1:aesgcm:AAAA", context={"job": "j1"})


def test_the_aws_services_store_secrets_sealed_in_the_table(aws: dict[str, Any], key_arn: str) -> None:
    from tonearm.bootstrap import build_aws_services

    services = build_aws_services(_settings(aws, SECRETS_KEY_ARN=key_arn))
    store = services.store
    assert isinstance(store, SealingJobStore) and isinstance(store.inner, DynamoJobStore)
    store.put_application(
        Application(id="acme", name="A", key_sha256=hash_api_key("k"), webhook_secret=SECRET)
    )
    store.create(
        Job(
            id="j1",
            app="acme",
            name="n",
            workflow="tonearm/genre",
            callback=Callback(url="https://hooks.example/x", secret="caller-token-1"),
        )
    )
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=aws["table"].name)["Items"]
    raw = json.dumps(items)
    assert SECRET not in raw and "caller-token-1" not in raw
    app, job = store.application_by_id("acme"), store.get("j1")
    assert app is not None and job is not None
    assert app.webhook_secret.startswith("sealed:v1:kms:")
    # the webhook function opens them with the same key (its services are built the same way)
    assert open_webhook_secret(app, sealer_of(store)) == SECRET
    assert open_callback_secret(job, sealer_of(store)) == "caller-token-1"


def test_without_a_key_configured_nothing_changes(aws: dict[str, Any]) -> None:
    """A function or stack without SECRETS_KEY_ARN (one deployed before the key) stores and reads as before:
    plaintext rows from before sealing keep working."""
    from tonearm.bootstrap import build_aws_services

    store = build_aws_services(_settings(aws)).store
    assert isinstance(store, DynamoJobStore)
    store.put_application(
        Application(id="old", name="O", key_sha256=hash_api_key("k"), webhook_secret=SECRET)
    )
    app = store.application_by_id("old")
    assert app is not None and open_webhook_secret(app, None) == SECRET


@mock_aws
def test_app_create_with_the_stack_name_seals_the_webhook_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tonearm.cli import main

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("TONEARM_RUNTIME", "aws")
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="jobs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    apigateway = boto3.client("apigateway", region_name=REGION)
    api = apigateway.create_rest_api(name="tonearm")["id"]
    plan = apigateway.create_usage_plan(name="plan", apiStages=[{"apiId": api, "stage": "prod"}])["id"]
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    outputs = {"JobsTableName": "jobs", "UsagePlanId": plan, "SecretsKeyArn": key}
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="tonearm", TemplateBody=json.dumps(template)
    )
    assert main(["app", "create", "--name", "Acme", "--id", "acme", "--stack", "tonearm"]) == 0
    printed = capsys.readouterr().out.split("webhook secret:")[1].split()[0]  # shown once, at creation
    item = (
        boto3.resource("dynamodb", region_name=REGION).Table("jobs").get_item(Key={"pk": "APP#acme"})["Item"]
    )
    stored = Application.model_validate_json(str(item["body"]))
    assert printed not in str(item) and stored.webhook_secret.startswith("sealed:v1:kms:")
    sealer = KmsSealer(boto3.client("kms", region_name=REGION), key)
    assert open_webhook_secret(stored, sealer) == printed
