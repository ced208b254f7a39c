"""Decode any accepted audio input to one float32 array, with the upload limits enforced throughout.

:func:`decode` is the entry point of every analysis that needs the whole signal at once;
:func:`decode_stream` hands the same decoded frames, checked the same way, to a consumer block by block
and never holds the whole signal (``tonearm.analysis.analyze.analyze_source`` and the streaming
:func:`tonearm.audio.summary.summarize_audio` work that way, so every format accepted here is accepted
there, with the same limits and errors). Three decoders sit behind both:

* **libsndfile** (through soundfile) for WAV, FLAC, OGG Vorbis/Opus and MP3, exactly as
  :func:`tonearm.audio.probe.probe` opens them, so both agree on what is valid. It is also the faster
  MP3 decoder here (a 30 s stereo MP3 decodes in ~60 ms against ~95 ms for FFmpeg's).
* **FFmpeg** (through PyAV) for AAC in ADTS and MP4/M4A, and for anything libsndfile does not recognise
  at all. FFmpeg can parse hundreds of formats, several of which open further files or URLs named inside
  the input (HLS playlists, concat lists), so it only ever runs with a whitelist of demuxers
  (:data:`_FFMPEG_CONTAINERS`) and a short allow-list of codecs (AAC, MP3, Opus, Vorbis, FLAC, ALAC,
  PCM).
* **numpy** for headerless PCM described by a :class:`PcmFormat`.

Every path checks the limits it can before decoding (size, declared duration, declared decoded size),
enforces them again while decoding (headers lie), and refuses audio that decodes to nothing, to
non-finite samples, to less than ``limits.min_duration_s`` or to silence.

The decoded-size budget (``limits.max_decoded_bytes``, channels x frames x 4 bytes of float32) is checked
from the header where the header states a length (exactly, or as an estimate given some slack), and
again before every block is stored, against the running total: an input whose length is unknown, or
understated, is refused at the first block past the budget.

Memory: :func:`decode` puts decoded frames straight into one preallocated channel-major float32 buffer,
sized from the header and grown (``realloc``, channels moved in place) when a header underestimates, then
trimmed in place; its peak is the decoded array plus one decode block and the encoded input, i.e. up to
the whole budget. :func:`decode_stream` holds one block, at most :data:`BLOCK_BYTES` whatever the channel
count, so what a streaming consumer keeps (``tonearm.audio.mono.decode_mono``: the mono signal at the
model's rate) bounds a request's memory instead of the input's channels and rate. Every request-serving
path decodes that way; :func:`decode` is for callers that need every channel at the source rate.

Concurrency: both entry points hold a slot of :data:`tonearm.audio.decode_slots.SLOTS` while they
decode (waiting as long as it takes unless the caller already holds one, as the synchronous routes do
with a short wait), so a process runs at most that many decodes at once.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Literal, NamedTuple, Protocol, get_args

import av
import av.container
import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.audio.decode_slots import decode_slot
from tonearm.audio.errors import (
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
from tonearm.audio.probe import (
    AudioInfo,
    AudioSource,
    check_header,
    check_input_size,
    fmt_bytes,
    not_audio_error,
    open_soundfile,
    read_blocks,
)
from tonearm.errors import ParameterError

__all__ = [
    "BLOCK_BYTES",
    "DECODE_FORMATS",
    "BlockConsumer",
    "DecodedAudio",
    "PcmFormat",
    "PcmSampleFormat",
    "decode",
    "decode_stream",
]

#: Sample formats of headerless PCM: signed/unsigned integer or IEEE float, width, byte order.
PcmSampleFormat = Literal["s16le", "s24le", "s32le", "f32le", "u8", "s16be", "f64le"]

#: The values :attr:`AudioInfo.format` takes in a :class:`DecodedAudio`.
DECODE_FORMATS = frozenset({"wav", "flac", "ogg", "mp3", "aac", "m4a", "mka", "pcm"})

#: Lowest and highest sample rate (Hz) and channel count accepted for headerless PCM.
PCM_SAMPLE_RATES = (8000, 384000)
PCM_CHANNELS = (1, 32)

# Headerless PCM: bytes per sample, numpy dtype of one sample (24-bit is widened to int32 first),
# scale to full scale = 1.0 and the offset of unsigned formats. Integer scales are 2**-(bits - 1), as
# libsndfile uses, so integer PCM round-trips exactly through float32.
_PCM_LAYOUTS: dict[str, tuple[int, str, float, float]] = {
    "u8": (1, "u1", 2.0**-7, 128.0),
    "s16le": (2, "<i2", 2.0**-15, 0.0),
    "s16be": (2, ">i2", 2.0**-15, 0.0),
    "s24le": (3, "<i4", 2.0**-31, 0.0),  # three bytes placed in the top of an int32, hence 2**-31
    "s32le": (4, "<i4", 2.0**-31, 0.0),
    "f32le": (4, "<f4", 1.0, 0.0),
    "f64le": (8, "<f8", 1.0, 0.0),
}
assert set(_PCM_LAYOUTS) == set(get_args(PcmSampleFormat))

# FFmpeg demuxer name -> tonearm format name. The names also form FFmpeg's format whitelist: probing may
# still *score* every demuxer (reading bytes only), but no other demuxer is ever opened.
_FFMPEG_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "aac": "aac",
    "mp3": "mp3",
    "ogg": "ogg",
    "flac": "flac",
    "wav": "wav",
    "matroska,webm": "mka",
}
_FFMPEG_WHITELIST = ",".join(_FFMPEG_CONTAINERS)
# Codecs (FFmpeg codec ids, not decoder names: "mp3", not "mp3float") FFmpeg may decode for us.
_FFMPEG_CODECS = frozenset({"aac", "mp3", "opus", "vorbis", "flac", "alac"})
# Raw elementary streams have no length field: FFmpeg extrapolates their duration from the bitrate of
# the first frames, so that figure only refuses an input before decoding when it is grossly too long.
_ESTIMATED_DURATION_FORMATS = frozenset({"aac", "mp3"})
_ESTIMATE_SLACK = 2.0

# PyAV frame sample formats (packed; a "p" suffix means planar) -> (native dtype, scale, offset) to
# full scale = 1.0.
_FRAME_FORMATS: dict[str, tuple[str, float, float]] = {
    "u8": ("u1", 2.0**-7, 128.0),
    "s16": ("i2", 2.0**-15, 0.0),
    "s32": ("i4", 2.0**-31, 0.0),
    "s64": ("i8", 2.0**-63, 0.0),
    "flt": ("f4", 1.0, 0.0),
    "dbl": ("f8", 1.0, 0.0),
}

_SUPPORTED_HINT = "send WAV, FLAC, OGG (Vorbis or Opus), MP3, AAC or M4A"
# Frames per libsndfile read: 512 KiB of float32 in stereo, the only buffer besides the output.
_SF_BLOCK = 65536
# Frames per raw-PCM conversion step (bounds the byte chunk and the 24-bit widening buffer).
_PCM_BLOCK = 65536
# Frames per step of the final finiteness/peak scan.
_SCAN_BLOCK = 1 << 18
# Frames handed to a streaming consumer at a time (1 MiB of float32 in stereo): large enough that
# per-call overheads vanish, small enough to stay in cache between the decoder and the consumer.
_STREAM_BLOCK = 1 << 17
#: Most bytes of float32 in one decode block, whatever the channel count: every frame count above
#: (_SF_BLOCK, _PCM_BLOCK, _STREAM_BLOCK, FFmpeg's codec frames) is cut down to fit it, so a header
#: claiming 1024 channels cannot make a block of 65536 frames (256 MiB) out of a few kilobytes.
BLOCK_BYTES = 4 << 20
# Samples per step when channels are moved inside the output buffer (bounds numpy's overlap copy).
_MOVE_CHUNK = 1 << 20
# Capacity to start with when a header gives no length, in seconds of audio.
_UNKNOWN_LENGTH_GUESS_S = 60.0
# Extra frames allowed over a header estimate before growing: a few codec frames of padding.
_ESTIMATE_PADDING_FRAMES = 4096
# How far into the input to look for magic numbers; an ID3v2 tag in front is skipped first.
_SNIFF_BYTES = 16


@dataclass(frozen=True)
class PcmFormat:
    """How headerless PCM bytes are laid out (what SAMI's ``audio_info`` describes).

    Samples are interleaved (frame by frame, channel by channel). Validated on construction.

    Attributes
    ----------
    sample_rate : int
        Sample rate in Hz, 8000-384000.
    channels : int
        Number of channels, 1-32.
    sample_format : str
        One of ``"u8"`` (unsigned, offset 128), ``"s16le"``, ``"s16be"``, ``"s24le"``, ``"s32le"``
        (signed integers, little/big endian), ``"f32le"``, ``"f64le"`` (IEEE float, little endian).

    Raises
    ------
    InvalidPcmParametersError
        If any attribute is out of range or of the wrong type.
    """

    sample_rate: int
    channels: int
    sample_format: PcmSampleFormat

    def __post_init__(self) -> None:
        lo_sr, hi_sr = PCM_SAMPLE_RATES
        lo_ch, hi_ch = PCM_CHANNELS
        if not _is_int(self.sample_rate) or not lo_sr <= self.sample_rate <= hi_sr:
            raise InvalidPcmParametersError(
                f"PCM sample rate must be an integer from {lo_sr} to {hi_sr} Hz, got {self.sample_rate!r}",
            )
        if not _is_int(self.channels) or not lo_ch <= self.channels <= hi_ch:
            raise InvalidPcmParametersError(
                f"PCM channel count must be an integer from {lo_ch} to {hi_ch}, got {self.channels!r}",
            )
        if self.sample_format not in _PCM_LAYOUTS:
            raise InvalidPcmParametersError(
                f"unknown PCM sample format {self.sample_format!r}; use one of {', '.join(_PCM_LAYOUTS)}",
            )

    @property
    def sample_width(self) -> int:
        """Bytes per sample (one channel)."""
        return _PCM_LAYOUTS[self.sample_format][0]

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (all channels)."""
        return self.sample_width * self.channels


@dataclass(frozen=True)
class DecodedAudio:
    """The result of :func:`decode`.

    Attributes
    ----------
    y : numpy.ndarray
        Shape ``(channels, n)``, float32, C-contiguous. From :func:`decode`: sample values as decoded,
        not normalised (integer PCM maps to [-1, 1); float sources may exceed full scale). From
        :func:`tonearm.audio.mono.decode_mono`: shape ``(1, n)``, the mono signal at the model's rate,
        scaled down when its source peaks above the headroom (see :mod:`tonearm.audio.mono`).
    sr : int
        Sample rate of ``y`` in Hz: the source's for :func:`decode` (nothing is resampled), the target
        rate for :func:`tonearm.audio.mono.decode_mono`.
    info : AudioInfo
        The input's format and encoding, with ``frames``/``duration_s`` those of the decoded audio at the
        source rate (``info.sample_rate``, which is ``sr`` only for :func:`decode`).
    """

    y: npt.NDArray[np.float32]
    sr: int
    info: AudioInfo

    @property
    def channels(self) -> int:
        """Number of channels (``y.shape[0]``)."""
        return int(self.y.shape[0])

    @property
    def frames(self) -> int:
        """Number of frames (``y.shape[1]``)."""
        return int(self.y.shape[1])

    @property
    def duration_s(self) -> float:
        """Decoded duration in seconds."""
        return self.frames / self.sr


def decode(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    pcm: PcmFormat | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> DecodedAudio:
    """Decode a whole audio input to float32, enforcing the limits before and during decoding.

    Parameters
    ----------
    source : str, os.PathLike, seekable binary stream or bytes
        The input: a path, a stream whose whole content (from offset 0) is the input, or the bytes.
    pcm : PcmFormat, optional
        If given, ``source`` is headerless interleaved PCM laid out as described; otherwise the
        format is detected (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC (ADTS), M4A/MP4 (AAC, ALAC), and
        Matroska/WebM (what browsers record: Opus) holding one of the allowed codecs).
    size_bytes : int, optional
        Input size in bytes if already known (e.g. an S3 object's ``ContentLength``); measured
        otherwise. Checked before anything is parsed.
    limits : AudioLimits
        Size, duration, decoded-size and silence limits.

    Returns
    -------
    DecodedAudio
        ``y`` of shape ``(channels, n)`` float32 at the source's rate, and the format description.

    Raises
    ------
    InputTooLargeError
        The input exceeds ``limits.max_bytes``, or the decoded samples would exceed
        ``limits.max_decoded_bytes``.
    EmptyAudioError
        Zero bytes, or no audio frames.
    UnsupportedFormatError
        Not audio, or audio in a format or codec outside the lists above (including a container
        without an audio stream).
    UndecodableAudioError
        A recognised format whose header or data is corrupt or truncated, or that decodes to NaN or
        infinite samples.
    AudioTooLongError
        The header declares, or decoding finds, more than ``limits.max_duration_s`` seconds.
    AudioTooShortError
        Less than ``limits.min_duration_s`` seconds (from the header where its length is exact,
        otherwise once decoded).
    SilentAudioError
        The sample peak of the whole decode lies below ``limits.silence_threshold_dbfs``
        (-90 dBFS by default).
    InvalidPcmParametersError
        ``pcm`` is given and the byte length is not a whole number of frames (the parameters
        themselves are validated when the :class:`PcmFormat` is built).
    ValueError
        ``source`` is a stream that cannot seek.
    """
    src: AudioSource = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    with decode_slot():
        result = _decode_any(src, pcm=pcm, size_bytes=size_bytes, limits=limits, sink=_planar_sink)
        y = result.sink.finish()
    assert y is not None  # a planar sink always returns its buffer
    return _finish(y, sr=result.sr, format_=result.format_, subtype=result.subtype, limits=limits)


class BlockConsumer(Protocol):
    """Receives decoded audio from :func:`decode_stream`, block by block."""

    def start(self, *, sr: int, channels: int) -> None:
        """Called once, before the first block, when the stream's rate and channel count are known."""

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        """Take the next ``(channels, k)`` float32 block (finite; a view valid only during the call)."""


def decode_stream(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    consumer: BlockConsumer,
    *,
    pcm: PcmFormat | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
    block_frames: int = _STREAM_BLOCK,
    progress: Callable[[float], None] | None = None,
) -> AudioInfo:
    """Decode an input block by block into ``consumer``, never holding the whole signal.

    The frames, checks and errors are those of :func:`decode`: the same limits are enforced before and
    while decoding, and the checks that need every sample (non-finite values, too short, silent) are
    made as the blocks pass, the last two at the end. A consumer therefore sees the blocks of an input
    that is refused at the end; it must treat its result as void when this function raises.

    Parameters
    ----------
    source, pcm, size_bytes, limits
        As for :func:`decode`.
    consumer : BlockConsumer
        Gets :meth:`~BlockConsumer.start` once, then every decoded frame in order as ``(channels, k)``
        float32 blocks of up to ``block_frames`` frames.
    block_frames : int
        Most frames per block (>= 1; default 131072, 1 MiB of float32 in stereo), cut down further so
        that a block holds at most :data:`BLOCK_BYTES` (4 MiB) of float32 (8192 frames of 128 channels).
        libsndfile and raw PCM are also read in steps of at most this many frames (and at most 65536);
        FFmpeg's codec frames are split to fit. Memory besides the decoder's is at most
        ``min(block_frames * channels * 4, BLOCK_BYTES)`` bytes plus one read buffer of the same size.
    progress : callable, optional
        ``progress(fraction)`` after each block: the share (0-1) of the frames the header declares (or
        the decoder estimates) decoded so far; an estimate, capped at 1.

    Returns
    -------
    AudioInfo
        The input's format, with ``frames``/``duration_s`` those of the decoded audio.

    Raises
    ------
    TonearmError
        Every error :func:`decode` raises, in the same cases.
    ParameterError
        ``block_frames`` is below 1.
    """
    if block_frames < 1:
        raise ParameterError(f"block_frames must be >= 1, got {block_frames}")
    src: AudioSource = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source

    def sink(channels: int, capacity: int, sr: int) -> _BlockSink:
        target = consumer if progress is None else _ReportingConsumer(consumer, capacity, progress)
        return _StreamSink(target, channels=channels, sr=sr, block_frames=block_frames)

    with decode_slot():
        result = _decode_any(
            src, pcm=pcm, size_bytes=size_bytes, limits=limits, sink=sink, read_frames=block_frames
        )
        result.sink.finish()
    stream = result.sink
    assert isinstance(stream, _StreamSink)
    channels, frames = stream.channels, stream.frames
    _check_decoded(frames=frames, peak=stream.peak, sr=result.sr, limits=limits)
    return AudioInfo(
        format=result.format_,
        subtype=result.subtype,
        sample_rate=result.sr,
        channels=channels,
        frames=frames,
        duration_s=frames / result.sr,
    )


class _ReportingConsumer:
    """A consumer that reports, after each block, the share of ``expected`` frames passed on."""

    def __init__(self, consumer: BlockConsumer, expected: int, progress: Callable[[float], None]) -> None:
        self._consumer, self._expected, self._progress, self._frames = consumer, max(1, expected), progress, 0

    def start(self, *, sr: int, channels: int) -> None:
        self._consumer.start(sr=sr, channels=channels)

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        self._consumer.feed(block)
        self._frames += block.shape[1]
        self._progress(min(1.0, self._frames / self._expected))


class _BlockSink(Protocol):
    """Where a decoder puts its frames: :class:`_PlanarBuffer` (whole array) or :class:`_StreamSink`."""

    channels: int
    frames: int

    def append(self, k: int) -> npt.NDArray[np.float32]: ...

    def finish(self) -> npt.NDArray[np.float32] | None: ...


#: Makes the sink once the channel count, a capacity hint (frames) and the sample rate are known.
_SinkFactory = Callable[[int, int, int], _BlockSink]


def _planar_sink(channels: int, capacity: int, sr: int) -> _BlockSink:
    return _PlanarBuffer(channels=channels, capacity=capacity)


class _Decoded(NamedTuple):
    sink: _BlockSink
    sr: int
    format_: str
    subtype: str


def _decode_any(
    src: AudioSource,
    *,
    pcm: PcmFormat | None,
    size_bytes: int | None,
    limits: AudioLimits,
    sink: _SinkFactory,
    read_frames: int | None = None,
) -> _Decoded:
    """Pick the decoder for ``src`` and run it into a sink made by ``sink``.

    ``read_frames`` caps the frames libsndfile and the raw-PCM reader take per step (otherwise
    ``_SF_BLOCK`` and ``_PCM_BLOCK``).
    """
    if pcm is not None:
        return _decode_pcm(
            src, pcm=pcm, size_bytes=size_bytes, limits=limits, sink=sink, read_frames=read_frames
        )

    check_input_size(src, size_bytes=size_bytes, limits=limits)
    container = _sniff_ffmpeg_container(src)
    if container is not None:
        return _decode_ffmpeg(src, container=container, limits=limits, not_recognised=None, sink=sink)
    try:
        handle = open_soundfile(src)
    except UnsupportedFormatError as exc:
        # libsndfile does not know the input at all; FFmpeg may (within its allow-lists).
        return _decode_ffmpeg(src, container=None, limits=limits, not_recognised=exc, sink=sink)
    with handle:
        try:
            info = check_header(handle, src, limits=limits)
        except UnsupportedFormatError as exc:  # libsndfile knows it (AIFF, AU, ...); tonearm does not
            raise UnsupportedFormatError(
                f"{handle.format} audio is not supported; {_SUPPORTED_HINT}"
            ) from exc
        out = _read_soundfile(handle, info=info, limits=limits, sink=sink, read_frames=read_frames)
    return _Decoded(out, info.sample_rate, info.format, info.subtype)


# --- libsndfile -----------------------------------------------------------------------------------------


def _read_soundfile(
    handle: sf.SoundFile,
    *,
    info: AudioInfo,
    limits: AudioLimits,
    sink: _SinkFactory,
    read_frames: int | None = None,
) -> _BlockSink:
    sr, channels = info.sample_rate, info.channels
    # WAV/FLAC/OGG frame counts are exact; an MP3's is libmpg123's estimate (or unknown, -1).
    exact = info.format != "mp3" and info.frames >= 0
    if exact:
        _check_decoded_size(info.frames, channels=channels, limits=limits, declared=True)
        capacity = info.frames
    elif info.frames > 0:
        estimate = round(info.frames / _ESTIMATE_SLACK)
        _check_decoded_size(estimate, channels=channels, limits=limits, declared=True, estimated=True)
        capacity = info.frames + _ESTIMATE_PADDING_FRAMES
    else:
        capacity = round(_UNKNOWN_LENGTH_GUESS_S * sr)
    out = sink(channels, _clamp_capacity(capacity, sr, channels, limits), sr)
    step = _block_frames(channels, _SF_BLOCK if read_frames is None else min(_SF_BLOCK, read_frames))
    for got in read_blocks(handle, block_frames=step):
        n = got.shape[1]
        _check_growth(out.frames + n, sr=sr, channels=channels, limits=limits)
        out.append(n)[...] = got
    return out


# --- FFmpeg ---------------------------------------------------------------------------------------------


def _sniff_ffmpeg_container(source: AudioSource) -> str | None:
    """Return the FFmpeg demuxer for inputs libsndfile cannot read, from their magic numbers."""
    head = _read_at(source, 0, _SNIFF_BYTES)
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    # ADTS AAC may carry an ID3v2 tag in front, like MP3; look past it (libsndfile would take the tag
    # for the start of an MP3 and fail on the AAC behind it).
    offset = _id3v2_size(head)
    if offset:
        head = _read_at(source, offset, _SNIFF_BYTES)
    # ADTS: 12-bit sync 0xFFF, then the MPEG version bit and a layer field of 00. MPEG audio (MP3) shares
    # the sync but never has layer 00, so the two cannot be confused.
    if (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0) or head[:4] == b"ADIF":
        return "aac"
    return None


def _id3v2_size(head: bytes) -> int:
    # Size of an ID3v2 tag at the start of `head` (header, body and optional footer), or 0 if none.
    if len(head) < 10 or head[:3] != b"ID3" or any(b >= 0x80 for b in head[6:10]):
        return 0
    body = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]  # "syncsafe": 7 bits per byte
    footer = 10 if head[5] & 0x10 else 0
    return 10 + body + footer


def _decode_ffmpeg(
    source: AudioSource,
    *,
    container: str | None,
    limits: AudioLimits,
    not_recognised: UnsupportedFormatError | None,
    sink: _SinkFactory,
) -> _Decoded:
    """Decode the first audio stream with FFmpeg.

    ``container`` is the demuxer the magic numbers named (a failure to open is then a broken file), or
    None to let FFmpeg probe the whitelisted demuxers after libsndfile failed with ``not_recognised``
    (a failure to open then means "not audio we accept", and that error is raised).
    """
    options = {"format_whitelist": _FFMPEG_WHITELIST}
    target: str | BinaryIO
    if isinstance(source, str | os.PathLike):
        # An explicit file: URL, so that a path with a colon in it is never read as another protocol;
        # the whitelist keeps every other protocol out, whatever a demuxer asks for.
        target = "file:" + os.path.abspath(source)
        options["protocol_whitelist"] = "file"
    else:
        target = source
        source.seek(0)
    try:
        handle = av.open(
            target,
            mode="r",
            format=container,
            container_options=options,
            metadata_errors="ignore",  # a tag in a broken encoding is no reason to refuse the audio
        )
    except (av.FFmpegError, ValueError, UnicodeError) as exc:
        if not_recognised is not None:
            raise not_audio_error(source, hint=_SUPPORTED_HINT) or UnsupportedFormatError(
                f"input is not audio in a supported format; {_SUPPORTED_HINT}",
            ) from exc
        raise UndecodableAudioError(f"{_container_label(container)} is corrupt or truncated ({exc})") from exc
    with handle:
        return _decode_container(handle, limits=limits, sink=sink)


def _decode_container(
    handle: av.container.InputContainer, *, limits: AudioLimits, sink: _SinkFactory
) -> _Decoded:
    format_ = _format_name(handle.format.name)
    if not handle.streams:
        raise UndecodableAudioError(f"the {format_} container holds no streams (truncated or damaged)")
    if not handle.streams.audio:
        raise UnsupportedFormatError(
            f"the {format_} container holds no audio stream; {_SUPPORTED_HINT}",
        )
    stream = handle.streams.audio[0]
    codec = stream.codec_context.codec.canonical_name
    if codec not in _FFMPEG_CODECS and not codec.startswith("pcm_"):
        raise UnsupportedFormatError(f"{codec} audio is not supported; {_SUPPORTED_HINT}")

    # What the container declares. The sample rate and layout may still change with the first frame
    # (implicit HE-AAC doubles the rate, parametric stereo turns mono into stereo), so allocation waits
    # for it; the duration checks happen now.
    declared_s = _declared_seconds(handle, stream)
    exact = declared_s is not None and format_ not in _ESTIMATED_DURATION_FORMATS
    if declared_s is not None:
        slack = 1.0 if exact else _ESTIMATE_SLACK
        if declared_s > limits.max_duration_s * slack:
            what = "is" if exact else "is estimated to be"
            raise AudioTooLongError(
                f"the {format_} header says the audio {what} {declared_s:.1f} s long; "
                f"the limit is {limits.max_duration_s:g} s",
            )
        if exact and 0.0 < declared_s < limits.min_duration_s:
            raise AudioTooShortError(
                f"audio is {declared_s:.3f} s long; the minimum is {limits.min_duration_s:g} s",
            )
        header_sr = int(stream.codec_context.sample_rate or 0)
        header_channels = int(stream.codec_context.channels or 0)
        if header_sr > 0 and header_channels > 0:
            # An estimate (raw AAC/MP3) refuses only what is over the budget even with its slack.
            frames_declared = declared_s * header_sr / (1.0 if exact else _ESTIMATE_SLACK)
            _check_decoded_size(
                round(frames_declared),
                channels=header_channels,
                limits=limits,
                declared=True,
                estimated=not exact,
            )

    out: _BlockSink | None = None
    sr = channels = step = 0
    # An MP4's edit list / media duration marks where the audio ends; the decoder's last frame still
    # holds the encoder's padding past it (up to 1023 samples for AAC), which is not audio.
    keep: int | None = None
    try:
        for frame in handle.decode(stream):
            k = int(frame.samples)
            if k == 0:
                continue
            if out is None:
                sr, channels = int(frame.sample_rate), int(frame.layout.nb_channels)
                if sr <= 0 or channels <= 0:
                    raise UndecodableAudioError(f"{codec} audio has {sr} Hz and {channels} channels")
                if exact and declared_s is not None:
                    if format_ == "m4a":
                        keep = round(declared_s * sr)
                    capacity = round(declared_s * sr) + _ESTIMATE_PADDING_FRAMES
                elif declared_s is not None:
                    capacity = round(declared_s * sr * 1.1) + _ESTIMATE_PADDING_FRAMES
                else:
                    capacity = round(_UNKNOWN_LENGTH_GUESS_S * sr)
                out = sink(channels, _clamp_capacity(capacity, sr, channels, limits), sr)
                step = _block_frames(channels, _STREAM_BLOCK)
            elif frame.sample_rate != sr or frame.layout.nb_channels != channels:
                raise UndecodableAudioError(
                    f"{codec} audio changes from {sr} Hz/{channels} channels to {frame.sample_rate} Hz/"
                    f"{frame.layout.nb_channels} channels after {out.frames / sr:.1f} s",
                )
            if keep is not None:
                k = min(k, keep - out.frames)
                if k <= 0:
                    break
            # A codec frame may be long (PCM in Matroska: a whole block per packet); it is stored in
            # pieces of at most one decode block, each checked against the budget first.
            for start in range(0, k, step):
                n = min(step, k - start)
                _check_growth(out.frames + n, sr=sr, channels=channels, limits=limits)
                _store_frame(frame, out=out.append(n), codec=codec, start=start)
    except av.FFmpegError as exc:
        done = out.frames / sr if out is not None else 0.0
        raise UndecodableAudioError(
            f"{format_} audio data is corrupt or truncated after {done:.1f} s ({exc})",
        ) from exc
    if out is None:
        raise EmptyAudioError(f"the {format_} audio stream decodes to no samples (0 frames)")
    subtype = codec.upper()
    return _Decoded(out, sr, format_, subtype)


def _format_name(demuxer: str) -> str:
    # PyAV reports the demuxer by its full alias list ("mov,mp4,m4a,...") or by the alias it was opened
    # with ("mp4"); either maps to the tonearm name.
    aliases = set(demuxer.split(","))
    for names, format_ in _FFMPEG_CONTAINERS.items():
        if aliases & set(names.split(",")):
            return format_
    return demuxer


def _declared_seconds(handle: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    # The stream's own duration if it has one, else the container's (AV_TIME_BASE = microseconds).
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if handle.duration is not None and handle.duration > 0:
        return handle.duration / 1_000_000
    return None


def _store_frame(frame: av.AudioFrame, *, out: npt.NDArray[np.float32], codec: str, start: int = 0) -> None:
    # Convert frames start .. start + k of one decoded frame into `out` (channels, k): planar or packed,
    # integer or float. The planes are read in place through the buffer protocol; frame.to_ndarray()
    # would first stack the planes into a new array (a third of the per-frame cost for AAC).
    fmt = frame.format
    base = fmt.name.removesuffix("p") if fmt.is_planar else fmt.name
    if base not in _FRAME_FORMATS:
        raise UndecodableAudioError(f"{codec} decoder produced unsupported samples ({fmt.name})")
    dtype, scale, offset = _FRAME_FORMATS[base]
    width = np.dtype(dtype).itemsize
    channels, k = out.shape
    if fmt.is_planar:
        # Only the first `channels` planes: PyAV (18.1) counts planes up to the first null pointer past
        # the channels' own, so from 8 channels on it lists extra ones with garbage pointers (enumerating
        # them all failed every 7.1 AAC upload; reading one would crash the process).
        planes = frame.planes
        if len(planes) < channels:
            raise UndecodableAudioError(f"{codec} decoder gave {len(planes)} planes for {channels} channels")
        for c, plane in zip(range(channels), planes, strict=False):
            # Planes may be padded past the last sample; count= reads just the samples.
            samples = np.frombuffer(memoryview(plane), dtype=dtype, count=k, offset=start * width)
            _store(samples, out=out[c], scale=scale, offset=offset)
    else:
        packed = np.frombuffer(
            memoryview(frame.planes[0]), dtype=dtype, count=k * channels, offset=start * channels * width
        )
        _store(packed.reshape(k, channels).T, out=out, scale=scale, offset=offset)


def _container_label(container: str | None) -> str:
    names = {"mp4": "the MP4/M4A file", "aac": "the AAC stream", "matroska": "the Matroska file"}
    return names.get(container or "", "the file")


# --- raw PCM --------------------------------------------------------------------------------------------


def _decode_pcm(
    source: AudioSource,
    *,
    pcm: PcmFormat,
    size_bytes: int | None,
    limits: AudioLimits,
    sink: _SinkFactory,
    read_frames: int | None = None,
) -> _Decoded:
    check_input_size(source, size_bytes=size_bytes, limits=limits)
    # The frame count comes from the real byte length, whatever size the caller announced.
    length = _measure(source)
    if length == 0:
        raise EmptyAudioError("input is empty (0 bytes)")
    width, dtype, scale, offset = _PCM_LAYOUTS[pcm.sample_format]
    if length % pcm.frame_bytes:
        raise InvalidPcmParametersError(
            f"{length:,} bytes is not a whole number of {pcm.channels}-channel {pcm.sample_format} frames "
            f"({pcm.frame_bytes} bytes each); check channels and sample_format",
        )
    sr, channels = pcm.sample_rate, pcm.channels
    frames = length // pcm.frame_bytes
    duration = frames / sr
    if duration > limits.max_duration_s:
        raise AudioTooLongError(
            f"the PCM input is {duration:.1f} s long; the limit is {limits.max_duration_s:g} s",
        )
    if duration < limits.min_duration_s:
        raise AudioTooShortError(
            f"the PCM input is {duration:.3f} s long; the minimum is {limits.min_duration_s:g} s",
        )
    _check_decoded_size(frames, channels=channels, limits=limits, declared=True)

    step = _block_frames(channels, _PCM_BLOCK if read_frames is None else min(_PCM_BLOCK, read_frames))
    out = sink(channels, frames, sr)
    with _open_binary(source) as fh:
        while out.frames < frames:
            n = min(step, frames - out.frames)
            chunk = fh.read(n * pcm.frame_bytes)
            if len(chunk) != n * pcm.frame_bytes:  # the input shrank under us
                raise UndecodableAudioError("the PCM input ended early while it was being read")
            samples = _pcm_samples(chunk, width=width, dtype=dtype)
            _store(samples.reshape(n, channels).T, out=out.append(n), scale=scale, offset=offset)
    return _Decoded(out, sr, "pcm", pcm.sample_format.upper())


def _pcm_samples(chunk: bytes, *, width: int, dtype: str) -> npt.NDArray[np.generic]:
    if width != 3:
        return np.frombuffer(chunk, dtype=dtype)
    # 24-bit: put the three little-endian bytes in the top of an int32 (low byte zero), which keeps
    # the sign without any shifting; the 2**-31 scale accounts for the extra byte.
    triplets = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, 3)
    widened = np.zeros((triplets.shape[0], 4), dtype=np.uint8)
    widened[:, 1:] = triplets
    return widened.view("<i4").reshape(-1)


# --- shared ---------------------------------------------------------------------------------------------


def _store(
    src: npt.NDArray[np.generic], *, out: npt.NDArray[np.float32], scale: float, offset: float
) -> None:
    # `src` (channels, k) of any numeric dtype -> float32 full scale = 1.0, written into `out`.
    np.copyto(out, src, casting="unsafe")
    if offset:
        out -= np.float32(offset)
    if scale != 1.0:
        out *= np.float32(scale)  # powers of two: exact in float32


def _finish(
    y: npt.NDArray[np.float32], *, sr: int, format_: str, subtype: str, limits: AudioLimits
) -> DecodedAudio:
    """Apply the checks that need the decoded audio and wrap it up."""
    channels, frames = y.shape
    peak = 0.0
    for start in range(0, frames, _SCAN_BLOCK):
        peak = max(peak, _scan(y[:, start : start + _SCAN_BLOCK], start=start, sr=sr))
    _check_decoded(frames=frames, peak=peak, sr=sr, limits=limits)
    duration = frames / sr
    info = AudioInfo(
        format=format_,
        subtype=subtype,
        sample_rate=sr,
        channels=channels,
        frames=frames,
        duration_s=duration,
    )
    return DecodedAudio(y=y, sr=sr, info=info)


def _scan(block: npt.NDArray[np.float32], *, start: int, sr: int) -> float:
    """Return the peak magnitude of a ``(channels, k)`` block that starts at frame ``start``.

    Max/min rather than ``abs``: NaN propagates through both and infinities show as such, without the
    full-size temporaries ``np.isfinite`` or ``np.abs`` would allocate.
    """
    if block.shape[1] == 0:
        return 0.0
    hi, lo = float(block.max()), float(block.min())
    if not (math.isfinite(hi) and math.isfinite(lo)):
        end = start + block.shape[1]
        raise UndecodableAudioError(
            "audio contains non-finite samples (NaN or infinity) within "
            f"{start / sr:.1f}-{end / sr:.1f} s; only finite samples are accepted",
        )
    return max(hi, -lo)


def _check_decoded(*, frames: int, peak: float, sr: int, limits: AudioLimits) -> None:
    """The checks that need every decoded frame: something decoded, long enough, not silent."""
    if frames == 0:
        raise EmptyAudioError("audio decodes to no samples (0 frames)")
    duration = frames / sr
    if duration < limits.min_duration_s:
        raise AudioTooShortError(
            f"audio is {duration:.3f} s long (decoded); the minimum is {limits.min_duration_s:g} s",
        )
    if peak < limits.silence_threshold:
        level = f"{20.0 * math.log10(peak):.1f} dBFS" if peak > 0.0 else "-inf dBFS (digital silence)"
        raise SilentAudioError(
            f"audio is silent: its peak is {level}, "
            f"below the {limits.silence_threshold_dbfs:g} dBFS threshold",
        )


class _StreamSink:
    """Collects decoded frames into blocks of ``block_frames`` and hands each, checked, to a consumer."""

    def __init__(
        self, consumer: BlockConsumer, *, channels: int, sr: int, block_frames: int = _STREAM_BLOCK
    ) -> None:
        consumer.start(sr=sr, channels=channels)
        self.channels = channels
        self.frames = 0  # frames appended so far, including those not yet handed over
        self.peak = 0.0
        self._consumer = consumer
        self._sr = sr
        self._scratch = np.empty((channels, _block_frames(channels, block_frames)), dtype=np.float32)
        self._filled = 0

    def append(self, k: int) -> npt.NDArray[np.float32]:
        """Reserve the next ``k`` frames as a writable ``(channels, k)`` view, valid until the next call."""
        if self._filled + k > self._scratch.shape[1]:
            self._flush()
            if k > self._scratch.shape[1]:
                self._scratch = np.empty((self.channels, k), dtype=np.float32)
        view = self._scratch[:, self._filled : self._filled + k]
        self._filled += k
        self.frames += k
        return view

    def _flush(self) -> None:
        if self._filled == 0:
            return
        block = self._scratch[:, : self._filled]
        self.peak = max(self.peak, _scan(block, start=self.frames - self._filled, sr=self._sr))
        self._consumer.feed(block)
        self._filled = 0

    def finish(self) -> None:
        """Hand over the frames still held."""
        self._flush()


def _max_frames(sr: int, limits: AudioLimits) -> int:
    # Largest decoded frame count within the duration limit: frames / sr <= max_duration_s.
    return math.floor(limits.max_duration_s * sr)


def _check_growth(frames: int, *, sr: int, channels: int, limits: AudioLimits) -> None:
    # Called before `frames` total frames are stored; stops the decode at the first block past a limit.
    if frames > _max_frames(sr, limits):
        raise AudioTooLongError(
            f"audio is longer than {frames / sr:.1f} s (found while decoding); "
            f"the limit is {limits.max_duration_s:g} s",
        )
    _check_decoded_size(frames, channels=channels, limits=limits, declared=False)


def _check_decoded_size(
    frames: int, *, channels: int, limits: AudioLimits, declared: bool, estimated: bool = False
) -> None:
    # The decoded-size budget: channels x frames x 4 bytes (float32), from the header (``declared``,
    # an ``estimated`` one already divided by its slack) or from the running total while decoding.
    size = frames * channels * 4
    if size > limits.max_decoded_bytes:
        if not declared:
            when = "decoding found"
        else:
            when = "the header's length estimate implies at least" if estimated else "the header declares"
        raise InputTooLargeError(
            f"{when} {frames:,} frames of {channels}-channel audio, {fmt_bytes(size)} as float32; "
            f"the limit is {fmt_bytes(limits.max_decoded_bytes)}",
        )


def _block_frames(channels: int, frames: int) -> int:
    # At most `frames` frames per decode block, and at most BLOCK_BYTES of float32 in it.
    return max(1, min(frames, BLOCK_BYTES // (4 * max(1, channels))))


def _clamp_capacity(capacity: int, sr: int, channels: int, limits: AudioLimits) -> int:
    # Never preallocate past what the limits allow (a lying header must not allocate gigabytes).
    by_memory = limits.max_decoded_bytes // (4 * channels)
    return max(1, min(capacity, _max_frames(sr, limits), by_memory))


class _PlanarBuffer:
    """A growable ``(channels, capacity)`` float32 buffer in one allocation, trimmed in place.

    Channel ``c`` occupies ``flat[c * capacity : c * capacity + frames]``. Growing reallocates the one
    block (glibc ``mremap``s large blocks rather than copying) and moves the channels up, last first;
    :meth:`finish` moves them down and shrinks the block, so a ``(channels, frames)`` C-contiguous
    result never needs a second full-size array.
    """

    def __init__(self, *, channels: int, capacity: int) -> None:
        self.channels = channels
        self.capacity = max(1, capacity)
        self.frames = 0
        self._flat = np.empty(channels * self.capacity, dtype=np.float32)

    def append(self, k: int) -> npt.NDArray[np.float32]:
        """Reserve the next ``k`` frames and return them as a writable ``(channels, k)`` view.

        The view is only valid until the next call (a later call may reallocate).
        """
        end = self.frames + k
        if end > self.capacity:
            self._grow(max(end, self.capacity + self.capacity // 2))
        view = self._flat.reshape(self.channels, self.capacity)[:, self.frames : end]
        self.frames = end
        return view

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        # refcheck=False: no view of the buffer outlives an append() call, by contract.
        self._flat.resize(self.channels * capacity, refcheck=False)
        for c in range(self.channels - 1, 0, -1):
            _move(self._flat, src=c * old, dst=c * capacity, n=self.frames)
        self.capacity = capacity

    def finish(self) -> npt.NDArray[np.float32]:
        """Return the ``(channels, frames)`` C-contiguous result; the buffer is unusable afterwards."""
        for c in range(1, self.channels):
            _move(self._flat, src=c * self.capacity, dst=c * self.frames, n=self.frames)
        if self.frames < self.capacity:
            self._flat.resize(self.channels * self.frames, refcheck=False)
        return self._flat.reshape(self.channels, self.frames)


def _move(flat: npt.NDArray[np.float32], *, src: int, dst: int, n: int) -> None:
    # memmove of n samples within `flat`, in chunks ordered so no chunk overwrites samples still to be
    # read; numpy buffers each (possibly self-overlapping) chunk, so the extra memory is one chunk.
    if src == dst or n == 0:
        return
    starts = range(0, n, _MOVE_CHUNK)
    for off in starts if dst < src else reversed(starts):
        k = min(_MOVE_CHUNK, n - off)
        flat[dst + off : dst + off + k] = flat[src + off : src + off + k]


def _read_at(source: AudioSource, offset: int, size: int) -> bytes:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)
    source.seek(offset)
    return source.read(size)


def _measure(source: AudioSource) -> int:
    if isinstance(source, str | os.PathLike):
        return os.stat(source).st_size
    return int(source.seek(0, io.SEEK_END))


def _open_binary(source: AudioSource) -> contextlib.AbstractContextManager[BinaryIO]:
    # A reader at offset 0 that closes only what it opened itself.
    if isinstance(source, str | os.PathLike):
        return open(source, "rb")
    source.seek(0)
    return contextlib.nullcontext(source)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
