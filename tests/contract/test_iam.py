"""IAM that the code needs: every AWS call of each function is allowed by its role in the expanded template.

moto does not enforce IAM, so a green suite says nothing about AccessDenied in AWS. Here every function
runs its sample events in AWS mode on moto (``tests/contract/aws_mode.py``), each call it makes (and each
presigned URL it hands out, which its holder uses with the function's credentials) is mapped to the IAM
action and resource AWS authorises it against, and that must be allowed by a statement of the function's
role in the template as SAM expands it (samtranslator, offline). Where an operation's action name differs
from the operation's, ``S3_ACTIONS`` says so; an operation missing from the tables fails the test, so a new
kind of call cannot slip through unchecked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.contract.aws_mode import (
    ACCOUNT,
    REGION,
    STACK,
    Call,
    Recorder,
    TemplateNames,
    create_stack,
    handler_of,
    raw_template,
    sample_events,
    seed,
)
from tests.contract.expanded_template import expanded_template
from tests.contract.seed import EVENT_ORDER
from tonearm.local_stack.lambda_context import LocalLambdaContext

#: S3 operations whose IAM action is not ``s3:<Operation>``: (action, action when a VersionId is given,
#: whether the resource is the bucket rather than the object).
S3_ACTIONS: dict[str, tuple[str, str, bool]] = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion", False),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion", False),
    "PutObject": ("s3:PutObject", "s3:PutObject", False),
    "CreateMultipartUpload": ("s3:PutObject", "s3:PutObject", False),
    "UploadPart": ("s3:PutObject", "s3:PutObject", False),
    "CompleteMultipartUpload": ("s3:PutObject", "s3:PutObject", False),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload", False),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion", False),
    "ListObjectsV2": ("s3:ListBucket", "s3:ListBucket", True),
    "ListObjects": ("s3:ListBucket", "s3:ListBucket", True),
    "ListObjectVersions": ("s3:ListBucketVersions", "s3:ListBucketVersions", True),
}
#: DynamoDB operations checked against ``dynamodb:<Operation>`` on the table (or the index named).
DYNAMODB_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem"}


def required(call: Call) -> list[tuple[str, str]]:
    """The ``(IAM action, resource ARN)`` pairs AWS checks for ``call``."""
    p = call.params
    if call.service == "s3":
        if call.operation == "DeleteObjects":
            return [
                (
                    "s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject",
                    f"arn:aws:s3:::{p['Bucket']}/{o['Key']}",
                )
                for o in p["Delete"]["Objects"]
            ]
        if call.operation not in S3_ACTIONS:
            pytest.fail(f"add s3 {call.operation} to S3_ACTIONS (its IAM action and resource)")
        action, versioned, on_bucket = S3_ACTIONS[call.operation]
        resource = f"arn:aws:s3:::{p['Bucket']}" + ("" if on_bucket else f"/{p['Key']}")
        return [(versioned if p.get("VersionId") else action, resource)]
    if call.service == "dynamodb":
        if call.operation not in DYNAMODB_OPERATIONS:
            pytest.fail(f"add dynamodb {call.operation} to DYNAMODB_OPERATIONS")
        tables = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems", {}))
        index = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
        return [
            (f"dynamodb:{call.operation}", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}{index}")
            for t in tables
        ]
    if call.service == "states" and call.operation == "StartExecution":
        return [("states:StartExecution", p["stateMachineArn"])]
    if call.service == "states" and call.operation == "DescribeExecution":
        return [("states:DescribeExecution", p["executionArn"])]
    if call.service == "events" and call.operation == "PutEvents":
        buses = {str(e.get("EventBusName", "default")) for e in p["Entries"]}
        return [
            (
                "events:PutEvents",
                b if b.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{b}",
            )
            for b in sorted(buses)
        ]
    if call.service == "sqs" and call.operation == "SendMessage":
        name = str(p["QueueUrl"]).rstrip("/").rsplit("/", 1)[1]
        return [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if call.service == "secretsmanager" and call.operation == "GetSecretValue":
        return [("secretsmanager:GetSecretValue", str(p["SecretId"]))]
    if call.service == "kms" and call.operation in ("Encrypt", "Decrypt"):
        key = str(p["KeyId"])  # tonearm always names the key (its ARN), Decrypt included
        if not key.startswith("arn:"):
            pytest.fail(f"kms {call.operation} should name its key by ARN, not {key!r}")
        return [(f"kms:{call.operation}", key)]
    pytest.fail(f"no IAM mapping for {call.service} {call.operation}: add it to tests/contract/test_iam.py")


def _statements(expanded: dict[str, Any], names: TemplateNames, function: str) -> list[dict[str, Any]]:
    role = expanded["Resources"][f"{function}Role"]["Properties"]
    statements: list[dict[str, Any]] = []
    for policy in names.resolve(role.get("Policies", [])):  # conditional policies resolve or drop out
        document = policy["PolicyDocument"]
        found = document["Statement"]
        statements += found if isinstance(found, list) else [found]
    return statements


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """The statement's ``StringLike``/``StringEquals`` conditions against the request's context keys;
    any other operator is refused rather than assumed to hold."""
    for operator, tests in statement.get("Condition", {}).items():
        if operator not in ("StringLike", "StringEquals"):
            pytest.fail(f"teach tests/contract/test_iam.py the condition operator {operator}")
        for key, patterns in tests.items():
            value = context.get(key)
            if value is None:
                return False
            match = fnmatch.fnmatchcase if operator == "StringLike" else str.__eq__
            if not any(match(value, pattern) for pattern in _listed(patterns)):
                return False
    return True


def allowed(
    statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str] | None = None
) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` (IAM's ``*``/``?`` wildcards) in
    ``context`` (condition keys of the request, e.g. ``s3:prefix`` of a listing)."""
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in _listed(statement.get("Action", []))]
        if not any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement.get("Resource", []))):
            continue
        if _conditions_hold(statement, context or {}):
            return True
    return False


