"""The local runtime's wiring: event patterns, template resolution, the file store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tonearm.adapters.local.files import FileBlobStore, InvalidKeyError
from tonearm.adapters.local.patterns import UnsupportedPatternError, matches, validate_pattern
from tonearm.local_stack.template import LocalTemplate, TemplateError, function_arn, function_from_arn
from tonearm.workflows import CATALOGUE

EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "b"}, "object": {"key": "ingest/x/a.wav", "size": 10}},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.s3"]}, True),
        ({"source": ["tonearm"]}, False),
        ({"detail": {"object": {"key": [{"prefix": "ingest/"}]}}}, True),
        ({"detail": {"object": {"key": [{"prefix": "uploads/"}]}}}, False),
        ({"detail": {"object": {"key": [{"suffix": ".wav"}]}}}, True),
        ({"detail": {"object": {"key": [{"wildcard": "ingest/*/a.*"}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": [">", 5, "<=", 10]}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": [">", 10]}]}}}, False),
        ({"detail": {"object": {"etag": [{"exists": False}]}}}, True),
        ({"detail": {"object": {"etag": [{"exists": True}]}}}, False),
        ({"source": [{"anything-but": ["tonearm"]}]}, True),
        ({"source": [{"anything-but": {"prefix": "aws."}}]}, False),
        ({"detail-type": [{"equals-ignore-case": "object created"}]}, True),
        ({"detail": {"bucket": {"name": ["other"]}}}, False),
    ],
)
def test_event_patterns(pattern: dict[str, object], expected: bool) -> None:
    validate_pattern(pattern)
    assert matches(pattern, EVENT) is expected


def test_unsupported_pattern_is_refused_loudly() -> None:
    with pytest.raises(UnsupportedPatternError, match="cidr"):
        validate_pattern({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}})


def test_template_wiring_resolves_to_the_same_functions() -> None:
    template = LocalTemplate(PROJECT_ROOT / "template.yaml")
    text, subs = template.state_machine_definition("AudioInfoStateMachine")
    assert subs == {
        "JobStatusFunctionArn": function_arn("JobStatusFunction"),
        "TaskFunctionArn": function_arn("AudioInfoFunction"),
        "TaskTimeoutSeconds": "870",
    }
    assert "${JobStatusFunctionArn}" in text
    assert function_from_arn(subs["TaskFunctionArn"]) == "AudioInfoFunction"
    functions = template.functions()
    assert functions["AudioInfoFunction"].module_file == PROJECT_ROOT / "functions" / "worker" / "app.py"
    assert functions["AudioInfoFunction"].attribute == "audio_info_handler"
    rules = {r.name: r for r in template.rules()}
    assert rules["WebhookFunction.JobFinished"].bus == "EventBus"
    # S3 drops reach IngestFunction through IngestRule -> IngestQueue, redelivered as the queue's redrive says
    ingest = rules["IngestRule.IngestQueue"]
    assert ingest.bus == "default" and ingest.pattern["detail"]["bucket"]["name"] == ["Bucket"]
    assert (ingest.target, ingest.queue, ingest.max_receives) == ("IngestFunction", "IngestQueue", 5)
    assert template.resolve({"Fn::Sub": "${AWS::StackName}-x-${RetentionDays}"}) == "tonearm-local-x-7"
    with pytest.raises(TemplateError):
        template.resolve({"Ref": "NoSuchThing"})
    with pytest.raises(TemplateError):
        template.state_machine_definition("ApiFunction")


def test_ingest_keys_map_to_the_longest_workflow_slug() -> None:
    spec = CATALOGUE.for_ingest_key("ingest/tonearm/audio-info/sub/dir/song.mp3")
    assert spec is not None and spec.slug == "tonearm/audio-info"
    assert CATALOGUE.for_ingest_key("ingest/tonearm/audio-info/") is None
    assert CATALOGUE.for_ingest_key("uploads/tonearm/audio-info/a.mp3") is None


def test_file_store_refuses_keys_outside_its_folder(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "bucket", base_url="http://127.0.0.1:3000", secret=b"k" * 32)
    for key in ["../escape", "/etc/passwd", "", "a/../../b"]:
        with pytest.raises(InvalidKeyError):
            store.path_for(key)
    assert store.key_for_url("http://127.0.0.1:3001/files/a?sig=x") is None  # another server's URL
    store.put_bytes("results/j/a.json", b"{}", content_type="application/json")
    assert store.delete_prefix("results/j/") == 1 and store.size("results/j/a.json") is None


def test_a_queue_rule_delivers_sqs_batches_again_until_the_consumer_takes_them() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tonearm.adapters.local.bus import LocalBus, Rule

    received: list[dict[str, Any]] = []

    def consumer(target: str, batch: dict[str, Any]) -> dict[str, Any]:
        received.append(batch)
        failed = len(received) < 3  # refused twice (e.g. StartExecution throttled), taken the third time
        record = batch["Records"][0]
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}] if failed else []}

    rule = Rule(name="IngestRule.q", bus="default", pattern={"source": ["aws.s3"]}, target="Fn", queue="Q")
    with ThreadPoolExecutor(max_workers=1) as executor:
        bus = LocalBus(bus_name="b", rules=[rule], invoke=consumer, executor=executor)
        bus.publish_raw(bus="default", source="aws.s3", detail_type="Object Created", detail={"k": 1})
    assert [b["Records"][0]["attributes"]["ApproximateReceiveCount"] for b in received] == ["1", "2", "3"]
    assert len({b["Records"][0]["messageId"] for b in received}) == 1
    assert json.loads(received[0]["Records"][0]["body"])["detail"] == {"k": 1}

    received.clear()

    def refusing(target: str, batch: dict[str, Any]) -> dict[str, Any]:
        received.append(batch)
        return {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}

    always = Rule(
        name="r", bus="default", pattern={"source": ["aws.s3"]}, target="F", queue="Q", max_receives=2
    )
    with ThreadPoolExecutor(max_workers=1) as executor:
        bus = LocalBus(bus_name="b", rules=[always], invoke=refusing, executor=executor)
        bus.publish_raw(bus="default", source="aws.s3", detail_type="Object Created", detail={})
    assert len(received) == 2  # then it stays in the (local stand-in for the) dead-letter queue


def test_local_credentials_survive_a_restart_and_stay_private(tmp_path: Path) -> None:
    import stat

    from tonearm.local_stack.runtime import CREDENTIALS_FILE, local_credentials

    key, secret = local_credentials(tmp_path)
    assert local_credentials(tmp_path) == (key, secret)  # a restart on the same data folder
    assert stat.S_IMODE((tmp_path / CREDENTIALS_FILE).stat().st_mode) == 0o600
    assert json.loads((tmp_path / CREDENTIALS_FILE).read_text())["application"] == "local"
    # TONEARM_API_KEY / TONEARM_WEBHOOK_SECRET override for one run, without rewriting the file
    assert local_credentials(tmp_path, api_key="mine", webhook_secret="whsec_x") == ("mine", "whsec_x")
    assert local_credentials(tmp_path) == (key, secret)
    assert local_credentials(tmp_path / "other") != (key, secret)
