"""The AWS adapters against moto: S3, DynamoDB, Step Functions, EventBridge, SQS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from tonearm.adapters.aws.dynamodb import DynamoJobStore
from tonearm.adapters.aws.eventbridge import EventBridgeBus
from tonearm.adapters.aws.s3 import S3BlobStore
from tonearm.adapters.aws.sqs import SqsDeadLetterSink
from tonearm.adapters.aws.stepfunctions import StepFunctionsOrchestrator
from tonearm.adapters.local.asl import substitute
from tonearm.jobs.model import Job, JobStatus
from tonearm.local_stack.template import LocalTemplate
from tonearm.ports import Application, BlobNotFoundError, InputExpiredError

from .conftest import REGION


def test_s3_blob_store_round_trip_and_presigned_urls(aws: dict[str, Any], tmp_path: Path) -> None:
    store = S3BlobStore(aws["s3"], aws["bucket"])
    source = tmp_path / "a.wav"
    source.write_bytes(b"RIFF....")
    store.put_file("results/j1/wav.wav", source, content_type="audio/wav")
    store.put_bytes("results/j1/v.json", b"{}", content_type="application/json")
    assert store.size("results/j1/wav.wav") == 8
    assert store.size("results/missing") is None
    target = tmp_path / "b.wav"
    assert store.download_to("results/j1/wav.wav", target) == 8 and target.read_bytes() == b"RIFF...."
    with pytest.raises(BlobNotFoundError):
        store.download_to("nope", tmp_path / "c")
    url = store.presign_get("results/j1/wav.wav", ttl_s=60)
    assert store.key_for_url(url) == "results/j1/wav.wav"
    assert store.key_for_url("https://example.com/results/j1/wav.wav") is None
    put_url = store.presign_put("uploads/app/x", ttl_s=60)
    assert "X-Amz-Signature" in put_url and store.key_for_url(put_url) == "uploads/app/x"
    assert requests.put(put_url, data=b"hello", timeout=5).status_code == 200  # moto intercepts
    assert store.size("uploads/app/x") == 5
    assert store.delete_prefix("results/j1/") == 2
    assert store.size("results/j1/wav.wav") is None


def test_s3_expired_presigned_url_is_refused(aws: dict[str, Any]) -> None:
    store = S3BlobStore(aws["s3"], aws["bucket"])
    url = store.presign_get("uploads/a/b", ttl_s=1)
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
    stale = (
        url.split("X-Amz-Date=")[0] + "X-Amz-Date=" + old + "&" + url.split("X-Amz-Date=")[1].split("&", 1)[1]
    )
    with pytest.raises(InputExpiredError):
        store.key_for_url(stale)


def test_s3_reads_a_specific_object_version(aws: dict[str, Any], tmp_path: Path) -> None:
    store = S3BlobStore(aws["s3"], aws["bucket"])
    v1 = aws["s3"].put_object(Bucket=aws["bucket"], Key="ingest/x/a", Body=b"one")["VersionId"]
    aws["s3"].put_object(Bucket=aws["bucket"], Key="ingest/x/a", Body=b"second")
    store.download_to("ingest/x/a", tmp_path / "v1", version_id=v1)
    assert (tmp_path / "v1").read_bytes() == b"one"


def _job(job_id: str, **kw: Any) -> Job:
    return Job(id=job_id, app="app1", name="n", workflow="tonearm/audio-info", **kw)


def test_dynamo_job_store_conditional_writes_and_listing(aws: dict[str, Any]) -> None:
    store = DynamoJobStore(aws["table"])
    assert store.create(_job("a", created_at="2026-01-01T00:00:00.000Z", expires_at=1900000000))
    assert not store.create(_job("a"))  # idempotent
    store.create(_job("b", created_at="2026-01-02T00:00:00.000Z", batch_name="batch1"))
    store.create(Job(id="c", app="other", name="n", workflow="w"))
    a = store.get("a")
    assert a is not None and a.status is JobStatus.QUEUED
    item = aws["table"].get_item(Key={"pk": "JOB#a"})["Item"]
    assert int(item["expiresAt"]) == 1900000000  # the TTL attribute the template names
    started = a.model_copy(update={"status": JobStatus.STARTED})
    assert store.replace(started, expected_status=JobStatus.QUEUED)
    assert not store.replace(started, expected_status=JobStatus.QUEUED)  # compare-and-set lost
    listed = store.list(app="app1", statuses=[], workflows=[], batch_name=None, offset=0, limit=10)
    assert [j.id for j in listed] == ["b", "a"]  # newest first
    only_started = store.list(
        app="app1", statuses=[JobStatus.STARTED], workflows=[], batch_name=None, offset=0, limit=10
    )
    assert [j.id for j in only_started] == ["a"]
    assert [
        j.id
        for j in store.list(app="app1", statuses=[], workflows=[], batch_name="batch1", offset=0, limit=10)
    ] == ["b"]
    assert [
        j.id for j in store.list(app="app1", statuses=[], workflows=[], batch_name=None, offset=1, limit=1)
    ] == ["a"]
    assert store.delete("a") and not store.delete("a") and store.get("a") is None


def test_dynamo_applications(aws: dict[str, Any]) -> None:
    store = DynamoJobStore(aws["table"])
    app = Application(id="app1", name="App", key_sha256="ab" * 32, webhook_url="https://x.example/h")
    store.put_application(app)
    assert store.application_by_key_hash("ab" * 32) == app
    assert store.application_by_id("app1") == app
    assert store.application_by_key_hash("cd" * 32) is None


def test_step_functions_start_is_idempotent_per_job(aws: dict[str, Any], template: LocalTemplate) -> None:
    text, subs = template.state_machine_definition("AudioInfoStateMachine")
    definition = substitute(text, {k: f"arn:aws:lambda:{REGION}:123456789012:function:{k}" for k in subs})
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    # named as the template names it: <stack>-<logical id>, addressed by the stack's ARN prefix
    arn = aws["sfn"].create_state_machine(
        name="tonearm-AudioInfoStateMachine", definition=definition, roleArn=role
    )["stateMachineArn"]
    prefix = arn.removesuffix("AudioInfoStateMachine")
    orchestrator = StepFunctionsOrchestrator(aws["sfn"], prefix)
    orchestrator.start(
        state_machine="AudioInfoStateMachine", execution_name="job-1", execution_input={"jobId": "1"}
    )
    orchestrator.start(
        state_machine="AudioInfoStateMachine", execution_name="job-1", execution_input={"jobId": "1"}
    )
    executions = aws["sfn"].list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == ["job-1"]
    described = aws["sfn"].describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"jobId": "1"}
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        orchestrator.start(state_machine="Unknown", execution_name="x", execution_input={})
    with pytest.raises(RuntimeError, match="STATE_MACHINE_ARN_PREFIX"):
        StepFunctionsOrchestrator(aws["sfn"], "").start(
            state_machine="AudioInfoStateMachine", execution_name="y", execution_input={}
        )


def test_eventbridge_bus_delivers_to_a_rule_target(aws: dict[str, Any]) -> None:
    # GIVEN a rule on the bus with the template's webhook pattern, targeting an SQS queue
    pattern = {"source": ["tonearm"], "detail-type": ["Job Succeeded", "Job Failed"]}
    queue_url = aws["sqs"].create_queue(QueueName="target")["QueueUrl"]
    queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws["events"].put_rule(Name="r", EventBusName=aws["bus"], EventPattern=json.dumps(pattern))
    aws["events"].put_targets(Rule="r", EventBusName=aws["bus"], Targets=[{"Id": "q", "Arn": queue_arn}])
    bus = EventBridgeBus(aws["events"], aws["bus"])
    # WHEN two events are published
    bus.put(source="tonearm", detail_type="Job Started", detail={"id": "j"})
    bus.put(source="tonearm", detail_type="Job Succeeded", detail={"id": "j", "status": "SUCCEEDED"})
    # THEN only the matching one reaches the target
    messages = aws["sqs"].receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["detail-type"] == "Job Succeeded" and event["detail"]["id"] == "j"


def test_sqs_dead_letter_sink(aws: dict[str, Any]) -> None:
    SqsDeadLetterSink(aws["sqs"], aws["queue_url"]).send({"kind": "webhook", "attempts": [{"attempt": 1}]})
    body = json.loads(aws["sqs"].receive_message(QueueUrl=aws["queue_url"])["Messages"][0]["Body"])
    assert body == {"kind": "webhook", "attempts": [{"attempt": 1}]}


def test_build_aws_services_from_template_environment(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.bootstrap import build_aws_services
    from tonearm.settings import Settings

    settings = Settings.from_env(
        {
            "TONEARM_RUNTIME": "aws",
            "BUCKET_NAME": aws["bucket"],
            "JOBS_TABLE_NAME": aws["table"].name,
            "EVENT_BUS_NAME": aws["bus"],
            "WEBHOOK_DLQ_URL": aws["queue_url"],
            "STATE_MACHINE_ARN_PREFIX": "arn:aws:states:us-east-1:123456789012:stateMachine:tonearm-",
        }
    )
    services = build_aws_services(settings)
    assert isinstance(services.store, DynamoJobStore) and isinstance(services.blobs, S3BlobStore)
    assert services.store.get("missing") is None


@mock_aws
def test_mock_isolated() -> None:
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


def test_one_applications_jobs_spread_over_index_shards_and_page_newest_first(aws: dict[str, Any]) -> None:
    # 10,000 ingest jobs of one application must not all write one index partition key (1,000 writes/s)
    from tonearm.adapters.aws.dynamodb import SHARDS

    store = DynamoJobStore(aws["table"])
    for n in range(60):
        store.create(_job(f"job-{n:03d}", created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z"))
    keys = {i["gsi1pk"] for i in aws["table"].scan(ProjectionExpression="gsi1pk")["Items"] if "gsi1pk" in i}
    assert len(keys) > SHARDS // 2  # 60 jobs land on most of the 16 shards
    newest_first = [f"job-{n:03d}" for n in reversed(range(60))]
    pages = [
        [j.id for j in store.list(app="app1", statuses=[], workflows=[], batch_name=None, offset=o, limit=25)]
        for o in (0, 25, 50)
    ]
    assert pages[0] + pages[1] + pages[2] == newest_first
    # the index holds keys and the filtered attributes only; bodies come from the table, fresh
    index = next(i for i in aws["table"].global_secondary_indexes if i["IndexName"] == "byApp")
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    first = store.get("job-000")
    assert first is not None
    store.replace(first.model_copy(update={"status": JobStatus.STARTED}), expected_status=JobStatus.QUEUED)
    (listed,) = store.list(
        app="app1", statuses=[JobStatus.STARTED], workflows=[], batch_name=None, offset=0, limit=5
    )
    assert listed.id == "job-000" and listed.status is JobStatus.STARTED


def test_rate_limits_hold_across_lambda_instances(aws: dict[str, Any]) -> None:
    """Two API instances (two limiters) sharing the table count one client once: 5 a minute in all."""
    from tonearm.adapters.aws.dynamodb import DynamoRateCounter
    from tonearm.api.rate_limit import RateLimiter, Window

    shared = DynamoRateCounter(aws["table"])
    clock = [1_800_000_000.0]
    first, second = (
        RateLimiter([Window(60, 5), Window(3600, 100)], clock=lambda: clock[0], shared=shared)
        for _ in range(2)
    )
    decisions = [limiter.hit("key:abc") for limiter in (first, second, first, second, first, second)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[5]
    assert refused.window_s == 60 and 1 <= refused.reset_s <= 60 and refused.headers()["Retry-After"]
    assert second.hit("key:other").allowed  # per client
    clock[0] += 60  # the next minute: room again, the hour keeps counting
    again = first.hit("key:abc")
    assert again.allowed and again.window_s == 60
    assert shared.add("key:abc", window_s=3600, window_start=int(clock[0] // 3600) * 3600, limit=100) == 7


def test_keyset_pages_read_only_what_follows(aws: dict[str, Any]) -> None:
    store = DynamoJobStore(aws["table"])
    for n in range(30):
        store.create(_job(f"k-{n:02d}", created_at=f"2026-02-01T00:00:{n:02d}.000Z"))
    seen: list[str] = []
    older_than = None
    while True:
        page = store.list(
            app="app1", statuses=[], workflows=[], batch_name=None, offset=0, limit=7, older_than=older_than
        )
        if not page:
            break
        seen += [j.id for j in page]
        older_than = (page[-1].created_at, page[-1].id)
    assert seen == [f"k-{n:02d}" for n in reversed(range(30))]


def test_dynamo_counts_keys_without_scanning(aws: dict[str, Any]) -> None:
    store = DynamoJobStore(aws["table"])
    assert store.count_keys() == 0
    first = Application(id="a1", name="A", key_sha256="11" * 32)
    store.put_application(first)
    store.put_application(Application(id="a2", name="B", key_sha256="22" * 32))
    store.put_application(first.model_copy(update={"webhook_url": "https://x.example/h"}))  # same key again
    assert store.count_keys() == 2
