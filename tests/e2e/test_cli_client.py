"""The ``tonearm`` client commands and ``tonearm.client`` against the real local server.

Upload -> job -> progress -> download with files on disk, the job commands, tagging, generation,
settings from the environment, and every failure as an exit status and (``--json``) a JSON error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from tests.conftest import encode, render_tone
from tests.e2e.conftest import API_KEY, Server
from tonearm.cli import EXIT_FAILED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, main
from tonearm.client import Client, JobStatus, JobView

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _no_ambient_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TONEARM_URL", "TONEARM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TONEARM_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("TONEARM_DATA_DIR", str(tmp_path / "no-data"))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(encode(render_tone(seconds=3.0, sr=22050), sr=22050, fmt="WAV", subtype="PCM_16"))
    return path


def _cli(server: Server, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """Run ``tonearm ARGS --json`` against the server; the exit status and the parsed stdout."""
    status = main([*args, "--url", server.base_url, "--api-key", API_KEY, "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_run_uploads_waits_and_downloads_every_output(
    server: Server, clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status, done = _cli(server, capsys, "run", "tonearm/audio-info", str(clip), "-o", str(out))
    assert status == 0 and done["status"] == "SUCCEEDED"
    assert done["result"]["duration"] == pytest.approx(3.0, abs=0.01)
    wav = Path(done["files"]["wav"])
    assert wav.parent == out and sf.info(wav).duration == pytest.approx(3.0, abs=0.01)
    assert not list(out.glob("*.part"))


def test_the_client_reports_progress_and_runs_params(server: Server, clip: Path, tmp_path: Path) -> None:
    api = Client(server.base_url, API_KEY)
    seen: list[JobView] = []
    moved: list[int] = []
    done = api.run(
        "tonearm/tagging",
        clip,
        {"taskTypes": ["Genre"]},
        out_dir=tmp_path / "tags",
        on_update=seen.append,
        on_bytes=lambda n, _total: moved.append(n),
    )
    assert done.job.status is JobStatus.SUCCEEDED and done.job.workflowParams["taskTypes"] == ["Genre"]
    assert seen and seen[-1].status is JobStatus.SUCCEEDED and moved[-1] == clip.stat().st_size
    assert all(path.is_file() for path in done.files.values())


def test_jobs_list_get_wait_delete(
    server: Server, clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = Client(server.base_url, API_KEY)
    job_id = api.create_job("tonearm/audio-info", {"inputUrl": api.upload(clip)}, name="for jobs")
    status, waited = _cli(server, capsys, "jobs", "wait", job_id, "-o", str(tmp_path / "w"))
    assert status == 0 and waited["id"] == job_id and Path(waited["files"]["wav"]).is_file()
    status, listed = _cli(
        server, capsys, "jobs", "list", "--workflow", "tonearm/audio-info", "--limit", "100"
    )
    assert status == 0 and job_id in [j["id"] for j in listed]
    status, got = _cli(server, capsys, "jobs", "get", job_id)
    assert status == 0 and got["name"] == "for jobs" and got["status"] == "SUCCEEDED"
    status, deleted = _cli(server, capsys, "jobs", "delete", job_id)
    assert status == 0 and deleted == {"deleted": [job_id]}
    status, error = _cli(server, capsys, "jobs", "get", job_id)
    assert status == EXIT_REFUSED and error["error"]["code"] == "job_not_found"


def test_tag(server: Server, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, tagged = _cli(server, capsys, "tag", str(clip), "--task", "Genre", "--task", "Mood", "--top", "3")
    assert status == 0 and tagged["duration"] == pytest.approx(3.0, abs=0.01)
    assert [t["task_type"] for t in tagged["tasks"]] == ["Genre", "Mood"]
    assert all(len(t["tags"]) == 3 for t in tagged["tasks"])
    probabilities = [p for _, p in tagged["tasks"][0]["tags"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_generate(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "gen" / "out.wav"
    args = ["generate", "calm piano", "-o", str(target), "--duration", "2", "--seed", "7"]
    status, done = _cli(server, capsys, *args)
    assert status == 0 and done["status"] == "completed" and done["file"] == str(target)
    assert sf.info(target).duration == pytest.approx(2.0, abs=0.1)


def test_failures_are_exit_statuses_and_json_errors(
    server: Server, clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["jobs", "list", "--url", server.base_url, "--api-key", "wrong", "--json"])
    assert status == EXIT_REFUSED
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unauthorized"
    status, error = _cli(server, capsys, "run", "tonearm/no-such", str(clip))
    assert status == EXIT_REFUSED and error["error"]["code"] == "unknown_workflow"
    status, error = _cli(server, capsys, "run", "tonearm/analyze", str(clip), "-p", "nope=1")
    assert status == EXIT_REFUSED and error["error"]["code"] == "invalid_params"
    status, error = _cli(server, capsys, "run", "tonearm/analyze", str(tmp_path / "missing.wav"))
    assert status == EXIT_USAGE and error["error"]["code"] == "no_such_file"
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"not audio at all" * 64)
    status, failed = _cli(server, capsys, "run", "tonearm/audio-info", str(noise), "-o", str(tmp_path / "x"))
    assert status == EXIT_FAILED and failed["status"] == "FAILED" and failed["error"]["code"]
    assert failed["files"] == {}
    status = main(["jobs", "list", "--url", "http://127.0.0.1:9", "--api-key", API_KEY, "--json"])
    assert status == EXIT_UNREACHABLE
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "connection_failed"
    # without --json: a message on stderr, nothing on stdout
    assert main(["jobs", "get", "nope", "--url", server.base_url, "--api-key", API_KEY]) == EXIT_REFUSED
    captured = capsys.readouterr()
    assert captured.out == "" and "job_not_found" in captured.err


def test_the_command_reads_the_environment_and_the_config_file(server: Server, tmp_path: Path) -> None:
    """As a user runs it: its own process, the URL from the config file, the key from the environment."""
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server.base_url}"\napi_key = "wrong-key"\n')
    env = {**os.environ, "TONEARM_CONFIG": str(config), "TONEARM_API_KEY": API_KEY}
    env.pop("TONEARM_URL", None)
    command = [sys.executable, "-m", "tonearm.cli", "workflows", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tonearm/audio-info" in [w["slug"] for w in json.loads(done.stdout)]
    env.pop("TONEARM_API_KEY")  # now the file's (wrong) key is used
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_REFUSED and json.loads(done.stdout)["error"]["code"] == "unauthorized"
