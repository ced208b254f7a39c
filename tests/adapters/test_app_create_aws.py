"""`tonearm app create` in AWS: one command makes a key that works on the first call.

API Gateway takes the usage-plan key from the authorizer (``ApiKeySourceType: AUTHORIZER``), so a key
works only if it is both an application in the jobs table and an API key on the stack's usage plan.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tonearm.cli import main
from tonearm.jobs.service import hash_api_key

REGION = "us-east-1"


def _table() -> str:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="jobs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    return "jobs"


def _usage_plan() -> str:
    apigateway = boto3.client("apigateway", region_name=REGION)
    api = apigateway.create_rest_api(name="tonearm")["id"]
    return str(apigateway.create_usage_plan(name="plan", apiStages=[{"apiId": api, "stage": "prod"}])["id"])


def _stack(table: str, plan: str) -> None:
    # a deployed stack's outputs, as `sam deploy` leaves them
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"JobsTableName": {"Value": table}, "UsagePlanId": {"Value": plan}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="tonearm", TemplateBody=json.dumps(template)
    )


def _created_key(out: str) -> str:
    match = re.search(r"API key:\s+(\S+)", out)
    assert match, out
    return match.group(1)


def _assert_key_works(key: str, plan: str) -> None:
    apigateway = boto3.client("apigateway", region_name=REGION)
    on_plan = {k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=plan)["items"]}
    values = {k["id"]: k["value"] for k in apigateway.get_api_keys(includeValues=True)["items"]}
    assert [kid for kid in on_plan if values.get(kid) == key], "the key must be an API key on the usage plan"
    item = (
        boto3.resource("dynamodb", region_name=REGION)
        .Table("jobs")
        .get_item(Key={"pk": f"KEY#{hash_api_key(key)}"})
    )
    assert "Item" in item, "the key must be an application's"


@mock_aws
def test_app_create_with_the_stack_name_registers_the_key_everywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("TONEARM_RUNTIME", "aws")
    table, plan = _table(), _usage_plan()
    _stack(table, plan)
    assert main(["app", "create", "--name", "Acme Records", "--stack", "tonearm"]) == 0
    out = capsys.readouterr().out
    assert f"on usage plan {plan}" in out
    _assert_key_works(_created_key(out), plan)


@mock_aws
def test_app_create_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    table, plan = _table(), _usage_plan()
    for name, value in {"TONEARM_RUNTIME": "aws", "JOBS_TABLE_NAME": table, "USAGE_PLAN_ID": plan}.items():
        monkeypatch.setenv(name, value)
    assert main(["app", "create", "--name", "Acme", "--id", "acme"]) == 0
    _assert_key_works(_created_key(capsys.readouterr().out), plan)


@mock_aws
def test_without_a_usage_plan_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    table = _table()
    monkeypatch.setenv("TONEARM_RUNTIME", "aws")
    monkeypatch.setenv("JOBS_TABLE_NAME", table)
    assert main(["app", "create", "--name", "Acme"]) == 1
    assert "usage plan" in capsys.readouterr().err
    items: Any = boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"]
    assert items == []
