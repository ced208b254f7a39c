"""Tests for the BS.1770-4 loudness meter (tonearm.analysis.loudness).

Reference values come from the standard itself (48 kHz coefficient table, -3.01 LUFS for a full-scale
997 Hz tone in one channel) and from pyloudnorm. pyloudnorm's default K-weighting (RBJ biquads with a
unity-gain high pass) reads a systematic ~0.043 LU below the standard's coefficients, hence the 0.05 LU
tolerance; its "DeMan" filter class uses the standard's coefficients and agrees to ~1e-6 at 48 kHz.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
from scipy import signal

from tonearm.analysis.loudness import (
    MIN_SAMPLE_RATE,
    LoudnessMeter,
    channel_weights,
    integrated_loudness,
    k_weighting_sos,
    peak_dbfs,
)

SINE_997_ONE_CHANNEL_LUFS = 10 * math.log10(0.5)  # -3.0103: mean square of a unit sine, -0.691 cancels


def _noise(*, sr: int, seconds: float, channels: int, seed: int, rms: float = 0.1) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((round(sr * seconds), channels)) * rms


def _sines(*, sr: int, seconds: float, channels: int, seed: int) -> npt.NDArray[np.float64]:
    # A different tone per channel (100 Hz - 3 kHz, all below 8 kHz's Nyquist) with a random phase.
    rng = np.random.default_rng(seed)
    t = np.arange(round(sr * seconds))[:, np.newaxis] / sr
    freqs = np.array([100.0, 440.0, 997.0, 2000.0, 3000.0])[:channels]
    phases = rng.uniform(0, 2 * np.pi, size=channels)
    return 0.3 * np.sin(2 * np.pi * freqs * t + phases)


def _tone_997(*, sr: int, seconds: float, amplitude: float) -> npt.NDArray[np.float64]:
    t = np.arange(round(sr * seconds)) / sr
    return amplitude * np.sin(2 * np.pi * 997.0 * t)


# --- filter -------------------------------------------------------------------------------------------


def test_k_weighting_reproduces_bs1770_table_at_48k() -> None:
    sos = k_weighting_sos(sr=48000)
    expected = np.array(
        [
            [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
            [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
        ]
    )
    np.testing.assert_allclose(sos, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 22050, 44100, 48000, 88200, 96000, 192000])
def test_k_weighting_is_stable_and_has_standard_passband(sr: int) -> None:
    sos = k_weighting_sos(sr=sr)
    # Poles inside the unit circle for every stage.
    for section in sos:
        assert np.all(np.abs(np.roots(section[3:])) < 1.0)
    # DC is removed; at 997 Hz the K-filter gain is ~+0.69 dB (what the -0.691 dB offset cancels), less
    # exactly at low rates where the bilinear transform warps the shelf towards Nyquist.
    _, h = signal.sosfreqz(sos, worN=np.array([0.0, 997.0]), fs=sr)
    assert abs(h[0]) < 1e-6
    assert 20 * np.log10(abs(h[1])) == pytest.approx(0.691, abs=0.25)


def test_k_weighting_rejects_rates_below_the_shelf() -> None:
    with pytest.raises(ValueError, match="at least"):
        k_weighting_sos(sr=MIN_SAMPLE_RATE - 1)
    k_weighting_sos(sr=MIN_SAMPLE_RATE)


def test_channel_weights() -> None:
    np.testing.assert_array_equal(channel_weights(channels=5), [1.0, 1.0, 1.0, 1.41, 1.41])
    for channels in (1, 2, 3, 4, 6, 8):
        np.testing.assert_array_equal(channel_weights(channels=channels), np.ones(channels))


# --- analytic values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
@pytest.mark.parametrize("amplitude", [1.0, 0.5, 0.1])
def test_997hz_sine_in_one_channel_of_stereo(sr: int, amplitude: float) -> None:
    y = np.zeros((sr * 3, 2))
    y[:, 0] = _tone_997(sr=sr, seconds=3, amplitude=amplitude)
    expected = SINE_997_ONE_CHANNEL_LUFS + 20 * math.log10(amplitude)
    assert integrated_loudness(y, sr=sr) == pytest.approx(expected, abs=0.01)


def test_997hz_sine_in_both_channels_is_3db_louder() -> None:
    sr = 48000
    tone = _tone_997(sr=sr, seconds=3, amplitude=0.5)
    mono_in_stereo = np.stack([tone, np.zeros_like(tone)], axis=1)
    both = np.stack([tone, tone], axis=1)
    diff = integrated_loudness(both, sr=sr) - integrated_loudness(mono_in_stereo, sr=sr)
    assert diff == pytest.approx(10 * math.log10(2), abs=1e-6)


def test_surround_channels_are_weighted_141() -> None:
    sr = 48000
    tone = _tone_997(sr=sr, seconds=2, amplitude=0.5)
    front, surround = np.zeros((tone.size, 5)), np.zeros((tone.size, 5))
    front[:, 0] = tone
    surround[:, 3] = tone
    diff = integrated_loudness(surround, sr=sr) - integrated_loudness(front, sr=sr)
    assert diff == pytest.approx(10 * math.log10(1.41), abs=1e-6)


def test_mono_1d_equals_single_column() -> None:
    y = _noise(sr=16000, seconds=2, channels=1, seed=3)
    assert integrated_loudness(y[:, 0], sr=16000) == integrated_loudness(y, sr=16000)


# --- agreement with pyloudnorm --------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize("kind", ["noise", "sines"])
def test_matches_pyloudnorm(sr: int, channels: int, kind: str) -> None:
    make = _noise if kind == "noise" else _sines
    y = make(sr=sr, seconds=5.0, channels=channels, seed=sr + channels)
    ours = integrated_loudness(y, sr=sr)
    reference = pyloudnorm.Meter(sr).integrated_loudness(y)
    assert ours == pytest.approx(reference, abs=0.05)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_matches_pyloudnorm_standard_coefficients_at_48k(channels: int) -> None:
    y = _noise(sr=48000, seconds=4.0, channels=channels, seed=11)
    reference = pyloudnorm.Meter(48000, filter_class="DeMan").integrated_loudness(y)
    assert integrated_loudness(y, sr=48000) == pytest.approx(reference, abs=1e-4)


# --- streaming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 11025, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_streaming_in_odd_blocks_equals_one_shot(sr: int, channels: int) -> None:
    y = _noise(sr=sr, seconds=3.37, channels=channels, seed=7)
    y[: sr // 2] *= 0.01  # a quiet start so the gates have something to do
    one_shot = integrated_loudness(y, sr=sr)

    rng = np.random.default_rng(channels)
    cuts = np.sort(rng.choice(np.arange(1, y.shape[0]), size=150, replace=False))
    meter = LoudnessMeter(sr=sr, channels=channels)
    meter.process(y[:0])  # empty blocks are fine
    for block in np.split(y, cuts):
        meter.process(block)
    assert meter.frames == y.shape[0]
    assert meter.integrated_lufs() == pytest.approx(one_shot, abs=1e-6)


def test_streaming_sample_by_sample_boundaries() -> None:
    # Single-frame and step-sized blocks land exactly on 100 ms boundaries (11025 Hz: 1102.5 frames).
    sr = 11025
    y = _noise(sr=sr, seconds=1.0, channels=2, seed=5)
    meter = LoudnessMeter(sr=sr, channels=2)
    for i in range(0, 2205):
        meter.process(y[i : i + 1])
    meter.process(y[2205:])
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(y, sr=sr), abs=1e-9)
    assert meter.block_energies().shape == (7,)  # 10 steps of 100 ms -> 7 blocks of 400 ms


def test_meter_can_be_read_mid_stream() -> None:
    sr = 48000
    y = _noise(sr=sr, seconds=2.0, channels=1, seed=9)
    meter = LoudnessMeter(sr=sr, channels=1)
    meter.process(y[:sr])
    first = meter.integrated_lufs()
    assert first == pytest.approx(integrated_loudness(y[:sr], sr=sr), abs=1e-9)
    meter.process(y[sr:])
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(y, sr=sr), abs=1e-9)


def test_meter_rejects_wrong_channel_count() -> None:
    meter = LoudnessMeter(sr=48000, channels=2)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        meter.process(np.zeros((100, 3)))


# --- gating -------------------------------------------------------------------------------------------


def test_silence_is_minus_inf() -> None:
    assert integrated_loudness(np.zeros((48000 * 2, 2)), sr=48000) == -math.inf


def test_shorter_than_one_block_is_minus_inf() -> None:
    y = _noise(sr=48000, seconds=0.39, channels=2, seed=1)
    assert integrated_loudness(y, sr=48000) == -math.inf
    assert integrated_loudness(np.zeros((0, 2)), sr=48000) == -math.inf


def test_below_absolute_gate_is_minus_inf() -> None:
    y = _noise(sr=48000, seconds=2.0, channels=1, seed=2, rms=10 ** (-75 / 20))
    assert integrated_loudness(y, sr=48000) == -math.inf


def test_relative_gate_ignores_a_long_quiet_part() -> None:
    sr = 48000
    loud = _noise(sr=sr, seconds=5.0, channels=2, seed=21, rms=0.1)
    quiet = _noise(sr=sr, seconds=20.0, channels=2, seed=22, rms=0.1 * 10 ** (-25 / 20))
    y = np.concatenate([loud, quiet])

    loud_only = integrated_loudness(loud, sr=sr)
    gated = integrated_loudness(y, sr=sr)
    # Without gating the 20 s quiet part would drag the reading down by ~7 LU.
    ungated = -0.691 + 10 * math.log10(float(np.mean(np.sum(np.square(y), axis=1))))
    assert loud_only - ungated > 5.0
    # With it only the blocks straddling the transition (each partly loud) are added.
    assert gated == pytest.approx(loud_only, abs=0.3)
    assert gated == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(y), abs=0.05)


def test_absolute_gate_ignores_near_silence() -> None:
    # Hiss just under -70 LUFS and less than 10 LU below the programme, so that the relative gate alone
    # would keep it: only the absolute gate can remove it.
    sr = 44100
    loud = _noise(sr=sr, seconds=10.0, channels=1, seed=31, rms=10 ** (-68 / 20))
    hiss = _noise(sr=sr, seconds=30.0, channels=1, seed=32, rms=10 ** (-75 / 20))
    loud_only = integrated_loudness(loud, sr=sr)
    assert integrated_loudness(hiss, sr=sr) == -math.inf
    assert -70.0 < loud_only < -60.0

    y = np.concatenate([hiss[: sr * 10], loud, hiss[sr * 10 :]])
    assert integrated_loudness(y, sr=sr) == pytest.approx(loud_only, abs=0.2)
    assert integrated_loudness(y, sr=sr) == pytest.approx(
        pyloudnorm.Meter(sr).integrated_loudness(y), abs=0.05
    )


# --- peak ---------------------------------------------------------------------------------------------


def test_peak_dbfs() -> None:
    y = np.zeros((1000, 2))
    y[500, 1] = -0.5
    assert peak_dbfs(y) == pytest.approx(20 * math.log10(0.5))
    assert peak_dbfs(np.zeros(10)) == -math.inf
    assert peak_dbfs(np.zeros((0, 2))) == -math.inf


def test_meter_tracks_peak() -> None:
    y = _noise(sr=48000, seconds=1.0, channels=2, seed=4)
    meter = LoudnessMeter(sr=48000, channels=2)
    assert meter.peak_dbfs() == -math.inf
    meter.process(y[:1000])
    meter.process(y[1000:])
    assert meter.peak_dbfs() == pytest.approx(peak_dbfs(y))
