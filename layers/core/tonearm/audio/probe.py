"""Header-only probing of uploaded audio, with the upload limits enforced before any decoding.

:func:`probe` answers "what is this file, and may we decode it?" from the container header alone. Every
way an upload can be unusable maps to one :mod:`tonearm.audio.errors` class; libsndfile's open errors
are classified rather than passed through, so hostile input never surfaces as an unhandled exception.

Checks run cheapest first: byte size (before the input is even opened), format, emptiness, duration
(too long, then too short). :mod:`tonearm.audio.decode` reuses the pieces (:func:`check_input_size`,
:func:`open_soundfile`, :func:`check_header`) and adds the formats libsndfile cannot read.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from tonearm.audio.errors import (
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    InputTooLargeError,
    UndecodableAudioError,
    UnsupportedFormatError,
)
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioInfo",
    "AudioSource",
    "ForwardOnlySoundFile",
    "check_header",
    "check_input_size",
    "fmt_bytes",
    "open_checked",
    "open_soundfile",
    "probe",
]

#: What callers may pass: a filesystem path, or a seekable binary stream holding the whole input.
AudioSource = str | os.PathLike[str] | BinaryIO

# libsndfile major format -> tonearm format name. WAVEX (WAVE_FORMAT_EXTENSIBLE, used for >2 channels
# and >16-bit audio) and RF64 (WAV beyond 4 GiB) are WAV to a user.
_FORMAT_NAMES = {
    "WAV": "wav",
    "WAVEX": "wav",
    "RF64": "wav",
    "FLAC": "flac",
    "OGG": "ogg",
    "MP3": "mp3",
}
#: The formats tonearm accepts, as reported in :attr:`AudioInfo.format`.
SUPPORTED_FORMATS = frozenset(_FORMAT_NAMES.values())

# libsndfile error numbers. UNRECOGNISED_FORMAT and UNSUPPORTED_ENCODING mean "not a (supported)
# audio format"; every other open error comes from a parser that recognised the container and then
# choked on it ("broken audio"). SYSTEM on a path is a filesystem failure, not the upload's fault.
_SF_ERR_UNRECOGNISED_FORMAT = 1
_SF_ERR_SYSTEM = 2
_SF_ERR_UNSUPPORTED_ENCODING = 4
# libsndfile reports SF_COUNT_MAX frames when an MP3's length cannot be determined.
_SF_COUNT_MAX = 2**63 - 1
# How much of a WAV file to read when looking for the declared length of the data chunk. Chunks before
# `data` (fmt, fact, LIST, bext, JUNK) are normally a few hundred bytes; if `data` is not found within
# this window the declared-length check is skipped.
_WAV_HEADER_WINDOW = 64 * 1024
# A data-chunk size of 0xFFFFFFFF is what streaming writers (ffmpeg to a pipe, for one) put there when
# they cannot go back and patch the header; it means "unknown", not 4 GiB.
_RIFF_UNKNOWN_SIZE = 0xFFFFFFFF

_SUPPORTED_HINT = "send WAV, FLAC, OGG (Vorbis or Opus) or MP3"


@dataclass(frozen=True)
class AudioInfo:
    """What the header says about an audio input.

    Attributes
    ----------
    format : str
        ``"wav"``, ``"flac"``, ``"ogg"`` (Vorbis *or* Opus; see ``subtype``) or ``"mp3"``.
        :func:`tonearm.audio.decode.decode` also reports ``"aac"`` (ADTS), ``"m4a"`` (MP4/M4A/MOV),
        ``"mka"`` (Matroska/WebM) and ``"pcm"`` (headerless samples).
    subtype : str
        libsndfile's encoding name, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``, ``"OPUS"``,
        ``"MPEG_LAYER_III"``; for audio decoded with FFmpeg, the codec name upper-cased (``"AAC"``,
        ``"ALAC"``); for raw PCM, the sample format upper-cased (``"S16LE"``).
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    frames : int
        Frames (samples per channel) according to the header. For MP3 this is libmpg123's estimate
        (exact with a Xing/LAME header, extrapolated from the bitrate otherwise); ``-1`` if the length
        is unknown. The decoded length may differ; :func:`tonearm.audio.summary.summarize_audio` reports
        the decoded one.
    duration_s : float
        ``frames / sample_rate`` in seconds; ``nan`` if the length is unknown.
    """

    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float


def probe(
    source: AudioSource,
    *,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> AudioInfo:
    """Read an audio input's header and check it against the limits, without decoding any audio.

    Parameters
    ----------
    source : str, os.PathLike or binary stream
        A path, or a seekable binary stream whose whole content (from offset 0) is the input. The
        stream's position afterwards is unspecified.
    size_bytes : int, optional
        Input size in bytes if the caller already knows it (e.g. an S3 object's ``ContentLength``);
        measured from the file or stream otherwise.
    limits : AudioLimits
        Size and duration limits.

    Returns
    -------
    AudioInfo
        The header's description of the audio.

    Raises
    ------
    InputTooLargeError
        ``size_bytes`` exceeds ``limits.max_bytes`` (checked before the input is opened).
    EmptyAudioError
        The input has zero bytes or the header declares zero frames.
    UnsupportedFormatError
        The input is not audio, or is audio in a format other than WAV, FLAC, OGG or MP3.
    UndecodableAudioError
        The format is recognised but the header is corrupt or truncated.
    AudioTooLongError
        The header declares more than ``limits.max_duration_s`` seconds of audio.
    AudioTooShortError
        The header declares fewer than ``limits.min_duration_s`` seconds of audio (not checked for
        MP3, whose header length is only an estimate; decoding checks it).
    ValueError
        ``source`` is a stream that cannot seek (a programming error, not a bad upload).
    """
    handle, info = open_checked(source, size_bytes=size_bytes, limits=limits)
    handle.close()
    return info


def open_checked(
    source: AudioSource,
    *,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> tuple[sf.SoundFile, AudioInfo]:
    """Probe ``source`` like :func:`probe` but return the open file, positioned at frame 0, as well.

    Lets a caller that goes on to decode avoid opening the input twice (opening an MP3 may scan the
    whole file). The caller must close the returned :class:`soundfile.SoundFile`.

    Parameters
    ----------
    source, size_bytes, limits
        As for :func:`probe`.

    Returns
    -------
    tuple of (soundfile.SoundFile, AudioInfo)
        The open file (read mode) and its header description.

    Raises
    ------
    AudioError
        As for :func:`probe`.
    """
    check_input_size(source, size_bytes=size_bytes, limits=limits)
    handle = open_soundfile(source)
    try:
        info = check_header(handle, source, limits=limits)
    except BaseException:
        handle.close()
        raise
    return handle, info


def check_input_size(
    source: AudioSource,
    *,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> int:
    """Check the input's byte size against the limits before anything parses it.

    Parameters
    ----------
    source : str, os.PathLike or binary stream
        A path, or a seekable binary stream whose whole content (from offset 0) is the input.
    size_bytes : int, optional
        Input size in bytes if the caller already knows it; measured from the file or stream otherwise.
    limits : AudioLimits
        Supplies ``max_bytes``.

    Returns
    -------
    int
        The size in bytes (``size_bytes`` if given).

    Raises
    ------
    InputTooLargeError
        The size exceeds ``limits.max_bytes``.
    EmptyAudioError
        The input has zero bytes.
    ValueError
        ``source`` is a stream that cannot seek.
    """
    if not isinstance(source, str | os.PathLike) and not source.seekable():
        # Kept a ValueError, not a ParameterError: every caller (the API routes, the workflow tasks)
        # passes a path, bytes or a seekable stream it made itself, so a pipe here is a programming
        # error, not anything a request can cause.
        raise ValueError("audio source stream must be seekable (the decoders seek while parsing)")
    size = size_bytes if size_bytes is not None else _measure_size(source)
    if size > limits.max_bytes:
        raise InputTooLargeError(
            f"input is {fmt_bytes(size)}; the limit is {fmt_bytes(limits.max_bytes)}",
        )
    if size == 0:
        raise EmptyAudioError("input is empty (0 bytes)")
    return size


def open_soundfile(source: AudioSource) -> ForwardOnlySoundFile:
    """Open ``source`` with libsndfile, classifying every way the open can fail.

    Parameters
    ----------
    source : str, os.PathLike or seekable binary stream
        The input; a stream is rewound to offset 0 first.

    Returns
    -------
    ForwardOnlySoundFile
        The open file in read mode, positioned at frame 0; the caller closes it.

    Raises
    ------
    UnsupportedFormatError
        libsndfile does not recognise the input as any format it knows, or not its encoding. (A format
        it recognises but tonearm does not accept, such as AIFF, is refused by :func:`check_header`.)
    UndecodableAudioError
        libsndfile recognised the container and then choked on its header.
    soundfile.LibsndfileError
        A path could not be read (a filesystem failure, not the upload's fault).
    """
    if not isinstance(source, str | os.PathLike):
        source.seek(0)
    try:
        return ForwardOnlySoundFile(source, mode="r")
    except sf.LibsndfileError as exc:
        if isinstance(source, str | os.PathLike) and exc.code == _SF_ERR_SYSTEM:
            raise  # the filesystem failed us (permissions, I/O); not the upload's fault
        raise _classify_open_error(exc, source) from exc
    except RuntimeError as exc:  # other soundfile failures while parsing a header
        raise UndecodableAudioError(f"audio header could not be read: {exc}") from exc


class ForwardOnlySoundFile(sf.SoundFile):
    """A ``SoundFile`` that never asks libsndfile where it is while reading.

    soundfile's ``read`` calls ``tell()`` (``sf_seek(SEEK_CUR, 0)``) before every block on a
    seekable file, to clip the request to the frames left. With libsndfile 1.2's MP3 decoder that
    "no-op" seek re-syncs the decoder and corrupts the samples that follow (a 0.3 sine read in
    65536-frame blocks peaks at 0.36; whole-file reads are fine). Reporting the file as
    not seekable makes ``read`` return short blocks at the end instead, which is all we need.
    """

    def seekable(self) -> bool:
        """Claim no seeking, so ``read`` does not call ``tell()``."""
        return False


def read_blocks(handle: sf.SoundFile, *, block_frames: int) -> Iterator[np.ndarray]:
    """Decode ``handle`` block by block.

    Parameters
    ----------
    handle : soundfile.SoundFile
        Open for reading (a ``ForwardOnlySoundFile``, so MP3 block reads stay correct).
    block_frames : int > 0
        Frames per block.

    Yields
    ------
    np.ndarray [shape=(channels, n)], float32
        The next ``n <= block_frames`` frames, channel-major like every signal in tonearm: a transposed
        view of one reused frame-interleaved buffer (libsndfile's layout), so copy what must outlive the
        next step.

    Raises
    ------
    UndecodableAudioError
        When the decoder fails part-way (corrupt or truncated data).
    """
    # libsndfile reads interleaved frames, i.e. (n, channels); the view handed out is its transpose.
    buffer = np.empty((block_frames, handle.channels), dtype=np.float32)
    decoded = 0
    while True:
        try:
            block = handle.read(frames=block_frames, dtype="float32", always_2d=True, out=buffer)
        except RuntimeError as exc:  # sf.LibsndfileError and other decoder failures
            raise UndecodableAudioError(
                f"audio data is corrupt or truncated after {decoded / handle.samplerate:.1f} s ({exc})",
            ) from exc
        if block.shape[0] == 0:
            return
        decoded += block.shape[0]
        yield block.T


def check_header(handle: sf.SoundFile, source: AudioSource, *, limits: AudioLimits) -> AudioInfo:
    """Describe an open file and check its header against the limits (see :func:`probe`).

    Parameters
    ----------
    handle : soundfile.SoundFile
        The file, as returned by :func:`open_soundfile`.
    source : str, os.PathLike or binary stream
        The input it was opened from (a WAV header is re-read from it).
    limits : AudioLimits
        Duration limits.

    Returns
    -------
    AudioInfo
        The header's description of the audio.

    Raises
    ------
    UnsupportedFormatError, EmptyAudioError, AudioTooLongError, AudioTooShortError
        As for :func:`probe`.
    """
    name = _FORMAT_NAMES.get(handle.format)
    if name is None:
        raise UnsupportedFormatError(f"{handle.format} audio is not supported; {_SUPPORTED_HINT}")

    sr = int(handle.samplerate)
    frames = int(handle.frames)
    if frames == _SF_COUNT_MAX:
        frames = -1  # length unknown: only the decode-time check can enforce the duration limit
    if frames == 0:
        raise EmptyAudioError("audio holds no samples (0 frames)")
    info = AudioInfo(
        format=name,
        subtype=str(handle.subtype),
        sample_rate=sr,
        channels=int(handle.channels),
        frames=frames,
        duration_s=frames / sr if frames >= 0 else math.nan,
    )

    if frames > 0 and info.duration_s > limits.max_duration_s:
        raise AudioTooLongError(
            f"audio is {info.duration_s:.1f} s long; the limit is {limits.max_duration_s:g} s",
        )
    if name == "wav":
        # libsndfile silently clamps a WAV data chunk that claims more bytes than the file holds (a
        # truncated upload, or a header forged to look huge), so its frame count never exceeds the
        # data actually present. The declared length is still what the header claims; refuse it the
        # same way an honest too-long header is refused.
        declared = _declared_wav_frames(_read_head(source))
        if declared is not None and declared > frames and declared / sr > limits.max_duration_s:
            raise AudioTooLongError(
                f"the WAV header declares {declared / sr:.1f} s of audio; "
                f"the limit is {limits.max_duration_s:g} s",
            )
    # An MP3 header's length is libmpg123's estimate (extrapolated from the bitrate without a Xing
    # header), so a short MP3 is only refused once decoding has measured it.
    if frames > 0 and name != "mp3" and info.duration_s < limits.min_duration_s:
        raise AudioTooShortError(
            f"audio is {info.duration_s:.3f} s long; the minimum is {limits.min_duration_s:g} s",
        )
    return info


#: Leading bytes of files that are not audio, and what to call them (checked in order).
_NOT_AUDIO: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or a document packed as one)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"<!DOCTYPE html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML document"),
)


def describe_non_audio(head: bytes) -> str | None:
    """What a file that is not audio looks like it is, from its first bytes; ``None`` when unsure.

    A decoder's own message for such a file ("illegal MPEG header", "not a regular file") sends users
    looking for a broken encoder; naming what was actually sent says what to fix.
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # a UTF-8 byte order mark, leading blanks
    for magic, name in _NOT_AUDIO:
        if stripped[: len(magic)].lower() == magic.lower():
            return name
    if stripped[:1] in (b"{", b"["):
        return "a JSON document" if _is_text(stripped) else None
    return "a text file" if stripped and _is_text(stripped) else None


def _is_text(data: bytes) -> bool:
    # a window may end inside a multi-byte character: a few replacement characters are allowed for that
    text = data.decode("utf-8", errors="replace")
    return text.count("\ufffd") <= 3 and all(c.isprintable() or c in "\t\r\n\ufffd" for c in text)


def not_audio_error(source: AudioSource, *, hint: str = _SUPPORTED_HINT) -> UnsupportedFormatError | None:
    """An ``UnsupportedFormatError`` naming what ``source`` is, when its first bytes say it is not audio;
    ``hint`` names the formats the caller accepts."""
    try:
        head = _read_head(source)
    except OSError:
        return None
    what = describe_non_audio(head)
    if what is None:
        return None
    named = ""
    if isinstance(source, str | os.PathLike):
        suffix = Path(source).suffix.lower().lstrip(".")
        named = f" (its name says .{suffix})" if suffix else ""
    return UnsupportedFormatError(f"this is {what}, not audio{named}; {hint}")


def _classify_open_error(exc: sf.LibsndfileError, source: AudioSource) -> Exception:
    reason = str(exc.error_string).strip().rstrip(".")
    identified = not_audio_error(source)
    if identified is not None:
        return identified
    if exc.code in (_SF_ERR_UNRECOGNISED_FORMAT, _SF_ERR_UNSUPPORTED_ENCODING):
        return UnsupportedFormatError(
            f"input is not audio in a supported format ({reason}); {_SUPPORTED_HINT}"
        )
    if "not a regular file" in reason:  # libsndfile's words for any stream it gave up on: misleading here
        return UndecodableAudioError("audio header is corrupt or truncated")
    return UndecodableAudioError(f"audio header is corrupt or truncated ({reason})")


def _measure_size(source: AudioSource) -> int:
    if isinstance(source, str | os.PathLike):
        return os.stat(source).st_size  # FileNotFoundError propagates: a missing path is a caller bug
    return int(source.seek(0, io.SEEK_END))


def _read_head(source: AudioSource) -> bytes:
    # Read the first bytes of the input without disturbing libsndfile, which owns the stream position
    # of an open stream: save it and put it back.
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read(_WAV_HEADER_WINDOW)
    pos = source.tell()
    try:
        source.seek(0)
        return source.read(_WAV_HEADER_WINDOW)
    finally:
        source.seek(pos)


def _declared_wav_frames(head: bytes) -> int | None:
    """Return the frame count a RIFF/WAVE header's ``data`` chunk declares, or None if unknown."""
    if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None  # RF64 and friends keep their sizes elsewhere; libsndfile's count stands
    block_align = 0
    pos = 12
    # Walk the chunk list (a handful of chunks, not samples).
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        if chunk_id == b"fmt " and pos + 8 + 14 <= len(head):
            # WAVEFORMAT: tag(2) channels(2) rate(4) bytes/s(4) block_align(2)
            (block_align,) = struct.unpack_from("<H", head, pos + 8 + 12)
        elif chunk_id == b"data":
            if block_align == 0 or size in (0, _RIFF_UNKNOWN_SIZE):
                return None
            return size // block_align
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def fmt_bytes(n: int) -> str:
    """Format a byte count for error messages: ``"1,234 bytes"`` or ``"123,456,789 bytes (117.7 MiB)"``."""
    mib = 1024 * 1024
    return f"{n:,} bytes ({n / mib:.1f} MiB)" if n >= mib else f"{n:,} bytes"
