"""Tests for mastering: exact length, fades, loudness, true-peak limiting, dither and the WAV file.

Every signal is made here (sines, noise, clicks, plucks, silence). The results are measured
independently with :mod:`tonearm.audio.loudness` (the project's BS.1770-4 meter) rather than trusted
from what :func:`master` reports.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tonearm.audio.loudness import integrated_loudness, true_peak_dbtp
from tonearm.errors import ParameterError
from tonearm.generation import master as master_module
from tonearm.generation.master import MasteredAudio, master, wav_bytes

SR = 48000
TARGET = -14.0
CEILING = -1.0
#: The meter reads the int16 result; dither and rounding move its true peak by ~0.001 dB at most.
PEAK_TOLERANCE_DB = 0.05
#: What master() reports is a measurement of its result (or exactly equivalent): it must match the meter.
REPORT_TOLERANCE_LU = 1e-3


def _measure(result: MasteredAudio, *, sr: int = SR) -> tuple[float, float]:
    y = result.pcm.T.astype(np.float64) / 32768.0  # pcm is (n_frames, channels), the WAV's layout
    return integrated_loudness(y, sr=sr), true_peak_dbtp(y, sr=sr)


def _pad(seconds: float, *, level: float = 0.05, seed: int = 0) -> npt.NDArray[np.float32]:
    """A soft chord with a little noise: ordinary, dense material."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    left = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0)))
    right = sum(np.sin(2 * np.pi * f * t + 2 * k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0)))
    x = level * np.stack((left, right)) / 4 + 0.1 * level * rng.standard_normal((2, t.size))
    return x.astype(np.float32)


def _clicks(seconds: float, *, amplitude: float = 0.3, every_s: float = 0.25) -> npt.NDArray[np.float32]:
    """Loud one-sample clicks (with an inter-sample overshoot) over a quiet pad: forces the limiter."""
    x = _pad(seconds, level=0.1)
    at = np.arange(round(0.1 * SR), x.shape[1] - 2, round(every_s * SR))
    x[0, at] += amplitude
    x[0, at + 1] -= amplitude  # alternating neighbours: the true peak lies well above the samples
    x[1, at] += 0.8 * amplitude
    return x


def _plucks(seconds: float) -> npt.NDArray[np.float32]:
    """Sparse decaying plucks with silence between: peaky, quiet material."""
    x = np.zeros((2, round(seconds * SR)))
    t = np.arange(round(0.6 * SR)) / SR
    for k, start in enumerate(np.arange(0.2, seconds - 0.7, 1.5)):
        tone = 0.4 * np.exp(-t * 9.0) * np.sin(2 * np.pi * 196.0 * 2 ** (k / 12) * t)
        i = round(start * SR)
        x[0, i : i + t.size] += tone
        x[1, i : i + t.size] += 0.6 * tone
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def pad_result() -> MasteredAudio:
    return master(_pad(4.5), n_frames=4 * SR)


@pytest.fixture(scope="module")
def clicks_result() -> MasteredAudio:
    return master(_clicks(4.5), n_frames=4 * SR)


# --- length, shape, dtype -------------------------------------------------------------------------------


def test_longer_input_is_cut_to_exactly_n_frames(pad_result: MasteredAudio) -> None:
    assert pad_result.pcm.shape == (4 * SR, 2)
    assert pad_result.pcm.dtype == np.int16
    assert pad_result.pcm.flags.c_contiguous  # interleaved frames, as a WAV data chunk wants them


