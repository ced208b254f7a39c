"""Music.AI's quick start against the local server: upload a song, run music-ai/generate-chords, download.

The official SDK, unchanged but for the base URL, on a FluidSynth-rendered progression.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from musicai_sdk import MusicAiClient

from tests.e2e.conftest import API_KEY, Server
from tests.workflows.test_chords_transcribe_workflow import BPM, _chords_right, progression_mp3  # noqa: F401

pytestmark = pytest.mark.e2e


def test_quick_start_generate_chords(server: Server, progression_mp3: bytes, tmp_path: Path) -> None:  # noqa: F811
    song = tmp_path / "song.mp3"
    song.write_bytes(progression_mp3)
    client = MusicAiClient(api_key=API_KEY, job_monitor_interval=0.05, timeout=60)
    client.base_url = f"{server.base_url}/v1"
    # the quick start: upload, add the job, wait, download the results
    url = client.upload_file(str(song))
    job = client.wait_for_job_completion(
        client.add_job("quick start", "music-ai/generate-chords", {"inputUrl": url})["id"]
    )
    assert job["status"] == "SUCCEEDED", job["error"]
    result = job["result"]
    assert abs(result["bpm"] - BPM) < 3 and result["key"].endswith(("major", "minor"))
    chord_map = requests.get(result["chordMap"], timeout=10).json()
    beat_map = requests.get(result["beatMap"], timeout=10).json()
    assert _chords_right(chord_map) >= 0.8 and {b["beatNum"] for b in beat_map} == {1, 2, 3, 4}
    midi = requests.get(result["chordsMidi"], timeout=10)
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"
    assert "Cmaj" in requests.get(result["chordsText"], timeout=10).text
    # the workflow is listed with its outputs
    workflows = {w["slug"]: w for w in server.get("/v1/workflow").json()}
    assert set(workflows["music-ai/generate-chords"]["outputs"]) >= {"bpm", "key", "beatMap", "chordMap"}
    assert json.dumps(workflows["tonearm/transcribe"]["outputs"])
