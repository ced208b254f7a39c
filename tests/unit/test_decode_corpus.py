"""The hostile-input corpus: broken, forged and borderline uploads, each with the exact error it must give.

Every input is built here. Each case runs under a 5 s alarm and a 200 MB allocation budget (tracemalloc
peak), through :func:`tonearm.audio.decode.decode` and, for every case that is not raw PCM, through
:func:`tonearm.audio.summary.summarize_audio` too, which reads through the same decoder and must give
the same error. A case with ``expected=None`` is valid audio and must decode.
"""

from __future__ import annotations

import io
import math
import signal
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from tests.unit.test_decode import encode_ffmpeg, encode_soundfile, music
from tonearm.audio.decode import DecodedAudio, PcmFormat, decode, decode_stream
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
from tonearm.audio.summary import summarize_audio

SR = 44100
TIME_LIMIT_S = 5
MEMORY_LIMIT_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One corpus entry."""

    make: Callable[[], bytes]
    expected: type[AudioError] | None  # None: valid audio
    limits: AudioLimits = DEFAULT_LIMITS
    pcm: Callable[[], PcmFormat] | None = None  # built inside the check: building may be what fails
    check: Callable[[DecodedAudio], None] | None = field(default=None)  # extra checks on valid audio


# --- builders -----------------------------------------------------------------------------------------


def _wav(y: npt.NDArray[Any], *, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    return encode_soundfile(y, sr=sr, fmt="WAV", subtype=subtype)


def _wav_header(*, sr: int, channels: int, bits: int, data_bytes: int) -> bytes:
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, sr, sr * block_align, block_align, bits)
    riff = min(4 + 8 + len(fmt) + 8 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + (b"data" + struct.pack("<I", data_bytes))
    )


def _wav_claiming_ten_hours() -> bytes:
    sr = 8000
    return _wav_header(sr=sr, channels=1, bits=16, data_bytes=sr * 2 * 36_000) + bytes(16_000)


def _float_wav_with(value: float) -> bytes:
    y = music(seconds=2.0, seed=5)
    y[SR + 17, 1] = value
    return _wav(y, subtype="FLOAT")


def _png() -> bytes:
    # A real 2x2 RGB PNG: signature, IHDR, IDAT, IEND with valid CRCs.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = zlib.compress(b"\x00" + bytes(6) + b"\x00" + bytes(6))
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _jpeg_header() -> bytes:
    # SOI, APP0 "JFIF", then a quantisation table marker: what the first bytes of a photo look like.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
    return (
        b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xdb\x00\x43" + bytes(65)
    )


def _html() -> bytes:
    body = "".join(f"<p>paragraph {i}: not a song</p>\n" for i in range(200))
    return f"<!DOCTYPE html>\n<html><head><title>upload</title></head><body>{body}</body></html>\n".encode()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("song.wav", _wav(music(seconds=1.0)))
    return buf.getvalue()


def _hls_playlist() -> bytes:
    # If FFmpeg's HLS demuxer ever opened this, it would read a local file: the whitelist must stop it.
    return b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


def _ffconcat() -> bytes:
    return b"ffconcat version 1.0\nfile /etc/passwd\n"


def _mp3(seconds: float = 2.0, seed: int = 7) -> bytes:
    return encode_soundfile(music(seconds=seconds, seed=seed), fmt="MP3")


def _mp3_lying_xing() -> bytes:
    # The Xing header's frame count (flags bit 0, big-endian after the flags) claims two hours.
    data = bytearray(_mp3())
    tag = data.find(b"Xing")
    assert tag > 0 and struct.unpack_from(">I", data, tag + 4)[0] & 1
    struct.pack_into(">I", data, tag + 8, 7200 * SR // 1152)
    return bytes(data)


def _mp3_behind_huge_id3() -> bytes:
    # A 20 MiB ID3v2.3 tag (padding) before a valid MP3: legal, and within the 100 MiB byte limit.
    size = 20 * 1024 * 1024
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + bytes(size) + _mp3()


def _m4a() -> bytes:
    return encode_ffmpeg(music(seconds=2.0, seed=11, noise=0.01), container="mp4", codec="aac")


def _m4a_moov_cut() -> bytes:
    # FFmpeg writes the index (moov) after the audio; cut inside it, the container has no tracks.
    data = _m4a()
    moov = data.rfind(b"moov")
    assert moov > len(data) // 2
    return data[: moov + 60]


def _m4a_index_missing() -> bytes:
    # Cut in the middle of the audio data: the index never arrives.
    data = _m4a()
    return data[: len(data) // 2]


def _mp4_video_only() -> bytes:
    # An MP4 holding a few frames of MPEG-4 video and no audio stream.
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _mp4_ac3() -> bytes:
    return encode_ffmpeg(music(seconds=1.0, seed=12), container="mp4", codec="ac3")


def _adts() -> bytes:
    return encode_ffmpeg(music(seconds=2.0, seed=13, noise=0.01), container="adts", codec="aac")


def _adts_cut_mid_frame() -> bytes:
    data = _adts()
    # Find a frame start past the middle and cut seven bytes into that frame (its header is intact).
    sync = data.find(b"\xff\xf1", len(data) // 2)
    assert sync > 0
    return data[: sync + 7 + 20]


def _adts_behind_id3() -> bytes:
    tag = b"ID3\x03\x00\x00\x00\x00\x01\x00" + bytes(128)
    return tag + _adts()


def _ogg() -> bytes:
    return encode_soundfile(music(seconds=3.0, seed=14), fmt="OGG")


def _ogg_pages(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 3) if data[i : i + 4] == b"OggS"]


def _ogg_garbage_header_pages() -> bytes:
    # Pages 1-2 carry the Vorbis comment and setup headers; without them nothing can be decoded.
    data = bytearray(_ogg())
    pages = _ogg_pages(bytes(data))
    start, end = pages[1], pages[3]
    data[start:end] = np.random.default_rng(15).bytes(end - start)
    return bytes(data)


def _ogg_garbage_inserted() -> bytes:
    # 5 kB of garbage between two audio pages: Ogg's capture pattern lets the reader resync.
    data = _ogg()
    page = _ogg_pages(data)[4]
    return data[:page] + np.random.default_rng(16).bytes(5000) + data[page:]


def _flac_cut_mid_stream() -> bytes:
    data = encode_soundfile(music(seconds=3.0, seed=6), fmt="FLAC")
    return data[: len(data) // 2]


def _speech_like_8k() -> bytes:
    # Band-limited noise gated by a ~4 Hz syllable envelope, 8 kHz mono: quiet-ish but valid.
    sr = 8000
    rng = np.random.default_rng(17)
    t = np.arange(2 * sr) / sr
    noise = np.convolve(rng.standard_normal(t.size), np.hanning(9), mode="same")
    envelope = np.clip(np.sin(2 * np.pi * 4.1 * t), 0.0, None) ** 2
    return _wav((0.05 * noise * envelope)[:, np.newaxis], sr=sr)


def _pcm_s16(seconds: float, *, channels: int = 2) -> bytes:
    y = music(sr=16000, seconds=seconds, channels=channels, seed=18)
    return (y * 32767).astype("<i2").tobytes()


def _check_shape(channels: int, frames: int, sr: int) -> Callable[[DecodedAudio], None]:
    def check(audio: DecodedAudio) -> None:
        assert audio.y.shape == (channels, frames)
        assert audio.sr == sr

    return check


def _check_mp3_length(audio: DecodedAudio) -> None:
    assert audio.info.format == "mp3"
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)


SMALL = AudioLimits(max_bytes=10_000)
ONE_SECOND = AudioLimits(max_duration_s=1.0)

CORPUS: dict[str, Case] = {
    # not audio at all
    "zero-bytes": Case(lambda: b"", EmptyAudioError),
    "text": Case(lambda: b"Hello, this is definitely not audio.\n" * 40, UnsupportedFormatError),
    "png-image": Case(_png, UnsupportedFormatError),
    "jpeg-header": Case(_jpeg_header, UnsupportedFormatError),
    "random-bytes": Case(lambda: np.random.default_rng(9).bytes(65536), UnsupportedFormatError),
    "html-page": Case(_html, UnsupportedFormatError),
    "zip-file": Case(_zip, UnsupportedFormatError),
    "hls-playlist": Case(_hls_playlist, UnsupportedFormatError),
    "ffconcat-list": Case(_ffconcat, UnsupportedFormatError),
    # WAV
    "wav-claims-10-hours": Case(_wav_claiming_ten_hours, AudioTooLongError),
    "float-wav-nan": Case(lambda: _float_wav_with(math.nan), UndecodableAudioError),
    "float-wav-inf": Case(lambda: _float_wav_with(math.inf), UndecodableAudioError),
    "wav-one-sample": Case(lambda: _wav(np.full((1, 2), 0.5, dtype=np.float32)), AudioTooShortError),
    "wav-0.4-s": Case(lambda: _wav(music(seconds=0.4)), AudioTooShortError),
    "wav-digital-silence-2-s": Case(lambda: _wav(np.zeros((2 * SR, 2), dtype=np.float32)), SilentAudioError),
    "wav-8k-mono-speech-like": Case(_speech_like_8k, None, check=_check_shape(1, 16000, 8000)),
    "wav-96k-8-channels": Case(
        lambda: _wav(music(sr=96000, seconds=1.0, channels=8), sr=96000, subtype="PCM_24"),
        None,
        check=_check_shape(8, 96000, 96000),
    ),
    "aiff": Case(
        lambda: encode_soundfile(music(seconds=1.0), fmt="AIFF", subtype="PCM_16"),
        UnsupportedFormatError,
    ),
    # MP3
    "mp3-first-200-bytes": Case(lambda: _mp3()[:200], UndecodableAudioError),
    "mp3-cut-to-2000-bytes": Case(lambda: _mp3()[:2000], AudioTooShortError),
    "mp3-behind-20-mib-id3-tag": Case(_mp3_behind_huge_id3, None, check=_check_mp3_length),
    "mp3-xing-claims-2-hours": Case(_mp3_lying_xing, AudioTooLongError),
    # M4A / MP4 / AAC
    "m4a-moov-cut": Case(_m4a_moov_cut, UndecodableAudioError),
    "m4a-cut-before-index": Case(_m4a_index_missing, UndecodableAudioError),
    "mp4-video-only": Case(_mp4_video_only, UnsupportedFormatError),
    "mp4-ac3-codec": Case(_mp4_ac3, UnsupportedFormatError),
    "adts-cut-mid-frame": Case(_adts_cut_mid_frame, UndecodableAudioError),
    "adts-behind-id3-tag": Case(_adts_behind_id3, None),
    # OGG / FLAC
    "ogg-garbage-header-pages": Case(_ogg_garbage_header_pages, UndecodableAudioError),
    "ogg-garbage-page-inserted": Case(_ogg_garbage_inserted, None),
    "flac-cut-mid-stream": Case(_flac_cut_mid_stream, UndecodableAudioError),
    # limits
    "over-byte-limit": Case(lambda: _wav(music(seconds=1.0)), InputTooLargeError, limits=SMALL),
    "over-duration-limit": Case(
        lambda: encode_soundfile(music(seconds=2.0), fmt="FLAC"),
        AudioTooLongError,
        limits=ONE_SECOND,
    ),
    "over-decoded-size-limit": Case(
        lambda: encode_soundfile(music(seconds=2.0), fmt="FLAC"),
        InputTooLargeError,
        limits=AudioLimits(max_decoded_bytes=500_000),
    ),
    # raw PCM
    "pcm-partial-frame": Case(
        lambda: _pcm_s16(1.0) + b"\x00",
        InvalidPcmParametersError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="s16le"),
    ),
    "pcm-sample-rate-0": Case(
        lambda: _pcm_s16(1.0),
        InvalidPcmParametersError,
        pcm=lambda: PcmFormat(sample_rate=0, channels=2, sample_format="s16le"),
    ),
    "pcm-1000-channels": Case(
        lambda: _pcm_s16(1.0),
        InvalidPcmParametersError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=1000, sample_format="s16le"),
    ),
    "pcm-unknown-sample-format": Case(
        lambda: _pcm_s16(1.0),
        InvalidPcmParametersError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="s12le"),  # type: ignore[arg-type]
    ),
    "pcm-f32-all-nan": Case(
        lambda: np.full(16000 * 2, np.nan, dtype="<f4").tobytes(),
        UndecodableAudioError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="f32le"),
    ),
    "pcm-zero-bytes": Case(
        lambda: b"",
        EmptyAudioError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="s16le"),
    ),
    "pcm-0.1-s": Case(
        lambda: _pcm_s16(0.1),
        AudioTooShortError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="s16le"),
    ),
    "pcm-over-duration-limit": Case(
        lambda: _pcm_s16(2.0),
        AudioTooLongError,
        limits=ONE_SECOND,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=2, sample_format="s16le"),
    ),
    "pcm-u8-silence": Case(
        lambda: bytes([128]) * 16000,
        SilentAudioError,
        pcm=lambda: PcmFormat(sample_rate=16000, channels=1, sample_format="u8"),
    ),
}


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    """Fail (rather than hang) a case that runs for more than TIME_LIMIT_S seconds."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"case took more than {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run(action: Callable[[], Any]) -> tuple[Any, BaseException | None, int]:
    """Run ``action`` under tracemalloc; return its result or exception and the allocation peak."""
    tracemalloc.start()
    try:
        return action(), None, tracemalloc.get_traced_memory()[1]
    except Exception as exc:  # the assertions below say which exceptions are acceptable
        return None, exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25
    assert sum(case.expected is None for case in CORPUS.values()) >= 4  # valid inputs stay valid


@pytest.mark.parametrize("name", list(CORPUS))
def test_decode_gives_the_exact_error(name: str) -> None:
    case = CORPUS[name]
    data = case.make()

    def action() -> DecodedAudio:
        pcm = case.pcm() if case.pcm is not None else None
        return decode(data, pcm=pcm, limits=case.limits)

    result, error, peak = _run(action)
    assert peak < MEMORY_LIMIT_BYTES, f"{peak / 2**20:.0f} MiB allocated"
    if case.expected is None:
        assert error is None, f"valid input refused: {error!r}"
        assert isinstance(result, DecodedAudio)
        assert np.isfinite(result.y).all()
        if case.check is not None:
            case.check(result)
        return
    assert error is not None, f"expected {case.expected.code}, decoded {result.info}"
    assert type(error) is case.expected, f"{type(error).__name__}: {error}"
    assert isinstance(error, AudioError)
    assert error.code == case.expected.code and error.status == case.expected.status
    assert error.message  # human-readable, never empty


@pytest.mark.parametrize("name", [name for name, case in CORPUS.items() if case.pcm is None])
def test_summary_agrees_with_decode(name: str) -> None:
    case = CORPUS[name]
    data = case.make()
    result, error, peak = _run(lambda: summarize_audio(io.BytesIO(data), limits=case.limits))
    assert peak < MEMORY_LIMIT_BYTES, f"{peak / 2**20:.0f} MiB allocated"
    if case.expected is None:
        assert error is None, f"valid input refused: {error!r}"
        assert result.peak_dbfs is not None
        return
    assert type(error) is case.expected, f"{type(error).__name__}: {error}"


class _Recorder:
    """A BlockConsumer that keeps copies of what it is fed."""

    def __init__(self) -> None:
        self.started: list[tuple[int, int]] = []
        self.blocks: list[npt.NDArray[np.float32]] = []

    def start(self, *, sr: int, channels: int) -> None:
        self.started.append((sr, channels))

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        assert block.dtype == np.float32 and block.ndim == 2
        assert np.isfinite(block).all()
        self.blocks.append(block.copy())


@pytest.mark.parametrize("name", list(CORPUS))
def test_streaming_decode_agrees_with_decode(name: str) -> None:
    """decode_stream refuses what decode refuses, with the same error, and streams what decode returns."""
    case = CORPUS[name]
    data = case.make()
    recorder = _Recorder()

    def action() -> Any:
        pcm = case.pcm() if case.pcm is not None else None
        return decode_stream(data, recorder, pcm=pcm, limits=case.limits)

    info, error, peak = _run(action)
    assert peak < MEMORY_LIMIT_BYTES, f"{peak / 2**20:.0f} MiB allocated"
    if case.expected is not None:
        assert type(error) is case.expected, f"{type(error).__name__}: {error}"
        return
    assert error is None, f"valid input refused: {error!r}"
    whole = decode(data, pcm=case.pcm() if case.pcm is not None else None, limits=case.limits)
    assert info == whole.info
    assert recorder.started == [(whole.sr, whole.channels)]
    np.testing.assert_array_equal(np.concatenate(recorder.blocks, axis=1), whole.y)
