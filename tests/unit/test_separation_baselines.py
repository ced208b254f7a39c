"""Tests for the DSP separation baselines and the SDR metrics (issue 19).

Every signal is synthesized here, at 22.05 kHz to keep the tests fast: a sustained chord ("pad", panned
left), a kick (a decaying sine sweeping down to 55 Hz, centred), a snare (band-passed noise bursts,
centred) and a "voice" (a non-repeating melody with vibrato and harmonics, centred). A stem's share of a
source is the projection ``<stem, source> / |source|^2`` (1: all of it, 0: none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import signal

from tonearm.errors import ParameterError
from tonearm.separation import baselines
from tonearm.separation.baselines import (
    BASELINES,
    hpss,
    iter_chunks,
    kick_snare_bands,
    mid_side,
    repet_sim,
    stft_geometry,
)
from tonearm.separation.sdr import framewise_sdr, sdr, sdr_per_stem, si_sdr

SR = 22_050
Array = npt.NDArray[np.float64]


def _sources(seconds: float = 4.0, seed: int = 1) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    pad = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    burst = int(0.3 * SR)
    tb = np.arange(burst) / SR
    sweep = 55.0 + 65.0 * np.exp(-tb / 0.03)
    kick_burst = 0.6 * np.sin(2 * np.pi * np.cumsum(sweep) / SR) * np.exp(-tb / 0.06)
    band = signal.butter(4, [200.0, 4000.0], btype="band", fs=SR, output="sos")
    kick = np.zeros(n)
    snare = np.zeros(n)
    for beat in range(int(seconds * 2)):
        k0 = int(beat * 0.5 * SR)
        kick[k0 : k0 + burst] += kick_burst[: n - k0]
        s0 = int((beat * 0.5 + 0.25) * SR)
        if s0 < n:
            noise = signal.sosfilt(band, rng.standard_normal(burst)) * np.exp(-tb / 0.04) * 0.5
            snare[s0 : s0 + burst] += noise[: n - s0]
    note = int(0.35 * SR)
    pitches = 440.0 * 2 ** (rng.integers(-5, 8, size=n // note + 1) / 12)
    f0 = pitches[np.arange(n) // note] * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = 0.15 * sum(np.sin(h * phase) / h for h in (1, 2, 3))
    return {
        "pad": np.stack([0.8 * pad, 0.3 * pad]),
        "kick": np.stack([kick, kick]),
        "snare": np.stack([snare, snare]),
        "voice": np.stack([voice, voice]),
    }


@pytest.fixture(scope="module")
def sources() -> dict[str, Array]:
    return _sources()


@pytest.fixture(scope="module")
def mix(sources: dict[str, Array]) -> npt.NDArray[np.float32]:
    return np.asarray(sum(sources.values()), dtype=np.float32)


def _share(stem: npt.ArrayLike, source: npt.ArrayLike) -> float:
    s = np.asarray(source, np.float64)
    return float(np.sum(np.asarray(stem, np.float64) * s) / np.sum(s * s))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_stems_partition_the_mix(name: str, mix: npt.NDArray[np.float32]) -> None:
    function, names = BASELINES[name]
    stems = function(mix, SR)
    assert tuple(stems) == names
    for stem in stems.values():
        assert stem.shape == mix.shape
        assert stem.dtype == np.float32
    assert float(np.abs(mix - sum(stems.values())).max()) < 1e-4


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_partition_holds_for_odd_shapes(name: str) -> None:
    rng = np.random.default_rng(3)
    for channels, n in ((1, 1), (1, 700), (3, 5000), (2, 0)):
        x = (0.3 * rng.standard_normal((channels, n))).astype(np.float32)
        stems = BASELINES[name][0](x, SR)
        assert all(stem.shape == x.shape for stem in stems.values())
        if n:
            assert float(np.abs(x - sum(stems.values())).max()) < 1e-5


def test_stft_round_trip_is_exact() -> None:
    """With masks of one the inverse returns the input: the residual stem is then the last mask's stem."""
    rng = np.random.default_rng(4)
    for sr in (8_000, 22_050, 44_100, 48_000):
        window, hop = stft_geometry(sr)
        assert hop * 4 == window
        for n in (1, 3 * hop + 7, 10_000):
            x = rng.standard_normal((2, n)).astype(np.float32)
            y = baselines._istft(baselines._stft(x, window, hop), n, window, hop)
            assert float(np.abs(y - x).max()) < 1e-5