def context_of(call: Call) -> dict[str, str]:
    """The condition keys AWS evaluates for ``call`` that the template's conditions use."""
    if call.service == "s3" and "Prefix" in call.params:
        return {"s3:prefix": str(call.params["Prefix"])}
    return {}


def _api_paths_beyond_the_events(services: Any) -> None:
    """What the API function's other routes call: an upload, a job started from it, a job list, Sofy's
    shared rate counter."""
    from tests.contract.seed import CONTRACT_KEY
    from tonearm.jobs.model import CreateJobRequest, JobStatus

    jobs = services.jobs
    app = jobs.authenticate(CONTRACT_KEY)
    upload = jobs.create_upload(app)
    services.blobs.put_bytes(
        upload.downloadUrl.split("?")[0].split(".com/", 1)[1], b"RIFF", content_type="audio/wav"
    )
    request = CreateJobRequest(
        name="iam", workflow="tonearm/audio-info", params={"inputUrl": upload.downloadUrl}
    )
    job = jobs.create_job(app, request)
    jobs.list_jobs(app, statuses=[JobStatus.QUEUED], workflows=[], batch_name=None, page=0, size=10)
    jobs.view(job)
    # Sofy's routes count every request in the shared rate counter (the middleware's call)
    from tonearm.api.rate_limit import RateLimiter, Window

    assert RateLimiter([Window(60, 60)], shared=services.rate_counter).hit("ip:203.0.113.7").allowed


def _sealed_secrets(services: Any) -> None:
    """The API function seals a callback's secret (/analyze-with-webhook) as it stores the job."""
    from tests.contract.seed import CONTRACT_KEY
    from tonearm.jobs.model import Callback, CreateJobRequest

    jobs = services.jobs
    app = jobs.authenticate(CONTRACT_KEY)
    upload = jobs.create_upload(app)
    services.blobs.put_bytes(
        upload.downloadUrl.split("?")[0].split(".com/", 1)[1], b"RIFF", content_type="audio/wav"
    )
    request = CreateJobRequest(name="iam", workflow="tonearm/genre", params={"inputUrl": upload.downloadUrl})
    callback = Callback(url="https://93.184.215.14/hook", secret="caller-secret")
    job = jobs.create_job(app, request, callback=callback)
    stored = services.store.get(job.id)
    assert stored.callback.secret.startswith("sealed:v1:kms:"), "the callback secret is stored sealed"


