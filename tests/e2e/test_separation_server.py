"""The separation workflows through `tonearm serve --https` with Music.AI's SDK, and the SDK document's own
samples for music-ai/isolate-drums run verbatim.

Changed in the samples: the API key, the base URL, and the placeholders the document asks the reader to
fill in (``song_url``'s address: the upload's URL; the ``copy_results_to`` "upload URLs": upload URLs of
tonearm's own, from ``GET /v1/upload``). The server runs the tiny stand-in separation model
(``tests/separation_model.py``): what is checked is the API, never the quality of the stems.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from musicai_sdk import MusicAiClient

from tests.conftest import encode
from tests.e2e.conftest import API_KEY, free_port, start_server
from tests.separation_model import check_stems, mix, pcm16, tiny_models_dir

pytestmark = pytest.mark.e2e

#: Before the samples: the quick start's client and upload (the document's own lines, but for key and URL).
PREAMBLE = """
from musicai_sdk import MusicAiClient


music_ai = MusicAiClient(api_key="{api_key}")
music_ai.base_url = "{base_url}/v1"

song_url = music_ai.upload_file("./song.mp3")
"""
#: "Add a job", verbatim (its first line, ``song_url = "https://your-website.com/song.mp3"``, is the
#: placeholder the preamble fills in).
ADD_A_JOB = """
job_id = music_ai.add_job("job-1", "music-ai/isolate-drums", {
    "inputUrl": song_url,
})
"""
#: "Custom storage", verbatim.
CUSTOM_STORAGE = """
job_id = music_ai.add_job(
    "job-1",
    "music-ai/isolate-drums",
    {
        "inputUrl": song_url,
    },
    copy_results_to={
        "Kick drum": "https://example.com/my-upload-url-1",
        "Snare drum": "https://example.com/my-upload-url-2"
    }
)
"""
#: After the samples: wait (as the quick start does), download all results, print the job.
EPILOGUE = """
import json
job = music_ai.wait_for_job_completion(job_id["id"])
files = music_ai.download_job_results(job, "./drums")
print(json.dumps({"job": job, "files": files}))
"""


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`tonearm serve --https` with the stand-in separation model; (base URL, CA file)."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("separation-https")
    models = tiny_models_dir(tmp_path_factory.mktemp("separation-models"))
    env = {"TONEARM_MODELS_DIR": str(models)}
    log_path = data_dir / "server.log"
    process = start_server(port, data_dir, api_key=API_KEY, log_path=log_path, https=True, env=env)
    try:
        yield f"https://127.0.0.1:{port}", data_dir / "tls" / "ca.pem"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def song() -> tuple[bytes, np.ndarray, int]:
    """An MP3 of the test mix, and what tonearm decodes it to ((n, channels), rate)."""
    from tonearm.audio.decode import decode

    data = encode(mix(seconds=3.0, sr=44100, channels=2) * 0.7, sr=44100, fmt="MP3")
    decoded = decode(data)
    return data, decoded.y.T.copy(), decoded.sr


def _upload_urls(base_url: str, ca: Path, count: int) -> list[dict[str, str]]:
    headers = {"Authorization": API_KEY}
    return [
        requests.get(f"{base_url}/v1/upload", headers=headers, verify=str(ca), timeout=10).json()
        for _ in range(count)
    ]


def _run_sample(tmp_path: Path, code: str, ca: Path) -> dict[str, object]:
    sample = tmp_path / "sample.py"
    sample.write_text(code)
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(ca)}  # what `make serve HTTPS=1` says to export
    run = subprocess.run(
        [sys.executable, str(sample)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    document: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return document


def test_the_add_a_job_sample(
    https_server: tuple[str, Path], song: tuple[bytes, np.ndarray, int], tmp_path: Path
) -> None:
    base_url, ca = https_server
    data, decoded, sr = song
    (tmp_path / "song.mp3").write_bytes(data)
    preamble = PREAMBLE.format(api_key=API_KEY, base_url=base_url)
    document = _run_sample(tmp_path, preamble + ADD_A_JOB + EPILOGUE, ca)
    job = document["job"]
    assert isinstance(job, dict) and job["status"] == "SUCCEEDED", job
    assert job["workflow"] == "music-ai/isolate-drums" and list(job["result"]) == [
        "Kick drum",
        "Snare drum",
        "Other",
    ]
    # download_job_results names each file after its output: "Kick drum.wav", ...
    folder = tmp_path / "drums"
    assert {p.name for p in folder.iterdir()} == {
        "Kick drum.wav",
        "Snare drum.wav",
        "Other.wav",
        "workflow.result.json",
    }
    written = json.loads((folder / "workflow.result.json").read_text())
    assert written == {
        "Kick drum": "./Kick drum.wav",
        "Snare drum": "./Snare drum.wav",
        "Other": "./Other.wav",
    }
    check_stems({n: folder / f"{n}.wav" for n in ("Kick drum", "Snare drum", "Other")}, decoded, sr)


def test_the_custom_storage_sample(
    https_server: tuple[str, Path], song: tuple[bytes, np.ndarray, int], tmp_path: Path
) -> None:
    base_url, ca = https_server
    data, decoded, sr = song
    (tmp_path / "song.mp3").write_bytes(data)
    kick, snare = _upload_urls(base_url, ca, 2)
    sample = CUSTOM_STORAGE.replace("https://example.com/my-upload-url-1", kick["uploadUrl"]).replace(
        "https://example.com/my-upload-url-2", snare["uploadUrl"]
    )
    document = _run_sample(
        tmp_path, PREAMBLE.format(api_key=API_KEY, base_url=base_url) + sample + EPILOGUE, ca
    )
    job = document["job"]
    assert isinstance(job, dict) and job["status"] == "SUCCEEDED", job
    # the document's JSON: custom storage for the two, a URL for Other
    result = job["result"]
    assert result["Kick drum"] == "[custom storage]" and result["Snare drum"] == "[custom storage]"
    assert set(result) == {"Kick drum", "Snare drum", "Other"} and result["Other"].startswith("https://")
    assert {p.name for p in (tmp_path / "drums").iterdir()} == {"Other.wav", "workflow.result.json"}
    # the two went to the upload URLs given
    for name, target in (("Kick drum", kick), ("Snare drum", snare)):
        got = requests.get(target["downloadUrl"], verify=str(ca), timeout=10)
        assert got.ok, name
        (tmp_path / f"{name}.wav").write_bytes(got.content)
    check_stems(
        {
            "Kick drum": tmp_path / "Kick drum.wav",
            "Snare drum": tmp_path / "Snare drum.wav",
            "Other": tmp_path / "drums" / "Other.wav",
        },
        decoded,
        sr,
    )


@pytest.mark.parametrize(
    ("workflow", "outputs"),
    [
        ("music-ai/stems-vocals-accompaniment", ["vocals", "accompaniments"]),
        ("tonearm/vocals-accompaniment", ["vocals", "accompaniments"]),
        ("tonearm/stems", ["vocals", "drums", "bass", "other"]),
    ],
)
def test_sdk_jobs_list_and_download(
    https_server: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workflow: str,
    outputs: list[str],
) -> None:
    base_url, ca = https_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    source = pcm16(mix(seconds=2.0, sr=48000, channels=2))
    song = tmp_path / "song.wav"
    song.write_bytes(encode(source, sr=48000, fmt="WAV", subtype="PCM_16"))
    client = MusicAiClient(api_key=API_KEY, job_monitor_interval=0.05, timeout=60)
    client.base_url = f"{base_url}/v1"
    # the workflow is listed with its outputs
    listed = {w["slug"]: w for w in client.list_workflows()}
    assert list(listed[workflow]["outputs"]) == outputs
    url = client.upload_file(str(song))
    job = client.wait_for_job_completion(client.add_job("stems", workflow, {"inputUrl": url})["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    # the document's "Get a job" shape: result = {output: URL}
    assert list(job["result"]) == outputs and all(u.startswith("https://") for u in job["result"].values())
    assert job["progress"] == 100.0
    files = client.download_job_results(job, str(tmp_path / "out"))
    assert set(files) == set(outputs)
    check_stems({n: Path(p) for n, p in files.items()}, source, 48000)
    assert [j["id"] for j in client.list_jobs({"workflow": [workflow]})][:1] == [job["id"]]
