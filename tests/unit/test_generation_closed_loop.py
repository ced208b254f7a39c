"""Closed loop: generate with known controls, measure the audio with tonearm's analyzers, compare.

A small version of ``bench/generation`` (which runs 60 tracks, all 20 styles and all 12 scales): eight
tracks of 10-12 s across styles and scales at 80-150 bpm (inside the tempo analyzer's 70-180 bpm
notated-beat range, so the requested tempo itself must come back, not an octave of it), density and
brightness sweeps for two prompts, and determinism. Everything is generated once per module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from tonearm.analysis.analyze import analyze
from tonearm.analysis.onset import onset_envelope
from tonearm.analysis.spectral import ANALYSIS_SR, analysis_signal, stft_magnitude
from tonearm.generation.params import SCALES, GenerationParams
from tonearm.generation.service import GeneratedTrack, generate

SR = 48_000
#: MIREX Acc1 tolerance.
TEMPO_TOLERANCE = 0.04
#: (prompt, bpm, scale, seconds, seed): eight styles, eight different scales, 80-150 bpm.
GRID = (
    ("classic rock", 120, "G_MAJOR_E_MINOR", 10, 101),
    ("house", 124, "D_MAJOR_B_MINOR", 11, 102),
    ("cool jazz", 100, "F_MAJOR_D_MINOR", 12, 103),
    ("pop", 112, "C_MAJOR_A_MINOR", 10, 104),
    ("baroque", 96, "B_FLAT_MAJOR_G_MINOR", 11, 105),
    ("flamenco", 132, "E_MAJOR_D_FLAT_MINOR", 12, 106),
    ("ambient electronic", 88, "A_MAJOR_G_FLAT_MINOR", 10, 107),
    ("progressive rock", 144, "E_FLAT_MAJOR_C_MINOR", 11, 108),
)
#: Prompts of the density / brightness sweeps: a band with drums and a solo-piano style without.
CONTROL_PROMPTS = ("classic rock", "romantic")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Measured:
    """One generated track and what the analyzers found in its WAV bytes."""

    request: GenerationParams
    track: GeneratedTrack
    frames: int
    bpm: float
    key: str


def _decode(wav: bytes) -> tuple[np.ndarray, int]:
    """(float32 audio of shape (channels, n), sample rate) of WAV bytes."""
    y, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T), int(sr)


def _pitch_class(name: str) -> int:
    return (_PITCH_CLASS[name[0]] + name.count("#") - name[1:].count("b")) % 12


def _onset_rate_and_centroid(wav: bytes) -> tuple[float, float]:
    """Onset-envelope peaks above 1 sd per second, and the mean spectral centroid [Hz] of sounding frames."""
    y, sr = _decode(wav)
    spec = stft_magnitude(analysis_signal(y, sr=sr), sr=ANALYSIS_SR)
    env = onset_envelope(spec)
    peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > 1.0)
    rate = float(np.count_nonzero(peaks)) / (y.shape[1] / sr)
    mag = spec.magnitude.astype(np.float64)
    power = np.square(mag).sum(axis=0)
    active = power > power.max() * 1e-6  # within 60 dB of the loudest frame
    freqs = np.arange(mag.shape[0]) * spec.sr / spec.n_fft
    centroid = (freqs @ mag[:, active]) / mag[:, active].sum(axis=0)
    return rate, float(centroid.mean())


def _params(
    prompt: str, bpm: int, scale: str, seconds: int, seed: int, **controls: float
) -> GenerationParams:
    return GenerationParams.model_validate(
        {"prompt": prompt, "duration_seconds": seconds, "bpm": bpm, "scale": scale, "seed": seed, **controls}
    )


@pytest.fixture(scope="module")
def grid() -> list[Measured]:
    """The eight grid tracks, generated and analysed once."""
    out = []
    for row in GRID:
        request = _params(*row)
        track = generate(request)
        y, sr = _decode(track.wav)
        result = analyze(y, sr=sr).to_json()
        out.append(Measured(request, track, y.shape[1], float(result["bpm"]), str(result["key"])))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def controls() -> dict[tuple[str, str, float], tuple[float, float]]:
    """(prompt, control, level) -> (onset rate, spectral centroid), levels 0.2 and 0.9, other at default."""
    out = {}
    for prompt in CONTROL_PROMPTS:
        for control in ("density", "brightness"):
            for level in (0.2, 0.9):
                track = generate(_params(prompt, 110, "C_MAJOR_A_MINOR", 10, 11, **{control: level}))
                out[(prompt, control, level)] = _onset_rate_and_centroid(track.wav)
    return out


def test_the_tempo_comes_back(grid: list[Measured]) -> None:
    misses = [
        (m.request.prompt, m.request.bpm, m.bpm)
        for m in grid
        if abs(m.bpm - m.request.bpm) > TEMPO_TOLERANCE * m.request.bpm
    ]
    assert not misses, f"detected tempo off by more than 4 % (prompt, requested, detected): {misses}"


def test_the_key_is_the_scale_major_or_its_relative_minor(grid: list[Measured]) -> None:
    misses = []
    for m in grid:
        major, minor = SCALES[m.request.scale]
        tonic, mode = m.key.split()
        pc = _pitch_class(tonic)
        if not ((mode == "major" and pc == major) or (mode == "minor" and pc == minor)):
            misses.append((m.request.prompt, m.request.scale, m.track.plan.key, m.key))
    # The target is >= 90 % of tracks, not all of them: a key estimator reading 10 s of
    # music can hear a progression that leans on IV or V as that chord's key. One miss in eight
    # (87.5 %) is as close to 90 % as eight tracks get; the bench measures the rate on 60 tracks.
    assert len(misses) <= 1, (
        f"detected key not the requested scale's (prompt, scale, plan, detected): {misses}"
    )


def test_the_duration_is_exact_to_the_sample(grid: list[Measured]) -> None:
    for m in grid:
        assert m.frames == m.request.duration_seconds * SR
        info = sf.info(io.BytesIO(m.track.wav))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_16")


def test_the_plan_follows_the_request(grid: list[Measured]) -> None:
    for m in grid:
        major, minor = SCALES[m.request.scale]
        assert m.track.plan.bpm == m.request.bpm
        assert m.track.plan.tonic == (major if m.track.plan.mode == "major" else minor)


@pytest.mark.parametrize("prompt", CONTROL_PROMPTS)
def test_density_raises_the_onset_rate(
    controls: dict[tuple[str, str, float], tuple[float, float]], prompt: str
) -> None:
    sparse, busy = controls[(prompt, "density", 0.2)][0], controls[(prompt, "density", 0.9)][0]
    assert busy > sparse, f"{prompt}: onset rate {sparse:.2f}/s at density 0.2, {busy:.2f}/s at 0.9"


@pytest.mark.parametrize("prompt", CONTROL_PROMPTS)
def test_brightness_raises_the_spectral_centroid(
    controls: dict[tuple[str, str, float], tuple[float, float]], prompt: str
) -> None:
    dark, bright = controls[(prompt, "brightness", 0.2)][1], controls[(prompt, "brightness", 0.9)][1]
    assert bright > dark, f"{prompt}: centroid {dark:.0f} Hz at brightness 0.2, {bright:.0f} Hz at 0.9"


def test_same_seed_same_bytes_other_seed_other_audio() -> None:
    request = _params("lounge jazz", 96, "A_FLAT_MAJOR_F_MINOR", 6, 2024)
    first, again = generate(request), generate(request)
    assert first.wav == again.wav
    assert first.midi == again.midi
    other = generate(request.model_copy(update={"seed": 2025}))
    assert other.wav != first.wav
    a, _ = _decode(first.wav)
    b, _ = _decode(other.wav)
    # different music, not a dither-level change: the difference is as loud as the signal
    assert np.sqrt(np.mean((a - b) ** 2)) > 0.3 * np.sqrt(np.mean(a**2))