def _webhook_opens_sealed_secrets(services: Any) -> None:
    """The webhook function opens a sealed callback secret (and an application's) to sign with."""
    from tests.contract.seed import CONTRACT_APP
    from tonearm.adapters.aws.kms import KmsSealer
    from tonearm.events.sealing import open_callback_secret, open_webhook_secret, seal_job, sealer_of
    from tonearm.jobs.model import Callback, Job

    store = services.store
    job = Job(
        id="00000000-0000-4000-8000-0000000000aa",
        app=CONTRACT_APP,
        name="iam",
        workflow="tonearm/genre",
        callback=Callback(url="https://93.184.215.14/hook", secret="caller-secret"),
    )
    # stored sealed as the API function stores it, by clients outside this function's recorded calls
    from tonearm.adapters.aws.dynamodb import DynamoJobStore

    api_side = boto3.session.Session(region_name=REGION)
    table = api_side.resource("dynamodb").Table(store.inner.table.name)
    DynamoJobStore(table).create(seal_job(job, KmsSealer(api_side.client("kms"), store.sealer.key_id)))
    app = store.application_by_id(CONTRACT_APP)
    assert open_webhook_secret(app, sealer_of(store)) == "whsec_contract"
    assert open_callback_secret(store.get(job.id), sealer_of(store)) == "caller-secret"


def _api_scenarios(services: Any) -> None:
    _api_paths_beyond_the_events(services)
    _sealed_secrets(services)


#: Code paths of a function that its sample events do not reach, run after them with its services.
SCENARIOS = {"ApiFunction": _api_scenarios, "WebhookFunction": _webhook_opens_sealed_secrets}


@pytest.fixture(scope="module")
def recorded() -> Iterator[dict[str, list[Call]]]:
    """Every call each function made running its sample events in AWS mode on moto."""
    from tonearm.adapters.aws.s3 import S3BlobStore
    from tonearm.bootstrap import build_aws_services, get_services, install_services
    from tonearm.settings import Settings

    template = raw_template()
    calls: dict[str, list[Call]] = {}
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "tonearm")
        patch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        names = TemplateNames(template)
        create_stack(names)
        seed(names, names.environment("ApiFunction"))
        recorder = Recorder()
        presign_get, presign_put = S3BlobStore.presign_get, S3BlobStore.presign_put

        def record_get(self: S3BlobStore, key: str, *, ttl_s: int) -> str:
            recorder.calls.append(Call("s3", "GetObject", {"Bucket": self.bucket, "Key": key}))
            return presign_get(self, key, ttl_s=ttl_s)

        def record_put(self: S3BlobStore, key: str, *, ttl_s: int) -> str:
            recorder.calls.append(Call("s3", "PutObject", {"Bucket": self.bucket, "Key": key}))
            return presign_put(self, key, ttl_s=ttl_s)

        patch.setattr(S3BlobStore, "presign_get", record_get)
        patch.setattr(S3BlobStore, "presign_put", record_put)
        for function in EVENT_ORDER:
            recorder.calls = []
            boto3.setup_default_session(region_name=REGION)
            assert boto3.DEFAULT_SESSION is not None
            boto3.DEFAULT_SESSION.events.register("before-parameter-build", recorder)
            install_services(build_aws_services(Settings.from_env(names.environment(function))))
            handler = handler_of(function, template)
            for name, event in sample_events(function):
                result = handler(event, LocalLambdaContext(function_name=function))
                if isinstance(result, dict) and "statusCode" in result:
                    assert result["statusCode"] < 500, (function, name, result)
            if function in SCENARIOS:
                SCENARIOS[function](get_services())
            calls[function] = recorder.calls
        install_services(None)
        boto3.DEFAULT_SESSION = None
    yield calls


@pytest.fixture(scope="module")
def expanded() -> dict[str, Any]:
    return expanded_template()


