"""Beat tracking through tempo changes: a step, a ramp and (as a control) a steady tempo.

Synthetic metronomes with known beat times; the beats must be found within 70 ms and the per-beat
local tempo (``beat_tempos``, on the wire ``beatTempos``) must follow the tempo curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

# the beat F-measure of the steady-tempo tests (70 ms, one-to-one greedy matching, as mir_eval)
from tests.unit.test_rhythm import f_measure
from tonearm.analysis.analyze import analyze
from tonearm.analysis.rhythm import RhythmAnalysis, analyze_rhythm
from tonearm.analysis.spectral import ANALYSIS_SR, stft_magnitude

SR = ANALYSIS_SR
LEAD_S = 0.25
SECONDS = 24.0


def beat_times(tempo_at: Callable[[float], float], seconds: float = SECONDS) -> np.ndarray:
    """Beats from LEAD_S on, each interval 60 / tempo at the beat that starts it."""
    times = [LEAD_S]
    while times[-1] + 60.0 / tempo_at(times[-1]) < seconds - 0.2:
        times.append(times[-1] + 60.0 / tempo_at(times[-1]))
    return np.array(times)


def click(freq: float, amp: float) -> np.ndarray:
    t = np.arange(int(0.1 * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.03)).astype(np.float32)


def metronome(times: np.ndarray, meter: int = 4, seconds: float = SECONDS) -> np.ndarray:
    """A click on every beat, the downbeat higher and louder."""
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    for k, t in enumerate(times):
        sound = click(1760.0, 0.9) if k % meter == 0 else click(880.0, 0.45)
        i = round(t * SR)
        n = min(len(sound), len(y) - i)
        y[i : i + n] += sound[:n]
    return y


def analyze_clicks(times: np.ndarray) -> RhythmAnalysis:
    return analyze_rhythm(stft_magnitude(metronome(times), sr=SR))


def step(t: float) -> float:
    return 100.0 if t < 11.0 else 130.0


def ramp(t: float) -> float:
    return 90.0 + 30.0 * min(max((t - 2.0) / 18.0, 0.0), 1.0)


@pytest.mark.parametrize("tempo_at", [step, ramp], ids=["step-100-130", "ramp-90-120"])
def test_beats_follow_the_tempo(tempo_at: Callable[[float], float]) -> None:
    times = beat_times(tempo_at)
    result = analyze_clicks(times)
    assert f_measure(times, result.beats) >= 0.9
    assert result.time_signature == 4
    assert f_measure(times[::4], result.downbeats) >= 0.9
    assert result.beat_tempos.shape == result.beats.shape
    # The local tempo at each beat: within 3 % of the true one, except within two beats of the step.
    truth = np.array([tempo_at(t) for t in result.beats])
    error = np.abs(result.beat_tempos / truth - 1.0)
    near_step = np.abs(result.beats - 11.0) < 2 * 60.0 / 100.0
    if tempo_at is not step:
        near_step[:] = False
    assert np.mean(error[~near_step] < 0.03) >= 0.9
    # The global tempo is the median local tempo: inside the range the clip covers.
    assert min(truth) * 0.98 <= result.bpm <= max(truth) * 1.02


def test_a_steady_tempo_stays_steady() -> None:
    times = beat_times(lambda t: 120.0)
    result = analyze_clicks(times)
    assert f_measure(times, result.beats) >= 0.95
    assert result.bpm == pytest.approx(120.0, rel=0.01)
    np.testing.assert_allclose(result.beat_tempos, 120.0, rtol=0.01)


def test_the_step_is_seen_in_the_tempo_curve() -> None:
    result = analyze_clicks(beat_times(step))
    before = result.beat_tempos[result.beats < 9.0]
    after = result.beat_tempos[result.beats > 13.0]
    assert np.median(before) == pytest.approx(100.0, rel=0.02)
    assert np.median(after) == pytest.approx(130.0, rel=0.02)


def test_beat_tempos_on_the_wire() -> None:
    times = beat_times(step, seconds=16.0)
    result = analyze(metronome(times, seconds=16.0), sr=SR).to_json()
    tempos = result["beatTempos"]
    assert isinstance(tempos, list)
    assert isinstance(result["beats"], list)
    assert len(tempos) == len(result["beats"])
    assert all(isinstance(t, float) and 60.0 < t < 200.0 for t in tempos)


def test_silence_has_no_beat_tempos() -> None:
    result = analyze_rhythm(stft_magnitude(np.zeros(10 * SR, dtype=np.float32), sr=SR))
    assert result.beat_tempos.shape == (0,)
