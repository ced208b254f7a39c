"""Shared fixtures: signals rendered by the tests, a local runtime in a temp folder."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tonearm.jobs.model import Job, JobStatus

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator so every run sees the same noise."""
    return np.random.default_rng(20261121)


def render_tone(
    *, seconds: float = 2.0, sr: int = 44100, channels: int = 2, freq: float = 440.0, amp: float = 0.5
) -> np.ndarray:
    """A sine of ``freq`` Hz, shape (n, channels), float32."""
    t = np.arange(int(seconds * sr)) / sr
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def encode(y: np.ndarray, *, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    """Encode ``y`` (n, channels) with libsndfile: WAV, FLAC, OGG or MP3."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture
def tone_wav() -> bytes:
    """Two seconds of a stereo 440 Hz sine as 16-bit WAV."""
    return encode(render_tone(), sr=44100, fmt="WAV", subtype="PCM_16")


def wait_for(predicate: Callable[[], bool], *, timeout_s: float = 20.0, interval_s: float = 0.02) -> None:
    """Poll until ``predicate()`` holds, or fail the test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def wait_for_terminal(get_job: Callable[[], Job | None], *, timeout_s: float = 20.0) -> Job:
    """Poll a job until SUCCEEDED or FAILED."""
    holder: list[Job] = []

    def done() -> bool:
        job = get_job()
        if job is not None and job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            holder.append(job)
            return True
        return False

    wait_for(done, timeout_s=timeout_s)
    return holder[0]


@pytest.fixture
def local_runtime(tmp_path: Path) -> Iterator[object]:
    """The local stack (no HTTP server), installed for this test, with instant retries."""
    from tonearm.local_stack.runtime import build_local_runtime

    runtime = build_local_runtime(
        project_root=PROJECT_ROOT,
        data_dir=tmp_path / "data",
        base_url="http://127.0.0.1:3999",
        api_key="test-key",
        webhook_base_delay_s=0.01,
        watch_interval_s=0.05,
        sleep=lambda _s: None,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def tiny_separation_models(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``TONEARM_MODELS_DIR`` pointed, for this test, at a models folder whose separation model is a tiny
    stand-in with the real one's interface (``tests/separation_model.py``); the process-wide registry is
    rebuilt on first use and restored afterwards. Tests using it check plumbing, never separation quality."""
    pytest.importorskip("onnx")
    from tests.separation_model import tiny_models_dir
    from tonearm.models import registry

    root = tiny_models_dir(tmp_path_factory.mktemp("tiny-models"))
    monkeypatch.setenv("TONEARM_MODELS_DIR", str(root))
    monkeypatch.setattr(registry, "_default", None)
    return root
