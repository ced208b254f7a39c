"""SAMI's own samples against `tonearm serve`, verbatim but for the URL, the credentials and the audio path.

The Python sample runs in its own interpreter, exactly as published (all six of its task types); the Go
sample's request (token and appkey in the query string, the payload with ``extra.use_tag``) is replayed
byte for byte by Python, since no Go toolchain is assumed.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import API_KEY, Server
from tests.workflows.test_chords_transcribe_workflow import progression_mp3  # noqa: F401

pytestmark = pytest.mark.e2e

#: SAMI's Python sample as published; only AUDIO, APPKEY, TOKEN and BASE (the URL) are filled in.
PYTHON_SAMPLE = (Path(__file__).parent / "samples" / "sami_python_sample.py.txt").read_text()


def test_samis_python_sample(server: Server, progression_mp3: bytes, tmp_path: Path) -> None:  # noqa: F811
    audio = tmp_path / "song.mp3"
    audio.write_bytes(progression_mp3)
    code = (
        PYTHON_SAMPLE.replace("AUDIO", str(audio))
        .replace("APPKEY", "local")  # the application id `make serve` prints
        .replace("TOKEN", API_KEY)
        .replace("BASE", server.base_url)
    )
    (tmp_path / "sample.py").write_text(code)
    run = subprocess.run(
        [sys.executable, "sample.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "status_code=20000000" in run.stdout, run.stdout
    payload = json.loads(run.stdout.split("payload=", 1)[1].strip())
    results = {r["task_type"]: r for r in payload["task_flow"]["result"]}
    assert list(results) == [
        "MusicTaggingGenre17",
        "MusicTaggingMood10",
        "MusicTaggingTheme24",
        "MusicTaggingLang24",
        "MusicTaggingVocal",
        "MusicTaggingMTT",
    ]
    assert results["MusicTaggingLang24"]["status_code"] != 20000000  # languages: no model; fails alone
    for name in ("MusicTaggingGenre17", "MusicTaggingMood10", "MusicTaggingVocal", "MusicTaggingMTT"):
        assert results[name]["pred_dim"] == len(results[name]["task_output"]["tags"]) > 0, name


def test_samis_go_request_shape(server: Server, progression_mp3: bytes) -> None:  # noqa: F811
    data = base64.b64encode(progression_mp3).decode()
    # the Go sample's body, as its fmt.Sprintf writes it
    body = (
        '{"data": "%s", "payload":"{\\"task_flow\\":{\\"type\\":\\"merge\\",\\"task\\":'
        '[{\\"task_type\\":\\"MusicTaggingGenre17\\"},{\\"task_type\\":\\"MusicTaggingMood10\\"},'
        '{\\"task_type\\":\\"MusicTaggingTheme24\\"},{\\"task_type\\":\\"MusicTaggingLang24\\"},'
        '{\\"task_type\\":\\"MusicTaggingVocal\\"},{\\"task_type\\":\\"MusicTaggingMTT\\"}]},'
        '\\"extra\\":{\\"use_tag\\":false}}"}'
    ).replace("%s", data, 1)
    url = f"{server.base_url}/api/v1/invoke?version=v4&token={API_KEY}&appkey=local&namespace=MusicTagging"
    reply = requests.post(url, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=60)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["status_code"] == 20000000 and answer["namespace"] == "MusicTagging" and answer["task_id"]
    assert len(json.loads(answer["payload"])["task_flow"]["result"]) == 6