@pytest.mark.parametrize("n_frames", [0, 1, 31, 33, 48000 + 17])
def test_shorter_input_is_zero_padded_to_exactly_n_frames(n_frames: int) -> None:
    x = _pad(0.5)[:, : max(n_frames // 2, 1)]
    result = master(x, n_frames=n_frames)
    assert result.pcm.shape == (n_frames, 2)
    assert result.pcm.dtype == np.int16
    # The padding is digital silence: no dither there (from the first 32-frame hop that the
    # interpolator's 8-frame reach does not connect to the audio).
    assert not result.pcm[(x.shape[1] + 8 + 31) // 32 * 32 :].any()


def test_other_channel_counts_and_rates() -> None:
    mono = master(_pad(3.0)[:1], n_frames=3 * SR)
    assert mono.pcm.shape == (3 * SR, 1)
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((2, 3 * 44100))).astype(np.float32)
    result = master(noise, n_frames=3 * 44100, sr=44100)
    loudness, peak = _measure(result, sr=44100)
    assert loudness == pytest.approx(TARGET, abs=0.01)
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert result.true_peak_dbtp == pytest.approx(peak, abs=1e-3)


# --- loudness and true peak -----------------------------------------------------------------------------


def test_ordinary_material_is_normalised_to_the_target(pad_result: MasteredAudio) -> None:
    loudness, peak = _measure(pad_result)
    assert loudness == pytest.approx(TARGET, abs=0.5)
    assert loudness == pytest.approx(TARGET, abs=0.01)  # in fact much closer: no limiting needed
    assert pad_result.limited_db == 0.0
    assert peak <= CEILING + PEAK_TOLERANCE_DB
    # What it reports is what the meter reads.
    assert pad_result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert pad_result.true_peak_dbtp == pytest.approx(peak, abs=1e-3)


def test_peaky_material_is_limited_under_the_ceiling_at_the_target(clicks_result: MasteredAudio) -> None:
    loudness, peak = _measure(clicks_result)
    assert clicks_result.limited_db < -1.0  # the limiter did the work
    assert clicks_result.limited_db >= -12.0 - 1e-9
    assert peak <= CEILING + PEAK_TOLERANCE_DB
    assert loudness == pytest.approx(TARGET, abs=0.5)
    assert clicks_result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert clicks_result.true_peak_dbtp == pytest.approx(peak, abs=1e-3)
    assert clicks_result.true_peak_dbtp <= CEILING


def test_sparse_plucks_meet_the_ceiling_and_report_honestly() -> None:
    result = master(_plucks(6.0), n_frames=6 * SR)
    loudness, peak = _measure(result)
    assert peak <= CEILING + PEAK_TOLERANCE_DB
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert result.loudness_lufs <= TARGET + 0.01


def test_material_that_cannot_reach_the_target_stays_quieter_and_says_so() -> None:
    # Two clicks in silence: -14 LUFS would need far more than the 12 dB the limiter may take. It stops
    # where more limiting buys almost no loudness (0.2 LU under what the full 12 dB would give).
    x = np.zeros((2, 3 * SR), dtype=np.float32)
    x[:, SR] = 0.5
    x[:, 2 * SR] = -0.25
    result = master(x, n_frames=3 * SR)
    loudness, peak = _measure(result)
    assert -12.0 - 1e-9 <= result.limited_db < 0.0
    assert result.loudness_lufs < TARGET - 10
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert peak <= CEILING + PEAK_TOLERANCE_DB
    assert all(math.isfinite(v) for v in (result.loudness_lufs, result.true_peak_dbtp, result.gain_db))


def test_limiting_stops_where_it_stops_paying() -> None:
    # Clicks every 0.25 s: past ~7 dB of reduction the release never recovers between them, and more
    # limiting barely raises the loudness. The solver must not squash to 12 dB for a few hundredths.
    result = master(_clicks(3.0, amplitude=0.5), n_frames=3 * SR)
    loudness, peak = _measure(result)
    assert result.limited_db > -11.0
    assert loudness < TARGET
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert peak <= CEILING + PEAK_TOLERANCE_DB


def test_reported_loudness_is_measured_when_limiting_bass() -> None:
    # Deep limiting of bass thumps: the gain's ramps pass through the K-filter's 38 Hz high pass, and the
    # solver's per-hop estimate is off by a few hundredths of an LU. The report must still be the
    # loudness of the result.
    t = np.arange(5 * SR) / SR
    x = 0.1 * np.sin(2 * np.pi * 40.0 * t)
    thump = np.sin(2 * np.pi * 55.0 * t[:3000]) * np.exp(-t[:3000] * 20.0)
    for start in np.arange(0.2, 4.5, 0.31):
        x[round(start * SR) : round(start * SR) + 3000] += 0.9 * thump
    result = master(np.stack((x, x)).astype(np.float32), n_frames=5 * SR, target_lufs=-9.0)
    loudness, peak = _measure(result)
    assert result.limited_db < -6.0
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert peak <= CEILING + PEAK_TOLERANCE_DB


def test_other_targets_and_ceilings() -> None:
    result = master(_clicks(4.0, amplitude=0.12), n_frames=4 * SR, target_lufs=-10.0, ceiling_dbtp=-2.0)
    loudness, peak = _measure(result)
    assert result.limited_db < 0.0
    assert peak <= -2.0 + PEAK_TOLERANCE_DB
    assert loudness == pytest.approx(-10.0, abs=0.5)


def test_hot_input_is_turned_down() -> None:
    rng = np.random.default_rng(2)
    x = (2.0 * rng.standard_normal((2, 3 * SR))).astype(np.float32)  # far over full scale
    result = master(x, n_frames=3 * SR)
    loudness, peak = _measure(result)
    assert result.gain_db < -20.0
    assert loudness == pytest.approx(TARGET, abs=0.01)
    assert peak <= CEILING + PEAK_TOLERANCE_DB


def test_too_short_to_measure_gets_no_make_up_gain() -> None:
    # Under 400 ms every gating block is missing: loudness is undefined, so only the ceiling applies.
    quiet = master(_pad(0.3, level=0.1), n_frames=round(0.3 * SR))
    assert quiet.loudness_lufs == -math.inf
    assert quiet.gain_db == 0.0
    hot = master(_pad(0.3, level=4.0), n_frames=round(0.3 * SR))
    assert hot.true_peak_dbtp <= CEILING
    assert hot.limited_db == 0.0  # turned down, not squashed


def test_final_scale_down_guarantees_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Force the rare path: a limiter aiming 0.5 dB over the ceiling leaves the result too hot, and the
    # final check must scale it down by the excess.
    normal = master(_clicks(3.0), n_frames=3 * SR)
    monkeypatch.setattr(master_module, "_LIMIT_MARGIN_DB", -0.5)
    result = master(_clicks(3.0), n_frames=3 * SR)
    loudness, peak = _measure(result)
    assert peak <= CEILING + PEAK_TOLERANCE_DB
    assert result.true_peak_dbtp <= CEILING
    assert result.true_peak_dbtp == pytest.approx(peak, abs=1e-3)
    assert result.loudness_lufs == pytest.approx(loudness, abs=REPORT_TOLERANCE_LU)
    assert result.limited_db > normal.limited_db  # the limiter reduced less, the scale-down did the rest


def test_true_peak_agrees_with_the_meter_on_random_signals() -> None:
    # The module measures the final true peak with the meter's interpolator, evaluated only where the
    # peak can be: it must read exactly what the meter reads.
    rng = np.random.default_rng(3)
    for trial in range(4):
        x = 0.05 * rng.standard_normal((2, SR))
        x[:, rng.integers(0, SR, 5)] += rng.uniform(-1.0, 1.0, (2, 5))
        result = master(x.astype(np.float32), n_frames=SR + 100 * trial)
        assert result.true_peak_dbtp == pytest.approx(_measure(result)[1], abs=1e-3)


# --- limiter internals ----------------------------------------------------------------------------------


def test_limiter_reduction_covers_every_hop_need() -> None:
    # The vectorised curve (held release, moving maximum, smoothing) must never reduce less than a
    # boundary needs: random, spiky needs.
    rng = np.random.default_rng(4)
    peak_db = rng.normal(-20.0, 6.0, 5000)
    peak_db[rng.integers(0, 5000, 5)] = 0.0
    limiter = master_module._Limiter(peak_db, aim_db=-1.0, sr=SR)
    padded = np.concatenate(([-np.inf], peak_db, [-np.inf]))
    for gain_db in (5.0, 12.0, 20.0):
        reduction = limiter.reduction(gain_db)
        assert reduction is not None
        need = np.maximum(np.maximum(padded[:-1], padded[1:]) + gain_db + 1.0, 0.0)
        assert np.all(reduction >= need - 1e-9)
    # It releases: between the spikes (background needs ~0 at 5 dB of gain) the reduction goes back.
    reduction = limiter.reduction(5.0)
    assert reduction is not None
    assert np.median(reduction) < 0.5 * reduction.max()
    assert limiter.reduction(-30.0) is None


# --- fades, silence, determinism ------------------------------------------------------------------------


def test_fades_start_and_end_near_zero(pad_result: MasteredAudio) -> None:
    pcm = pad_result.pcm.astype(np.float64)
    assert np.abs(pcm[0]).max() <= 1  # at most the dither
    assert np.abs(pcm[-1]).max() <= 1

    def rms(a: npt.NDArray[np.float64]) -> float:
        return float(np.sqrt(np.mean(a**2)))

    body = rms(pcm[SR : 2 * SR])
    assert rms(pcm[:48]) < 0.5 * body  # first millisecond: still fading in
    assert rms(pcm[-round(0.1 * SR) :]) < 0.1 * body  # last 100 ms of a 1.5 s fade-out
    assert rms(pcm[-round(1.5 * SR) : -round(1.4 * SR)]) > 0.8 * body  # fade-out starts 1.5 s before the end


def test_fade_out_is_capped_to_a_third_of_a_short_track() -> None:
    result = master(_pad(1.5), n_frames=SR, fade_out_s=10.0)
    pcm = result.pcm.astype(np.float64)
    assert np.sqrt(np.mean(pcm[round(0.3 * SR) : round(0.6 * SR)] ** 2)) > 1000  # untouched middle
    assert np.abs(pcm[-1]).max() <= 1


def test_digital_silence_stays_silent() -> None:
    result = master(np.zeros((2, 3 * SR), dtype=np.float32), n_frames=2 * SR)
    assert result.pcm.shape == (2 * SR, 2)
    assert not result.pcm.any()
    assert result.loudness_lufs == -math.inf
    assert result.true_peak_dbtp == -math.inf
    assert result.gain_db == 0.0
    assert result.limited_db == 0.0


def test_same_input_gives_identical_bytes() -> None:
    x = _clicks(2.0)
    first, second = master(x, n_frames=2 * SR), master(x.copy(), n_frames=2 * SR)
    assert first.pcm.tobytes() == second.pcm.tobytes()
    assert (first.loudness_lufs, first.true_peak_dbtp, first.gain_db, first.limited_db) == (
        second.loudness_lufs,
        second.true_peak_dbtp,
        second.gain_db,
        second.limited_db,
    )
    info = {"ISFT": "tonearm test"}
    assert wav_bytes(first.pcm, sr=SR, info=info) == wav_bytes(second.pcm, sr=SR, info=info)


def test_dither_is_present_on_quiet_sound() -> None:
    # A sine of a fraction of an LSB after gain would round to a constant without dither; with it, the
    # quantisation error is noise of about +-1 LSB.
    t = np.arange(2 * SR) / SR
    x = np.stack((np.sin(2 * np.pi * 1000 * t),) * 2).astype(np.float32)
    result = master(x, n_frames=2 * SR, target_lufs=-100.0)  # gain far down: ~0.2 LSB amplitude
    values = np.unique(result.pcm)
    assert set(values.tolist()) <= {-2, -1, 0, 1, 2}
    assert len(values) >= 3


def test_input_is_not_modified() -> None:
    x = _clicks(1.0)
    before = x.copy()
    master(x, n_frames=SR)
    assert np.array_equal(x, before)


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(100, dtype=np.float32),
        np.zeros((2, 100), dtype=np.int16),
        np.full((2, 100), np.nan, np.float32),
    ],
)
def test_bad_input_is_refused(audio: npt.NDArray[np.generic]) -> None:
    with pytest.raises(ParameterError):
        master(audio, n_frames=100)  # type: ignore[arg-type]