def test_stft_geometry_scales_with_rate() -> None:
    assert stft_geometry(44_100) == (2048, 512)
    assert stft_geometry(48_000) == (2048, 512)
    assert stft_geometry(22_050) == (1024, 256)
    assert stft_geometry(96_000) == (4096, 1024)


def test_hpss_puts_the_noise_bursts_in_drums_and_the_pad_in_other(
    mix: npt.NDArray[np.float32], sources: dict[str, Array]
) -> None:
    stems = hpss(mix, SR)
    assert _share(stems["drums"], sources["snare"]) > 0.7
    assert _share(stems["drums"], sources["pad"]) < 0.3
    assert _share(stems["drums"], sources["snare"]) > _share(stems["drums"], sources["pad"]) + 0.4
    assert _share(stems["other"], sources["voice"]) > 0.8


def test_kick_stem_is_low_and_snare_stem_holds_the_snare(
    mix: npt.NDArray[np.float32], sources: dict[str, Array]
) -> None:
    stems = kick_snare_bands(mix, SR)
    power = np.abs(np.fft.rfft(stems["kick"], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(mix.shape[1], 1.0 / SR)
    assert power[:, freqs < 150].sum() > 0.9 * power.sum()
    assert _share(stems["kick"], sources["kick"]) > 0.2
    assert abs(_share(stems["kick"], sources["snare"])) < 0.02
    assert abs(_share(stems["kick"], sources["pad"])) < 0.02
    assert _share(stems["snare"], sources["snare"]) > 0.7
    assert sdr(sources["snare"], stems["snare"]) > 3.0
    # the drums' split adds up to HPSS's percussive part, less the bands above snare_hz
    drums = hpss(mix, SR)["drums"]
    assert _share(stems["kick"] + stems["snare"], drums) > 0.9


def test_repet_sim_finds_the_non_repeating_voice(
    mix: npt.NDArray[np.float32], sources: dict[str, Array]
) -> None:
    stems = repet_sim(mix, SR)
    assert _share(stems["vocals"], sources["voice"]) > 0.35
    assert _share(stems["vocals"], sources["pad"]) < 0.2
    assert _share(stems["accompaniment"], sources["pad"]) > 0.8


def test_repet_sim_without_repetition_room_leaves_everything_in_the_accompaniment() -> None:
    x = np.random.default_rng(5).standard_normal((2, SR // 4)).astype(np.float32)
    stems = repet_sim(x, SR, min_lag_seconds=1.0)
    assert float(np.abs(stems["vocals"]).max()) < 1e-5


def test_mid_side(mix: npt.NDArray[np.float32], sources: dict[str, Array]) -> None:
    stems = mid_side(mix, SR)
    np.testing.assert_allclose(stems["vocals"][0], 0.5 * (mix[0] + mix[1]), atol=1e-6)
    np.testing.assert_allclose(stems["vocals"][0], stems["vocals"][1])
    np.testing.assert_allclose(stems["accompaniment"][0], -stems["accompaniment"][1], atol=1e-6)
    assert _share(stems["vocals"], sources["voice"]) == pytest.approx(1.0, abs=1e-3)
    mono = mix[:1]
    assert float(np.abs(mid_side(mono, SR)["accompaniment"]).max()) == 0.0


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("hpss", {}),
        ("kick_snare_bands", {}),
        ("repet_sim", {"window_seconds": 1.5, "min_lag_seconds": 0.4}),
        ("mid_side", {}),
    ],
)
def test_chunked_equals_one_shot(name: str, params: dict[str, Any]) -> None:
    long = np.asarray(sum(_sources(seconds=9.0, seed=7).values()), dtype=np.float32)
    function = BASELINES[name][0]
    whole = function(long, SR, chunk_seconds=100.0, **params)
    chunked = function(long, SR, chunk_seconds=1.3, **params)
    pieces = list(iter_chunks(name, long, SR, chunk_seconds=1.3, **params))
    assert len(pieces) == math.ceil(long.shape[1] / (round(1.3 * SR / 256) * 256))
    assert pieces[0][0] == 0 and pieces[-1][1] == long.shape[1]
    for stem in whole:
        assert float(np.abs(whole[stem] - chunked[stem]).max()) < 1e-4
        streamed = np.concatenate([piece[2][stem] for piece in pieces], axis=1)
        np.testing.assert_array_equal(streamed, chunked[stem])


def test_bad_inputs_are_refused(mix: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ParameterError):
        hpss(mix[0], SR)  # 1-D
    with pytest.raises(ParameterError):
        hpss(np.zeros((5000, 2), np.float32), SR)  # transposed
    with pytest.raises(ParameterError):
        hpss(mix, 4_000)
    with pytest.raises(ParameterError):
        mid_side(mix, 44_100.0)  # type: ignore[arg-type]
    bad = mix.copy()
    bad[0, 10] = np.nan
    with pytest.raises(ParameterError):
        repet_sim(bad, SR)
    with pytest.raises(ParameterError):
        kick_snare_bands(mix, SR, kick_hz=6000.0)
    with pytest.raises(ParameterError):
        hpss(mix, SR, chunk_seconds=0.0)
    with pytest.raises(ParameterError):
        list(iter_chunks("demucs", mix, SR))


# --- SDR --------------------------------------------------------------------------------------------


def test_sdr_of_perfect_and_of_silent_estimates(sources: dict[str, Array]) -> None:
    s = sources["voice"]
    assert sdr(s, s) > 60.0
    assert sdr(s, s.astype(np.float32)) > 60.0
    assert sdr(s, np.zeros_like(s)) == pytest.approx(0.0, abs=1e-9)
    assert sdr(np.zeros(10), np.zeros(10)) == pytest.approx(0.0)
    noisy = s + 0.1 * np.random.default_rng(0).standard_normal(s.shape) * np.std(s)
    assert sdr(s, noisy) == pytest.approx(20.0, abs=0.2)


def test_si_sdr_is_scale_invariant_and_sdr_is_not(sources: dict[str, Array]) -> None:
    s = sources["snare"]
    estimate = s + 0.3 * sources["pad"]
    base = si_sdr(s, estimate)
    for scale in (0.1, 0.5, 3.0):
        assert si_sdr(s, scale * estimate) == pytest.approx(base, abs=1e-6)
    assert sdr(s, 0.5 * estimate) < sdr(s, estimate)
    assert si_sdr(s, s) > 60.0
    assert si_sdr(s.ravel(), estimate.ravel()) == pytest.approx(base)


def test_framewise_sdr_and_per_stem(sources: dict[str, Array]) -> None:
    s = sources["kick"]
    assert framewise_sdr(s, s, SR) > 60.0
    assert framewise_sdr(s, np.zeros_like(s), SR) == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(framewise_sdr(np.zeros_like(s), s, SR))
    assert framewise_sdr(s[:, :1000], s[:, :1000], SR) > 60.0  # shorter than one window
    scores = sdr_per_stem(sources, {name: 0.5 * x for name, x in sources.items()})
    assert set(scores) == set(sources)
    assert all(v == pytest.approx(20 * math.log10(2), abs=1e-6) for v in scores.values())
    with pytest.raises(ParameterError):
        sdr_per_stem(sources, {})
    with pytest.raises(ParameterError):
        sdr(s, s[:, :-1])


def test_band_weights_cross_over_without_exceeding_one() -> None:
    kick, snare = baselines._band_weights(44_100, 150.0, 5000.0, 0.5)
    freqs = np.fft.rfftfreq(stft_geometry(44_100)[0], 1.0 / 44_100)
    assert np.all(kick + snare <= 1.0 + 1e-6) and np.all(kick >= 0) and np.all(snare >= 0)
    assert np.all(kick[freqs < 120] == 1.0) and np.all(kick[freqs > 180] == 0.0)
    assert np.all(snare[(freqs > 200) & (freqs < 4000)] > 0.99) and np.all(snare[freqs > 6000] == 0.0)
