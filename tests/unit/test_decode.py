"""Tests for whole-signal decoding (tonearm.audio.decode): every format, raw PCM, the output buffer.

Every input is rendered here: WAV/FLAC/OGG/MP3 with soundfile, AAC/ALAC/Opus in MP4, ADTS and Matroska
with PyAV's encoders. Lossless formats must reproduce the rendered samples; lossy ones must correlate
with them once aligned for the encoder's delay.
"""

from __future__ import annotations

import fractions
import io
import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tonearm.audio import decode as decode_module
from tonearm.audio.decode import DecodedAudio, PcmFormat, decode
from tonearm.audio.errors import (
    AudioTooLongError,
    InputTooLargeError,
    InvalidPcmParametersError,
)
from tonearm.audio.limits import AudioLimits
from tonearm.audio.summary import summarize_audio
from tonearm.errors import ParameterError

SR = 44100


def music(
    *, sr: int = SR, seconds: float = 2.0, channels: int = 2, seed: int = 0, noise: float = 0.05
) -> npt.NDArray[np.float32]:
    """Shape (n, channels) float32: a different tone per channel plus white noise, peak < 0.5."""
    rng = np.random.default_rng(seed)
    n = round(sr * seconds)
    t = np.arange(n)[:, np.newaxis] / sr
    tones = 0.3 * np.sin(2 * np.pi * (220.0 * (1 + np.arange(channels))) * t)
    return (tones + noise * rng.standard_normal((n, channels))).astype(np.float32)


