"""The training-time augmentations of the separation data: synthetic room reverb and bus compression."""

from __future__ import annotations

import numpy as np
import pytest

from models.separation import augment

SR = 44_100


@pytest.fixture
def stems() -> np.ndarray:
    """Three stems, 2 s stereo: a click train, a loud sine burst in the second half, noise."""
    rng = np.random.default_rng(7)
    n = 2 * SR
    out = np.zeros((3, 2, n), dtype=np.float32)
    out[0, :, :: SR // 4] = 0.8
    t = np.arange(n) / SR
    out[1] = (0.6 * np.sin(2 * np.pi * 220 * t) * (t >= 1.0)).astype(np.float32)
    out[2] = (0.01 * rng.standard_normal((2, n))).astype(np.float32)
    return out


def _decay_db(impulse: np.ndarray, start_s: float, stop_s: float) -> float:
    """Energy ratio (dB) of the response between two instants, over 50 ms windows."""
    w = round(0.05 * SR)

    def energy(s: float) -> float:
        i = round(s * SR)
        return float(np.sum(impulse[:, i : i + w].astype(np.float64) ** 2))

    return 10 * np.log10(energy(stop_s) / energy(start_s))


def test_room_impulse_decays_at_its_rt60() -> None:
    impulse = augment.room_impulse(SR, 0.8, np.random.default_rng(0), pre_delay_s=0.0)
    assert impulse.shape == (2, round(0.8 * SR))
    np.testing.assert_allclose(np.sum(impulse.astype(np.float64) ** 2, axis=-1), 1.0, rtol=1e-4)
    # -60 dB per 0.8 s is -30 dB per 0.4 s (the low-pass darkens the tail a little more)
    assert -36.0 < _decay_db(impulse, 0.1, 0.5) < -28.0
    # the channels are decorrelated: a room widens what goes through it
    assert abs(np.corrcoef(impulse[0], impulse[1])[0, 1]) < 0.1


def test_room_impulse_pre_delay_and_seed() -> None:
    a = augment.room_impulse(SR, 0.3, np.random.default_rng(1), pre_delay_s=0.02)
    b = augment.room_impulse(SR, 0.3, np.random.default_rng(1), pre_delay_s=0.02)
    c = augment.room_impulse(SR, 0.3, np.random.default_rng(2), pre_delay_s=0.02)
    assert not np.any(a[:, : round(0.02 * SR)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError):
        augment.room_impulse(SR, 0.0, np.random.default_rng(0))


def test_reverb_adds_a_tail_per_send_and_keeps_the_sum(stems: np.ndarray) -> None:
    impulse = augment.room_impulse(SR, 0.5, np.random.default_rng(3))
    wet = augment.apply_reverb(stems, impulse, [0.5, 0.0, 0.2])
    assert wet.shape == stems.shape and wet.dtype == np.float32
    np.testing.assert_array_equal(wet[1], stems[1])  # send 0: dry
    # between two clicks the dry kick stem is silent; the wet one rings
    gap = slice(round(0.1 * SR), round(0.2 * SR))
    assert not np.any(stems[0][:, gap]) and np.sqrt(np.mean(wet[0][:, gap] ** 2)) > 1e-3
    # the added part is the dry stem through the room, at the send level
    direct = np.convolve(stems[2, 0].astype(np.float64), impulse[0].astype(np.float64))[: stems.shape[-1]]
    np.testing.assert_allclose(wet[2, 0] - stems[2, 0], 0.2 * direct, atol=2e-6)
    np.testing.assert_allclose(augment.mix_of(wet), wet.sum(axis=0, dtype=np.float64), atol=1e-6)
    with pytest.raises(ValueError):
        augment.apply_reverb(stems, impulse[:1], [0.1, 0.1, 0.1])
    with pytest.raises(ValueError):
        augment.apply_reverb(stems, impulse, [0.1, 0.1])


def test_bus_compression_levels_the_loud_part_alike_in_every_stem(stems: np.ndarray) -> None:
    out = augment.bus_compress(stems, SR, threshold_db=-20.0, ratio=4.0)
    assert out.shape == stems.shape and out.dtype == np.float32
    # one gain curve for all stems: each stem's ratio to its input is the same at any instant
    t = round(1.5 * SR)
    ratios = out[:, 0, t] / stems[:, 0, t]
    np.testing.assert_allclose(ratios[1:], ratios[1], rtol=1e-4)

    def rms(x: np.ndarray, a: float, b: float) -> float:
        return float(np.sqrt(np.mean(x[..., round(a * SR) : round(b * SR)].astype(np.float64) ** 2)))

    mix_in, mix_out = stems.sum(axis=0), out.sum(axis=0)
    # the loud second half is turned down relative to the quiet first half (levelling)
    contrast_in = rms(mix_in, 1.2, 2.0) / rms(mix_in, 0.1, 0.9)
    contrast_out = rms(mix_out, 1.2, 2.0) / rms(mix_out, 0.1, 0.9)
    assert 20 * np.log10(contrast_in / contrast_out) > 6.0
    # make-up gain restores the mix's peak
    np.testing.assert_allclose(np.abs(mix_out).max(), np.abs(mix_in).max(), rtol=1e-4)


def test_bus_compression_below_threshold_or_ratio_one_changes_nothing(stems: np.ndarray) -> None:
    quiet = (stems * 0.01).astype(np.float32)
    untouched = augment.bus_compress(quiet, SR, threshold_db=-10.0, ratio=4.0)
    np.testing.assert_allclose(untouched, quiet, atol=1e-7)
    unity = augment.bus_compress(stems, SR, threshold_db=-40.0, ratio=1.0)
    np.testing.assert_allclose(unity, stems, atol=1e-6)
    with pytest.raises(ValueError):
        augment.bus_compress(stems, SR, threshold_db=-20.0, ratio=0.5)