def test_every_function_ran_its_events(recorded: dict[str, list[Call]]) -> None:
    functions = {
        name for name, r in raw_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    assert set(EVENT_ORDER) == functions, "add new functions to EVENT_ORDER"
    assert recorded["ApiFunction"] and recorded["JobStatusFunction"]


@pytest.mark.parametrize("function", EVENT_ORDER)
def test_every_call_is_allowed_by_the_functions_role(
    function: str, recorded: dict[str, list[Call]], expanded: dict[str, Any]
) -> None:
    names = TemplateNames(expanded)
    statements = _statements(expanded, names, function)
    denied = sorted(
        {
            f"{action} on {resource} ({call.service} {call.operation})"
            for call in recorded[function]
            for action, resource in required(call)
            if not allowed(statements, action, resource, context_of(call))
        }
    )
    assert denied == [], f"{function} would get AccessDenied in AWS"


def test_the_check_catches_a_missing_right() -> None:
    """The evaluator itself: S3CrudPolicy's actions do not include versioned listing or deletion."""
    crud = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [f"arn:aws:s3:::{STACK}-bucket", f"arn:aws:s3:::{STACK}-bucket/*"],
        }
    ]
    listing = Call("s3", "ListObjectVersions", {"Bucket": f"{STACK}-bucket", "Prefix": "results/x/"})
    deleting = Call(
        "s3",
        "DeleteObjects",
        {"Bucket": f"{STACK}-bucket", "Delete": {"Objects": [{"Key": "a", "VersionId": "1"}]}},
    )
    assert not all(allowed(crud, a, r, context_of(listing)) for a, r in required(listing))
    scoped = [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucketVersions"],
            "Resource": f"arn:aws:s3:::{STACK}-bucket",
            "Condition": {"StringLike": {"s3:prefix": ["results/*"]}},
        }
    ]
    assert all(allowed(scoped, a, r, context_of(listing)) for a, r in required(listing))
    elsewhere = Call("s3", "ListObjectVersions", {"Bucket": f"{STACK}-bucket", "Prefix": "library/"})
    assert not all(allowed(scoped, a, r, context_of(elsewhere)) for a, r in required(elsewhere))
    assert not all(allowed(crud, a, r) for a, r in required(deleting))
    assert all(
        allowed(crud, a, r)
        for a, r in required(Call("s3", "GetObject", {"Bucket": f"{STACK}-bucket", "Key": "k"}))
    )


def test_the_batch_state_machine_may_run_its_distributed_map(expanded: dict[str, Any]) -> None:
    """What Step Functions does with BatchStateMachine's role: child executions of itself (the Map Run),
    the items manifest (ItemReader) and the results (ResultWriter) under results/, and every function
    the definition invokes, the item workflows' task functions included."""
    import json

    from tests.conftest import PROJECT_ROOT

    names = TemplateNames(expanded)
    statements = _statements(expanded, names, "BatchStateMachine")
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-BatchStateMachine"
    child = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-BatchStateMachine/Items:1b2c"
    bucket = f"arn:aws:s3:::{names.physical('Bucket')}"
    batch = "results/00000000-0000-4000-8000-000000000008"
    needed = [
        ("states:StartExecution", machine),
        ("states:DescribeExecution", child),
        ("states:StopExecution", child),
        ("s3:GetObject", f"{bucket}/{batch}/manifest.json"),
        ("s3:PutObject", f"{bucket}/{batch}/Items:1b2c/SUCCEEDED_0.json"),
        ("s3:PutObject", f"{bucket}/{batch}/Items:1b2c/manifest.json"),
    ]
    raw = raw_template()["Resources"]["BatchStateMachine"]["Properties"]
    definition = json.loads((PROJECT_ROOT / raw["DefinitionUri"]).read_text())
    invoked = {
        "JobStatusFunction",
        "BatchFunction",
        *definition["States"]["Prepare"]["Parameters"]["functions"],
    }
    needed += [("lambda:InvokeFunction", names.arn(function)) for function in sorted(invoked)]
    denied = [
        f"{action} on {resource}" for action, resource in needed if not allowed(statements, action, resource)
    ]
    assert denied == [], "BatchStateMachine's role would be denied"
    # and nothing beyond the batch's own executions and results/
    assert not allowed(statements, "states:StartExecution", machine.replace("Batch", "AudioInfo"))
    assert not allowed(statements, "s3:PutObject", f"{bucket}/uploads/local/x.wav")
