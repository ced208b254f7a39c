"""One-pass audio summary: probe, stream-decode, measure loudness and peak, optionally transcode to WAV.

This is the routine behind the ``tonearm/audio-info`` workflow. It decodes in fixed-size blocks, so
memory is bounded by ``block_frames`` whatever the input's length, rate or channel count, and it
re-checks the limits while decoding because headers can lie (an MP3's frame count is an estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.analysis.loudness import MIN_SAMPLE_RATE, LoudnessMeter
from tonearm.audio.errors import (
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    SilentAudioError,
    UndecodableAudioError,
)
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.audio.probe import AudioInfo, AudioSource, open_checked, read_blocks

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
        What the header said (its ``frames``/``duration_s`` may differ from the decoded length).
    duration_s : float
        Decoded duration in seconds (decoded frames / sample rate).
    loudness_lufs : float or None
        BS.1770-4 integrated loudness in LUFS; ``None`` when every block is gated out (quieter than
        -70 LUFS throughout) or the sample rate is below
        :data:`tonearm.analysis.loudness.MIN_SAMPLE_RATE` (3364 Hz), where K-weighting is undefined.
        (JSON cannot carry ``-inf``.)
    peak_dbfs : float or None
        Sample peak in dBFS. Never ``None`` in practice: silent input is refused
        (:class:`~tonearm.audio.errors.SilentAudioError`); kept optional for the wire form.
    """

    info: AudioInfo
    duration_s: float
    loudness_lufs: float | None
    peak_dbfs: float | None


def summarize_audio(
    source: AudioSource,
    *,
    wav_out: BinaryIO | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
    block_frames: int = 65536,
) -> AudioSummary:
    """Probe, decode and measure an audio input in one bounded-memory pass.

    Parameters
    ----------
    source : str, os.PathLike or binary stream
        A path, or a seekable binary stream whose whole content (from offset 0) is the input.
    wav_out : binary stream, optional
        If given, receives the decoded audio as 16-bit PCM WAV at the input's sample rate and channel
        count (samples rounded, clipped to full scale, no dither). Must be seekable (the WAV header is
        patched on close). On error it holds a partial file the caller must discard.
    size_bytes : int, optional
        Input size in bytes if already known; measured otherwise.
    limits : AudioLimits
        Size and duration limits, enforced from the header and again while decoding; the minimum
        duration and the silence threshold are checked on the decoded audio.
    block_frames : int
        Frames decoded per block (>= 1); peak memory is a small multiple of
        ``block_frames * channels * 8`` bytes.

    Returns
    -------
    AudioSummary
        Header info, decoded duration, integrated loudness and sample peak.

    Raises
    ------
    InputTooLargeError, UnsupportedFormatError, EmptyAudioError, AudioTooLongError, AudioTooShortError
        As for :func:`tonearm.audio.probe.probe`, plus: decoding passes ``limits.max_duration_s``
        (:class:`AudioTooLongError`), decodes to zero frames (:class:`EmptyAudioError`) or to fewer
        than ``limits.min_duration_s`` seconds (:class:`AudioTooShortError`).
    UndecodableAudioError
        The header is corrupt, or decoding fails mid-stream or yields NaN/infinite samples.
    SilentAudioError
        The sample peak of the whole input lies below ``limits.silence_threshold_dbfs`` (-90 dBFS).
    ValueError
        ``block_frames`` < 1, or ``source`` is a stream that cannot seek.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be >= 1, got {block_frames}")

    handle, info = open_checked(source, size_bytes=size_bytes, limits=limits)
    with handle:
        sr, channels = info.sample_rate, info.channels
        # Largest decoded frame count within the limit: frames / sr <= max_duration_s.
        max_frames = math.floor(limits.max_duration_s * sr)
        # The audio-info summary reports no true peak; skip the 4x oversampling it would cost.
        meter = LoudnessMeter(sr=sr, channels=channels, true_peak=False) if sr >= MIN_SAMPLE_RATE else None
        writer = (
            sf.SoundFile(wav_out, mode="w", samplerate=sr, channels=channels, format="WAV", subtype="PCM_16")
            if wav_out is not None
            else None
        )
        decoded = 0
        peak = 0.0
        try:
            for block in read_blocks(handle, block_frames=block_frames):
                n = block.shape[0]
                decoded += n
                if decoded > max_frames:
                    raise AudioTooLongError(
                        f"audio is longer than {decoded / sr:.1f} s (found while decoding); "
                        f"the limit is {limits.max_duration_s:g} s",
                    )
                magnitude = np.abs(block)
                # NaN fails every comparison, so test finiteness explicitly rather than via the max.
                if not np.isfinite(magnitude).all():
                    raise UndecodableAudioError(
                        f"audio contains non-finite samples (NaN or infinity) within "
                        f"{(decoded - n) / sr:.1f}-{decoded / sr:.1f} s; only finite samples are accepted",
                    )
                peak = max(peak, float(magnitude.max()))
                if meter is not None:
                    meter.process(block)
                if writer is not None:
                    writer.write(_to_pcm16(block))
        finally:
            if writer is not None:
                writer.close()

    if decoded == 0:
        raise EmptyAudioError("audio decodes to no samples (0 frames)")
    # The header check already refused short WAV/FLAC/OGG; an MP3's header length is only an estimate.
    if decoded / sr < limits.min_duration_s:
        raise AudioTooShortError(
            f"audio is {decoded / sr:.3f} s long (decoded); the minimum is {limits.min_duration_s:g} s",
        )
    if peak < limits.silence_threshold:
        raise SilentAudioError(
            f"audio is silent: its peak is {_fmt_dbfs(peak)}, below the "
            f"{limits.silence_threshold_dbfs:g} dBFS threshold",
        )
    lufs = meter.integrated_lufs() if meter is not None else -math.inf
    peak_db = 20.0 * math.log10(peak) if peak > 0.0 else -math.inf
    return AudioSummary(
        info=info,
        duration_s=decoded / sr,
        loudness_lufs=lufs if math.isfinite(lufs) else None,
        peak_dbfs=peak_db if math.isfinite(peak_db) else None,
    )


def _to_pcm16(block: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    # Round to nearest and clip: float sources may exceed full scale, and libsndfile's own conversion
    # would wrap around instead of clipping.
    scaled = np.rint(block * np.float32(_PCM16_SCALE))
    return np.clip(scaled, -32768.0, 32767.0).astype(np.int16)


def _fmt_dbfs(peak: float) -> str:
    return f"{20.0 * math.log10(peak):.1f} dBFS" if peak > 0.0 else "-inf dBFS (digital silence)"
