"""Mono signals at a model's sample rate: channel mean, then soxr, in one shot or block by block.

The tagging, transcription, analysis and chord front ends all start from the channel mean of the
decoded audio resampled with soxr. :func:`mono_at_rate` does it for a signal held in memory (with
librosa.load's length: ``ceil(n * target_sr / sr)`` samples); :class:`MonoResampleStream` does it for
consecutive ``(channels, k)`` blocks, so the full-rate multichannel signal never has to be held whole,
and :func:`decode_mono` decodes an input straight into one (what every request-serving analysis uses).
The channel mean is taken per frame and soxr's streaming resampler returns the same samples as its
one-shot call, so all three give the same signal.

Samples outside [-1, 1]
-----------------------
Float sources (float WAV, raw ``f32le``, and lossy codecs, whose decoders overshoot) may exceed full
scale, by any finite amount: a float WAV that was never normalised can peak at 1e30. These signals are
**normalised, never clipped**: when the source's sample peak (over every channel) exceeds
:data:`HEADROOM` (2.0, +6 dBFS), the mono signal is scaled by ``HEADROOM / peak``.

* Scaling keeps the waveform, hence the tags, key, beats and notes of the music; clipping a signal that
  peaks at 1e30 would leave a square wave, and every analysis would describe the distortion.
* Only what is hotter than +6 dBFS is touched. Integer sources never get there, and the overshoot of lossy
  decoders (a few dB at most) passes bit for bit, as ``librosa.load`` (what the models were trained on)
  returns it; a gain proportional to ``1 / peak`` is also continuous, so no input near the threshold
  jumps.
* The downstream arithmetic then always has margin: the tagging front end's float16 mel power saturates
  only for peaks above ~13, and squares of the signal stay far from float32's range.

Mixing and resampling are linear, so the gain is applied once to the mono output at the end (the stream
cannot know the peak before the last block); meanwhile every block is mixed and resampled at a fixed
``2**-32`` (exact: a power of two changes no rounding), so that even samples near float32's largest
value (3.4e38) cannot overflow in the channel sum or the resampler's overshoot.
"""

from __future__ import annotations

import math
import os
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt
import soxr

from tonearm.audio.decode import DecodedAudio, PcmFormat, decode_stream
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.errors import ParameterError

__all__ = [
    "HEADROOM",
    "MonoResampleStream",
    "decode_mono",
    "fix_length",
    "headroom_gain",
    "mono_at_rate",
    "resample",
    "resampled_length",
    "to_mono",
]

#: Largest sample peak a mono signal made here keeps (linear, full scale = 1.0; +6 dBFS): a source that
#: peaks higher is scaled down to it (see the module docstring).
HEADROOM = 2.0
# Fixed gain every signal is mixed and resampled at, undone at the end (see the module docstring).
_WORK_GAIN = np.float32(2.0**-32)
# A channel sum of float32 samples cannot overflow below this peak times the channel count.
_SAFE_SUM = 1e37
# Room a stream reserves for its output up front [s of audio at the target rate]: the duration limit.
# Reserved, not touched (np.empty of this size is an mmap whose pages cost nothing until written), so
# the output never has to grow: growing would copy, or with ndarray.resize zero-fill the new room
# (pages touched for nothing). Only a longer input than that makes it grow.
_RESERVE_S = DEFAULT_LIMITS.max_duration_s


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Audio, float.

    Returns
    -------
    np.ndarray [shape=(n,)], float32
    """
    if y.ndim == 1:
        return y.astype(np.float32, copy=False)
    if y.ndim != 2:
        raise ParameterError(f"audio must have shape (n,) or (channels, n), got {y.shape}")
    return y.mean(axis=0, dtype=np.float32)


def resample(y: np.ndarray, *, sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr (high quality, vectorised C).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
    sr : int > 0 [Hz]
    target_sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(round(n * target_sr / sr),)], float32
    """
    if sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be positive, got {sr} and {target_sr}")
    if sr == target_sr:
        return y.astype(np.float32, copy=False)
    return np.asarray(soxr.resample(y.astype(np.float32, copy=False), sr, target_sr, quality="HQ"))


