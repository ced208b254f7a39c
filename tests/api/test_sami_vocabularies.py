"""SAMI's own task types on ``POST /api/v1/invoke``: SAMI's names, SAMI's label vocabularies.

The requests are the ones SAMI's MusicTagging document sends: its Python sample (six task types, the
key in the body) and its Go sample (the key in the query string, ``extra.use_tag``). The language task
type no model here can estimate fails alone; the other five are answered.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_tagging_api import KEY, invoke, rendered_wav, sami_request
from tonearm.tagging.taxonomy import MTT_TAGS, SAMI_TASK_TYPES, SAMI_VOCABULARIES, TASK_TYPES

#: The task types of SAMI's Python and Go samples, in their order.
SAMPLE_TASKS = [
    "MusicTaggingGenre17",
    "MusicTaggingMood10",
    "MusicTaggingTheme24",
    "MusicTaggingLang24",
    "MusicTaggingVocal",
    "MusicTaggingMTT",
]


@pytest.fixture
def client(local_runtime: Any) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


@pytest.fixture(scope="module")
def choir_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return rendered_wav("choir", tmp_path_factory.mktemp("sami_vocab"))


def _payload(reply: Any) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status_code"] == 20000000, body
    return dict(json.loads(body["payload"]))


def _check_sample_reply(reply: Any) -> list[dict[str, Any]]:
    """Five task types answered in request order, the language one failed alone; ``pred`` adds up."""
    payload = _payload(reply)
    results = payload["task_flow"]["result"]
    assert [r["task_type"] for r in results] == SAMPLE_TASKS
    by_name = {r["task_type"]: r for r in results}
    lang = by_name.pop("MusicTaggingLang24")
    assert lang["status_code"] == 40000003 and lang["error_code"] == "unsupported_task_type"
    assert "language" in lang["status_text"] and lang["pred_dim"] == 0 and lang["task_output"]["tags"] == []
    assert all(r["status_code"] == 20000000 and r["status_text"] == "OK" for r in by_name.values())
    assert all(r["pred_dim"] == len(r["task_output"]["tags"]) > 0 for r in by_name.values())
    assert len(payload["pred"]) == sum(r["pred_dim"] for r in results)
    assert all(0.0 <= p <= 1.0 for p in payload["pred"])
    assert by_name["MusicTaggingMTT"]["task_output"]["tags"] == list(MTT_TAGS)
    assert "MusicTaggingLang24" in reply.json()["status_text"]
    return list(results)


def test_sami_python_sample_request(client: TestClient, choir_wav: bytes) -> None:
    # exactly the Python sample's body: the key in the body, a payload holding only the task flow
    payload = json.dumps({"task_flow": {"type": "merge", "task": [{"task_type": t} for t in SAMPLE_TASKS]}})
    body = {
        "appkey": "local",
        "token": KEY,
        "namespace": "MusicTagging",
        "payload": payload,
        "data": base64.b64encode(choir_wav).decode("utf-8"),
    }
    results = _check_sample_reply(client.post("/api/v1/invoke", json=body))
    # the zip a client does: tags with their slice of pred
    vocal = next(r for r in results if r["task_type"] == "MusicTaggingVocal")
    assert (
        vocal["task_output"]["tags"] == ["vocal", "non_vocal"]
        and "unsupported_tags" not in vocal["task_output"]
    )


def test_sami_go_sample_request(client: TestClient, choir_wav: bytes) -> None:
    # the Go sample: only data and payload in the body (with extra.use_tag), the rest in the query string
    payload = json.dumps(
        {
            "task_flow": {"type": "merge", "task": [{"task_type": t} for t in SAMPLE_TASKS]},
            "extra": {"use_tag": False},
        },
        separators=(",", ":"),
    )
    body = {"data": base64.b64encode(choir_wav).decode(), "payload": payload}
    query = {"version": "v4", "token": KEY, "appkey": "local", "namespace": "MusicTagging"}
    _check_sample_reply(client.post("/api/v1/invoke", params=query, json=body))


def test_sami_vocabularies_and_unsupported_tags(client: TestClient, choir_wav: bytes) -> None:
    names = [*SAMI_TASK_TYPES, "MusicTaggingLang30"]
    payload = _payload(invoke(client, sami_request(choir_wav, tasks=names)))
    results = payload["task_flow"]["result"]
    offset = 0
    for result in results:
        name = result["task_type"]
        output = result["task_output"]
        vocabulary = SAMI_VOCABULARIES["MusicTaggingGenre34" if name == "MusicTaggingGenre17" else name]
        # SAMI's labels, SAMI's order; each label either answered or named unsupported, never both
        assert output["tags"] == [label for label in vocabulary if label in output["tags"]]
        assert output.get("unsupported_tags", []) == [lb for lb in vocabulary if lb not in output["tags"]]
        assert result["pred_dim"] == len(output["tags"])
        if name in SAMI_TASK_TYPES:
            assert output["tags"] == [label.name for label in SAMI_TASK_TYPES[name].labels]
        offset += result["pred_dim"]
    assert offset == len(payload["pred"])
    lang = results[-1]
    assert lang["error_code"] == "unsupported_task_type" and lang["task_output"]["unsupported_tags"] == list(
        SAMI_VOCABULARIES["MusicTaggingLang30"]
    )
    mood = results[names.index("MusicTaggingMood10")]["task_output"]
    assert mood["unsupported_tags"] == ["cute", "tense", "excited", "angry"]
    # the choir sings
    vocal = results[names.index("MusicTaggingVocal")]
    start = sum(r["pred_dim"] for r in results[: names.index("MusicTaggingVocal")])
    sung, instrumental = payload["pred"][start : start + 2]
    assert vocal["task_output"]["tags"] == ["vocal", "non_vocal"] and sung > instrumental


def test_sami_top_num_keeps_unsupported_tags_named(client: TestClient, choir_wav: bytes) -> None:
    body = sami_request(choir_wav, tasks=["MusicTaggingGenre34", "MusicTaggingLang30"], extra={"top_num": 3})
    genre, lang = _payload(invoke(client, body))["task_flow"]["result"]
    assert genre["pred_dim"] == 3 == len(genre["task_output"]["tags"])
    assert set(genre["task_output"]["tags"]) <= {
        label.name for label in SAMI_TASK_TYPES["MusicTaggingGenre34"].labels
    }
    assert genre["task_output"]["unsupported_tags"] == list(
        SAMI_TASK_TYPES["MusicTaggingGenre34"].unsupported
    )
    assert lang["pred_dim"] == 0 and lang["status_code"] == 40000003


@pytest.mark.parametrize("tasks", [["MusicTaggingLang24"], ["MusicTaggingLang30", "MusicTaggingLang24"]])
def test_sami_request_of_only_language_task_types_fails(
    client: TestClient, tone_wav: bytes, tasks: list[str]
) -> None:
    reply = invoke(client, sami_request(tone_wav, tasks=tasks))
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["status_code"] == 40000003 and body["error_code"] == "unsupported_task_type"
    assert "language" in body["status_text"] and "MusicTaggingVocal" in body["status_text"]


def test_sami_unknown_task_type_still_refuses_the_request(client: TestClient, tone_wav: bytes) -> None:
    reply = invoke(client, sami_request(tone_wav, tasks=["MusicTaggingVocal", "MusicTaggingColour"]))
    assert reply.status_code == 400 and reply.json()["error_code"] == "unsupported_task_type"


def test_tonearm_task_types_are_unchanged_by_the_sami_ones(client: TestClient, choir_wav: bytes) -> None:
    own = ["MusicTaggingMTT", "MusicTaggingMSD", "Genre", "Mood", "Vocal", "Theme", "Instrument", "Era"]
    assert list(TASK_TYPES)[: len(own)] == own
    payload = _payload(invoke(client, sami_request(choir_wav, tasks=own)))
    for result in payload["task_flow"]["result"]:
        task = TASK_TYPES[result["task_type"]]
        assert result["task_output"] == {"tags": [label.name for label in task.labels]}
        assert result["status_code"] == 20000000


@pytest.mark.parametrize("with_models", [True, False])
def test_tagging_workflow_accepts_sami_names(with_models: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from tonearm.tagging.workflow import TaggingParams

    if not with_models:  # the light API function in AWS: no models folder, no heads
        monkeypatch.setattr("tonearm.tagging.heads.lookup.heads_dir", lambda: None)
    url = "https://example.com/a.wav"
    assert TaggingParams(inputUrl=url, taskTypes=SAMPLE_TASKS).taskTypes == SAMPLE_TASKS
    for names in (["MusicTaggingLang24"], ["MusicTaggingLang30", "Lang30"]):
        with pytest.raises(ValueError, match=r"MusicTaggingLang.*language.*supported task types"):
            TaggingParams(inputUrl=url, taskTypes=names)
    with pytest.raises(ValueError, match="twice"):
        TaggingParams(inputUrl=url, taskTypes=["MusicTaggingLang24", "MusicTaggingLang24"])