def test_bad_parameters_are_refused() -> None:
    x = _pad(0.5)
    with pytest.raises(ParameterError):
        master(x, n_frames=-1)
    with pytest.raises(ParameterError):
        master(x, n_frames=100, sr=1000)
    with pytest.raises(ParameterError):
        master(x, n_frames=100, fade_in_s=-0.1)


# --- the WAV file ---------------------------------------------------------------------------------------


def _chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, bytes]]:
    """Walk RIFF chunks in ``data[start:end]``: (id, payload) pairs, honouring the pad byte."""
    out = []
    pos = start
    while pos < end:
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((chunk_id, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size % 2)
    assert pos == end
    return out


INFO = {
    "ISFT": "tonearm 0.1.0",
    "ICMT": "Generated by tonearm (seed 42): Melancholic jazz with soft saxophone, café",
    "IGNR": "jazz",
    "INAM": "odd",  # three bytes + NUL: even; "jazz" + NUL: odd, padded
}


def test_wav_round_trips_through_soundfile(clicks_result: MasteredAudio) -> None:
    data = wav_bytes(clicks_result.pcm, sr=SR, info=INFO)
    samples, sr = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    assert sr == SR
    assert np.array_equal(samples, clicks_result.pcm)
    info = sf.info(io.BytesIO(data))
    assert (info.channels, info.frames, info.subtype) == (2, 4 * SR, "PCM_16")
    # libsndfile maps the INFO ids it knows to its string types.
    metadata = sf.SoundFile(io.BytesIO(data)).copy_metadata()
    assert metadata["software"] == INFO["ISFT"]
    assert metadata["comment"] == INFO["ICMT"]
    assert metadata["genre"] == INFO["IGNR"]
    assert metadata["title"] == INFO["INAM"]
    # and the standard library's reader agrees on the audio
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, SR, 4 * SR)
        assert w.readframes(4 * SR) == clicks_result.pcm.tobytes()