def encode_soundfile(y: npt.NDArray[Any], *, sr: int = SR, fmt: str, subtype: str | None = None) -> bytes:
    """Encode (n, channels) with libsndfile (WAV, FLAC, OGG, MP3)."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def encode_ffmpeg(y: npt.NDArray[np.float32], *, sr: int = SR, container: str, codec: str) -> bytes:
    """Encode (n, channels) float32 with PyAV: ``container`` "mp4"/"adts"/"matroska", any audio codec.

    PyAV converts the planar float frames to whatever sample format the encoder wants.
    """
    n, channels = y.shape
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout={1: "mono", 2: "stereo"}[channels])  # type: ignore[call-overload]
        for start in range(0, n, 4096):
            block = np.ascontiguousarray(y[start : start + 4096].T, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=stream.layout)
            frame.sample_rate = sr
            frame.pts = start
            frame.time_base = fractions.Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def best_lag(decoded: npt.NDArray[np.float32], reference: npt.NDArray[np.float32]) -> int:
    """Lag (decoded index - reference index) maximising the cross-correlation of channel 0."""
    a = decoded[0].astype(np.float64)
    b = reference[:, 0].astype(np.float64)
    n = 1 << math.ceil(math.log2(a.size + b.size))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.concatenate((np.arange(0, 4097), np.arange(-4096, 0)))
    return int(lags[np.argmax(xc[lags])])


def lossy_correlation(decoded: npt.NDArray[np.float32], reference: npt.NDArray[np.float32]) -> float:
    """Correlation of ``decoded`` (channels, n) with ``reference`` (n, channels) after alignment."""
    lag = best_lag(decoded, reference)
    ref = reference.T.astype(np.float64)
    dec = decoded.astype(np.float64)
    a, b = (dec[:, lag:], ref) if lag >= 0 else (dec, ref[:, -lag:])
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    return float(np.sum(a * b) / math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b))))


# --- formats ------------------------------------------------------------------------------------------

Encoder = Callable[[npt.NDArray[np.float32], int], bytes]


def _sf(fmt: str, subtype: str | None = None) -> Encoder:
    return lambda y, sr: encode_soundfile(y, sr=sr, fmt=fmt, subtype=subtype)


def _ff(container: str, codec: str) -> Encoder:
    return lambda y, sr: encode_ffmpeg(y, sr=sr, container=container, codec=codec)


# id -> (encoder, sample rate, expected format, expected subtype, lossless, frame-count tolerance)
FORMATS: dict[str, tuple[Encoder, int, str, str, bool, int]] = {
    "wav-pcm16": (_sf("WAV", "PCM_16"), 44100, "wav", "PCM_16", True, 0),
    "wav-pcm24": (_sf("WAV", "PCM_24"), 48000, "wav", "PCM_24", True, 0),
    "wav-float": (_sf("WAV", "FLOAT"), 22050, "wav", "FLOAT", True, 0),
    "flac": (_sf("FLAC", "PCM_24"), 44100, "flac", "PCM_24", True, 0),
    "ogg-vorbis": (_sf("OGG", "VORBIS"), 44100, "ogg", "VORBIS", False, 0),
    "ogg-opus": (_sf("OGG", "OPUS"), 48000, "ogg", "OPUS", False, 0),
    "mp3": (_sf("MP3"), 44100, "mp3", "MPEG_LAYER_III", False, 2 * 1152),
    "m4a-aac": (_ff("mp4", "aac"), 44100, "m4a", "AAC", False, 0),
    # ADTS records no encoder delay or padding: the decoder's 1024 priming samples and the last
    # frame's padding come out as audio.
    "adts-aac": (_ff("adts", "aac"), 44100, "aac", "AAC", False, 2048 + 1024),
    "m4a-alac": (_ff("mp4", "alac"), 44100, "m4a", "ALAC", True, 0),
    "webm-opus": (_ff("webm", "libopus"), 48000, "mka", "OPUS", False, 0),
    "mka-flac": (_ff("matroska", "flac"), 96000, "mka", "FLAC", True, 0),
}


@pytest.mark.parametrize("case", list(FORMATS))
@pytest.mark.parametrize("as_", ["path", "stream", "bytes"])
def test_each_format_decodes_to_the_rendered_signal(tmp_path: Path, case: str, as_: str) -> None:
    encoder, sr, name, subtype, lossless, tolerance = FORMATS[case]
    # Little noise: perceptual codecs drop much of a white-noise floor, which is not what is tested.
    y = music(sr=sr, seconds=1.5, seed=1, noise=0.01)
    data = encoder(y, sr)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    source: Any = {"path": path, "stream": io.BytesIO(data), "bytes": data}[as_]

    audio = decode(source)

    assert isinstance(audio, DecodedAudio)
    assert audio.y.dtype == np.float32 and audio.y.flags.c_contiguous
    assert audio.y.shape[0] == 2 and audio.channels == 2
    assert audio.sr == sr and audio.info.sample_rate == sr
    assert (audio.info.format, audio.info.subtype) == (name, subtype)
    assert audio.info.frames == audio.frames == audio.y.shape[1]
    assert audio.info.duration_s == pytest.approx(audio.frames / sr) == audio.duration_s
    if lossless:
        assert audio.frames == y.shape[0]
        np.testing.assert_allclose(audio.y, y.T, rtol=0, atol=1e-4)
    else:
        assert abs(audio.frames - y.shape[0]) <= tolerance
        assert lossy_correlation(audio.y, y) > 0.99


def test_lossless_pcm16_is_bit_exact() -> None:
    rng = np.random.default_rng(3)
    ints = rng.integers(-32768, 32768, size=(30_000, 3), dtype=np.int16)
    audio = decode(encode_soundfile(ints, sr=16000, fmt="WAV", subtype="PCM_16"))
    np.testing.assert_array_equal(audio.y, ints.T.astype(np.float32) / 32768)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_soundfile_formats_match_a_whole_file_read(fmt: str) -> None:
    # decode() reads in blocks; for MP3 that is only correct because the reads never seek (see
    # probe.ForwardOnlySoundFile), so compare with libsndfile's own single read.
    data = encode_soundfile(music(seconds=4.0, seed=2), fmt=fmt)
    whole, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    audio = decode(data)
    assert audio.sr == sr
    np.testing.assert_array_equal(audio.y, whole.T)


def test_m4a_is_trimmed_to_the_declared_length() -> None:
    # The AAC encoder pads the last frame to 1024 samples; the MP4 records the real length.
    y = music(seconds=1.3, seed=4)  # 57330 frames: not a multiple of 1024
    audio = decode(encode_ffmpeg(y, container="mp4", codec="aac"))
    assert audio.frames == y.shape[0]


def test_mono_and_multichannel_shapes() -> None:
    mono = decode(encode_soundfile(music(seconds=1.0, channels=1), fmt="FLAC"))
    assert mono.y.shape == (1, SR)
    six = decode(
        encode_soundfile(music(sr=48000, seconds=1.0, channels=6), sr=48000, fmt="WAV", subtype="PCM_24")
    )
    assert six.y.shape == (6, 48000)


def test_decode_and_summary_agree() -> None:
    data = encode_soundfile(music(seconds=2.0, seed=5), fmt="FLAC")
    audio = decode(data)
    summary = summarize_audio(io.BytesIO(data))
    assert summary.duration_s == audio.duration_s
    assert summary.info.format == audio.info.format
    assert summary.peak_dbfs == pytest.approx(20 * math.log10(float(np.abs(audio.y).max())), abs=1e-6)


def test_float_sources_are_not_normalised() -> None:
    y = np.full((SR, 1), 1.5, dtype=np.float32)
    y[::2] = -2.0
    audio = decode(encode_soundfile(y, fmt="WAV", subtype="FLOAT"))
    assert audio.y.max() == 1.5 and audio.y.min() == -2.0


def test_header_underestimate_grows_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    # An MP3 header that claims one second for four: the buffer starts small and must grow.
    y = music(seconds=4.0, seed=6)
    data = encode_soundfile(y, fmt="MP3")
    whole, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    monkeypatch.setattr(decode_module, "_ESTIMATE_PADDING_FRAMES", 0)
    real_check = decode_module.check_header

    def lying(*args: Any, **kwargs: Any) -> Any:
        from dataclasses import replace

        info = real_check(*args, **kwargs)
        return replace(info, frames=SR // 4, duration_s=0.25)

    monkeypatch.setattr(decode_module, "check_header", lying)
    audio = decode(data)
    np.testing.assert_array_equal(audio.y, whole.T)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_planar_buffer_grows_and_trims_in_place(channels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_module, "_MOVE_CHUNK", 7)  # exercise chunked, overlapping moves
    rng = np.random.default_rng(channels)
    expected = rng.standard_normal((channels, 1000)).astype(np.float32)
    buf = decode_module._PlanarBuffer(channels=channels, capacity=10)
    pos = 0
    for k in (1, 9, 3, 50, 200, 37, 700):
        buf.append(k)[...] = expected[:, pos : pos + k]
        pos += k
    assert buf.capacity > 10
    result = buf.finish()
    assert result.flags.c_contiguous and result.shape == (channels, 1000)
    np.testing.assert_array_equal(result, expected)


def test_declared_decoded_size_over_the_limit_is_refused_before_decoding() -> None:
    data = encode_soundfile(music(seconds=2.0), fmt="FLAC")
    with pytest.raises(InputTooLargeError, match="header declares 88,200 frames"):
        decode(data, limits=AudioLimits(max_decoded_bytes=100_000))


def test_duration_limit_is_enforced_while_decoding_an_adts_stream() -> None:
    # ADTS declares no length (FFmpeg's bitrate estimate is only trusted when it is far over the limit).
    data = encode_ffmpeg(music(seconds=3.0), container="adts", codec="aac")
    with pytest.raises(AudioTooLongError, match="found while decoding"):
        decode(data, limits=AudioLimits(max_duration_s=2.0))


def test_m4a_duration_is_checked_from_the_header() -> None:
    data = encode_ffmpeg(music(seconds=3.0), container="mp4", codec="aac")
    with pytest.raises(AudioTooLongError, match=r"the m4a header says the audio is 3.0 s long"):
        decode(data, limits=AudioLimits(max_duration_s=2.0))


def test_decoding_holds_little_more_than_the_result() -> None:
    data = encode_soundfile(music(seconds=20.0, seed=7), fmt="FLAC")
    tracemalloc.start()
    try:
        audio = decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < audio.y.nbytes + 2 * 1024 * 1024


@pytest.fixture
def only_when_selected(request: pytest.FixtureRequest) -> None:
    """Skip unless the run selects slow tests explicitly (``pytest -m slow``): `make test` runs all."""
    expr = str(request.config.getoption("markexpr") or "")
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("slow (renders and encodes 10 minutes of audio); run with -m slow")


@pytest.mark.slow
@pytest.mark.usefixtures("only_when_selected")
@pytest.mark.parametrize("codec", ["flac", "aac"])
def test_ten_minutes_decode_within_memory_budget(tmp_path: Path, codec: str) -> None:
    y = music(seconds=600.0, seed=8)
    path = tmp_path / f"long.{codec}"
    if codec == "flac":
        sf.write(path, y, SR, subtype="PCM_16")
    else:
        path.write_bytes(encode_ffmpeg(y, container="mp4", codec="aac"))
    del y
    tracemalloc.start()
    try:
        audio = decode(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.y.shape == (2, 600 * SR)
    assert peak < audio.y.nbytes + 8 * 1024 * 1024  # ~202 MiB of samples plus a few MiB
    assert peak < 500 * 1024 * 1024


# --- raw PCM ------------------------------------------------------------------------------------------


def _pcm_case(
    fmt: str, rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[bytes, npt.NDArray[np.float32]]:
    """Bytes in ``fmt`` and the float32 values they must decode to, shape (n, channels)."""
    if fmt == "u8":
        ints = rng.integers(0, 256, size=shape, dtype=np.uint8)
        return ints.tobytes(), ((ints.astype(np.float64) - 128) / 128).astype(np.float32)
    if fmt in ("s16le", "s16be"):
        ints = rng.integers(-32768, 32768, size=shape, dtype=np.int16)
        raw = ints.astype("<i2" if fmt == "s16le" else ">i2").tobytes()
        return raw, (ints / 32768).astype(np.float32)
    if fmt == "s24le":
        ints = rng.integers(-(2**23), 2**23, size=shape, dtype=np.int32)
        raw = ints.astype("<i4").view(np.uint8).reshape(*shape, 4)[..., :3].tobytes()
        return raw, (ints / 2**23).astype(np.float32)
    if fmt == "s32le":
        ints = rng.integers(-(2**31), 2**31, size=shape, dtype=np.int64).astype(np.int32)
        return ints.astype("<i4").tobytes(), (ints.astype(np.float32) * np.float32(2**-31))
    if fmt == "f32le":
        values = (rng.standard_normal(shape) * 0.5).astype("<f4")
        return values.tobytes(), values.astype(np.float32)
    assert fmt == "f64le"
    values64 = rng.standard_normal(shape).astype("<f8")
    return values64.tobytes(), values64.astype(np.float32)


@pytest.mark.parametrize("fmt", ["u8", "s16le", "s16be", "s24le", "s32le", "f32le", "f64le"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_raw_pcm_round_trips_exactly(fmt: str, channels: int) -> None:
    rng = np.random.default_rng(channels)
    sr = 8000
    shape = (sr + 123, channels)
    raw, expected = _pcm_case(fmt, rng, shape)
    pcm = PcmFormat(sample_rate=sr, channels=channels, sample_format=fmt)  # type: ignore[arg-type]
    assert len(raw) == shape[0] * pcm.frame_bytes
    audio = decode(raw, pcm=pcm)
    np.testing.assert_array_equal(audio.y, expected.T)
    assert audio.sr == sr
    assert (audio.info.format, audio.info.subtype) == ("pcm", fmt.upper())
    assert audio.info.frames == shape[0]


def test_raw_pcm_edge_values() -> None:
    raw = np.array([-(2**23), 2**23 - 1, -1, 0, 1], dtype="<i4").view(np.uint8).reshape(5, 4)[:, :3].tobytes()
    raw *= 2000  # 10000 frames, 1.25 s at 8 kHz
    audio = decode(raw, pcm=PcmFormat(sample_rate=8000, channels=1, sample_format="s24le"))
    assert audio.y[0, :5].tolist() == [-1.0, (2**23 - 1) / 2**23, -(2**-23), 0.0, 2**-23]


@pytest.mark.parametrize("as_", ["path", "stream"])
def test_raw_pcm_from_path_and_stream_in_several_blocks(
    tmp_path: Path, as_: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_module, "_PCM_BLOCK", 1000)
    rng = np.random.default_rng(9)
    raw, expected = _pcm_case("s24le", rng, (12_345, 2))
    path = tmp_path / "audio.pcm"
    path.write_bytes(raw)
    source: Any = path if as_ == "path" else io.BytesIO(raw)
    audio = decode(source, pcm=PcmFormat(sample_rate=16000, channels=2, sample_format="s24le"))
    np.testing.assert_array_equal(audio.y, expected.T)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 7999, "channels": 1, "sample_format": "s16le"}, "sample rate"),
        ({"sample_rate": 384001, "channels": 1, "sample_format": "s16le"}, "sample rate"),
        ({"sample_rate": 44100.0, "channels": 1, "sample_format": "s16le"}, "sample rate"),
        ({"sample_rate": 44100, "channels": 0, "sample_format": "s16le"}, "channel count"),
        ({"sample_rate": 44100, "channels": 33, "sample_format": "s16le"}, "channel count"),
        ({"sample_rate": 44100, "channels": True, "sample_format": "s16le"}, "channel count"),
        ({"sample_rate": 44100, "channels": 2, "sample_format": "s16"}, "unknown PCM sample format"),
    ],
)
def test_pcm_format_validates_its_parameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidPcmParametersError, match=match) as excinfo:
        PcmFormat(**kwargs)
    assert excinfo.value.code == "invalid_pcm_parameters" and excinfo.value.status == 400


def test_pcm_format_accepts_the_range_limits() -> None:
    assert PcmFormat(sample_rate=8000, channels=1, sample_format="u8").frame_bytes == 1
    assert PcmFormat(sample_rate=384000, channels=32, sample_format="s24le").frame_bytes == 96
    assert PcmFormat(sample_rate=np.int64(48000), channels=2, sample_format="f64le").sample_width == 8  # type: ignore[arg-type]


def test_audio_limits_validation() -> None:
    with pytest.raises(ParameterError, match="min_duration_s"):
        AudioLimits(min_duration_s=-1.0)
    with pytest.raises(ParameterError, match="min_duration_s"):
        AudioLimits(max_duration_s=1.0, min_duration_s=2.0)
    with pytest.raises(ParameterError, match="silence_threshold_dbfs"):
        AudioLimits(silence_threshold_dbfs=3.0)
    with pytest.raises(ParameterError, match="max_decoded_bytes"):
        AudioLimits(max_decoded_bytes=0)
    assert AudioLimits().silence_threshold == pytest.approx(10 ** (-90 / 20))
    assert AudioLimits(silence_threshold_dbfs=-math.inf).silence_threshold == 0.0
