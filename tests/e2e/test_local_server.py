"""End to end over HTTP: the real local server, the official Music.AI Python SDK, a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import shutil
import time
from pathlib import Path

import pytest
import requests
import soundfile as sf
from musicai_sdk import MusicAiClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import encode, render_tone, wait_for
from tests.e2e.conftest import API_KEY, WEBHOOK_SECRET, Receiver, Server
from tonearm.events.signing import secret_key_bytes

pytestmark = pytest.mark.e2e


def sdk(server: Server) -> MusicAiClient:
    """The official client, pointed at the local server."""
    client = MusicAiClient(api_key=API_KEY, job_monitor_interval=0.05, timeout=30)
    client.base_url = f"{server.base_url}/v1"
    return client


def test_sdk_upload_job_succeeds_with_outputs_and_verified_webhook(
    server: Server, receiver: Receiver, tmp_path: Path
) -> None:
    # GIVEN a 30 s stereo MP3
    song = tmp_path / "song.mp3"
    song.write_bytes(encode(render_tone(seconds=30.0, sr=44100, freq=220.0, amp=0.3), sr=44100, fmt="MP3"))
    client = sdk(server)
    # WHEN it goes upload -> job -> completion through the SDK
    input_url = client.upload_file(str(song))
    created = client.add_job(
        "e2e song", "tonearm/audio-info", {"inputUrl": input_url}, metadata={"webhookUrl": receiver.url}
    )
    job = client.wait_for_job_completion(created["id"])
    # THEN every output is there
    assert job["status"] == "SUCCEEDED", job["error"]
    result = job["result"]
    assert result["format"] == "mp3" and result["sampleRate"] == 44100 and result["channels"] == 2
    assert abs(result["duration"] - 30.0) < 0.1
    assert -20 < result["loudnessLufs"] < -5 and -11.0 < result["peakDb"] < -10.0
    assert job["createdAt"].endswith("Z") and job["startedAt"] and job["completedAt"]
    assert job["workflowParams"]["inputUrl"] == input_url
    # AND the WAV downloads and decodes as 16-bit PCM
    wav = requests.get(result["wav"], timeout=10)
    assert wav.status_code == 200
    info = sf.info(io.BytesIO(wav.content))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 44100, 2)
    assert abs(info.duration - 30.0) < 0.1
    # AND the webhook arrived once, signed both ways
    wait_for(lambda: len(receiver.requests) >= 1, timeout_s=10)
    headers, body = receiver.requests[0]
    Webhook(WEBHOOK_SECRET).verify(body, headers)  # the Standard Webhooks reference implementation
    expected = hmac.new(secret_key_bytes(WEBHOOK_SECRET), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Signature"], expected)
    delivered = json.loads(body)
    assert delivered["id"] == job["id"] and delivered["status"] == "SUCCEEDED"
    # AND the status endpoint, the list, and delete agree
    assert client.get_job_status(job["id"]) == {"id": job["id"], "status": "SUCCEEDED"}
    listed = client.list_jobs({"status": ["SUCCEEDED"], "workflow": ["tonearm/audio-info"]})
    assert job["id"] in [j["id"] for j in listed]
    assert client.delete_job(job["id"]) == {"id": job["id"]}
    assert server.get(f"/v1/job/{job['id']}").status_code == 404
    assert requests.get(result["wav"], timeout=10).status_code == 400  # the output went with the job


def test_webhook_retried_then_dead_lettered_with_attempts(server: Server, receiver: Receiver) -> None:
    receiver.always_fail = True
    client = sdk(server)
    upload = server.get("/v1/upload").json()
    assert (
        requests.put(
            upload["uploadUrl"], data=encode(render_tone(seconds=1.0), sr=16000, fmt="WAV"), timeout=10
        ).status_code
        == 200
    )
    created = client.add_job(
        "dlq",
        "tonearm/audio-info",
        {"inputUrl": upload["downloadUrl"]},
        metadata={"webhookUrl": receiver.url},
    )
    client.wait_for_job_completion(created["id"])
    dlq = server.data_dir / "dead-letters.jsonl"

    def dead_lettered() -> bool:
        return dlq.exists() and created["id"] in dlq.read_text()

    wait_for(dead_lettered, timeout_s=30)
    letter = next(json.loads(x) for x in dlq.read_text().splitlines() if created["id"] in x)
    assert letter["delivered"] is False and letter["url"] == receiver.url
    assert len(letter["attempts"]) == 6 and all(a["status"] == 500 for a in letter["attempts"])
    assert len(receiver.requests) == 6
    ids = {h["webhook-id"] for h, _ in receiver.requests}
    assert len(ids) == 1  # one message id across retries, so receivers can deduplicate


def test_ingest_folder_drop_becomes_one_job(server: Server, tmp_path: Path) -> None:
    # GIVEN a WAV written into the watched ingest folder
    folder = server.data_dir / "bucket" / "ingest" / "tonearm" / "audio-info"
    folder.mkdir(parents=True, exist_ok=True)
    staged = tmp_path / "drop.wav"
    staged.write_bytes(encode(render_tone(seconds=1.5, sr=22050), sr=22050, fmt="WAV"))
    shutil.move(staged, folder / "drop.wav")

    def ingest_jobs() -> list[dict[str, object]]:
        jobs = server.get("/v1/job", params={"workflow": "tonearm/audio-info"}).json()
        return [j for j in jobs if j["name"] == "drop.wav"]

    # THEN exactly one job appears and succeeds
    wait_for(lambda: any(j["status"] == "SUCCEEDED" for j in ingest_jobs()), timeout_s=20)
    jobs = ingest_jobs()
    assert len(jobs) == 1
    assert jobs[0]["result"]["sampleRate"] == 22050
    # AND touching the file without changing it does not make a second job
    (folder / "drop.wav").touch()
    time.sleep(1.0)  # several watcher polls
    assert len(ingest_jobs()) == 1


def test_api_errors_are_machine_readable(server: Server) -> None:
    def post_job(body: object = None, data: str | None = None) -> requests.Response:
        return requests.post(
            server.base_url + "/v1/job", headers=server.headers(), json=body, data=data, timeout=5
        )

    metadata_url = "http://169.254.169.254/latest/meta-data"
    cases = [
        (requests.get(server.base_url + "/v1/job", timeout=5), 401, "unauthorized"),
        (
            requests.get(server.base_url + "/v1/job", headers={"Authorization": "nope"}, timeout=5),
            401,
            "unauthorized",
        ),
        (
            post_job({"name": "x", "workflow": "no/pe", "params": {"inputUrl": "https://a.b/c"}}),
            400,
            "unknown_workflow",
        ),
        (post_job({"name": "x", "workflow": "tonearm/audio-info", "params": {}}), 400, "invalid_params"),
        (post_job(data="{not json"), 400, "invalid_request"),
        (
            post_job({"name": "x", "workflow": "tonearm/audio-info", "params": {"inputUrl": metadata_url}}),
            400,
            "url_forbidden",
        ),
        (server.get("/v1/job/does-not-exist"), 404, "job_not_found"),
        (server.get("/v1/nothing-here"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]


def test_missing_and_tampered_inputs_are_refused_before_work(server: Server) -> None:
    upload = server.get("/v1/upload").json()
    missing = requests.post(
        server.base_url + "/v1/job",
        headers=server.headers(),
        timeout=5,
        json={"name": "x", "workflow": "tonearm/audio-info", "params": {"inputUrl": upload["downloadUrl"]}},
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "input_not_found"
    tampered_url = upload["downloadUrl"].replace("expires=", "expires=1")
    tampered = requests.post(
        server.base_url + "/v1/job",
        headers=server.headers(),
        timeout=5,
        json={"name": "x", "workflow": "tonearm/audio-info", "params": {"inputUrl": tampered_url}},
    )
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "invalid_signature"


def test_docs_openapi_workflows_application(server: Server) -> None:
    assert requests.get(server.base_url + "/docs", timeout=5).status_code == 200
    spec = requests.get(server.base_url + "/openapi.json", timeout=5).json()
    assert "/v1/job" in spec["paths"] and "/v1/job/{job_id}" in spec["paths"]
    workflows = server.get("/v1/workflow").json()
    audio_info = next(w for w in workflows if w["slug"] == "tonearm/audio-info")
    assert "inputUrl" in audio_info["params"]["properties"] and "wav" in audio_info["outputs"]
    assert server.get("/v1/application").json()["id"] == "local"