def test_wav_chunks_are_well_formed() -> None:
    pcm = np.array([[1, -1], [32767, -32768], [0, 5]], dtype=np.int16)
    data = wav_bytes(pcm, sr=44100, info=INFO)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks = dict(_chunks(data, 12, len(data)))
    assert list(dict(_chunks(data, 12, len(data)))) == [b"fmt ", b"data", b"LIST"]
    fmt = struct.unpack("<HHIIHH", chunks[b"fmt "])
    assert fmt == (1, 2, 44100, 44100 * 4, 4, 16)
    assert chunks[b"data"] == pcm.tobytes()
    listing = chunks[b"LIST"]
    assert listing[:4] == b"INFO"
    entries = _chunks(listing, 4, len(listing))
    assert [key for key, _ in entries] == [key.encode() for key in INFO]
    for (key, value), text in zip(entries, INFO.values(), strict=True):
        assert value.endswith(b"\x00"), key
        assert value[:-1].decode("utf-8") == text
    assert len(data) % 2 == 0


def test_wav_without_info_has_no_list_chunk() -> None:
    data = wav_bytes(np.zeros((4, 1), dtype=np.int16), sr=SR, info={})
    assert [key for key, _ in _chunks(data, 12, len(data))] == [b"fmt ", b"data"]
    assert len(data) == 44 + 8


@pytest.mark.parametrize("key", ["ISF", "ISFTX", "", "IÑAM", "IS\x00T", "IS\nT"])
def test_invalid_info_id_is_refused(key: str) -> None:
    with pytest.raises(ParameterError, match="INFO"):
        wav_bytes(np.zeros((4, 2), dtype=np.int16), sr=SR, info={key: "x"})


def test_invalid_wav_input_is_refused() -> None:
    with pytest.raises(ParameterError):
        wav_bytes(np.zeros((4, 2), dtype=np.int16), sr=SR, info={"ICMT": "a\x00b"})
    with pytest.raises(ParameterError):
        wav_bytes(np.zeros((4, 2), dtype=np.float32), sr=SR, info={})
    with pytest.raises(ParameterError):
        wav_bytes(np.zeros(4, dtype=np.int16), sr=SR, info={})
    with pytest.raises(ParameterError):
        wav_bytes(np.zeros((4, 2), dtype=np.int16), sr=0, info={})
