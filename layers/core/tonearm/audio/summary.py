"""One-pass audio summary: decode as a stream, measure loudness and peak, optionally transcode to WAV.

This is the routine behind the ``tonearm/audio-info`` workflow. It reads the input through
:func:`tonearm.audio.decode.decode_stream`, the path ``tonearm/analyze`` takes, so it accepts every
format :func:`tonearm.audio.decode.decode` does (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC, M4A/MP4,
Matroska/WebM) and refuses the rest with the same errors, enforcing the same limits before and while
decoding (headers can lie: an MP3's frame count is an estimate). Memory is bounded by ``block_frames``
whatever the input's length, rate or channel count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.audio.decode import decode_stream
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.audio.loudness import MIN_SAMPLE_RATE, LoudnessMeter
from tonearm.audio.probe import AudioInfo, AudioSource
from tonearm.errors import ParameterError

__all__ = ["AudioSummary", "summarize_audio"]

# libsndfile maps PCM_16 to float by dividing by 2**15, so scaling back by 2**15 (not 2**15 - 1, as
# libsndfile's own float-to-PCM writer does) makes a 16-bit input round-trip bit-exactly.
_PCM16_SCALE = 32768.0


@dataclass(frozen=True)
class AudioSummary:
    """Result of :func:`summarize_audio`.

    Attributes
    ----------
    info : AudioInfo
        The input's format, encoding, rate and channels, as :func:`tonearm.audio.decode.decode`
        reports them (``frames``/``duration_s`` are those of the decoded audio).
    duration_s : float
        Decoded duration in seconds (decoded frames / sample rate).
    loudness_lufs : float or None
        BS.1770-4 integrated loudness in LUFS; ``None`` when every block is gated out (quieter than
        -70 LUFS throughout) or the sample rate is below
        :data:`tonearm.audio.loudness.MIN_SAMPLE_RATE` (3364 Hz), where K-weighting is undefined.
        (JSON cannot carry ``-inf``.)
    peak_dbfs : float or None
        Sample peak in dBFS. Never ``None`` in practice: silent input is refused
        (:class:`~tonearm.audio.errors.SilentAudioError`); kept optional for the wire form.
    """

    info: AudioInfo
    duration_s: float
    loudness_lufs: float | None
    peak_dbfs: float | None


class _Summariser:
    """The :class:`tonearm.audio.decode.BlockConsumer` behind :func:`summarize_audio`.

    Meters loudness (no true peak: the summary does not report it, and oversampling would double the
    cost), tracks the sample peak and, given ``wav_out``, writes 16-bit PCM WAV.
    """

    def __init__(self, wav_out: BinaryIO | None) -> None:
        self._wav_out = wav_out
        self.meter: LoudnessMeter | None = None
        self.writer: sf.SoundFile | None = None
        self.peak = 0.0

    def start(self, *, sr: int, channels: int) -> None:
        """Set up the meter and the writer for the stream's rate and channel count."""
        if sr >= MIN_SAMPLE_RATE:
            self.meter = LoudnessMeter(sr=sr, channels=channels, true_peak=False)
        if self._wav_out is not None:
            self.writer = sf.SoundFile(
                self._wav_out, mode="w", samplerate=sr, channels=channels, format="WAV", subtype="PCM_16"
            )

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        """Take the next ``(channels, k)`` float32 block (finite: decode_stream checked it)."""
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(block.max()), -float(block.min()))
        if self.meter is not None:
            self.meter.process(block)
        if self.writer is not None:
            # A WAV file interleaves frames: soundfile writes (frames, channels), hence the transpose
            # (soundfile makes it contiguous, one int16 block at a time).
            self.writer.write(_to_pcm16(block).T)

    def close(self) -> None:
        """Finish the WAV file (patching its header) if one is being written."""
        if self.writer is not None:
            self.writer.close()


def summarize_audio(
    source: AudioSource,
    *,
    wav_out: BinaryIO | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
    block_frames: int = 65536,
) -> AudioSummary:
    """Decode and measure an audio input in one bounded-memory pass.

    Parameters
    ----------
    source : str, os.PathLike or binary stream
        A path, or a seekable binary stream whose whole content (from offset 0) is the input.
    wav_out : binary stream, optional
        If given, receives the decoded audio as 16-bit PCM WAV at the input's sample rate and channel
        count (samples rounded, clipped to full scale, no dither). Must be seekable (the WAV header is
        patched on close). On error it holds a partial file (or nothing) the caller must discard.
    size_bytes : int, optional
        Input size in bytes if already known; measured otherwise.
    limits : AudioLimits
        Size, duration, decoded-size and silence limits, enforced exactly as
        :func:`tonearm.audio.decode.decode` enforces them.
    block_frames : int
        Frames decoded, metered and written per block (>= 1; see
        :func:`tonearm.audio.decode.decode_stream`); peak memory is a small multiple of
        ``block_frames * channels * 8`` bytes.

    Returns
    -------
    AudioSummary
        Format info, decoded duration, integrated loudness and sample peak.

    Raises
    ------
    TonearmError
        Every error :func:`tonearm.audio.decode.decode` raises, in the same cases and with the same
        codes: :class:`~tonearm.audio.errors.InputTooLargeError`,
        :class:`~tonearm.audio.errors.UnsupportedFormatError`,
        :class:`~tonearm.audio.errors.EmptyAudioError`, :class:`~tonearm.audio.errors.AudioTooLongError`,
        :class:`~tonearm.audio.errors.AudioTooShortError`,
        :class:`~tonearm.audio.errors.UndecodableAudioError` (corrupt data, NaN or infinite samples),
        :class:`~tonearm.audio.errors.SilentAudioError` (peak below
        ``limits.silence_threshold_dbfs``).
    ParameterError
        ``block_frames`` < 1.
    ValueError
        ``source`` is a stream that cannot seek (a programming error).
    """
    if block_frames < 1:
        raise ParameterError(f"block_frames must be >= 1, got {block_frames}")
    summariser = _Summariser(wav_out)
    try:
        info = decode_stream(
            source, summariser, size_bytes=size_bytes, limits=limits, block_frames=block_frames
        )
    finally:
        summariser.close()
    sr = info.sample_rate
    lufs = summariser.meter.integrated_lufs() if summariser.meter is not None else -math.inf
    peak = summariser.peak
    peak_db = 20.0 * math.log10(peak) if peak > 0.0 else -math.inf
    return AudioSummary(
        info=info,
        duration_s=info.frames / sr,
        loudness_lufs=lufs if math.isfinite(lufs) else None,
        peak_dbfs=peak_db if math.isfinite(peak_db) else None,
    )


def _to_pcm16(block: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    # Clip, then round to nearest: float sources may exceed full scale (up to 3.4e38, whose product with
    # the scale would overflow to inf), and libsndfile's own conversion would wrap around instead of
    # clipping.
    scaled = np.rint(np.clip(block, -1.0, 1.0) * np.float32(_PCM16_SCALE))
    return np.clip(scaled, -32768.0, 32767.0).astype(np.int16)
