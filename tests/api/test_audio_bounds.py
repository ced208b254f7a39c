"""Resource bounds on the audio routes (issue 18, part 3), on the real app over the local stack.

- Full decode slots: every synchronous audio route answers ``503 busy`` with ``Retry-After`` in its own
  API's shape, after a short wait, instead of queueing without bound.
- Samples far outside [-1, 1] (float WAVs peaking at 4.0, 1e30, 3e38): every surface answers with finite
  numbers in strict JSON, and the answer is that of the same music at +6 dBFS (the headroom it is scaled
  to), not a degenerate one (NaN probabilities, or 8.33 % for every genre).
- Peak memory of one request, measured as the kernel sees it (``bench/hostile_memory.py``: a fresh
  worker process, its peak-RSS mark reset with ``/proc/self/clear_refs`` just before the request, then
  ``VmHWM``; ``ru_maxrss`` would carry this pytest process's own peak across the exec): bounded for the
  8-channel 96 kHz 9-minute FLAC that cost 1.8 GB, and for an unknown-length one that cost 2.7 GB before
  its refusal.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from bench.hostile_memory import CASES, build_case, measure
from tests.api.test_musicflow_api import CATALOGUE, make_client, train
from tests.api.test_tagging_api import KEY, invoke, sami_request
from tests.fakes.listener import fill_library
from tonearm.audio.decode_slots import SLOTS, default_capacity
from tonearm.jobs.spec import no_progress
from tonearm.local_stack.runtime import LocalRuntime
from tonearm.tagging.workflow import classify_genre, tag_audio

SR = 44100
#: What one request may add to a process's peak RSS, for any input within the limits (10 minutes) [MiB].
#: The decoded channels are never held: a request holds the mono signal at its model's rate (38 MB for
#: 10 min at 16 kHz, 53 MB at 22.05 kHz), what its analysis builds from that, and two decode blocks
#: (BLOCK_BYTES, 4 MiB each), so it costs what a stereo 44.1 kHz file of the same length costs. Measured
#: with bench/hostile_memory.py for 9 minutes (8 x 96 kHz FLAC, and a plain stereo 44.1 kHz control):
#: 91-94 MiB on the tagging routes, 256 MiB on the analysis; the bounds leave room for 10 minutes.
#: The upload's own copies are on top (SAMI's base64 JSON: ~3x the file): the files here are small.
TAGGING_ROUTE_BOUND_MB = 150.0
ANALYSIS_ROUTE_BOUND_MB = 320.0


@pytest.fixture
def client(local_runtime: LocalRuntime) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


@pytest.fixture
def slots_restored() -> Iterator[None]:
    """Give the process-wide decode slots their default size back after a test that shrinks them."""
    yield
    SLOTS.resize(default_capacity())


def strict_json(text: str) -> Any:
    """Parse ``text`` as strict JSON: NaN and Infinity are not JSON, whatever Python's json accepts."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} in a JSON reply")

    return json.loads(text, parse_constant=refuse)


def music(*, seconds: float = 8.0, sr: int = SR) -> npt.NDArray[np.float64]:
    """Shape (n, 2): a chord in both channels, a beat of clicks and a little noise."""
    rng = np.random.default_rng(7)
    t = np.arange(round(sr * seconds)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (196.0, 246.94, 293.66)) / 3
    clicks = np.exp(-np.mod(t, 0.5) / 0.01) * np.sin(2 * np.pi * 1800.0 * t)
    y = (0.5 * chord + 0.3 * clicks)[:, np.newaxis] + 0.01 * rng.standard_normal((t.size, 2))
    return y / np.abs(y).max()


def float_wav(peak: float) -> bytes:
    """The :func:`music` as a float WAV whose sample peak is ``peak`` (as float32 holds it)."""
    buf = io.BytesIO()
    sf.write(buf, (music() * peak).astype(np.float32), SR, format="WAV", subtype="FLOAT")
    return buf.getvalue()


# --- 503 busy ------------------------------------------------------------------------------------------


def test_full_decode_slots_are_a_503_with_retry_after_on_every_sync_route(
    local_runtime: LocalRuntime, slots_restored: None
) -> None:
    settings = local_runtime.services.settings
    settings.decode_slots, settings.decode_queue_wait_s = 1, 0.05
    client = make_client(local_runtime)
    fill_library(local_runtime.services.musicflow.library, CATALOGUE)
    train(client)
    wav = float_wav(0.5)
    with SLOTS.hold():  # this thread takes the one slot; the routes run in other threads
        sami = invoke(client, sami_request(wav, tasks=["Genre"]))
        genre = client.post(
            "/analyze-audio", files={"file": ("a.wav", wav, "audio/wav")}, headers={"Authorization": KEY}
        )
        flow = client.post(
            "/api/prediction", files={"file": ("a.wav", wav, "audio/wav")}, headers={"Authorization": KEY}
        )
    assert sami.status_code == 503, sami.text
    body = sami.json()
    assert body["error_code"] == "busy" and str(body["status_code"]).startswith("503")
    assert "decoding slots" in body["status_text"]
    assert genre.status_code == 503 and genre.json()["error"]["code"] == "busy", genre.text
    assert flow.status_code == 503 and flow.json()["detail"]["failure_type"] == "busy", flow.text
    for reply in (sami, genre, flow):
        assert 1 <= int(reply.headers["Retry-After"]) <= 60
    # and once the slot is free, the same requests go through
    assert invoke(client, sami_request(wav, tasks=["Genre"])).status_code == 200
    assert (
        client.post(
            "/analyze-audio", files={"file": ("a.wav", wav)}, headers={"Authorization": KEY}
        ).status_code
        == 200
    )


