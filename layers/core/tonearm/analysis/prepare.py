"""The two signals every analysis starts from, made in one pass over the decoded audio.

``analyze`` needs the mono ``ANALYSIS_SR`` signal (rhythm, key, features) and the BS.1770 loudness of the
original channels at the original rate. :class:`SignalPreparer` makes both from consecutive
``(channels, k)`` blocks, so the full-rate multichannel signal never has to be held whole: it is the
consumer :func:`tonearm.audio.decode.decode_stream` feeds. A 10-minute 44.1 kHz stereo track is 212 MB
as float32; what is kept here is the 53 MB mono signal at 22.05 kHz and the loudness meter's state.

Feeding the blocks of an array gives exactly what the one-shot path gave: the channel mean is taken per
frame, and soxr's streaming resampler returns the same samples as its one-shot call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tonearm.analysis.spectral import ANALYSIS_SR
from tonearm.audio.loudness import (
    MIN_SAMPLE_RATE,
    LoudnessMeter,
    LoudnessSummary,
    loudness_summary,
    sample_peak,
)
from tonearm.audio.mono import MonoResampleStream
from tonearm.errors import ParameterError

__all__ = ["PreparedSignal", "SignalPreparer", "prepare_signal"]

#: Frames per block when an in-memory array is fed to a preparer (bounds the float64 temporaries of the
#: loudness meter and the resampler's input).
_ARRAY_BLOCK = 1 << 17


@dataclass(frozen=True)
class PreparedSignal:
    """What :class:`SignalPreparer` made of one track.

    Attributes
    ----------
    mono : np.ndarray [shape=(m,)], float32
        Channel mean resampled to ``ANALYSIS_SR`` (soxr, high quality).
    duration_s : float
        Length of the original signal, seconds.
    loudness : LoudnessSummary
        Integrated loudness, loudness range, sample and true peak of the original channels and rate.
    """

    mono: npt.NDArray[np.float32]
    duration_s: float
    loudness: LoudnessSummary


class SignalPreparer:
    """Streaming maker of a :class:`PreparedSignal`: call :meth:`start`, :meth:`feed` blocks, :meth:`finish`.

    Implements :class:`tonearm.audio.decode.BlockConsumer`.
    """

    def __init__(self) -> None:
        self._sr = 0
        self._channels = 0
        self._frames = 0
        self._meter: LoudnessMeter | None = None
        self._low_rate_blocks: list[npt.NDArray[np.float32]] = []
        self._mono = MonoResampleStream(ANALYSIS_SR, quality="HQ")

    def start(self, *, sr: int, channels: int, peak_hint: float = 0.0) -> None:
        """Begin a signal.

        Parameters
        ----------
        sr : int > 0 [Hz]
        channels : int >= 1
        peak_hint : float >= 0
            A known lower bound of the signal's sample peak (full scale = 1.0), when the whole signal is at
            hand. It only lets the true-peak meter skip more of the quiet passages; results are the same.
        """
        if sr <= 0 or channels < 1:
            raise ParameterError(f"need a positive rate and at least one channel, got {sr} Hz, {channels}")
        self._sr, self._channels = int(sr), int(channels)
        if self._sr >= MIN_SAMPLE_RATE:
            self._meter = LoudnessMeter(sr=self._sr, channels=self._channels)
            self._meter.seed_true_peak(peak_hint)
        self._mono.start(sr=self._sr, channels=self._channels)

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Take the next ``(channels, k)`` block (finite, full scale = 1.0)."""
        if block.ndim != 2 or block.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, k), got {block.shape}")
        if block.shape[1] == 0:
            return
        self._frames += block.shape[1]
        if self._meter is not None:
            self._meter.process(block)
        else:
            # Below MIN_SAMPLE_RATE there is no K-weighting: loudness_summary measures only the peaks,
            # on the whole (short, low-rate) signal.
            self._low_rate_blocks.append(np.array(block, dtype=np.float32))
        self._mono.feed(block)

    def finish(self) -> PreparedSignal:
        """Flush the resampler and measure; the preparer is spent afterwards."""
        if self._frames == 0:
            raise ParameterError("no audio was fed")
        mono = self._mono.finish()
        if self._meter is not None:
            loudness = self._meter.summary()
        else:
            loudness = loudness_summary(np.concatenate(self._low_rate_blocks, axis=1), sr=self._sr)
        return PreparedSignal(mono=mono, duration_s=self._frames / self._sr, loudness=loudness)


def prepare_signal(y: npt.NDArray[np.floating], *, sr: int) -> PreparedSignal:
    """Make the :class:`PreparedSignal` of a signal held in memory.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
        Audio, full scale = 1.0, finite, ``n > 0``.
    sr : int > 0 [Hz]

    Returns
    -------
    PreparedSignal
        The same values :class:`SignalPreparer` gives when fed ``y`` block by block.
    """
    x = y[np.newaxis, :] if y.ndim == 1 else y
    if x.ndim != 2 or x.shape[1] == 0:
        raise ParameterError(f"audio must have shape (n,) or (channels, n) with n > 0, got {y.shape}")
    preparer = SignalPreparer()
    # The whole signal is at hand, so its sample peak seeds the true-peak meter (see start()).
    preparer.start(sr=sr, channels=x.shape[0], peak_hint=sample_peak(x))
    for begin in range(0, x.shape[1], _ARRAY_BLOCK):
        preparer.feed(x[:, begin : begin + _ARRAY_BLOCK])
    return preparer.finish()