def resampled_length(n: int, *, sr: int, target_sr: int) -> int:
    """Samples of ``n`` samples at ``sr`` Hz resampled to ``target_sr`` Hz: ``ceil(n * target_sr / sr)``.

    Parameters
    ----------
    n : int >= 0 [samples]
    sr, target_sr : int > 0 [Hz]

    Returns
    -------
    int >= 0 [samples]
    """
    return -(-n * target_sr // sr)


def fix_length(mono: npt.NDArray[np.float32], length: int) -> npt.NDArray[np.float32]:
    """Pad with zeros or trim to ``length`` samples (librosa's ``fix_length`` after resampling).

    Parameters
    ----------
    mono : np.ndarray [shape=(m,)], float32
    length : int >= 0 [samples]

    Returns
    -------
    np.ndarray [shape=(length,)], float32
        ``mono`` itself when it already has ``length`` samples.
    """
    if mono.shape[0] == length:
        return mono
    fixed = np.zeros(length, dtype=np.float32)
    fixed[: min(length, mono.shape[0])] = mono[:length]
    return fixed


def headroom_gain(peak: float, *, headroom: float = HEADROOM) -> float:
    """Gain that brings a signal peaking at ``peak`` within ``headroom``: ``headroom / peak``, or 1.

    Parameters
    ----------
    peak : float >= 0
        Sample peak (linear, full scale = 1.0), finite.
    headroom : float > 0
        Largest peak kept as it is.

    Returns
    -------
    float in (0, 1]
    """
    return 1.0 if peak <= headroom else headroom / peak


def _sample_peak(x: npt.NDArray[np.floating]) -> float:
    # max/min rather than abs: no full-size temporary.
    if x.size == 0:
        return 0.0
    return max(float(x.max()), -float(x.min()))


def _mix(x: npt.NDArray[np.floating], peak: float) -> npt.NDArray[np.float32]:
    """Channel mean of ``(channels, k)`` samples, times :data:`_WORK_GAIN`, as a new float32 array."""
    if x.shape[0] == 1:
        mono = x[0].astype(np.float32)  # a copy, so scaling it in place leaves the caller's data alone
    elif peak * x.shape[0] < _SAFE_SUM:
        mono = x.mean(axis=0, dtype=np.float32)
    else:  # the sum could overflow float32: scale first (one block-sized temporary; only for such inputs)
        return np.asarray((x * _WORK_GAIN).mean(axis=0, dtype=np.float32), dtype=np.float32)
    mono *= _WORK_GAIN
    return mono


def mono_at_rate(
    y: npt.NDArray[np.floating], *, sr: int, target_sr: int, headroom: float = HEADROOM
) -> npt.NDArray[np.float32]:
    """Mix to mono and resample (soxr, high quality) to ``target_sr``, as ``librosa.load`` does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float, finite
    sr : int > 0 [Hz]
    target_sr : int > 0 [Hz]
    headroom : float > 0
        A signal whose sample peak exceeds it is scaled down to it (see the module docstring).

    Returns
    -------
    np.ndarray [shape=(ceil(n * target_sr / sr),)], float32 at ``target_sr``
        ``y``'s own (only) channel when it is float32 mono at ``target_sr`` within the headroom
        (what :func:`decode_mono` gives: no second copy of the signal), a new array otherwise.
    """
    if y.ndim not in (1, 2):
        raise ParameterError(f"audio must have shape (n,) or (channels, n), got {y.shape}")
    x = y[np.newaxis, :] if y.ndim == 1 else y
    peak = _sample_peak(x)
    if sr == target_sr and x.shape[0] == 1 and x.dtype == np.float32 and peak <= headroom:
        return x[0]  # already what this would compute, bit for bit
    mono = resample(_mix(x, peak), sr=sr, target_sr=target_sr)
    mono = fix_length(mono, resampled_length(x.shape[1], sr=sr, target_sr=target_sr))
    mono *= np.float32(headroom_gain(peak, headroom=headroom) / float(_WORK_GAIN))
    return mono


class MonoResampleStream:
    """Channel mean of decoded blocks resampled to ``target_sr`` with soxr's streaming resampler.

    Implements :class:`tonearm.audio.decode.BlockConsumer`: call :meth:`start`, :meth:`feed` blocks,
    then :meth:`finish`. Only the mono signal at ``target_sr`` is kept, in one buffer reserved for
    ``reserve_s`` seconds (address space only: its pages are touched as samples arrive), grown in place
    past that and trimmed in place at the end, so the memory held is that signal (4 bytes x seconds x
    ``target_sr``: 38 MB for 10 minutes at 16 kHz) plus one block.

    Parameters
    ----------
    target_sr : int > 0 [Hz]
        Rate of the signal :meth:`finish` returns.
    quality : str
        soxr quality of the resampler (default ``"HQ"``, that of :func:`mono_at_rate`).
    headroom : float > 0
        A signal whose sample peak exceeds it is scaled down to it at :meth:`finish`.
    reserve_s : float > 0 [s]
        Length of input reserved for up front (default: the default duration limit, 600 s).
    """

    def __init__(
        self,
        target_sr: int,
        *,
        quality: Literal["QQ", "LQ", "MQ", "HQ", "VHQ"] = "HQ",
        headroom: float = HEADROOM,
        reserve_s: float = _RESERVE_S,
    ) -> None:
        if target_sr <= 0:
            raise ParameterError(f"target_sr must be positive, got {target_sr}")
        if not headroom > 0:
            raise ParameterError(f"headroom must be positive, got {headroom}")
        if not reserve_s > 0:
            raise ParameterError(f"reserve_s must be positive, got {reserve_s}")
        self._target_sr = int(target_sr)
        self._quality = quality
        self._headroom = float(headroom)
        self._reserve = math.ceil(reserve_s * target_sr) + 64  # + soxr's rounding of the last samples
        self._sr = 0
        self._channels = 0
        self._frames = 0
        self._peak = 0.0
        self._resampler: soxr.ResampleStream | None = None
        self._out = np.empty(0, dtype=np.float32)
        self._filled = 0

    def start(self, *, sr: int, channels: int) -> None:
        """Begin a signal of ``channels`` channels at ``sr`` Hz (forgets any earlier one)."""
        if sr <= 0 or channels < 1:
            raise ParameterError(f"need a positive rate and at least one channel, got {sr} Hz, {channels}")
        self._sr, self._channels, self._frames, self._peak = int(sr), int(channels), 0, 0.0
        self._out = np.empty(self._reserve, dtype=np.float32)
        self._filled = 0
        self._resampler = None
        if self._sr != self._target_sr:
            self._resampler = soxr.ResampleStream(
                self._sr, self._target_sr, 1, dtype="float32", quality=self._quality
            )

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Take the next ``(channels, k)`` block (finite samples)."""
        if block.ndim != 2 or block.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, k), got {block.shape}")
        if block.shape[1] == 0:
            return
        self._frames += block.shape[1]
        peak = _sample_peak(block)
        self._peak = max(self._peak, peak)
        self._emit(_mix(block, peak), last=False)

    def _emit(self, mono: npt.NDArray[np.float32], *, last: bool) -> None:
        out = mono if self._resampler is None else self._resampler.resample_chunk(mono, last=last)
        n = out.shape[0]
        if not n:
            return
        end = self._filled + n
        if end > self._out.shape[0]:
            # Past the reservation (a longer input than planned for): realloc, which moves a large block
            # by remapping its pages rather than copying them (numpy zero-fills the new room).
            self._out.resize(max(end, self._out.shape[0] + self._out.shape[0] // 2), refcheck=False)
        self._out[self._filled : end] = out
        self._filled = end

    def finish(self) -> npt.NDArray[np.float32]:
        """Flush the resampler; the stream is spent afterwards (:attr:`frames` and :attr:`sr` stay).

        Returns
        -------
        np.ndarray [shape=(m,)], float32 at ``target_sr``
            What soxr gives, about ``frames * target_sr / sr`` samples (not padded or trimmed:
            :meth:`finish_to_length` with :func:`resampled_length` gives :func:`mono_at_rate`'s length),
            scaled down when the input peaked above the headroom.
        """
        return self._finish(None)

    def finish_to_length(self, length: int) -> npt.NDArray[np.float32]:
        """:meth:`finish`, padded with zeros or trimmed to ``length`` samples in place.

        What :func:`fix_length` does, without its copy of the signal.

        Parameters
        ----------
        length : int >= 0 [samples]
            :func:`resampled_length` of :attr:`frames` gives :func:`mono_at_rate`'s length.

        Returns
        -------
        np.ndarray [shape=(length,)], float32 at ``target_sr``
        """
        if length < 0:
            raise ParameterError(f"length must be >= 0, got {length}")
        return self._finish(length)

    def _finish(self, length: int | None) -> npt.NDArray[np.float32]:
        if self._frames == 0:
            raise ParameterError("no audio was fed")
        if self._resampler is not None:
            self._emit(np.zeros(0, dtype=np.float32), last=True)
        mono, filled = self._out, self._filled
        self._out, self._filled = np.empty(0, dtype=np.float32), 0
        size = filled if length is None else length
        # Padding is silence: resize() zero-fills only past the old allocation, the rest of the buffer
        # holds whatever it held (only the padding is written, not the whole unused reservation).
        mono[filled : min(size, mono.shape[0])] = 0.0
        mono.resize(size, refcheck=False)  # in place: no second copy of the signal
        mono *= np.float32(headroom_gain(self._peak, headroom=self._headroom) / float(_WORK_GAIN))
        return mono

    @property
    def sr(self) -> int:
        """Rate of the input [Hz]; 0 before :meth:`start`."""
        return self._sr

    @property
    def frames(self) -> int:
        """Input frames fed so far."""
        return self._frames

    @property
    def duration_s(self) -> float:
        """Length of the audio fed so far [s]."""
        return self._frames / self._sr if self._sr else 0.0

    @property
    def peak(self) -> float:
        """Sample peak of the input fed so far (linear, every channel, before any gain)."""
        return self._peak


def decode_mono(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    target_sr: int,
    pcm: PcmFormat | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
    headroom: float = HEADROOM,
) -> DecodedAudio:
    """Decode an input straight to the mono signal a model reads, never holding the decoded channels.

    The input is decoded block by block (:func:`tonearm.audio.decode.decode_stream`: the same formats,
    limits and errors as :func:`tonearm.audio.decode.decode`), each block mixed down and resampled as it
    arrives. Memory therefore follows what the consumer needs, not what the client sent: the result (4 bytes
    x ``target_sr`` x seconds, at most ``limits.max_duration_s``; 38 MB for 10 minutes at 16 kHz) plus one
    decode block (at most :data:`tonearm.audio.decode.BLOCK_BYTES`, twice: the decoder's and the
    reader's) and the decoder's own state. Ten minutes of 8-channel 96 kHz FLAC, 1.8 GB as float32 channels,
    decodes in that. An input whose length is unknown is refused at the first block past the duration
    limit or the decoded-size budget, having held no more.

    Parameters
    ----------
    source : str, os.PathLike, seekable binary stream or bytes
        As for :func:`tonearm.audio.decode.decode`.
    target_sr : int > 0 [Hz]
        Rate of the result (the model's: 16000 for tagging, 22050 for analysis and transcription).
    pcm, size_bytes, limits
        As for :func:`tonearm.audio.decode.decode`.
    headroom : float > 0
        A source whose sample peak exceeds it is scaled down to it (see the module docstring).

    Returns
    -------
    DecodedAudio
        ``y`` of shape ``(1, ceil(frames * target_sr / sr))``, float32 (:func:`mono_at_rate` of the decoded
        audio), ``sr == target_sr``, and ``info`` describing the source (its rate, channels and decoded
        frames).

    Raises
    ------
    TonearmError
        Every error :func:`tonearm.audio.decode.decode` raises, in the same cases.
    ParameterError
        ``target_sr`` or ``headroom`` is not positive.
    """
    stream = MonoResampleStream(target_sr, quality="HQ", headroom=headroom, reserve_s=limits.max_duration_s)
    info = decode_stream(source, stream, pcm=pcm, size_bytes=size_bytes, limits=limits)
    mono = stream.finish_to_length(resampled_length(info.frames, sr=info.sample_rate, target_sr=target_sr))
    return DecodedAudio(y=mono[np.newaxis, :], sr=target_sr, info=info)