# --- samples outside [-1, 1] -----------------------------------------------------------------------------


def sami_answer(client: TestClient, wav: bytes) -> list[float]:
    reply = invoke(client, sami_request(wav, tasks=["MusicTaggingMTT", "Genre"]))
    assert reply.status_code == 200, reply.text
    payload = strict_json(strict_json(reply.text)["payload"])
    pred: list[float] = payload["pred"]
    assert all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in pred)
    return pred


def acousticsense_answer(client: TestClient, wav: bytes) -> dict[str, float]:
    reply = client.post(
        "/analyze-audio", files={"file": ("hot.wav", wav, "audio/wav")}, headers={"Authorization": KEY}
    )
    assert reply.status_code == 200, reply.text
    body = strict_json(reply.text)
    shares = {g["genre"]: g["confidence"] for g in body["analysis_results"]}
    assert len(set(shares.values())) > 1, shares  # not the uniform ranking NaN probabilities collapse to
    return shares


def job_answers(tmp_path: Path, wav: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    path = tmp_path / f"in-{len(list(tmp_path.iterdir()))}.wav"
    path.write_bytes(wav)
    work = tmp_path / f"work-{path.stem}"
    work.mkdir()
    tags = tag_audio(path, work, {"taskTypes": ["MusicTaggingMTT", "Genre"]}, no_progress).values
    genres = classify_genre(path, work, {}, no_progress).values
    strict_json(json.dumps(tags, allow_nan=True))  # what the job record would hold must be strict JSON
    strict_json(json.dumps(genres, allow_nan=True))
    return tags, genres


@pytest.mark.parametrize("peak", [4.0, 1e30, 3e38])
def test_samples_far_outside_full_scale_give_the_answer_of_the_music_at_the_headroom(
    client: TestClient, tmp_path: Path, peak: float
) -> None:
    hot, reference = float_wav(peak), float_wav(2.0)  # the headroom: +6 dBFS

    pred, expected_pred = sami_answer(client, hot), sami_answer(client, reference)
    np.testing.assert_allclose(pred, expected_pred, atol=1e-3)

    shares, expected_shares = acousticsense_answer(client, hot), acousticsense_answer(client, reference)
    assert shares.keys() == expected_shares.keys()
    np.testing.assert_allclose([shares[g] for g in expected_shares], list(expected_shares.values()), atol=0.1)

    (tags, genres), (expected_tags, expected_genres) = (
        job_answers(tmp_path, hot),
        job_answers(tmp_path, reference),
    )
    for task, expected in zip(tags["tasks"], expected_tags["tasks"], strict=True):
        got = {t["label"]: t["probability"] for t in task["tags"]}
        want = {t["label"]: t["probability"] for t in expected["tags"]}
        np.testing.assert_allclose([got[label] for label in want], list(want.values()), atol=1e-3)
    assert genres["topGenre"] == expected_genres["topGenre"]
    assert len({g["confidence"] for g in genres["genres"]}) > 1


# --- peak memory of one request ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "case", "outcome", "bound_mb"),
    [
        ("acousticsense", "flac-8ch-96k-9min", "200", TAGGING_ROUTE_BOUND_MB),
        ("sami", "flac-8ch-96k-9min", "200", TAGGING_ROUTE_BOUND_MB),
        ("job:analyze", "flac-8ch-96k-9min", "ok", ANALYSIS_ROUTE_BOUND_MB),
        # no length in the header: refused once the running decoded size passes the 2 GiB budget
        ("acousticsense", "flac-8ch-192k-unknown-length-7min", "413 input_too_large", 80.0),
    ],
)
def test_peak_memory_of_one_request_is_bounded_for_the_worst_hostile_files(
    tmp_path_factory: pytest.TempPathFactory, route: str, case: str, outcome: str, bound_mb: float
) -> None:
    # Before: 1.8 GB for the first file on every route, 2 GB for the second before its refusal. The
    # number is the kernel's: VmHWM of a fresh worker process, reset just before the request.
    folder = tmp_path_factory.getbasetemp() / "hostile-corpus"
    folder.mkdir(exist_ok=True)
    path = build_case(next(c for c in CASES if c.name == case), folder)
    warmup = folder / "warmup.wav"
    if not warmup.exists():
        sf.write(warmup, (music(seconds=3.0) * 0.5).astype(np.float32), SR, subtype="PCM_16")
    row = measure(route, path, warmup=warmup, timeout_s=600)
    assert "growth_mb" in row, row
    assert " ".join(filter(None, (row["status"], row["code"]))) == outcome, row
    assert not row["nan"], row
    assert row["growth_mb"] < bound_mb, row
