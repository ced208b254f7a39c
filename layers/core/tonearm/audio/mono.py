"""Mono signals at a model's sample rate: channel mean, then soxr, in one shot or block by block.

The tagging, transcription, analysis and chord front ends all start from the channel mean of the
decoded audio resampled with soxr. :func:`mono_at_rate` does it for a signal held in memory (with
librosa.load's length: ``ceil(n * target_sr / sr)`` samples); :class:`MonoResampleStream` does it for
consecutive ``(channels, k)`` blocks, so the full-rate multichannel signal never has to be held whole.
The channel mean is taken per frame and soxr's streaming resampler returns the same samples as its
one-shot call, so both give the same signal.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from tonearm.errors import ParameterError

__all__ = ["MonoResampleStream", "fix_length", "mono_at_rate", "resample", "resampled_length", "to_mono"]


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


def mono_at_rate(y: npt.NDArray[np.floating], *, sr: int, target_sr: int) -> npt.NDArray[np.float32]:
    """Mix to mono and resample (soxr, high quality) to ``target_sr``, as ``librosa.load`` does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
    sr : int > 0 [Hz]
    target_sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(ceil(n * target_sr / sr),)], float32 at ``target_sr``
    """
    mono = resample(to_mono(y), sr=sr, target_sr=target_sr)
    return fix_length(mono, resampled_length(y.shape[-1], sr=sr, target_sr=target_sr))


class MonoResampleStream:
    """Channel mean of decoded blocks resampled to ``target_sr`` with soxr's streaming resampler.

    Implements :class:`tonearm.audio.decode.BlockConsumer`: call :meth:`start`, :meth:`feed` blocks,
    then :meth:`finish`. Only the mono signal at ``target_sr`` is kept.

    Parameters
    ----------
    target_sr : int > 0 [Hz]
        Rate of the signal :meth:`finish` returns.
    quality : str
        soxr quality of the resampler (default ``"HQ"``, that of :func:`mono_at_rate`).
    """

    def __init__(self, target_sr: int, *, quality: Literal["QQ", "LQ", "MQ", "HQ", "VHQ"] = "HQ") -> None:
        if target_sr <= 0:
            raise ParameterError(f"target_sr must be positive, got {target_sr}")
        self._target_sr = int(target_sr)
        self._quality = quality
        self._sr = 0
        self._channels = 0
        self._frames = 0
        self._resampler: soxr.ResampleStream | None = None
        self._pieces: list[npt.NDArray[np.float32]] = []

    def start(self, *, sr: int, channels: int) -> None:
        """Begin a signal of ``channels`` channels at ``sr`` Hz (forgets any earlier one)."""
        if sr <= 0 or channels < 1:
            raise ParameterError(f"need a positive rate and at least one channel, got {sr} Hz, {channels}")
        self._sr, self._channels, self._frames, self._pieces = int(sr), int(channels), 0, []
        self._resampler = None
        if self._sr != self._target_sr:
            self._resampler = soxr.ResampleStream(
                self._sr, self._target_sr, 1, dtype="float32", quality=self._quality
            )

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Take the next ``(channels, k)`` block."""
        if block.ndim != 2 or block.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, k), got {block.shape}")
        if block.shape[1] == 0:
            return
        self._frames += block.shape[1]
        mono = block[0].astype(np.float32) if self._channels == 1 else block.mean(axis=0, dtype=np.float32)
        self._emit(mono, last=False)

    def _emit(self, mono: npt.NDArray[np.float32], *, last: bool) -> None:
        out = mono if self._resampler is None else self._resampler.resample_chunk(mono, last=last)
        if out.size:
            self._pieces.append(np.array(out, dtype=np.float32))

    def finish(self) -> npt.NDArray[np.float32]:
        """Flush the resampler; the stream is spent afterwards (:attr:`frames` and :attr:`sr` stay).

        Returns
        -------
        np.ndarray [shape=(m,)], float32 at ``target_sr``
            What soxr gives, about ``frames * target_sr / sr`` samples (not padded or trimmed:
            :func:`fix_length` with :func:`resampled_length` gives :func:`mono_at_rate`'s length).
        """
        if self._frames == 0:
            raise ParameterError("no audio was fed")
        if self._resampler is not None:
            self._emit(np.zeros(0, dtype=np.float32), last=True)
        mono = np.concatenate(self._pieces) if len(self._pieces) != 1 else self._pieces[0]
        self._pieces = []
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
