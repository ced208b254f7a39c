"""Rhythm analysis on synthetic signals with analytic answers: click trains and piano-like bars."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.analysis.onset import onset_envelope
from tonearm.analysis.rhythm import RhythmAnalysis, analyze_rhythm
from tonearm.analysis.spectral import ANALYSIS_SR, Spectrogram, stft_magnitude
from tonearm.errors import ParameterError

SR = ANALYSIS_SR
#: Beat tolerance of the F-measure [s], as in the MIREX / mir_eval convention.
TOLERANCE_S = 0.07
#: Silence before the first beat [s], so the first onset is not at the clip edge.
LEAD_S = 0.25
#: Clip length [s]: long enough for several bars at 60 BPM, short enough to keep the suite fast.
SECONDS = 12.0


def f_measure(reference: np.ndarray, estimated: np.ndarray, *, tolerance: float = TOLERANCE_S) -> float:
    """Beat F-measure with one-to-one greedy matching within ``tolerance`` seconds (as mir_eval)."""
    if len(reference) == 0 or len(estimated) == 0:
        return 0.0
    used = np.zeros(len(estimated), dtype=bool)
    hits = 0
    for r in reference:
        dist = np.where(used, np.inf, np.abs(estimated - r))
        j = int(np.argmin(dist))
        if dist[j] <= tolerance:
            used[j] = True
            hits += 1
    precision, recall = hits / len(estimated), hits / len(reference)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def beat_grid(bpm: float, meter: int, seconds: float = SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """Reference beat times and bar positions (0 = downbeat) of a steady pulse starting at LEAD_S."""
    times = np.arange(LEAD_S, seconds - 0.2, 60.0 / bpm)
    return times, np.arange(len(times)) % meter


def click(freq: float, *, amp: float, decay_s: float = 0.03, length_s: float = 0.1) -> np.ndarray:
    """A short exponentially decaying sine burst."""
    t = np.arange(int(length_s * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / decay_s)).astype(np.float32)


def place(y: np.ndarray, sound: np.ndarray, at_s: float) -> None:
    """Add ``sound`` into ``y`` starting at ``at_s`` seconds (truncated at the end)."""
    i = round(at_s * SR)
    n = min(len(sound), len(y) - i)
    y[i : i + n] += sound[:n]


def click_track(bpm: float, meter: int, seconds: float = SECONDS) -> np.ndarray:
    """Clicks on every beat, the downbeat higher and louder (a metronome)."""
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    times, positions = beat_grid(bpm, meter, seconds)
    for t, p in zip(times, positions, strict=True):
        place(y, click(1760.0 if p == 0 else 880.0, amp=0.9 if p == 0 else 0.45), t)
    return y


def piano_note(midi: float, *, amp: float, length_s: float) -> np.ndarray:
    """A decaying harmonic tone (8 partials, 1/k amplitudes, higher partials decaying faster)."""
    t = np.arange(int(length_s * SR)) / SR
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
    tone = np.zeros_like(t)
    for k in range(1, 9):
        if k * f0 < SR / 2:
            tone += np.sin(2 * np.pi * k * f0 * t) / k * np.exp(-t * (1.5 + 0.8 * k))
    attack = np.minimum(1.0, t / 0.005)  # 5 ms attack, no click
    return (amp * tone * attack).astype(np.float32)


#: A I-IV-V-vi progression in C, one chord per bar: upper-voice MIDI pitches and bass pitch.
CHORDS = [((60, 64, 67), 36), ((60, 65, 69), 41), ((59, 62, 67), 43), ((60, 64, 69), 45)]


def piano_track(bpm: float, meter: int, seconds: float = SECONDS) -> np.ndarray:
    """A chord on every beat, a bass note on every downbeat, one chord per bar."""
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    times, positions = beat_grid(bpm, meter, seconds)
    beat_s = 60.0 / bpm
    for i, (t, p) in enumerate(zip(times, positions, strict=True)):
        upper, bass = CHORDS[(i // meter) % len(CHORDS)]
        for m in upper:
            place(y, piano_note(m, amp=0.12, length_s=beat_s), t)
        if p == 0:
            place(y, piano_note(bass, amp=0.5, length_s=beat_s * meter), t)
    return y


def analyze(y: np.ndarray) -> RhythmAnalysis:
    return analyze_rhythm(stft_magnitude(y, sr=SR))


def check(result: RhythmAnalysis, bpm: float, meter: int, seconds: float = SECONDS) -> None:
    times, positions = beat_grid(bpm, meter, seconds)
    assert result.bpm == pytest.approx(bpm, rel=0.02)
    assert f_measure(times, result.beats) >= 0.95
    assert result.time_signature == meter
    assert f_measure(times[positions == 0], result.downbeats) >= 0.9
    assert result.beat_numbers.shape == result.beats.shape
    assert set(np.unique(result.beat_numbers)) <= set(range(1, meter + 1))
    np.testing.assert_array_equal(result.downbeats, result.beats[result.beat_numbers == 1])


@pytest.mark.parametrize("bpm", [60, 75, 90, 120, 150, 180])
@pytest.mark.parametrize("meter", [3, 4])
def test_click_track(bpm: int, meter: int) -> None:
    result = analyze(click_track(bpm, meter))
    check(result, bpm, meter)
    assert result.bpm_confidence > 0.5


@pytest.mark.parametrize(("bpm", "meter"), [(72, 4), (96, 3), (126, 4), (160, 3), (176, 4)])
def test_piano_bars(bpm: int, meter: int) -> None:
    check(analyze(piano_track(bpm, meter)), bpm, meter)


def test_beats_are_on_the_onsets() -> None:
    """No large systematic offset: instant clicks come out ~17 ms early (rendered notes ~7 ms late)."""
    times, _ = beat_grid(120, 4)
    beats = analyze(click_track(120, 4)).beats
    errors = beats[:, None] - times[None, :]
    nearest = errors[np.arange(len(beats)), np.abs(errors).argmin(axis=1)]
    assert abs(float(np.median(nearest))) < 0.025


def test_silence() -> None:
    result = analyze(np.zeros(10 * SR, dtype=np.float32))
    assert result.bpm == 0.0
    assert result.bpm_confidence == 0.0
    assert result.beats.shape == (0,)
    assert result.downbeats.shape == (0,)
    assert result.beat_numbers.shape == (0,)


def test_near_silence(rng: np.random.Generator) -> None:
    """Noise at -100 dBFS is silence, not a rhythm."""
    result = analyze((1e-5 * rng.standard_normal(10 * SR)).astype(np.float32))
    assert result.bpm == 0.0
    assert result.beats.shape == (0,)


def test_very_short_input() -> None:
    result = analyze(click_track(120, 4, seconds=1.0))
    assert result.bpm == 0.0
    assert result.bpm_confidence == 0.0
    assert len(result.beats) == 0


def test_white_noise_has_low_confidence(rng: np.random.Generator) -> None:
    result = analyze((0.3 * rng.standard_normal(10 * SR)).astype(np.float32))
    # bpmConfidence is the probability that the tempo is right: for noise, "more likely wrong", at the
    # calibration's floor (music whose beat is hardly periodic), far below a click track's
    assert result.bpm_salience < 0.06
    assert result.bpm_confidence < 0.5
    assert result.bpm_confidence < analyze(click_track(120, 4)).bpm_confidence - 0.4
    assert np.all(np.diff(result.beats) > 0)
    assert 0.0 <= result.time_signature_confidence <= 1.0


def test_onset_envelope_shape_and_peaks() -> None:
    spec = stft_magnitude(click_track(120, 4), sr=SR)
    env = onset_envelope(spec)
    assert env.shape == (spec.magnitude.shape[1],)
    assert env.dtype == np.float32
    assert np.all(env >= 0)
    times, _ = beat_grid(120, 4)
    frames = np.round(times * spec.frame_rate).astype(int)
    # The envelope peaks within one frame of every click.
    window = np.maximum.reduce([env[np.clip(frames + d, 0, len(env) - 1)] for d in (-1, 0, 1)])
    assert np.all(window > 3 * np.median(env))


def test_onset_envelope_of_silence_is_zero() -> None:
    spec = stft_magnitude(np.zeros(SR, dtype=np.float32), sr=SR)
    assert not np.any(onset_envelope(spec))


def test_precomputed_envelope_gives_the_same_result() -> None:
    spec = stft_magnitude(click_track(90, 3), sr=SR)
    a = analyze_rhythm(spec)
    b = analyze_rhythm(spec, envelope=onset_envelope(spec))
    assert a.bpm == b.bpm
    np.testing.assert_array_equal(a.beats, b.beats)


def test_envelope_shape_is_checked() -> None:
    spec = Spectrogram(magnitude=np.ones((1025, 100), dtype=np.float32), sr=SR, n_fft=2048, hop=512)
    with pytest.raises(ParameterError):
        analyze_rhythm(spec, envelope=np.zeros(99, dtype=np.float32))
