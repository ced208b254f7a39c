"""tonearm/analyze through the job engine: the job API, the ingest folder, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import encode, wait_for, wait_for_terminal
from tests.workflows.helpers import local_app, local_jobs
from tonearm.cli import main
from tonearm.jobs.model import CreateJobRequest, JobStatus
from tonearm.local_stack.runtime import LocalRuntime


def render_groove(*, bpm: float = 120.0, seconds: float = 12.0, sr: int = 44100) -> np.ndarray:
    """A 4/4 groove in A minor: kick on 1 and 3, snare-ish noise on 2 and 4, an Am-Dm-E-Am pad.

    Returns
    -------
    np.ndarray [shape=(n, 2)], float32
    """
    rng = np.random.default_rng(7)
    n = int(seconds * sr)
    beat = 60.0 / bpm
    y = np.zeros(n, dtype=np.float64)
    for i, start in enumerate(np.arange(0.0, seconds, beat)):
        k = int(start * sr)
        m = min(n - k, int(0.25 * sr))
        tt = np.arange(m) / sr
        if i % 2 == 0:  # kick: a falling sine thump
            y[k : k + m] += 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-30 * tt)) * tt) * np.exp(-12 * tt)
        else:  # snare: a noise burst
            y[k : k + m] += 0.35 * rng.standard_normal(m) * np.exp(-25 * tt)
    chords = [(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)]  # Am, Dm, E, Am (MIDI notes)
    bar = 4 * beat
    for j, start in enumerate(np.arange(0.0, seconds, bar)):
        k, m = int(start * sr), min(n - int(start * sr), int(bar * sr))
        tt = np.arange(m) / sr
        for note in chords[j % 4]:
            f = 440.0 * 2 ** ((note - 69) / 12)
            y[k : k + m] += sum(0.08 / h * np.sin(2 * np.pi * h * f * tt) for h in (1, 2, 3)) * np.exp(
                -1.5 * tt
            )
    y = 0.9 * y / np.abs(y).max()
    return np.stack([y, y], axis=1).astype(np.float32)


@pytest.mark.parametrize("fmt", ["WAV", "MP3", "FLAC"])
def test_analyze_job_reports_tempo_key_and_features(local_runtime: LocalRuntime, fmt: str) -> None:
    services = local_runtime.services
    upload = services.jobs.create_upload(local_app(local_runtime))
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(key, encode(render_groove(), sr=44100, fmt=fmt), content_type="audio/wav")
    request = CreateJobRequest(
        name="groove", workflow="tonearm/analyze", params={"inputUrl": upload.downloadUrl}
    )
    job_id = services.jobs.create_job(local_app(local_runtime), request).id
    job = wait_for_terminal(lambda: services.store.get(job_id), timeout_s=60)
    assert job.status is JobStatus.SUCCEEDED, job.error
    result = job.result
    assert abs(result["bpm"] - 120.0) < 2.4
    assert result["timeSignature"] == 4
    assert result["key"] == "A minor" and result["keyIndex"] == 9 and result["mode"] == 0
    assert len(result["beats"]) >= 20 and result["downbeats"]
    assert result["loudnessLufs"] is not None and result["truePeakDb"] is not None
    assert set(result["features"]) >= {
        "danceability",
        "energy",
        "valence",
        "tempo",
        "key",
        "mode",
        "duration_ms",
    }


def test_analyze_rejects_too_short_audio_with_its_code(local_runtime: LocalRuntime) -> None:
    services = local_runtime.services
    upload = services.jobs.create_upload(local_app(local_runtime))
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(
        key, encode(render_groove(seconds=0.3), sr=44100, fmt="WAV"), content_type="audio/wav"
    )
    request = CreateJobRequest(
        name="short", workflow="tonearm/analyze", params={"inputUrl": upload.downloadUrl}
    )
    job_id = services.jobs.create_job(local_app(local_runtime), request).id
    job = wait_for_terminal(lambda: services.store.get(job_id))
    assert job.status is JobStatus.FAILED and job.error is not None and job.error.code == "audio_too_short"


def test_analyze_ingest_drop(local_runtime: LocalRuntime, tmp_path: Path) -> None:
    folder = local_runtime.watcher.folder / "tonearm" / "analyze"
    folder.mkdir(parents=True, exist_ok=True)
    staged = tmp_path / "groove.flac"
    staged.write_bytes(encode(render_groove(), sr=44100, fmt="FLAC"))
    shutil.move(staged, folder / "groove.flac")

    def finished() -> bool:
        jobs = local_jobs(local_runtime, "tonearm/analyze", [JobStatus.SUCCEEDED])
        return any(j.name == "groove.flac" for j in jobs)

    wait_for(finished, timeout_s=60)


def test_cli_analyze_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "groove.mp3"
    path.write_bytes(encode(render_groove(), sr=44100, fmt="MP3"))
    assert main(["analyze", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {
        "bpm",
        "beats",
        "downbeats",
        "timeSignature",
        "key",
        "keyConfidence",
        "loudnessLufs",
        "features",
    } <= set(result)
    assert main(["analyze", str(path)]) == 0
    assert "BPM" in capsys.readouterr().out
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")
    assert main(["analyze", str(bad)]) == 1
    assert "unsupported_format" in capsys.readouterr().err
