"""Music.AI's quick start, verbatim but for the API key and base URL, against `tonearm serve --https`.

The SDK's ``download_job_results`` downloads only ``https://`` result URLs, so the quick start needs the
local server on HTTPS (`make serve HTTPS=1`): a local CA made once in the data folder, trusted by the
client through ``REQUESTS_CA_BUNDLE`` as `make serve` prints. The sample runs in its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import API_KEY, free_port, start_server
from tests.workflows.test_chords_transcribe_workflow import progression_mp3  # noqa: F401

pytestmark = pytest.mark.e2e

#: The quick start of Music.AI's SDK documentation; only the key and the base URL line differ.
QUICK_START = """
from musicai_sdk import MusicAiClient


music_ai = MusicAiClient(api_key="{api_key}")
music_ai.base_url = "{base_url}/v1"

song_url = music_ai.upload_file("./song.mp3")

job_id = music_ai.add_job(
    "My first job",
    "music-ai/generate-chords",
    {{
        "inputUrl": song_url,
    }},
)["id"]

job = music_ai.wait_for_job_completion(job_id)

if job["status"] == "SUCCEEDED":
    files = music_ai.download_job_results(job, "./chords")
    print("Result:", files)
else:
    print("Job failed!")

music_ai.delete_job(job_id)
"""


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("https-data")
    log_path = data_dir / "server.log"
    process = start_server(port, data_dir, api_key=API_KEY, log_path=log_path, https=True)
    try:
        yield f"https://127.0.0.1:{port}", data_dir / "tls" / "ca.pem"
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert f"export REQUESTS_CA_BUNDLE={data_dir / 'tls' / 'ca.pem'}" in log_path.read_text()


def test_the_quick_start_downloads_its_files(
    https_server: tuple[str, Path],
    progression_mp3: bytes,  # noqa: F811
    tmp_path: Path,
) -> None:
    base_url, ca = https_server
    (tmp_path / "song.mp3").write_bytes(progression_mp3)
    sample = tmp_path / "quick_start.py"
    sample.write_text(QUICK_START.format(api_key=API_KEY, base_url=base_url))
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(ca)}  # what `make serve HTTPS=1` says to export
    run = subprocess.run(
        [sys.executable, str(sample)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Result:"), run.stdout
    folder = tmp_path / "chords"
    downloaded = {p.name for p in folder.iterdir()}
    assert {"workflow.result.json", "chordsMidi.mid", "chordsText.txt"} <= downloaded, downloaded
    assert (folder / "chordsMidi.mid").read_bytes()[:4] == b"MThd"
    assert "Cmaj" in (folder / "chordsText.txt").read_text()
    result = json.loads((folder / "workflow.result.json").read_text())
    assert result["chordMap"].startswith("./") and result["bpm"] > 0
    # and the job was deleted, as the sample's last line asks
    jobs = requests.get(f"{base_url}/v1/job", headers={"Authorization": API_KEY}, verify=str(ca), timeout=10)
    assert jobs.ok and jobs.json() == []
