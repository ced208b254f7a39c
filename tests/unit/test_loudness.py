"""Tests for the BS.1770-4 loudness meter, EBU Tech 3342 loudness range and true peak.

Reference values come from the standard itself (48 kHz coefficient table, -3.01 LUFS for a full-scale
997 Hz tone in one channel) and from pyloudnorm. pyloudnorm's default K-weighting (RBJ biquads with a
unity-gain high pass) reads a systematic ~0.043 LU below the standard's coefficients, hence the 0.05 LU
tolerance; its "DeMan" filter class uses the standard's coefficients and agrees to ~1e-6 at 48 kHz.

Signals are ``(channels, n)``, as tonearm's decoder returns them; pyloudnorm and scipy's resampler are
given the transpose, ``(n, channels)``, which is their layout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
from scipy import signal

from tonearm.audio import loudness as loudness_module
from tonearm.audio.loudness import (
    MAX_INFERRED_CHANNELS,
    MIN_SAMPLE_RATE,
    TRUE_PEAK_TAPS,
    LoudnessMeter,
    LoudnessSummary,
    channel_weights,
    integrated_loudness,
    k_weighting_sos,
    loudness_range,
    loudness_summary,
    peak_dbfs,
    sample_peak,
    true_peak_dbtp,
    true_peak_kernel,
    true_peak_oversampling,
)
from tonearm.errors import ParameterError

SINE_997_ONE_CHANNEL_LUFS = 10 * math.log10(0.5)  # -3.0103: mean square of a unit sine, -0.691 cancels


def _noise(*, sr: int, seconds: float, channels: int, seed: int, rms: float = 0.1) -> npt.NDArray[np.float64]:
    """Shape (channels, n); the same samples per channel whatever the layout was."""
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray((rng.standard_normal((round(sr * seconds), channels)) * rms).T)


def _sines(*, sr: int, seconds: float, channels: int, seed: int) -> npt.NDArray[np.float64]:
    # A different tone per channel (100 Hz - 3 kHz, all below 8 kHz's Nyquist) with a random phase.
    # Shape (channels, n).
    rng = np.random.default_rng(seed)
    t = np.arange(round(sr * seconds)) / sr
    freqs = np.array([100.0, 440.0, 997.0, 2000.0, 3000.0])[:channels, np.newaxis]
    phases = rng.uniform(0, 2 * np.pi, size=channels)[:, np.newaxis]
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
    with pytest.raises(ParameterError, match="at least"):
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
    y = np.zeros((2, sr * 3))
    y[0] = _tone_997(sr=sr, seconds=3, amplitude=amplitude)
    expected = SINE_997_ONE_CHANNEL_LUFS + 20 * math.log10(amplitude)
    assert integrated_loudness(y, sr=sr) == pytest.approx(expected, abs=0.01)


def test_997hz_sine_in_both_channels_is_3db_louder() -> None:
    sr = 48000
    tone = _tone_997(sr=sr, seconds=3, amplitude=0.5)
    mono_in_stereo = np.stack([tone, np.zeros_like(tone)])
    both = np.stack([tone, tone])
    diff = integrated_loudness(both, sr=sr) - integrated_loudness(mono_in_stereo, sr=sr)
    assert diff == pytest.approx(10 * math.log10(2), abs=1e-6)


def test_surround_channels_are_weighted_141() -> None:
    sr = 48000
    tone = _tone_997(sr=sr, seconds=2, amplitude=0.5)
    front, surround = np.zeros((5, tone.size)), np.zeros((5, tone.size))
    front[0] = tone
    surround[3] = tone
    diff = integrated_loudness(surround, sr=sr) - integrated_loudness(front, sr=sr)
    assert diff == pytest.approx(10 * math.log10(1.41), abs=1e-6)


def test_mono_1d_equals_single_channel() -> None:
    y = _noise(sr=16000, seconds=2, channels=1, seed=3)
    assert integrated_loudness(y[0], sr=16000) == integrated_loudness(y, sr=16000)


# --- agreement with pyloudnorm --------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize("kind", ["noise", "sines"])
def test_matches_pyloudnorm(sr: int, channels: int, kind: str) -> None:
    make = _noise if kind == "noise" else _sines
    y = make(sr=sr, seconds=5.0, channels=channels, seed=sr + channels)
    ours = integrated_loudness(y, sr=sr)
    reference = pyloudnorm.Meter(sr).integrated_loudness(y.T)
    assert ours == pytest.approx(reference, abs=0.05)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_matches_pyloudnorm_standard_coefficients_at_48k(channels: int) -> None:
    y = _noise(sr=48000, seconds=4.0, channels=channels, seed=11)
    reference = pyloudnorm.Meter(48000, filter_class="DeMan").integrated_loudness(y.T)
    assert integrated_loudness(y, sr=48000) == pytest.approx(reference, abs=1e-4)


# --- streaming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 11025, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_streaming_in_odd_blocks_equals_one_shot(sr: int, channels: int) -> None:
    y = _noise(sr=sr, seconds=3.37, channels=channels, seed=7)
    y[:, : sr // 2] *= 0.01  # a quiet start so the gates have something to do
    one_shot = integrated_loudness(y, sr=sr)

    rng = np.random.default_rng(channels)
    cuts = np.sort(rng.choice(np.arange(1, y.shape[1]), size=150, replace=False))
    meter = LoudnessMeter(sr=sr, channels=channels)
    meter.process(y[:, :0])  # empty blocks are fine
    for block in np.split(y, cuts, axis=1):
        meter.process(block)
    assert meter.frames == y.shape[1]
    assert meter.integrated_lufs() == pytest.approx(one_shot, abs=1e-6)


def test_streaming_sample_by_sample_boundaries() -> None:
    # Single-frame and step-sized blocks land exactly on 100 ms boundaries (11025 Hz: 1102.5 frames).
    sr = 11025
    y = _noise(sr=sr, seconds=1.0, channels=2, seed=5)
    meter = LoudnessMeter(sr=sr, channels=2)
    for i in range(0, 2205):
        meter.process(y[:, i : i + 1])
    meter.process(y[:, 2205:])
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(y, sr=sr), abs=1e-9)
    assert meter.block_energies().shape == (7,)  # 10 steps of 100 ms -> 7 blocks of 400 ms


def test_meter_can_be_read_mid_stream() -> None:
    sr = 48000
    y = _noise(sr=sr, seconds=2.0, channels=1, seed=9)
    meter = LoudnessMeter(sr=sr, channels=1)
    meter.process(y[:, :sr])
    first = meter.integrated_lufs()
    assert first == pytest.approx(integrated_loudness(y[:, :sr], sr=sr), abs=1e-9)
    meter.process(y[:, sr:])
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(y, sr=sr), abs=1e-9)


def test_meter_rejects_wrong_channel_count() -> None:
    meter = LoudnessMeter(sr=48000, channels=2)
    with pytest.raises(ParameterError, match=r"shape \(2, n\)"):
        meter.process(np.zeros((3, 100)))
    # The frame-major layout is refused too, not read as 100 channels.
    with pytest.raises(ParameterError, match=r"shape \(2, n\)"):
        meter.process(np.zeros((100, 2)))


# --- gating -------------------------------------------------------------------------------------------


def test_silence_is_minus_inf() -> None:
    assert integrated_loudness(np.zeros((2, 48000 * 2)), sr=48000) == -math.inf


def test_shorter_than_one_block_is_minus_inf() -> None:
    y = _noise(sr=48000, seconds=0.39, channels=2, seed=1)
    assert integrated_loudness(y, sr=48000) == -math.inf
    assert integrated_loudness(np.zeros((2, 0)), sr=48000) == -math.inf


def test_below_absolute_gate_is_minus_inf() -> None:
    y = _noise(sr=48000, seconds=2.0, channels=1, seed=2, rms=10 ** (-75 / 20))
    assert integrated_loudness(y, sr=48000) == -math.inf


def test_relative_gate_ignores_a_long_quiet_part() -> None:
    sr = 48000
    loud = _noise(sr=sr, seconds=5.0, channels=2, seed=21, rms=0.1)
    quiet = _noise(sr=sr, seconds=20.0, channels=2, seed=22, rms=0.1 * 10 ** (-25 / 20))
    y = np.concatenate([loud, quiet], axis=1)

    loud_only = integrated_loudness(loud, sr=sr)
    gated = integrated_loudness(y, sr=sr)
    # Without gating the 20 s quiet part would drag the reading down by ~7 LU.
    ungated = -0.691 + 10 * math.log10(float(np.mean(np.sum(np.square(y), axis=0))))
    assert loud_only - ungated > 5.0
    # With it only the blocks straddling the transition (each partly loud) are added.
    assert gated == pytest.approx(loud_only, abs=0.3)
    assert gated == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(y.T), abs=0.05)


def test_absolute_gate_ignores_near_silence() -> None:
    # Hiss just under -70 LUFS and less than 10 LU below the programme, so that the relative gate alone
    # would keep it: only the absolute gate can remove it.
    sr = 44100
    loud = _noise(sr=sr, seconds=10.0, channels=1, seed=31, rms=10 ** (-68 / 20))
    hiss = _noise(sr=sr, seconds=30.0, channels=1, seed=32, rms=10 ** (-75 / 20))
    loud_only = integrated_loudness(loud, sr=sr)
    assert integrated_loudness(hiss, sr=sr) == -math.inf
    assert -70.0 < loud_only < -60.0

    y = np.concatenate([hiss[:, : sr * 10], loud, hiss[:, sr * 10 :]], axis=1)
    assert integrated_loudness(y, sr=sr) == pytest.approx(loud_only, abs=0.2)
    assert integrated_loudness(y, sr=sr) == pytest.approx(
        pyloudnorm.Meter(sr).integrated_loudness(y.T), abs=0.05
    )


# --- peak ---------------------------------------------------------------------------------------------


def test_peak_dbfs() -> None:
    y = np.zeros((2, 1000))
    y[1, 500] = -0.5
    assert peak_dbfs(y) == pytest.approx(20 * math.log10(0.5))
    assert peak_dbfs(np.zeros(10)) == -math.inf
    assert peak_dbfs(np.zeros((2, 0))) == -math.inf


def test_meter_tracks_peak() -> None:
    y = _noise(sr=48000, seconds=1.0, channels=2, seed=4)
    meter = LoudnessMeter(sr=48000, channels=2)
    assert meter.peak_dbfs() == -math.inf
    meter.process(y[:, :1000])
    meter.process(y[:, 1000:])
    assert meter.peak_dbfs() == pytest.approx(peak_dbfs(y))


# --- loudness range (EBU Tech 3342) -------------------------------------------------------------------


def _stereo_1k(*, sr: int, segments: list[tuple[float, float]]) -> npt.NDArray[np.float64]:
    """A 1 kHz sine in both channels, one (level dBFS, seconds) segment after the other, phase-continuous.

    Shape (2, n).
    """
    levels = np.concatenate([np.full(round(sr * seconds), 10 ** (db / 20)) for db, seconds in segments])
    t = np.arange(levels.size) / sr
    tone = levels * np.sin(2 * np.pi * 1000.0 * t)
    return np.stack([tone, tone])


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ((-20, -30), 10.0),  # Tech 3342 test signal 1
        ((-20, -15), 5.0),  # test signal 2
        ((-40, -20), 20.0),  # test signal 3
        ((-50, -35, -20, -35, -50), 15.0),  # test signal 4
    ],
    ids=["signal-1", "signal-2", "signal-3", "signal-4"],
)
def test_loudness_range_of_tech_3342_test_signals(levels: tuple[float, ...], expected: float) -> None:
    # Each level lasts 20 s; the spec allows +-1 LU. The 3 s windows straddling a level change lie
    # between the two levels and fall inside the 10-95 % percentile span, so the reading is exact.
    y = _stereo_1k(sr=48000, segments=[(db, 20.0) for db in levels])
    lra = loudness_range(y, sr=48000)
    assert lra == pytest.approx(expected, abs=1.0)
    assert lra == pytest.approx(expected, abs=0.01)


def test_loudness_range_of_a_steady_signal_is_zero() -> None:
    y = _stereo_1k(sr=44100, segments=[(-23.0, 10.0)])
    assert loudness_range(y, sr=44100) == pytest.approx(0.0, abs=1e-9)


def test_loudness_range_is_nan_when_undefined() -> None:
    sr = 48000
    assert math.isnan(loudness_range(_stereo_1k(sr=sr, segments=[(-20.0, 2.95)]), sr=sr))  # no 3 s window
    assert loudness_range(_stereo_1k(sr=sr, segments=[(-20.0, 3.0)]), sr=sr) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(loudness_range(np.zeros((2, sr * 5)), sr=sr))  # silence: nothing passes -70 LUFS
    quiet = _noise(sr=sr, seconds=5.0, channels=1, seed=41, rms=10 ** (-80 / 20))
    assert math.isnan(loudness_range(quiet, sr=sr))


def test_loudness_range_gates_out_near_silence() -> None:
    # 20 s at -20 dBFS then 20 s of -85 dBFS hiss: the absolute gate (-70 LUFS) drops the hiss windows
    # exactly as it drops digital silence, so the range is ~1.5 LU (the windows straddling the end of
    # the tone), not the ~65 LU between tone and hiss.
    sr = 48000
    tone = _stereo_1k(sr=sr, segments=[(-20.0, 20.0)])
    hiss = _noise(sr=sr, seconds=20.0, channels=2, seed=42, rms=10 ** (-85 / 20))
    with_hiss = loudness_range(np.concatenate([tone, hiss], axis=1), sr=sr)
    with_silence = loudness_range(np.concatenate([tone, np.zeros_like(hiss)], axis=1), sr=sr)
    assert with_hiss == pytest.approx(with_silence, abs=0.01)
    assert with_hiss < 3.0


def test_loudness_range_relative_gate_is_20_lu() -> None:
    # -20 then -45 dBFS: the quiet part is ~25 LU below the loud one, more than 20 LU below the power
    # mean, so it is gated out and the range collapses to that of the transitions.
    sr = 48000
    y = _stereo_1k(sr=sr, segments=[(-20.0, 20.0), (-45.0, 20.0)])
    assert loudness_range(y, sr=sr) < 5.0
    y = _stereo_1k(sr=sr, segments=[(-20.0, 20.0), (-35.0, 20.0)])  # 15 LU down: kept
    assert loudness_range(y, sr=sr) == pytest.approx(15.0, abs=0.01)


@pytest.mark.parametrize("sr", [11025, 44100])
def test_loudness_range_streaming_equals_one_shot(sr: int) -> None:
    y = np.concatenate(
        [
            _noise(sr=sr, seconds=6.0, channels=2, seed=43, rms=0.1),
            _noise(sr=sr, seconds=5.3, channels=2, seed=44, rms=0.02),
        ],
        axis=1,
    )
    one_shot = loudness_range(y, sr=sr)
    meter = LoudnessMeter(sr=sr, channels=2, true_peak=False)
    cuts = np.sort(np.random.default_rng(sr).choice(np.arange(1, y.shape[1]), size=200, replace=False))
    for block in np.split(y, cuts, axis=1):
        meter.process(block)
    assert meter.loudness_range() == pytest.approx(one_shot, abs=1e-9)
    assert meter.short_term_energies().shape == (round(11.3 * 10) - 29,)


def test_short_term_energies_are_3_s_means() -> None:
    sr = 8000  # 100 ms = 800 frames exactly
    y = _noise(sr=sr, seconds=4.05, channels=2, seed=45)
    meter = LoudnessMeter(sr=sr, channels=2, true_peak=False)
    meter.process(y)
    short = meter.short_term_energies()
    assert short.shape == (11,)  # 40 complete steps -> windows starting at 0.0, 0.1, ..., 1.0 s
    energy = np.sum(np.square(signal.sosfilt(k_weighting_sos(sr=sr), y, axis=-1)), axis=0)
    expected = [np.mean(energy[800 * j : 800 * j + 3 * sr]) for j in range(11)]
    np.testing.assert_allclose(short, expected, rtol=1e-12)


# --- true peak (BS.1770-4 annex 2) --------------------------------------------------------------------


def _faded(x: npt.NDArray[np.float64], *, sr: int) -> npt.NDArray[np.float64]:
    # 10 ms raised-cosine fades: an abrupt start or end rings in the interpolator (as it would in a DAC)
    # and would add its own overshoot to what these tests measure.
    n = sr // 100
    ramp = np.sin(np.pi / 2 * np.arange(n) / n) ** 2
    env = np.ones(x.shape[-1])
    env[:n], env[-n:] = ramp, ramp[::-1]
    return x * env


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_true_peak_of_quarter_rate_sine_at_45_degrees(sr: int) -> None:
    # x[n] = A sin(pi n / 2 + pi / 4): every sample is +-A sqrt(2)/2, the waveform peaks at A halfway
    # between samples, so the true peak is 3.01 dB above the sample peak.
    amplitude = 0.5
    n = np.arange(sr * 2)
    x = _faded(amplitude * np.sin(np.pi * n / 2 + np.pi / 4), sr=sr)
    sample_peak = peak_dbfs(x)
    assert sample_peak == pytest.approx(20 * math.log10(amplitude * math.sqrt(2) / 2), abs=1e-9)
    tp = true_peak_dbtp(x, sr=sr)
    assert tp == pytest.approx(20 * math.log10(amplitude), abs=0.3)
    assert tp - sample_peak == pytest.approx(10 * math.log10(2), abs=0.3)
    assert tp == pytest.approx(20 * math.log10(amplitude), abs=0.02)  # what this interpolator achieves


@pytest.mark.parametrize("freq", [100.0, 997.0, 5000.0, 9000.0])
def test_true_peak_of_a_sine_is_its_amplitude(freq: float) -> None:
    sr = 48000
    x = _faded(0.7 * np.sin(2 * np.pi * freq * np.arange(sr) / sr + 0.3), sr=sr)
    # 4x oversampling may miss the crest by up to 1 - cos(pi f / (4 fs)) (the grid's half spacing).
    worst = 20 * math.log10(math.cos(math.pi * freq / (4 * sr)))
    assert worst - 0.02 <= true_peak_dbtp(x, sr=sr) - 20 * math.log10(0.7) <= 0.02


def test_true_peak_agrees_with_scipy_polyphase_resampling() -> None:
    sr = 44100
    y = _faded(
        _sines(sr=sr, seconds=2.0, channels=2, seed=46)
        + _noise(sr=sr, seconds=2.0, channels=2, seed=47, rms=0.05),
        sr=sr,
    )
    reference = 20 * math.log10(float(np.max(np.abs(signal.resample_poly(y.T, 4, 1, axis=0)))))
    assert true_peak_dbtp(y, sr=sr) == pytest.approx(reference, abs=0.1)


def test_true_peak_is_never_below_the_sample_peak() -> None:
    y = _noise(sr=44100, seconds=1.0, channels=2, seed=48)
    assert true_peak_dbtp(y, sr=44100) >= peak_dbfs(y)
    # A lone full-scale sample rings: the interpolated signal cannot be below it at the sample itself.
    impulse = np.zeros(1000)
    impulse[500] = 1.0
    assert true_peak_dbtp(impulse, sr=48000) == pytest.approx(0.0, abs=1e-12)


def test_true_peak_oversampling_factors() -> None:
    assert [true_peak_oversampling(sr=sr) for sr in (8000, 44100, 48000, 88200)] == [4, 4, 4, 4]
    assert [true_peak_oversampling(sr=sr) for sr in (96000, 176400)] == [2, 2]
    assert [true_peak_oversampling(sr=sr) for sr in (192000, 384000)] == [1, 1]
    # No oversampling at 192 kHz: the true peak is the sample peak.
    x = 0.5 * np.sin(np.pi * np.arange(19200) / 2 + np.pi / 4)
    assert true_peak_dbtp(x, sr=192000) == pytest.approx(peak_dbfs(x), abs=1e-12)


@pytest.mark.parametrize("sr", [44100, 96000])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_true_peak_streaming_equals_one_shot(sr: int, channels: int) -> None:
    y = _noise(sr=sr, seconds=1.3, channels=channels, seed=49)
    # End on a loud quarter-rate burst cut off mid-wave, so the largest interpolated values (inter-sample
    # peaks and the ringing past the last frame) are at the very end, where streaming must flush.
    y[:, -40:] = 2.0 * np.sin(np.pi * np.arange(40) / 2 + np.pi / 4)
    one_shot = true_peak_dbtp(y, sr=sr)
    meter = LoudnessMeter(sr=sr, channels=channels)
    cuts = np.sort(np.random.default_rng(channels).choice(np.arange(1, y.shape[1]), size=120, replace=False))
    cuts = np.concatenate(([1, 2, 3], cuts))  # single-frame blocks too
    for block in np.split(y, np.unique(cuts), axis=1):
        meter.process(block)
    assert meter.true_peak_dbtp() == pytest.approx(one_shot, abs=1e-9)
    assert meter.true_peak_dbtp() > meter.peak_dbfs()


def test_true_peak_can_be_read_mid_stream_and_on_silence() -> None:
    sr = 48000
    y = _noise(sr=sr, seconds=1.0, channels=2, seed=50)
    meter = LoudnessMeter(sr=sr, channels=2)
    assert meter.true_peak_dbtp() == -math.inf
    meter.process(np.zeros((2, 1000)))
    assert meter.true_peak_dbtp() == -math.inf
    meter.process(y[:, : sr // 2])
    first = meter.true_peak_dbtp()
    assert first == pytest.approx(
        true_peak_dbtp(np.concatenate([np.zeros((2, 1000)), y[:, : sr // 2]], axis=1), sr=sr)
    )
    meter.process(y[:, sr // 2 :])
    assert meter.true_peak_dbtp() >= first


def test_true_peak_can_be_switched_off() -> None:
    meter = LoudnessMeter(sr=48000, channels=1, true_peak=False)
    meter.process(np.ones(100))
    with pytest.raises(RuntimeError, match="true_peak=False"):
        meter.true_peak_dbtp()


# --- loudness_summary ---------------------------------------------------------------------------------


def test_loudness_summary_matches_the_individual_measurements() -> None:
    sr = 44100
    y = _faded(
        np.concatenate(
            [
                _sines(sr=sr, seconds=4.0, channels=2, seed=51),
                0.1 * _sines(sr=sr, seconds=4.0, channels=2, seed=52),
            ],
            axis=1,
        ),
        sr=sr,
    )
    summary = loudness_summary(y, sr=sr)
    assert isinstance(summary, LoudnessSummary)
    assert summary.integrated_lufs == pytest.approx(integrated_loudness(y, sr=sr), abs=1e-9)
    assert summary.range_lu == pytest.approx(loudness_range(y, sr=sr), abs=1e-9)
    assert summary.sample_peak_dbfs == pytest.approx(peak_dbfs(y), abs=1e-12)
    assert summary.true_peak_dbtp == pytest.approx(true_peak_dbtp(y, sr=sr), abs=1e-9)
    assert summary.true_peak_dbtp >= summary.sample_peak_dbfs
    json = summary.to_json()
    assert set(json) == {"loudnessLufs", "loudnessRangeLu", "samplePeakDb", "truePeakDb"}
    assert all(isinstance(v, float) for v in json.values())


def test_loudness_summary_takes_a_strided_channel_first_array() -> None:
    # A (channels, n) view of frame-interleaved samples (what a (n, channels) buffer's transpose is)
    # reads exactly as the contiguous copy does: it is converted one block at a time.
    sr = 48000
    y = _noise(sr=sr, seconds=3.5, channels=2, seed=53).astype(np.float32)
    interleaved = np.ascontiguousarray(y.T)
    from_view = loudness_summary(interleaved.T, sr=sr)
    from_copy = loudness_summary(y, sr=sr)
    assert from_view == from_copy
    assert loudness_summary(y[0], sr=sr).integrated_lufs == pytest.approx(
        integrated_loudness(y[0], sr=sr), abs=1e-6
    )


def test_loudness_summary_of_silence_and_of_very_low_rates() -> None:
    silent = loudness_summary(np.zeros((2, 48000 * 4)), sr=48000)
    assert silent.integrated_lufs == -math.inf and silent.sample_peak_dbfs == -math.inf
    assert silent.true_peak_dbtp == -math.inf and math.isnan(silent.range_lu)
    assert silent.to_json() == {
        "loudnessLufs": None,
        "loudnessRangeLu": None,
        "samplePeakDb": None,
        "truePeakDb": None,
    }
    # Below MIN_SAMPLE_RATE K-weighting is undefined: peaks only.
    low = loudness_summary(_noise(sr=2000, seconds=2.0, channels=1, seed=54), sr=2000)
    assert math.isnan(low.integrated_lufs) and math.isnan(low.range_lu)
    assert math.isfinite(low.sample_peak_dbfs) and low.true_peak_dbtp >= low.sample_peak_dbfs
    assert low.to_json()["loudnessLufs"] is None


def test_true_peak_skipping_quiet_passages_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # Quiet sub-blocks whose worst-case interpolation cannot beat the peak found so far are skipped;
    # disabling the shortcut (an infinite bound) must not change any result.
    sr = 44100
    loud = _faded(_sines(sr=sr, seconds=1.0, channels=2, seed=55), sr=sr)
    quiet = 0.05 * _noise(sr=sr, seconds=3.0, channels=2, seed=56)
    y = np.concatenate([quiet, loud, quiet, 0.4 * loud], axis=1)
    fast_one_shot = true_peak_dbtp(y, sr=sr)
    fast_summary = loudness_summary(y, sr=sr).true_peak_dbtp
    meter = LoudnessMeter(sr=sr, channels=2)
    for block in np.array_split(y, 17, axis=1):
        meter.process(block)
    fast_stream = meter.true_peak_dbtp()

    original_init = loudness_module._TruePeak.__init__

    def no_shortcut(self: Any, *, sr: int, channels: int) -> None:
        original_init(self, sr=sr, channels=channels)
        self._gain = math.inf

    monkeypatch.setattr(loudness_module._TruePeak, "__init__", no_shortcut)
    exact = true_peak_dbtp(y, sr=sr)
    assert fast_one_shot == exact and fast_summary == exact
    assert fast_stream == pytest.approx(exact, abs=1e-9)


# --- layout: (channels, n) in, the old (n, channels) answers out ------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_channel_first_input_reads_as_pyloudnorm_reads_the_transpose(channels: int) -> None:
    # pyloudnorm takes (n, channels): the transpose of what tonearm takes must read the same, for the
    # one-shot function, the streaming meter and the summary alike (5 channels: surround weights too).
    sr = 48000
    y = _noise(sr=sr, seconds=4.0, channels=channels, seed=60 + channels)
    y[:, : sr // 2] *= 0.05  # a quiet start for the gates
    reference = pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(y.T)
    assert integrated_loudness(y, sr=sr) == pytest.approx(reference, abs=1e-4)
    assert loudness_summary(y, sr=sr).integrated_lufs == pytest.approx(reference, abs=1e-4)
    meter = LoudnessMeter(sr=sr, channels=channels)
    for block in np.array_split(y, 7, axis=1):
        meter.process(block)
    assert meter.integrated_lufs() == pytest.approx(reference, abs=1e-4)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_channel_first_peaks_are_the_largest_channel_peaks(channels: int) -> None:
    # Peaks are per channel, then the largest: a (channels, n) signal gives exactly the largest of its
    # channels' mono readings, and the true peak agrees with scipy's 4x resampling of the transpose.
    sr = 44100
    y = _faded(
        _sines(sr=sr, seconds=1.0, channels=channels, seed=70)
        + _noise(sr=sr, seconds=1.0, channels=channels, seed=71, rms=0.05),
        sr=sr,
    )
    assert sample_peak(y) == max(sample_peak(y[c]) for c in range(channels))
    assert true_peak_dbtp(y, sr=sr) == max(true_peak_dbtp(y[c], sr=sr) for c in range(channels))
    summary = loudness_summary(y, sr=sr)
    assert summary.sample_peak_dbfs == peak_dbfs(y)
    assert summary.true_peak_dbtp == pytest.approx(true_peak_dbtp(y, sr=sr), abs=1e-12)
    reference = 20 * math.log10(float(np.max(np.abs(signal.resample_poly(y.T, 4, 1, axis=0)))))
    assert summary.true_peak_dbtp == pytest.approx(reference, abs=0.1)


def test_frame_major_input_is_refused_not_misread() -> None:
    # An (n, 2) array would otherwise be measured as n channels of two samples each.
    sr = 48000
    frame_major = _noise(sr=sr, seconds=1.0, channels=2, seed=72).T
    assert frame_major.shape == (sr, 2)
    for measure in (
        lambda y: integrated_loudness(y, sr=sr),
        lambda y: loudness_range(y, sr=sr),
        lambda y: true_peak_dbtp(y, sr=sr),
        lambda y: loudness_summary(y, sr=sr),
        sample_peak,
    ):
        with pytest.raises(ParameterError, match=r"\(channels, n\)") as excinfo:
            measure(frame_major)
        assert excinfo.value.code == "invalid_parameter" and excinfo.value.status == 400
        measure(frame_major.T)  # the (channels, n) transpose is fine
    # Neither is anything but (n,) or (channels, n).
    with pytest.raises(ParameterError):
        integrated_loudness(np.zeros((2, 2, 100)), sr=sr)
    # Many channels are fine as long as each is longer than the channel count.
    wide = _noise(sr=sr, seconds=0.01, channels=MAX_INFERRED_CHANNELS + 8, seed=73)
    assert wide.shape[1] > wide.shape[0]
    assert sample_peak(wide) == pytest.approx(float(np.max(np.abs(wide))))


def test_loudness_summary_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ParameterError, match="sr must be positive"):
        loudness_summary(np.zeros((2, 100)), sr=0)
    with pytest.raises(ParameterError, match="channels must be >= 1"):
        channel_weights(channels=0)


# --- the true-peak kernel -------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_true_peak_kernel_shape_and_gain(factor: int) -> None:
    kernel = true_peak_kernel(factor=factor)
    assert kernel.shape == (TRUE_PEAK_TAPS, factor - 1)
    # Every in-between phase passes DC at unity (within the interpolator's 0.02 dB ripple).
    np.testing.assert_allclose(kernel.sum(axis=0), 1.0, atol=10 ** (0.02 / 20) - 1)
    # Phase p of the kernel interpolates a slow sine at k + p / factor.
    if factor > 1:
        k = np.arange(-7, 9)
        for p in range(1, factor):
            x = np.sin(2 * np.pi * 0.01 * k)
            assert x @ kernel[:, p - 1] == pytest.approx(np.sin(2 * np.pi * 0.01 * p / factor), abs=1e-3)


def test_true_peak_kernel_refuses_a_factor_below_one() -> None:
    with pytest.raises(ParameterError, match="factor"):
        true_peak_kernel(factor=0)
