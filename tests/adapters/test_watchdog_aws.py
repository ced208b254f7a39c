"""The watchdog's AWS adapters on moto: the sparse ``unfinished`` index and DescribeExecution.

Issue 18: a job stored QUEUED whose StartExecution never happened stayed QUEUED forever. The sweep
finds unfinished jobs through a sparse index (no table scan) and asks Step Functions about each.
"""

from __future__ import annotations

from typing import Any

import boto3

from tests.adapters.conftest import REGION
from tonearm.adapters.aws.dynamodb import DynamoJobStore
from tonearm.adapters.aws.stepfunctions import StepFunctionsOrchestrator
from tonearm.adapters.local.asl import substitute
from tonearm.jobs.model import Job, JobStatus
from tonearm.local_stack.template import LocalTemplate


def _job(n: int, status: JobStatus) -> Job:
    return Job(
        id=f"job-{n}",
        app=f"app{n % 3}",
        name="x",
        workflow="tonearm/audio-info",
        status=status,
        created_at=f"2026-01-{n + 1:02d}T00:00:00.000Z",
    )


def test_unfinished_jobs_come_from_the_sparse_index_oldest_first(aws: dict[str, Any]) -> None:
    store = DynamoJobStore(aws["table"])
    statuses = [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.STARTED, JobStatus.FAILED, JobStatus.QUEUED]
    for n, status in enumerate(statuses):
        store.create(_job(n, status))
    # a job that ends leaves the index: its item is rewritten without the index keys
    started = store.get("job-4")
    assert started is not None
    store.replace(started.model_copy(update={"status": JobStatus.FAILED}), expected_status=JobStatus.QUEUED)
    assert [j.id for j in store.unfinished(created_before="2027-01-01T00:00:00.000Z", limit=10)] == [
        "job-0",
        "job-2",
    ]
    assert [j.id for j in store.unfinished(created_before="2026-01-02T00:00:00.000Z", limit=10)] == ["job-0"]
    assert [j.id for j in store.unfinished(created_before="2027-01-01T00:00:00.000Z", limit=1)] == ["job-0"]
    entry = aws["table"].get_item(Key={"pk": "JOB#job-1"})["Item"]
    assert "openpk" not in entry and "opensk" not in entry


def test_execution_status_is_none_until_started(aws: dict[str, Any], template: LocalTemplate) -> None:
    text, subs = template.state_machine_definition("AudioInfoStateMachine")
    definition = substitute(text, {k: f"arn:aws:lambda:{REGION}:123456789012:function:{k}" for k in subs})
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")
    arn = aws["sfn"].create_state_machine(
        name="tonearm-AudioInfoStateMachine", definition=definition, roleArn=role["Role"]["Arn"]
    )["stateMachineArn"]
    orchestrator = StepFunctionsOrchestrator(aws["sfn"], arn.removesuffix("AudioInfoStateMachine"))
    assert (
        orchestrator.execution_status(state_machine="AudioInfoStateMachine", execution_name="job-1") is None
    )
    orchestrator.start(state_machine="AudioInfoStateMachine", execution_name="job-1", execution_input={})
    status = orchestrator.execution_status(state_machine="AudioInfoStateMachine", execution_name="job-1")
    assert status in {"RUNNING", "SUCCEEDED", "FAILED"}
