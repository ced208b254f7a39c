"""Tests for audio probing and the one-pass summary (tonearm.audio.probe / tonearm.audio.summary).

Every input is synthesised here (seeded) and written with soundfile (or PyAV, for AAC/M4A); the hostile
corpus is built from those files by truncating, forging headers or corrupting samples.
"""

from __future__ import annotations

import io
import math
import signal
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tests.unit.test_decode import encode_ffmpeg
from tonearm.audio import decode as decode_module
from tonearm.audio.decode import decode
from tonearm.audio.errors import (
    AudioError,
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    InputTooLargeError,
    InvalidPcmParametersError,
    SilentAudioError,
    UndecodableAudioError,
    UnsupportedFormatError,
)
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.audio.loudness import integrated_loudness, peak_dbfs
from tonearm.audio.probe import AudioInfo, probe
from tonearm.audio.summary import AudioSummary, summarize_audio
from tonearm.errors import ParameterError, TonearmError

SR = 44100


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Fail (rather than hang the suite) if a single test runs for more than 20 s."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _timeout(signum: int, frame: Any) -> None:
        raise TimeoutError("test took more than 20 s")

    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _music(
    *, sr: int = SR, seconds: float = 2.0, channels: int = 2, seed: int = 0
) -> npt.NDArray[np.float32]:
    """Noise plus a tone per channel, peaking well below full scale."""
    rng = np.random.default_rng(seed)
    n = round(sr * seconds)
    t = np.arange(n)[:, np.newaxis] / sr
    tones = 0.3 * np.sin(2 * np.pi * (220.0 * (1 + np.arange(channels))) * t)
    return (tones + 0.05 * rng.standard_normal((n, channels))).astype(np.float32)


