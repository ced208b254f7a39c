"""ITU-R BS.1770-4 integrated loudness and sample peak, streamable block by block.

The measurement follows BS.1770-4:

1. K-weighting: a +4 dB high shelf followed by a high pass (two biquads). The standard only lists
   coefficients for 48 kHz, so both stages are re-derived for any sample rate from their analog
   prototypes with the bilinear transform, the way libebur128 (and pyloudnorm's ``"DeMan"`` filter
   class) do. At 48 kHz this reproduces the coefficients printed in the standard.
2. Mean square per channel over 400 ms gating blocks with 75 % overlap, channel-weighted sum.
3. Absolute gate at -70 LUFS, then a relative gate 10 LU below the loudness of the blocks that passed
   the absolute gate; the integrated loudness is that of the blocks passing both gates.

Streaming: a 400 ms block with 75 % overlap is exactly four consecutive 100 ms steps, so the meter only
keeps the weighted energy of each completed 100 ms step (one float per step, i.e. 36 000 floats per
hour) plus the filter state. Feeding the signal in blocks of any size therefore yields the same result
as one call with the whole signal (up to floating-point summation order).

Channel weights (BS.1770-4 table 3): 1.0 for L, R and C; 1.41 for the left/right surround channels.
The layout is only unambiguous for five channels (L, R, C, Ls, Rs), where channels 3 and 4 get 1.41.
Every other channel count gets 1.0 on all channels: tonearm does not know the layout of 4- or 6+-channel
files, so it neither up-weights surrounds nor drops an LFE channel there.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import signal

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "MIN_SAMPLE_RATE",
    "RELATIVE_GATE_LU",
    "LoudnessMeter",
    "channel_weights",
    "integrated_loudness",
    "k_weighting_sos",
    "peak_dbfs",
]

#: Absolute gating threshold, LUFS.
ABSOLUTE_GATE_LUFS = -70.0
#: Relative gating threshold below the absolute-gated loudness, LU.
RELATIVE_GATE_LU = -10.0
#: The -0.691 dB offset of BS.1770 cancels the K-filter's gain at 997 Hz, so that a full-scale 997 Hz
#: sine in one channel reads -3.01 LUFS.
_LOUDNESS_OFFSET_DB = -0.691
#: Gating-block hop (100 ms) expressed as a fraction 1/_STEPS_PER_SECOND of a second.
_STEPS_PER_SECOND = 10
#: A 400 ms gating block is four 100 ms steps (75 % overlap).
_STEPS_PER_BLOCK = 4

# Analog prototype parameters of the K-weighting stages, as fitted by libebur128 to the 48 kHz
# coefficients printed in BS.1770-4. Kept at full precision: rounding them shifts the 48 kHz
# coefficients away from the standard's.
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

#: Lowest sample rate the K-weighting can be derived for: the shelf's corner frequency must lie below
#: the Nyquist frequency, otherwise the bilinear transform's pre-warping (tan) folds over.
MIN_SAMPLE_RATE = math.floor(2.0 * _SHELF_F0_HZ) + 1

_SURROUND_WEIGHT = 1.41
#: The rate at which BS.1770-4 tabulates the K-weighting coefficients, Hz.
_REFERENCE_RATE = 48000


def _highpass_norm(sr: int) -> float:
    # Denominator normaliser (1 + K/Q + K^2) of the bilinear-transformed high pass at rate `sr`.
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / sr)
    return 1.0 + k / _HIGHPASS_Q + k * k


def k_weighting_sos(*, sr: int) -> npt.NDArray[np.float64]:
    """Return the K-weighting filter as second-order sections for a given sample rate.

    Parameters
    ----------
    sr : int
        Sample rate in Hz; must be at least :data:`MIN_SAMPLE_RATE` (3364 Hz).

    Returns
    -------
    numpy.ndarray
        Shape ``(2, 6)`` float64, rows ``[b0, b1, b2, a0, a1, a2]`` for the high shelf (stage 1) and
        the high pass (stage 2), in the layout :func:`scipy.signal.sosfilt` expects.

    Raises
    ------
    ValueError
        If ``sr`` is below :data:`MIN_SAMPLE_RATE`.
    """
    if sr < MIN_SAMPLE_RATE:
        raise ValueError(f"K-weighting needs a sample rate of at least {MIN_SAMPLE_RATE} Hz, got {sr} Hz")

    # Stage 1: high shelf (models the acoustic effect of the head), bilinear transform with the
    # corner frequency pre-warped so the shelf sits at the same analog frequency at every rate.
    k = math.tan(math.pi * _SHELF_F0_HZ / sr)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]

    # Stage 2: second-order high pass (RLB weighting). The standard's 48 kHz table has the numerator
    # [1, -2, 1], i.e. a pass-band gain of 1 + K/Q + K^2 (+0.043 dB) at 48 kHz, and the -0.691 dB offset
    # was computed with that gain included. libebur128 keeps [1, -2, 1] at every rate, which makes the
    # pass-band gain rate dependent (+0.26 dB at 8 kHz, so a 997 Hz tone would read 0.2 LU hot there).
    # Scaling the normalised numerator by the 48 kHz gain instead keeps the table exact at 48 kHz and the
    # reading independent of the sample rate.
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / sr)
    a0 = _highpass_norm(sr)
    g = _highpass_norm(_REFERENCE_RATE) / a0
    highpass = [g, -2.0 * g, g, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def channel_weights(*, channels: int) -> npt.NDArray[np.float64]:
    """Return the BS.1770 channel weights used for a channel count.

    Parameters
    ----------
    channels : int
        Number of channels (>= 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(channels,)`` float64. ``[1, 1, 1, 1.41, 1.41]`` for five channels (L, R, C, Ls, Rs);
        all ones otherwise, because the layout (and hence which channels are surrounds or LFE) is not
        known for other channel counts.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    weights = np.ones(channels, dtype=np.float64)
    if channels == 5:
        weights[3:5] = _SURROUND_WEIGHT
    return weights


class LoudnessMeter:
    """Streaming ITU-R BS.1770-4 integrated-loudness meter.

    Feed the signal with :meth:`process` in consecutive blocks of any length, then read
    :meth:`integrated_lufs` (which may also be read mid-stream). Memory is constant per block apart from
    one float per completed 100 ms step.

    Parameters
    ----------
    sr : int
        Sample rate in Hz (>= :data:`MIN_SAMPLE_RATE`).
    channels : int
        Number of channels (>= 1); see :func:`channel_weights` for the weights.

    Raises
    ------
    ValueError
        On a sample rate below :data:`MIN_SAMPLE_RATE` or a channel count below 1.
    """

    def __init__(self, *, sr: int, channels: int) -> None:
        self._sr = int(sr)
        self._channels = int(channels)
        self._weights = channel_weights(channels=self._channels)
        self._sos = k_weighting_sos(sr=self._sr)
        # Filter state per section, per channel: shape (n_sections, 2, channels) for axis=0 filtering.
        self._zi = np.zeros((self._sos.shape[0], 2, self._channels), dtype=np.float64)
        self._samples = 0  # frames consumed so far
        self._step = 0  # index of the 100 ms step currently being filled
        self._partial = 0.0  # weighted energy accumulated in that step so far
        self._steps: list[npt.NDArray[np.float64]] = []  # weighted energy of each completed step
        self._peak = 0.0  # largest |sample| seen, linear full scale

    @property
    def sr(self) -> int:
        """Sample rate in Hz."""
        return self._sr

    @property
    def channels(self) -> int:
        """Number of channels."""
        return self._channels

    @property
    def frames(self) -> int:
        """Number of frames (samples per channel) processed so far."""
        return self._samples

    def _boundary(self, step: np.ndarray | int) -> np.ndarray | int:
        # First frame of 100 ms step `step`. Integer arithmetic so that rates where 100 ms is not a
        # whole number of samples (e.g. 11025 Hz) still place every boundary identically no matter how
        # the signal is split into blocks.
        return (step * self._sr) // _STEPS_PER_SECOND

    def process(self, block: npt.ArrayLike) -> None:
        """Consume the next block of the signal.

        Parameters
        ----------
        block : array_like
            Shape ``(n, channels)`` (or ``(n,)`` for a mono meter), floating point, full scale = 1.0.
            ``n`` may be any length, including 0. Must be finite.

        Raises
        ------
        ValueError
            If the block's channel count does not match the meter.
        """
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1 and self._channels == 1:
            x = x[:, np.newaxis]
        if x.ndim != 2 or x.shape[1] != self._channels:
            raise ValueError(f"block must have shape (n, {self._channels}), got {x.shape}")
        n = x.shape[0]
        if n == 0:
            return

        self._peak = max(self._peak, float(np.max(np.abs(x))))
        y, self._zi = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        # Channel-weighted energy per frame. The gates only ever use the weighted sum over channels
        # (and means are linear), so per-channel energies need not be kept.
        energy = np.square(y) @ self._weights

        # Steps whose first frame falls inside (start, end] complete inside this block.
        start, end = self._samples, self._samples + n
        # Last step k whose boundary floor(k * sr / 10) is <= end.
        last_step = (end * _STEPS_PER_SECOND + _STEPS_PER_SECOND - 1) // self._sr
        new_steps = np.arange(self._step + 1, last_step + 1, dtype=np.int64)
        cuts = np.asarray(self._boundary(new_steps), dtype=np.int64) - start  # in 1..n

        # Segment sums: segment 0 finishes the current step, the last one starts the next partial step.
        # Only the final segment can be empty (a boundary exactly at the end of the block), and
        # np.add.reduceat mishandles empty segments, so it is left out of the reduction.
        starts = np.concatenate((np.zeros(1, dtype=np.int64), cuts))
        sums = np.zeros(starts.shape[0], dtype=np.float64)
        filled = starts < n
        sums[filled] = np.add.reduceat(energy, starts[filled])
        sums[0] += self._partial

        completed = cuts.shape[0]
        if completed:
            self._steps.append(sums[:completed])
        self._partial = float(sums[completed])
        self._step += completed
        self._samples = end

    def block_energies(self) -> npt.NDArray[np.float64]:
        """Return the channel-weighted mean square of every complete 400 ms gating block so far.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_blocks,)`` float64, linear (full scale = 1.0); block ``j`` covers
            ``[0.1 j, 0.1 j + 0.4)`` s. Empty when less than 400 ms has been processed.
        """
        if not self._steps:
            return np.zeros(0, dtype=np.float64)
        steps = np.concatenate(self._steps)
        n_blocks = steps.shape[0] - _STEPS_PER_BLOCK + 1
        if n_blocks <= 0:
            return np.zeros(0, dtype=np.float64)
        # Direct sum of four shifted views rather than a cumulative-sum difference: after a loud passage
        # a cumsum difference would lose the quiet blocks' energy to cancellation.
        sums = steps[0:n_blocks] + steps[1 : n_blocks + 1] + steps[2 : n_blocks + 2] + steps[3 : n_blocks + 3]
        idx = np.arange(n_blocks + _STEPS_PER_BLOCK, dtype=np.int64)
        bounds = np.asarray(self._boundary(idx), dtype=np.int64)
        lengths = bounds[_STEPS_PER_BLOCK:] - bounds[:n_blocks]  # frames per block (0.4 s +- 1 frame)
        return sums / lengths

    def integrated_lufs(self) -> float:
        """Return the gated integrated loudness of everything processed so far.

        Returns
        -------
        float
            Loudness in LUFS (LKFS); ``-inf`` when no block passes the gates, i.e. for silence, for
            signals quieter than -70 LUFS throughout, or for less than 400 ms of audio.
        """
        z = self.block_energies()
        abs_gate = _energy(ABSOLUTE_GATE_LUFS)
        passed = z[z > abs_gate]
        if passed.size == 0:
            return -math.inf
        rel_gate = float(np.mean(passed)) * 10.0 ** (RELATIVE_GATE_LU / 10.0)
        gated = passed[passed > rel_gate]
        if gated.size == 0:  # unreachable for finite input (the loudest block always passes); be safe
            return -math.inf
        return _loudness(float(np.mean(gated)))

    def peak_dbfs(self) -> float:
        """Return the sample peak of everything processed so far.

        Returns
        -------
        float
            ``20 log10(max |x|)`` in dBFS (full scale = 1.0); ``-inf`` for silence or no input.
        """
        return _to_dbfs(self._peak)


def _energy(lufs: float) -> float:
    # Inverse of _loudness: the weighted mean square that reads `lufs`.
    return 10.0 ** ((lufs - _LOUDNESS_OFFSET_DB) / 10.0)


def _loudness(energy: float) -> float:
    return _LOUDNESS_OFFSET_DB + 10.0 * math.log10(energy) if energy > 0.0 else -math.inf


def _to_dbfs(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def integrated_loudness(y: npt.ArrayLike, *, sr: int) -> float:
    """Measure the BS.1770-4 integrated loudness of a whole signal.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` (mono) or ``(n, channels)``, floating point, full scale = 1.0, finite.
    sr : int
        Sample rate in Hz (>= :data:`MIN_SAMPLE_RATE`).

    Returns
    -------
    float
        Integrated loudness in LUFS; ``-inf`` when everything is gated out (silence, below -70 LUFS,
        or shorter than 400 ms).
    """
    x = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    if x.ndim != 2:
        raise ValueError(f"y must have shape (n,) or (n, channels), got {x.shape}")
    meter = LoudnessMeter(sr=sr, channels=x.shape[1])
    meter.process(x)
    return meter.integrated_lufs()


def peak_dbfs(y: npt.ArrayLike) -> float:
    """Return the sample peak of a signal in dBFS.

    Parameters
    ----------
    y : array_like
        Any shape, floating point, full scale = 1.0.

    Returns
    -------
    float
        ``20 log10(max |y|)`` in dBFS; ``-inf`` for silence or an empty array. This is the sample
        peak, not the oversampled true peak of BS.1770 annex 2.
    """
    x = np.asarray(y, dtype=np.float64)
    return _to_dbfs(float(np.max(np.abs(x)))) if x.size else -math.inf
