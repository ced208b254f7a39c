"""End to end over HTTP: SAMI's Python sample, AcousticSense's client calls and signed genre webhooks.

The clients are written the way the services' docs write them (``requests`` with the base URL changed);
the audio is a piano clip rendered with FluidSynth, so the right answers are known.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import soundfile as sf
from musicai_sdk import MusicAiClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import wait_for
from tests.e2e.conftest import API_KEY, Receiver, Server
from tests.unit.test_tagging import RENDERED, _song
from tonearm.midi import smf
from tonearm.midi.fluidsynth import render_midi

pytestmark = pytest.mark.e2e

SECRET_TOKEN = "acousticsense-shared-secret"


@pytest.fixture(scope="module")
def piano_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    program, notes, _ = RENDERED["piano"]
    path = tmp_path_factory.mktemp("e2e-tagging") / "piano.mid"
    smf.write(_song(program, notes), path)
    buf = io.BytesIO()
    sf.write(buf, render_midi(path, sr=44100).T, 44100, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _upload(server: Server, data: bytes) -> str:
    """PUT ``data`` through ``GET /v1/upload``; return its download URL."""
    upload = server.get("/v1/upload").json()
    assert requests.put(upload["uploadUrl"], data=data, timeout=10).status_code in (200, 204)
    return str(upload["downloadUrl"])


def test_sami_python_sample_tags_a_piano(server: Server, piano_wav: bytes) -> None:
    # SAMI's sample: credentials and version in the query string, a JSON-string payload, base64 data
    params = {"version": "v4", "token": API_KEY, "appkey": "local", "namespace": "MusicTagging"}
    payload = {
        "audio_info": {"format": "wav", "sample_rate": 44100, "channel": 2},
        "extra": {"enable_tag": True, "enable_embed": True, "top_num": 5},
        "task_flow": {"type": "merge", "task": [{"task_type": "MusicTaggingMTT"}, {"task_type": "Mood"}]},
    }
    body = {"payload": json.dumps(payload), "data": base64.b64encode(piano_wav).decode()}
    reply = requests.post(f"{server.base_url}/api/v1/invoke", params=params, json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["status_code"] == 20000000 and answer["namespace"] == "MusicTagging"
    result = json.loads(answer["payload"])
    mtt, mood = result["task_flow"]["result"]
    assert mtt["task_type"] == "MusicTaggingMTT" and "piano" in mtt["task_output"]["tags"]
    assert mood["task_type"] == "Mood" and mtt["pred_dim"] == 5 == mood["pred_dim"]
    assert len(result["pred"]) == 10 and len(result["embed"]) > 0


def test_acousticsense_client_uploads_a_file(server: Server, piano_wav: bytes) -> None:
    files = {"file": ("piano.wav", piano_wav, "audio/wav")}
    reply = requests.post(
        f"{server.base_url}/analyze-audio", files=files, headers={"X-API-Key": API_KEY}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["analysis_results"]) == 5
    assert body["top_genre"] == body["analysis_results"][0]["genre"] == "Classical"


def test_analyze_with_webhook_posts_the_signed_result(
    server: Server, receiver: Receiver, piano_wav: bytes
) -> None:
    # GIVEN the piano at a URL tonearm can fetch
    audio_url = _upload(server, piano_wav)
    # WHEN AcousticSense's client asks for a webhook
    request = {
        "audio_url": audio_url,
        "webhook": {"url": receiver.url, "secret_token": SECRET_TOKEN, "timeout": 10},
    }
    reply = requests.post(
        f"{server.base_url}/analyze-with-webhook", json=request, headers={"X-API-Key": API_KEY}, timeout=10
    )
    # THEN it answers at once, and the result arrives later
    assert reply.status_code == 200, reply.text
    accepted = reply.json()
    assert accepted["status"] == "processing" and accepted["request_id"]
    wait_for(lambda: len(receiver.requests) >= 1, timeout_s=60)
    headers, raw = receiver.requests[0]
    # AND it is signed with the caller's secret: a plain hex HMAC of the raw body...
    expected = hmac.new(SECRET_TOKEN.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Signature"], expected)
    # ...and the Standard Webhooks headers, keyed with the same secret
    Webhook("whsec_" + base64.b64encode(SECRET_TOKEN.encode()).decode()).verify(raw, headers)
    # AND the secret itself is never sent
    assert SECRET_TOKEN not in raw.decode() and all(SECRET_TOKEN not in v for v in headers.values())
    # AND the body is /analyze-audio's result for the same audio
    delivered = json.loads(raw)
    assert delivered["request_id"] == accepted["request_id"]
    files = {"file": ("piano.wav", piano_wav, "audio/wav")}
    sync = requests.post(
        f"{server.base_url}/analyze-audio", files=files, headers={"X-API-Key": API_KEY}, timeout=60
    ).json()
    assert delivered["analysis_results"] == sync["analysis_results"]
    assert delivered["top_genre"] == "Classical" == sync["top_genre"]
    # AND the job is visible (without the secret) to the same key
    job = server.get(f"/v1/job/{accepted['request_id']}").json()
    assert job["status"] == "SUCCEEDED" and job["workflow"] == "tonearm/genre"
    assert SECRET_TOKEN not in json.dumps(job)


def test_analyze_with_webhook_reports_a_failure(server: Server, receiver: Receiver) -> None:
    audio_url = _upload(server, b"this is not audio at all" * 100)
    request = {"audio_url": audio_url, "webhook": {"url": receiver.url, "secret_token": SECRET_TOKEN}}
    reply = requests.post(
        f"{server.base_url}/analyze-with-webhook",
        json=request,
        headers={"Authorization": API_KEY},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    wait_for(lambda: len(receiver.requests) >= 1, timeout_s=30)
    headers, raw = receiver.requests[0]
    assert hmac.compare_digest(
        headers["X-Signature"], hmac.new(SECRET_TOKEN.encode(), raw, hashlib.sha256).hexdigest()
    )
    delivered = json.loads(raw)
    assert delivered["request_id"] == reply.json()["request_id"] and delivered["status"] == "failed"
    assert delivered["error"]["code"] == "unsupported_format" and delivered["error"]["message"]


def _post(server: Server, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{server.base_url}/analyze-with-webhook",
        json=body,
        headers={"X-API-Key": API_KEY} if headers is None else headers,
        timeout=10,
    )


def test_analyze_with_webhook_refuses_bad_requests_before_work(server: Server, receiver: Receiver) -> None:
    good_hook = {"url": receiver.url, "secret_token": SECRET_TOKEN}
    audio_url = _upload(server, b"RIFF")
    # no key
    assert _post(server, {"audio_url": audio_url, "webhook": good_hook}, headers={}).status_code == 401
    # no webhook, a short secret, an unknown field
    for body in (
        {"audio_url": audio_url},
        {"audio_url": audio_url, "webhook": {"url": receiver.url, "secret_token": "short"}},
        {"audio_url": audio_url, "webhook": good_hook, "extra": 1},
    ):
        reply = _post(server, body)
        assert 400 <= reply.status_code < 500 and reply.json()["error"]["code"], reply.text
    # a webhook tonearm may not call, an input that was never uploaded
    forbidden = _post(
        server, {"audio_url": audio_url, "webhook": {**good_hook, "url": "ftp://example.com/x"}}
    )
    assert forbidden.status_code == 400 and forbidden.json()["error"]["code"] == "url_forbidden"
    missing = _post(
        server, {"audio_url": audio_url.replace("uploads/", "uploads/nothing-"), "webhook": good_hook}
    )
    assert 400 <= missing.status_code < 500
    assert receiver.requests == []


def test_tagging_workflow_through_the_music_ai_sdk(server: Server, piano_wav: bytes, tmp_path: Path) -> None:
    song = tmp_path / "piano.wav"
    song.write_bytes(piano_wav)
    client = MusicAiClient(api_key=API_KEY, job_monitor_interval=0.05, timeout=30)
    client.base_url = f"{server.base_url}/v1"
    params = {
        "inputUrl": client.upload_file(str(song)),
        "taskTypes": ["MusicTaggingMTT", "Genre"],
        "topNum": 5,
        "segments": True,
    }
    job = client.wait_for_job_completion(client.add_job("piano tags", "tonearm/tagging", params)["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    mtt, genre = job["result"]["tasks"]
    assert mtt["taskType"] == "MusicTaggingMTT" and "piano" in [t["label"] for t in mtt["tags"]]
    assert genre["tags"][0]["label"] == "Classical" and len(genre["tags"]) == 5
    timeline = requests.get(job["result"]["segments"], timeout=10).json()
    # 3 s patches from 0 s to the end of the track (the last one ends at the last frame)
    assert len(timeline) >= 4 and timeline[0]["start"] == 0.0
    assert timeline[-1]["end"] == pytest.approx(job["result"]["duration"], abs=0.02)
    assert [t["taskType"] for t in timeline[0]["tasks"]] == ["MusicTaggingMTT", "Genre"]