def _encode(y: npt.NDArray[Any], *, sr: int = SR, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- formats ------------------------------------------------------------------------------------------

FORMATS = [
    # id, libsndfile format, subtype, sample rate, expected AudioInfo.format, expected subtype
    pytest.param("WAV", "PCM_16", 44100, "wav", "PCM_16", id="wav-pcm16"),
    pytest.param("WAV", "PCM_24", 48000, "wav", "PCM_24", id="wav-pcm24"),
    pytest.param("WAV", "FLOAT", 22050, "wav", "FLOAT", id="wav-float"),
    pytest.param("FLAC", "PCM_16", 44100, "flac", "PCM_16", id="flac"),
    pytest.param("OGG", "VORBIS", 44100, "ogg", "VORBIS", id="ogg-vorbis"),
    pytest.param("OGG", "OPUS", 48000, "ogg", "OPUS", id="ogg-opus"),
    pytest.param("MP3", "MPEG_LAYER_III", 44100, "mp3", "MPEG_LAYER_III", id="mp3"),
]
LOSSLESS = {"wav", "flac"}


@pytest.mark.parametrize(("fmt", "subtype", "sr", "name", "expected_subtype"), FORMATS)
@pytest.mark.parametrize("as_stream", [False, True], ids=["path", "stream"])
def test_probe_reads_header(
    tmp_path: Path, fmt: str, subtype: str, sr: int, name: str, expected_subtype: str, as_stream: bool
) -> None:
    y = _music(sr=sr, seconds=1.5)
    data = _encode(y, sr=sr, fmt=fmt, subtype=subtype)
    path = _write(tmp_path, f"in.{name}", data)
    info = probe(io.BytesIO(data)) if as_stream else probe(path)
    assert info.format == name
    assert info.subtype == expected_subtype
    assert info.sample_rate == sr
    assert info.channels == 2
    # MP3 frame counts come from the Xing/LAME header here (exact); allow for encoder padding anyway.
    tolerance = 2 * 1152 if name == "mp3" else 0
    assert abs(info.frames - y.shape[0]) <= tolerance
    assert info.duration_s == pytest.approx(info.frames / sr)


@pytest.mark.parametrize(("fmt", "subtype", "sr", "name", "expected_subtype"), FORMATS)
def test_summary_and_wav_output(
    tmp_path: Path, fmt: str, subtype: str, sr: int, name: str, expected_subtype: str
) -> None:
    y = _music(sr=sr, seconds=2.0, seed=1)
    path = _write(tmp_path, f"in.{name}", _encode(y, sr=sr, fmt=fmt, subtype=subtype))
    out = io.BytesIO()
    summary = summarize_audio(path, wav_out=out, block_frames=10_000)

    assert isinstance(summary, AudioSummary)
    assert summary.info == probe(path)
    out.seek(0)
    decoded, out_sr = sf.read(out, dtype="float64", always_2d=True)
    out_info = sf.info(io.BytesIO(out.getvalue()))
    assert (out_info.format, out_info.subtype) == ("WAV", "PCM_16")
    assert out_sr == sr
    assert decoded.shape[1] == 2
    assert summary.duration_s == pytest.approx(decoded.shape[0] / sr)
    assert summary.loudness_lufs is not None and summary.peak_dbfs is not None

    reference = y.astype(np.float64)
    if name in LOSSLESS:
        assert decoded.shape[0] == y.shape[0]
        # 16-bit quantisation of the (possibly 24-bit/float) source: half an LSB, plus rounding slack.
        np.testing.assert_allclose(decoded, reference, rtol=0, atol=1.01 / 32768)
        assert summary.loudness_lufs == pytest.approx(integrated_loudness(reference.T, sr=sr), abs=0.01)
        assert summary.peak_dbfs == pytest.approx(peak_dbfs(reference), abs=0.01)
    else:
        # Lossy decoders may add or drop a frame's worth of padding.
        assert abs(decoded.shape[0] - y.shape[0]) <= 2 * 1152
        assert summary.loudness_lufs == pytest.approx(integrated_loudness(reference.T, sr=sr), abs=0.5)
        assert summary.peak_dbfs == pytest.approx(peak_dbfs(reference), abs=1.0)
    # The summary's loudness is that of the audio it decoded (and wrote, up to 16-bit rounding).
    assert summary.loudness_lufs == pytest.approx(integrated_loudness(decoded.T, sr=sr), abs=0.01)


@pytest.mark.parametrize(
    ("container", "name", "suffix"), [("mp4", "m4a", "m4a"), ("adts", "aac", "aac")], ids=["m4a", "adts"]
)
def test_aac_gets_a_summary_as_decode_reads_it(
    tmp_path: Path, container: str, name: str, suffix: str
) -> None:
    # audio-info reads through the decoder tonearm/analyze uses, so AAC in MP4/M4A or ADTS, which
    # libsndfile cannot open, is summarised like any other accepted format.
    y = _music(sr=48000, seconds=2.0, seed=11)
    path = _write(tmp_path, f"in.{suffix}", encode_ffmpeg(y, sr=48000, container=container, codec="aac"))
    out = io.BytesIO()
    summary = summarize_audio(path, wav_out=out, size_bytes=path.stat().st_size)

    audio = decode(path)
    assert summary.info == audio.info
    assert (summary.info.format, summary.info.subtype) == (name, "AAC")
    assert (summary.info.sample_rate, summary.info.channels) == (48000, 2)
    assert summary.duration_s == audio.duration_s
    assert abs(summary.duration_s - 2.0) < 2 * 1024 / 48000  # the encoder's padding at most
    assert summary.peak_dbfs == pytest.approx(peak_dbfs(audio.y), abs=1e-9)
    assert summary.loudness_lufs == pytest.approx(integrated_loudness(audio.y, sr=48000), abs=1e-6)
    assert summary.loudness_lufs == pytest.approx(integrated_loudness(y.T, sr=48000), abs=0.5)
    out.seek(0)
    written, out_sr = sf.read(out, dtype="float64", always_2d=True)
    assert out_sr == 48000
    np.testing.assert_allclose(written.T, audio.y, rtol=0, atol=1.01 / 32768)  # 16-bit rounding only


def test_summary_refuses_a_block_size_below_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "in.wav", _encode(_music(seconds=1.0), fmt="WAV", subtype="PCM_16"))
    with pytest.raises(ParameterError, match="block_frames"):
        summarize_audio(path, block_frames=0)


def test_pcm16_roundtrip_is_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    samples = rng.integers(-32768, 32768, size=(30_000, 3), dtype=np.int16)
    samples[:2] = [[-32768, 32767, 0], [32767, -32768, 1]]  # both rails
    path = tmp_path / "in.wav"
    sf.write(path, samples, 16000, subtype="PCM_16")
    out = io.BytesIO()
    summarize_audio(path, wav_out=out, block_frames=4096)
    out.seek(0)
    decoded, _ = sf.read(out, dtype="int16", always_2d=True)
    np.testing.assert_array_equal(decoded, samples)


