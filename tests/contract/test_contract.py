"""Contract: template handlers exist and accept the sample events; OpenAPI is valid.

The layering (and that the core never imports boto3 or a web framework) is `lint-imports`' contracts in
pyproject.toml, which `make test` runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.conftest import PROJECT_ROOT
from tests.contract.seed import CONTRACT_JOB, EVENT_ORDER, seed_contract_fixtures
from tonearm.local_stack.lambda_context import LocalLambdaContext
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime, build_local_runtime
from tonearm.local_stack.template import LocalTemplate

EVENTS = PROJECT_ROOT / "events"
TEMPLATE = LocalTemplate(PROJECT_ROOT / "template.yaml")
FUNCTIONS = sorted(TEMPLATE.functions())


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """A local stack with the contract app, key and job the sample events refer to."""
    rt = build_local_runtime(
        project_root=PROJECT_ROOT,
        data_dir=tmp_path_factory.mktemp("contract"),
        base_url="http://127.0.0.1:3998",
        api_key="local-key",
        sleep=lambda _s: None,
    )
    seed_contract_fixtures(rt.services.store, rt.services.blobs, webhook_secret=rt.webhook_secret)
    yield rt
    rt.close()


def _events(logical_id: str) -> list[Path]:
    return sorted((EVENTS / logical_id).glob("*.json"))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_handler_in_the_template_resolves(runtime: LocalRuntime, logical_id: str) -> None:
    definition = runtime.functions.definitions[logical_id]
    assert definition.module_file.is_file(), definition
    assert callable(runtime.functions.handler(logical_id))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_has_a_sample_event(logical_id: str) -> None:
    assert _events(logical_id), f"add at least one event under events/{logical_id}/"


def _expectations(logical_id: str, name: str, result: Any) -> None:
    if logical_id == "ApiFunction":
        expected = 400 if "unknown_workflow" in name else 200
        assert result["statusCode"] == expected, result
        if expected == 400:
            assert json.loads(result["body"])["error"]["code"] == "unknown_workflow"
    elif logical_id == "AuthorizerFunction":
        effect = result["policyDocument"]["Statement"][0]["Effect"]
        assert effect == ("Deny" if "bad_key" in name else "Allow")
        if effect == "Allow":
            assert result["usageIdentifierKey"] == "contract-key" and result["context"]["app"] == LOCAL_APP_ID
    elif logical_id == "JobStatusFunction":
        assert result["applied"] is True
    elif logical_id == "BatchFunction":
        if name == "prepare.json":
            assert result["total"] == 1 and result["manifestKey"].endswith("/manifest.json"), result
        elif name == "item.json":
            assert result["jobId"]
        elif name == "progress.json":
            assert result["stored"] is False  # the batch job is QUEUED: nothing to report yet
        else:
            assert result["result"] == {"total": 1, "succeeded": 1, "failed": 0}, result
    elif logical_id == "AudioInfoFunction":
        assert result["result"]["sampleRate"] == 22050 and "wav" in result["outputs"]
    elif logical_id == "AnalyzeFunction":
        assert result["outputs"] == {} and result["result"]["key"] and "features" in result["result"]
    elif logical_id == "ModelApiFunction":
        body = json.loads(result["body"])
        if name == "flow_health.json":
            assert result["statusCode"] == 200 and body["status"] == "healthy", result
            assert body["model_version"] is None and body["spotify"] == "not_configured"
        elif name == "flow_prediction_no_model.json":  # the trailing slash reaches the route
            assert result["statusCode"] == 409 and body["detail"]["failure_type"] == "no_model", result
        elif "bad_token" in name:
            assert result["statusCode"] == 401 and body["error_code"] == "unauthorized", result
        else:
            assert result["statusCode"] == 200 and body["status_code"] == 20000000, result
            assert "warning" in body["status_text"]  # a 3 s clip
    elif logical_id == "TaggingFunction":
        tasks = result["result"]["tasks"]
        assert [t["taskType"] for t in tasks] == ["Genre", "Mood"] and len(tasks[0]["tags"]) == 3
        assert result["result"]["warnings"]  # a 1 s clip
    elif logical_id == "BeatsAndChordsFunction":
        assert result["result"]["key"] and result["result"]["bpm"] > 0
        assert set(result["outputs"]) == {"beatMap", "chordMap", "chordsMidi", "chordsText"}
        assert result["outputs"]["chordsMidi"].endswith("/chords.mid")
    elif logical_id == "TranscribeFunction":
        assert set(result["outputs"]) == {"midi", "notes"} and result["result"]["noteCount"] >= 1
    elif logical_id == "SeparateFunction":
        assert set(result["outputs"]) == {"Kick drum", "Snare drum", "Other"}, result
        assert result["outputs"]["Kick drum"].endswith("/kick-drum.wav") and result["result"] == {}
    elif logical_id == "GenerateFunction":
        assert set(result["outputs"]) == {"wav", "midi", "plan"} and result["result"]["seed"] == 7
        assert result["outputs"]["wav"].endswith("/generated.wav")
    elif logical_id == "WebhookFunction":
        assert result == {"delivered": False, "reason": "no webhook configured"}
    elif logical_id == "ExecutionWatchdogFunction" and name == "sweep.json":
        # the sweep (grace 0, one job): the oldest unfinished contract job had no execution of its own
        assert result == {"sweep": {"redriven": 1, "failed": 0, "running": 0}}, result
    elif logical_id == "ExecutionWatchdogFunction":
        assert result == {"jobId": CONTRACT_JOB, "applied": False}  # the job had already FAILED
    elif logical_id == "IngestFunction" and "Records" in event_of(logical_id, name):
        assert result == {"batchItemFailures": []}  # the object became a job (object_created.json: the same)
    elif logical_id == "IngestFunction":
        assert result["jobId"]


def event_of(logical_id: str, name: str) -> Any:
    return json.loads((EVENTS / logical_id / name).read_text())


def test_every_sample_event_is_accepted_by_its_handler(runtime: LocalRuntime) -> None:
    assert sorted(EVENT_ORDER) == FUNCTIONS, "add new functions to EVENT_ORDER"
    for logical_id in EVENT_ORDER:
        handler = runtime.functions.handler(logical_id)
        for path in sorted(_events(logical_id), key=lambda p: "failed" in p.name):
            event = json.loads(path.read_text())
            result = handler(event, LocalLambdaContext(function_name=logical_id))
            _expectations(logical_id, path.name, result)


def test_zip_functions_run_without_the_audio_stack() -> None:
    # The layer carries no numpy/scipy/soundfile: the zip functions' imports must not need them.
    code = (
        "import sys\n"
        "for name in ('numpy', 'scipy', 'soundfile'): sys.modules[name] = None\n"
        "import tonearm.api.app, tonearm.handlers.job_status, tonearm.handlers.webhooks\n"
        "import tonearm.handlers.ingest, tonearm.handlers.authorizer, tonearm.adapters.aws\n"
        "import tonearm.adapters.aws.s3, tonearm.adapters.aws.dynamodb\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_openapi_document_is_valid(runtime: LocalRuntime) -> None:
    from tonearm.api.app import create_app

    spec = create_app(runtime.services).openapi()
    validate(spec)
    for path in (
        "/v1/upload",
        "/v1/job",
        "/v1/job/{job_id}",
        "/v1/job/{job_id}/status",
        "/v1/workflow",
        "/v1/application",
        "/generate-music",
        "/music-status/{task_id}",
        "/download-music/{task_id}",
        "/health",
        "/metrics",
        "/api/health",
        "/api/raw_features/",
        "/api/features/",
        "/api/prediction/",
        "/api/prediction",
        "/api/model",
    ):
        assert path in spec["paths"]


def _api_events(logical_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    events = TEMPLATE.resources[logical_id]["Properties"].get("Events", {})
    return {
        (str(e["Properties"]["Method"]).upper(), str(e["Properties"]["Path"])): e["Properties"]
        for e in events.values()
        if e["Type"] == "Api"
    }


def test_every_musicflow_route_has_a_public_api_gateway_event() -> None:
    from fastapi.routing import APIRoute

    from tonearm.api import musicflow

    served = _api_events("ModelApiFunction")
    routes = [r for r in musicflow.router.routes if isinstance(r, APIRoute)]
    assert len(routes) == 7
    for route in routes:
        # API Gateway REST routes /api/prediction/ to the /api/prediction resource (and passes the
        # path on as sent); install_musicflow answers both spellings
        path = route.path.rstrip("/")
        for method in route.methods or ():
            event = served.get((method, path))
            assert event is not None, f"ModelApiFunction needs an Api event for {method} {path}"
            assert event["RestApiId"] == {"Ref": "Api"}
            assert event["Auth"] == {"Authorizer": "NONE", "ApiKeyRequired": False}


def test_multipart_uploads_reach_the_model_api_unmangled() -> None:
    # POST /api/prediction, POST /api/model and /analyze-audio take multipart/form-data bodies
    binary = TEMPLATE.resources["Api"]["Properties"]["BinaryMediaTypes"]
    assert "multipart~1form-data" in binary
    served = _api_events("ModelApiFunction")
    assert {("POST", "/api/prediction"), ("POST", "/api/model"), ("POST", "/analyze-audio")} <= set(served)


def test_the_model_api_can_keep_musicflow_data_and_read_the_spotify_secret() -> None:
    props = TEMPLATE.resources["ModelApiFunction"]["Properties"]
    policies = props["Policies"]
    # MusicFlow's data: the track library and the models, read and written (tests/contract/test_iam.py
    # checks every call against the expanded policies; this pins the two prefixes it keeps)
    granted = {
        (action, statement["Resource"]["Fn::Sub"])
        for policy in policies
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        for action in statement["Action"]
    }
    for prefix in ("library", "flow"):
        for action in ("s3:GetObject", "s3:PutObject"):
            assert (action, f"${{Bucket.Arn}}/{prefix}/*") in granted
    assert props["Environment"]["Variables"]["SPOTIFY_SECRET_ID"] == {"Ref": "SpotifySecretArn"}
    assert TEMPLATE.parameters["SpotifySecretArn"]["Default"] == ""
    assert "HasSpotifySecret" in TEMPLATE.data["Conditions"]
    (secret,) = [p for p in policies if isinstance(p, dict) and "Fn::If" in p]
    condition, granted, otherwise = secret["Fn::If"]
    assert condition == "HasSpotifySecret" and otherwise == {"Ref": "AWS::NoValue"}
    assert "AWSSecretsManagerGetSecretValuePolicy" in granted
    globals_env = TEMPLATE.data["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["BUCKET_NAME"] == {"Ref": "Bucket"}


def test_only_temporary_prefixes_expire() -> None:
    from tonearm.prediction.library import LIBRARY_PREFIX
    from tonearm.prediction.model import MODELS_PREFIX

    rules = TEMPLATE.resources["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "ExpirationInDays" in r or "ExpirationDate" in r]
    prefixes = [r.get("Prefix", "") for r in expiring]
    assert "" not in prefixes, "a bucket-wide expiration would delete MusicFlow's library and models"
    assert sorted(prefixes) == ["ingest/", "results/", "uploads/"]
    for kept in (LIBRARY_PREFIX, MODELS_PREFIX):
        assert not any(kept.startswith(p) or p.startswith(kept) for p in prefixes), kept
    for rule in expiring:
        assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"} and rule["Status"] == "Enabled"
    cleanup = [r for r in rules if "Prefix" not in r]
    assert any(r.get("AbortIncompleteMultipartUpload") for r in cleanup)
    assert any(r.get("NoncurrentVersionExpiration") for r in cleanup)


def test_safe_defaults_in_aws() -> None:
    # A synchronous Lambda call carries 6 MB with the body base64-encoded (4/3): the upload routes' limit
    # must leave the event's headers and multipart framing room inside that.
    env = TEMPLATE.resources["ModelApiFunction"]["Properties"]["Environment"]["Variables"]
    assert int(env["SYNC_UPLOAD_MAX_BYTES"]) * 4 / 3 < 6 * 1024 * 1024 - 64 * 1024
    # synchronous tagging of longer audio would pass API Gateway's 29 s: refused, pointing at a job route
    assert 0 < float(env["SYNC_MAX_DURATION_SECONDS"]) <= 300
    # over API Gateway's 10 MB the gateway itself answers, in tonearm's shape, pointing at the job API
    (too_large,) = [r for r in TEMPLATE.resources.values() if r["Type"] == "AWS::ApiGateway::GatewayResponse"]
    assert too_large["Properties"]["ResponseType"] == "REQUEST_TOO_LARGE"
    body = json.loads(too_large["Properties"]["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == "input_too_large" and "/v1/upload" in body["error"]["message"]
    # keyless generation (a job of up to 300 s per anonymous request) is off unless switched on
    assert TEMPLATE.parameters["SofyRequireApiKey"]["Default"] == "true"


def test_docs_load_the_openapi_document_behind_the_stage(runtime: LocalRuntime) -> None:
    """API Gateway hands the function stage-less paths; /docs must still ask for /<stage>/openapi.json."""
    import dataclasses

    from tonearm.api.app import create_app
    from tonearm.handlers.api import Mangum

    settings = runtime.services.settings.model_copy(update={"api_root_path": "/prod"})
    app = create_app(dataclasses.replace(runtime.services, settings=settings))
    handler = Mangum(app, lifespan="off")
    docs_event = json.loads((EVENTS / "ApiFunction" / "get_workflows.json").read_text())
    docs_event.update(path="/docs", resource="/docs", pathParameters=None, httpMethod="GET")
    docs_event["requestContext"].update(path="/prod/docs", resourcePath="/docs", httpMethod="GET")
    page = handler(docs_event, LocalLambdaContext(function_name="ApiFunction"))
    assert page["statusCode"] == 200 and "'/prod/openapi.json'" in page["body"]
    # the same app still routes the stage-less paths API Gateway sends
    listed = handler(
        json.loads((EVENTS / "ApiFunction" / "get_workflows.json").read_text()),
        LocalLambdaContext(function_name="ApiFunction"),
    )
    assert listed["statusCode"] == 200
    # ... and the document it loads names the stage as its server, so "Try it out" reaches the API
    spec_event = dict(docs_event, path="/openapi.json", resource="/openapi.json")
    spec = handler(spec_event, LocalLambdaContext(function_name="ApiFunction"))
    assert spec["statusCode"] == 200 and json.loads(spec["body"])["servers"] == [{"url": "/prod"}]


def test_a_large_drop_is_back_pressured_not_dropped() -> None:
    """10,000 files at once: a queue before ingest, bounded concurrency, throttling retried with jitter."""
    resources = TEMPLATE.resources
    ingest = resources["IngestFunction"]["Properties"]["Events"]
    (source,) = [e["Properties"] for e in ingest.values() if e["Type"] == "SQS"]
    assert source["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IngestConcurrency"}
    assert not [e for e in ingest.values() if e["Type"] == "EventBridgeRule"], (
        "S3 events go through the queue"
    )
    queue = resources["IngestQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * 30  # Lambda's SQS guidance: 6 x the function's timeout
    (target,) = resources["IngestRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    # every task and API function has reserved concurrency (switchable off for small accounts)
    from tonearm.workflows import CATALOGUE

    for name in {spec.function for spec in CATALOGUE} | {"ApiFunction", "ModelApiFunction"}:
        reserved = resources[name]["Properties"]["ReservedConcurrentExecutions"]
        assert "Fn::If" in reserved, name
    # the state machines retry a throttled Lambda long enough, with backoff capped and full jitter
    definition = json.loads((PROJECT_ROOT / "statemachines" / "single_task.asl.json").read_text())
    for name, state in definition["States"].items():
        if state["Type"] != "Task":
            continue
        throttled = [r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
        assert throttled and throttled[0]["JitterStrategy"] == "FULL", name
        assert throttled[0]["MaxDelaySeconds"] <= 60 and throttled[0]["MaxAttempts"] >= 10, name