def test_float_input_beyond_full_scale_is_clipped_not_wrapped(tmp_path: Path) -> None:
    y = np.array([[1.5], [-2.0], [0.5], [1.0]], dtype=np.float32).repeat(4000, axis=0)
    path = tmp_path / "hot.wav"
    sf.write(path, y, 8000, subtype="FLOAT")
    out = io.BytesIO()
    summary = summarize_audio(path, wav_out=out)
    out.seek(0)
    decoded, _ = sf.read(out, dtype="int16", always_2d=True)
    assert decoded[0, 0] == 32767 and decoded[4000, 0] == -32768 and decoded[8000, 0] == 16384
    assert summary.peak_dbfs == pytest.approx(20 * math.log10(2.0))


def test_summary_is_independent_of_block_size(tmp_path: Path) -> None:
    path = _write(tmp_path, "in.flac", _encode(_music(seconds=3.0, seed=3), fmt="FLAC"))
    small = summarize_audio(path, block_frames=777)
    large = summarize_audio(path)
    assert small.duration_s == large.duration_s
    assert small.peak_dbfs == large.peak_dbfs
    assert small.loudness_lufs is not None and large.loudness_lufs is not None
    assert small.loudness_lufs == pytest.approx(large.loudness_lufs, abs=1e-6)


def test_multichannel_high_rate_reads_in_bounded_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    y = _music(sr=96000, seconds=1.0, channels=8, seed=4)
    path = tmp_path / "in.wav"
    sf.write(path, y, 96000, subtype="PCM_24")
    requested: list[int] = []
    original_read = sf.SoundFile.read

    def spy(self: sf.SoundFile, *args: Any, **kwargs: Any) -> Any:
        result = original_read(self, *args, **kwargs)
        requested.append(len(result))
        return result

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    summary = summarize_audio(path, block_frames=8192, wav_out=io.BytesIO())
    assert summary.info.channels == 8
    assert summary.duration_s == pytest.approx(1.0)
    assert max(requested) == 8192  # never the whole file in one read
    assert sum(requested) == 96000


def test_silence_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((SR, 2), dtype=np.float32), SR, subtype="PCM_16")
    probe(path)  # the header is fine; only the decoded samples show the silence
    with pytest.raises(SilentAudioError) as excinfo:
        summarize_audio(path)
    assert excinfo.value.code == "audio_silent"
    assert "-inf dBFS" in excinfo.value.message


@pytest.mark.parametrize(("peak_dbfs", "silent"), [(-95.0, True), (-90.5, True), (-89.5, False)])
def test_silence_threshold_is_a_peak_of_minus_90_dbfs(tmp_path: Path, peak_dbfs: float, silent: bool) -> None:
    # Float samples, so the level is exact: one sample at the given peak in 2 s of zeros.
    y = np.zeros((2 * SR, 1), dtype=np.float32)
    y[SR, 0] = 10 ** (peak_dbfs / 20)
    path = tmp_path / "quiet.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    if silent:
        with pytest.raises(SilentAudioError, match=r"below the -90 dBFS threshold"):
            summarize_audio(path)
    else:
        summary = summarize_audio(path)
        assert summary.peak_dbfs == pytest.approx(peak_dbfs, abs=1e-3)
        assert summary.loudness_lufs is None  # far below the -70 LUFS gate: measured, but no loudness


def test_silence_threshold_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((SR, 2), dtype=np.float32), SR, subtype="PCM_16")
    summary = summarize_audio(path, limits=AudioLimits(silence_threshold_dbfs=-math.inf))
    assert summary.loudness_lufs is None
    assert summary.peak_dbfs is None


def test_too_short_is_refused_from_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "short.wav", _encode(_music(seconds=0.4), fmt="WAV", subtype="PCM_16"))
    with pytest.raises(AudioTooShortError) as excinfo:
        probe(path)
    assert excinfo.value.code == "audio_too_short"
    assert excinfo.value.message == "audio is 0.400 s long; the minimum is 0.5 s"
    with pytest.raises(AudioTooShortError):
        summarize_audio(path)
    # Exactly at the minimum is fine, and the minimum is configurable.
    path = _write(tmp_path, "half.wav", _encode(_music(seconds=0.5), fmt="WAV", subtype="PCM_16"))
    assert summarize_audio(path).duration_s == pytest.approx(0.5)
    assert probe(tmp_path / "short.wav", limits=AudioLimits(min_duration_s=0.1)).duration_s == pytest.approx(
        0.4
    )


def test_short_mp3_is_refused_once_decoded(tmp_path: Path) -> None:
    # An MP3's header length is an estimate, so probe lets it through and the decoded length decides.
    path = _write(tmp_path, "short.mp3", _encode(_music(seconds=0.3), fmt="MP3"))
    assert probe(path).duration_s < 0.5
    with pytest.raises(AudioTooShortError, match=r"\(decoded\); the minimum is 0.5 s"):
        summarize_audio(path)


def test_very_low_sample_rate_has_no_loudness(tmp_path: Path) -> None:
    path = tmp_path / "low.wav"
    sf.write(path, _music(sr=2000, seconds=2.0), 2000, subtype="PCM_16")
    summary = summarize_audio(path)
    assert summary.loudness_lufs is None  # K-weighting is undefined below ~3.4 kHz
    assert summary.peak_dbfs is not None


def test_limits_are_enforced_while_decoding_when_the_header_lies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MP3 headers only estimate the length; simulate one that claims 1 s for 3 s of audio.
    path = _write(tmp_path, "in.wav", _encode(_music(seconds=3.0), fmt="WAV", subtype="PCM_16"))
    real_check = decode_module.check_header

    def lying_check(*args: Any, **kwargs: Any) -> AudioInfo:
        info = real_check(*args, **kwargs)
        return replace(info, frames=SR, duration_s=1.0)

    monkeypatch.setattr(decode_module, "check_header", lying_check)
    with pytest.raises(AudioTooLongError, match=r"the limit is 2 s"):
        summarize_audio(path, limits=AudioLimits(max_duration_s=2.0), block_frames=4096)


def test_audio_exactly_at_the_duration_limit_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "in.wav", _encode(_music(seconds=2.0), fmt="WAV", subtype="PCM_16"))
    summary = summarize_audio(path, limits=AudioLimits(max_duration_s=2.0))
    assert summary.duration_s == pytest.approx(2.0)


def test_size_known_by_caller_is_checked_first() -> None:
    # Not audio at all, but too big: the size check runs before the input is opened.
    with pytest.raises(InputTooLargeError) as excinfo:
        probe(io.BytesIO(b"not audio"), size_bytes=DEFAULT_LIMITS.max_bytes + 1)
    assert "104,857,600 bytes" in excinfo.value.message


def test_non_seekable_stream_is_a_programming_error() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="seekable"):
        probe(Pipe())  # type: ignore[arg-type]


def test_missing_path_is_not_an_upload_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nope.wav")


def test_error_classes_have_distinct_codes_and_statuses() -> None:
    classes = [
        UnsupportedFormatError,
        UndecodableAudioError,
        InputTooLargeError,
        AudioTooLongError,
        EmptyAudioError,
        AudioTooShortError,
        SilentAudioError,
        InvalidPcmParametersError,
    ]
    assert len({cls.code for cls in classes}) == len(classes)
    assert {cls.code: cls.status for cls in classes} == {
        "unsupported_format": 415,
        "audio_undecodable": 400,
        "input_too_large": 413,
        "audio_too_long": 400,
        "audio_empty": 400,
        "audio_too_short": 400,
        "audio_silent": 400,
        "invalid_pcm_parameters": 400,
    }
    assert all(issubclass(cls, AudioError) and issubclass(cls, TonearmError) for cls in classes)


# --- hostile corpus -----------------------------------------------------------------------------------


def _wav_header(*, sr: int, channels: int, bits: int, data_bytes: int, fmt_tag: int = 1) -> bytes:
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sr, sr * block_align, block_align, bits)
    riff_size = min(4 + 8 + len(fmt) + 8 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _ten_hour_wav() -> bytes:
    # The data chunk claims 10 h of 8 kHz mono 16-bit audio; 1000 bytes follow.
    sr = 8000
    return _wav_header(sr=sr, channels=1, bits=16, data_bytes=sr * 2 * 36000) + bytes(1000)


def _with_sample(value: float) -> bytes:
    y = _music(seconds=2.0, seed=5)
    y[SR + 17, 1] = value  # past the first decode block
    return _encode(y, fmt="WAV", subtype="FLOAT")


def _flac_cut_mid_stream() -> bytes:
    data = _encode(_music(seconds=3.0, seed=6), fmt="FLAC")
    return data[: len(data) // 2]


def _mp3_first_200_bytes() -> bytes:
    return _encode(_music(seconds=2.0, seed=7), fmt="MP3")[:200]


def _wav_pcm16(seconds: float = 1.0) -> bytes:
    return _encode(_music(seconds=seconds, seed=8), fmt="WAV", subtype="PCM_16")


SMALL_BYTES = AudioLimits(max_bytes=10_000)
SHORT = AudioLimits(max_duration_s=0.5)

# id, bytes factory, limits, expected error class, caught by probe (header) or only while decoding
Case = tuple[Callable[[], bytes], AudioLimits, type[AudioError], bool]
CORPUS: dict[str, Case] = {
    "zero-bytes": (lambda: b"", DEFAULT_LIMITS, EmptyAudioError, True),
    "one-byte": (lambda: b"R", DEFAULT_LIMITS, UnsupportedFormatError, True),
    "text": (
        lambda: b"Hello, this is definitely not audio.\n" * 40,
        DEFAULT_LIMITS,
        UnsupportedFormatError,
        True,
    ),
    "json": (lambda: b'{"audio": "s3://bucket/key.wav"}', DEFAULT_LIMITS, UnsupportedFormatError, True),
    "png-header": (
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
        DEFAULT_LIMITS,
        UnsupportedFormatError,
        True,
    ),
    "random-bytes": (
        lambda: np.random.default_rng(9).bytes(8192),
        DEFAULT_LIMITS,
        UnsupportedFormatError,
        True,
    ),
    "id3-tag-then-text": (
        lambda: b"ID3" + b"lorem ipsum " * 50,
        DEFAULT_LIMITS,
        UnsupportedFormatError,
        True,
    ),
    "aiff": (
        lambda: _encode(_music(seconds=0.5), fmt="AIFF", subtype="PCM_16"),
        DEFAULT_LIMITS,
        UnsupportedFormatError,
        True,
    ),
    "wav-truncated-header": (lambda: _wav_pcm16()[:20], DEFAULT_LIMITS, UndecodableAudioError, True),
    "wav-header-only": (lambda: _wav_pcm16()[:44], DEFAULT_LIMITS, EmptyAudioError, True),
    "wav-claims-10-hours": (_ten_hour_wav, DEFAULT_LIMITS, AudioTooLongError, True),
    "wav-zero-frames": (
        lambda: _encode(np.zeros((0, 2), dtype=np.float32), fmt="WAV", subtype="PCM_16"),
        DEFAULT_LIMITS,
        EmptyAudioError,
        True,
    ),
    "wav-zero-channels": (
        lambda: _wav_header(sr=8000, channels=0, bits=16, data_bytes=100) + bytes(100),
        DEFAULT_LIMITS,
        UndecodableAudioError,
        True,
    ),
    "wav-zero-sample-rate": (
        lambda: _wav_header(sr=0, channels=1, bits=16, data_bytes=100) + bytes(100),
        DEFAULT_LIMITS,
        UndecodableAudioError,
        True,
    ),
    "wav-unknown-codec": (
        lambda: _wav_header(sr=8000, channels=1, bits=16, data_bytes=100, fmt_tag=0x1234) + bytes(100),
        DEFAULT_LIMITS,
        UndecodableAudioError,
        True,
    ),
    "mp3-first-200-bytes": (_mp3_first_200_bytes, DEFAULT_LIMITS, UndecodableAudioError, True),
    "flac-header-only": (
        lambda: _encode(_music(seconds=1.0), fmt="FLAC")[:40],
        DEFAULT_LIMITS,
        UndecodableAudioError,
        True,
    ),
    "flac-cut-mid-stream": (_flac_cut_mid_stream, DEFAULT_LIMITS, UndecodableAudioError, False),
    "ogg-first-50-bytes": (
        lambda: _encode(_music(seconds=1.0), fmt="OGG")[:50],
        DEFAULT_LIMITS,
        UndecodableAudioError,
        True,
    ),
    "float-wav-nan": (lambda: _with_sample(math.nan), DEFAULT_LIMITS, UndecodableAudioError, False),
    "float-wav-inf": (lambda: _with_sample(math.inf), DEFAULT_LIMITS, UndecodableAudioError, False),
    "float-wav-minus-inf": (lambda: _with_sample(-math.inf), DEFAULT_LIMITS, UndecodableAudioError, False),
    "over-max-bytes": (_wav_pcm16, SMALL_BYTES, InputTooLargeError, True),
    "over-max-bytes-not-audio": (lambda: b"x" * 20_000, SMALL_BYTES, InputTooLargeError, True),
    "over-max-duration": (_wav_pcm16, SHORT, AudioTooLongError, True),
    "mp3-over-max-duration": (
        lambda: _encode(_music(seconds=1.0), fmt="MP3"),
        SHORT,
        AudioTooLongError,
        True,
    ),
}


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
@pytest.mark.parametrize("as_stream", [False, True], ids=["path", "stream"])
def test_hostile_input_raises_the_right_error(tmp_path: Path, case: str, as_stream: bool) -> None:
    make, limits, expected, at_header = CORPUS[case]
    data = make()
    path = _write(tmp_path, "upload.bin", data)

    def source() -> Any:
        return io.BytesIO(data) if as_stream else path

    with pytest.raises(TonearmError) as from_summary:
        summarize_audio(source(), limits=limits, wav_out=io.BytesIO())
    assert type(from_summary.value) is expected, from_summary.value.message
    assert from_summary.value.code == expected.code
    assert from_summary.value.status == expected.status
    assert from_summary.value.message  # human-readable, never empty

    if at_header:
        with pytest.raises(expected):
            probe(source(), limits=limits)
    else:
        probe(source(), limits=limits)  # the header is fine; only decoding finds the problem


def test_error_messages_name_limit_and_measured_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "in.wav", _wav_pcm16(seconds=1.0))
    with pytest.raises(AudioTooLongError) as too_long:
        probe(path, limits=SHORT)
    assert too_long.value.message == "audio is 1.0 s long; the limit is 0.5 s"
    with pytest.raises(AudioTooLongError) as declared:
        probe(io.BytesIO(_ten_hour_wav()))
    assert declared.value.message == "the WAV header declares 36000.0 s of audio; the limit is 600 s"
    with pytest.raises(InputTooLargeError) as too_big:
        probe(path, limits=SMALL_BYTES)
    assert too_big.value.message == f"input is {path.stat().st_size:,} bytes; the limit is 10,000 bytes"
    with pytest.raises(UndecodableAudioError, match="non-finite"):
        summarize_audio(io.BytesIO(_with_sample(math.nan)))


def test_ffmpeg_style_unknown_data_size_is_not_too_long(tmp_path: Path) -> None:
    # Streaming writers put 0xFFFFFFFF in the size fields when they cannot seek back; that means
    # "unknown", and the audio that is actually there decides.
    sr = 8000
    samples = (_music(sr=sr, seconds=1.0, channels=1) * 32767).astype("<i2").tobytes()
    data = _wav_header(sr=sr, channels=1, bits=16, data_bytes=0xFFFFFFFF) + samples
    summary = summarize_audio(io.BytesIO(data), limits=AudioLimits(max_duration_s=5.0))
    assert summary.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize("block_frames", [1000, 4096, 65536])
def test_mp3_block_decode_matches_whole_file_decode(tmp_path: Path, block_frames: int) -> None:
    # libsndfile's MP3 decoder corrupts samples when soundfile seeks (tell) between blocks;
    # the streamed decode must equal a whole-file decode sample for sample
    t = np.arange(44100 * 6) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    path = tmp_path / "tone.mp3"
    sf.write(path, np.stack([tone, tone], axis=1), 44100, format="MP3")
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    out = io.BytesIO()
    summary = summarize_audio(path, wav_out=out, block_frames=block_frames)
    streamed, _ = sf.read(io.BytesIO(out.getvalue()), dtype="float32", always_2d=True)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1.0 / 32768 + 1e-6)  # 16-bit rounding only
    assert summary.peak_dbfs is not None
    assert abs(summary.peak_dbfs - 20 * np.log10(np.abs(whole).max())) < 1e-4


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"hello, this is a note\n", "a text file"),
        (b'\xef\xbb\xbf  {"song": "x"}', "a JSON document"),
        (b"<!DOCTYPE html><html>", "an HTML page"),
        (b"%PDF-1.7\n%\xe2\xe3", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"),
        (b"PK\x03\x04\x14\x00", "a ZIP archive (or a document packed as one)"),
        ("déjà vu ".encode() * 5 + "é".encode()[:1], "a text file"),  # cut inside a character
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00", None),  # MP3: not for this function
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (bytes(range(256)), None),
        (b"", None),
    ],
)
def test_files_that_are_not_audio_are_called_what_they_are(head: bytes, expected: str | None) -> None:
    from tonearm.audio.probe import describe_non_audio

    assert describe_non_audio(head) == expected


def test_a_text_file_renamed_mp3_is_refused_as_text(tmp_path: Path) -> None:
    from tonearm.audio.decode import decode
    from tonearm.audio.errors import UnsupportedFormatError

    path = tmp_path / "song.mp3"
    path.write_text("These are the lyrics, not the song.\n" * 20)
    with pytest.raises(
        UnsupportedFormatError, match=r"this is a text file, not audio \(its name says \.mp3\)"
    ):
        decode(path)
