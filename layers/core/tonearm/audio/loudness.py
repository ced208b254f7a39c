"""ITU-R BS.1770-4 loudness, EBU Tech 3342 loudness range and BS.1770-4 true peak, streamable.

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

Loudness range (EBU Tech 3342): the short-term loudness over a 3 s sliding window, hopped every 100 ms
(2.9 s overlap), is exactly 30 consecutive 100 ms steps, so it comes from the same per-step energies at no
extra cost while streaming. The values are gated at -70 LUFS (absolute) and 20 LU below the power mean of
those passing (relative); the range is the 95th minus the 10th percentile of what is left.

True peak (BS.1770-4 annex 2): the signal is oversampled 4x below 96 kHz, 2x below 192 kHz and not at all
above, with a polyphase interpolator (a Kaiser-windowed sinc, 16 taps per phase; the annex's example filter
has 12), and the largest magnitude is reported in dBTP. The windowed sinc is a Nyquist filter: its zero
phase reproduces the input samples exactly, so only the in-between phases are computed and the true peak
is never below the sample peak. The interpolator's gain is flat to 0.02 dB up to a quarter of the sample
rate and 0.04 dB up to 0.4 fs (17.6 kHz at 44.1 kHz). Any finite oversampling still under-reads a crest
that falls between the interpolated points: at 4x by up to 0.17 dB for a sine at a quarter of the sample
rate and 0.69 dB near Nyquist. The signal is taken to be zero before its first and after its last sample,
as a DAC would see it, so a file that starts or ends abruptly also shows the interpolator's ringing at its
edges. The meter carries the last 15 input samples between blocks, so block-wise and one-shot results
agree (to floating-point summation order). Oversampling roughly triples the cost of the K-weighting
filter; sub-blocks whose worst-case interpolation (6.4 dB over their sample peak) cannot beat the peak
already found are skipped, which is exact and saves most of that cost on dynamic material.

Channel weights (BS.1770-4 table 3): 1.0 for L, R and C; 1.41 for the left/right surround channels.
The layout is only unambiguous for five channels (L, R, C, Ls, Rs), where channels 3 and 4 get 1.41.
Every other channel count gets 1.0 on all channels: tonearm does not know the layout of 4- or 6+-channel
files, so it neither up-weights surrounds nor drops an LFE channel there.

Layout: signals are ``(channels, n)``, as :func:`tonearm.audio.decode.decode` returns them (``(n,)`` is
mono). The one-shot functions infer the channel count from the shape, so they refuse a 2-D array that
looks like the transposed ``(n, channels)`` layout: more than :data:`MAX_INFERRED_CHANNELS` rows, and
more rows than columns. :class:`LoudnessMeter` is told its channel count and refuses any block that does
not have it.

This is an audio measurement, so it lives in :mod:`tonearm.audio` and imports nothing else of tonearm
but its errors: the analysis, the audio-info summary and mastering (:mod:`tonearm.generation.master`)
all measure with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from tonearm.errors import ParameterError

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "LOUDNESS_OFFSET_DB",
    "LRA_RELATIVE_GATE_LU",
    "MAX_INFERRED_CHANNELS",
    "MIN_SAMPLE_RATE",
    "RELATIVE_GATE_LU",
    "TRUE_PEAK_TAPS",
    "LoudnessMeter",
    "LoudnessSummary",
    "channel_weights",
    "integrated_loudness",
    "k_weighting_sos",
    "loudness_range",
    "loudness_summary",
    "peak_dbfs",
    "sample_peak",
    "true_peak_dbtp",
    "true_peak_kernel",
    "true_peak_oversampling",
]

#: Absolute gating threshold, LUFS.
ABSOLUTE_GATE_LUFS = -70.0
#: Relative gating threshold below the absolute-gated loudness, LU.
RELATIVE_GATE_LU = -10.0
#: The -0.691 dB offset of BS.1770 cancels the K-filter's gain at 997 Hz, so that a full-scale 997 Hz
#: sine in one channel reads -3.01 LUFS: loudness = LOUDNESS_OFFSET_DB + 10 log10(weighted mean square).
LOUDNESS_OFFSET_DB = -0.691
#: Gating-block hop (100 ms) expressed as a fraction 1/_STEPS_PER_SECOND of a second.
_STEPS_PER_SECOND = 10
#: A 400 ms gating block is four 100 ms steps (75 % overlap).
_STEPS_PER_BLOCK = 4
#: A 3 s short-term window (EBU Tech 3342) is thirty 100 ms steps, hopped by one step.
_STEPS_PER_SHORT_TERM = 30
#: Relative gate of the loudness range, below the power mean of the absolute-gated short-term values, LU.
LRA_RELATIVE_GATE_LU = -20.0
#: The loudness range spans these percentiles of the gated short-term loudness distribution.
_LRA_LOW_PERCENTILE = 0.10
_LRA_HIGH_PERCENTILE = 0.95

#: Taps per polyphase branch of the true-peak interpolator (even: every in-between phase has as many
#: taps before its instant as after it). The value between frames k and k + 1 reads frames
#: k - 7 .. k + 8 (see :func:`true_peak_kernel`).
TRUE_PEAK_TAPS = 16
#: Kaiser window shape of the interpolator. With 16 taps, 5 keeps the gain of every phase within
#: 0.04 dB up to 0.4 fs (a larger beta flattens low frequencies further but droops earlier).
_TP_KAISER_BETA = 5.0
#: Frames per true-peak sub-block, the granularity at which quiet passages are skipped. Its work arrays
#: are a few of channels x frames float64 (1 MiB each in stereo) plus the gathered candidate windows,
#: up to 16 times that on a dense master where every window is a candidate; the meter's pieces of
#: _PROCESS_SAMPLES samples bound the latter to 32 MiB whatever the channel count.
_TP_CHUNK = 65536
#: Rows of the true-peak kernel holding the taps of x[k] and x[k + 1] (offsets 0 and 1 of -7 .. 8).
_NEAR_TAPS = (TRUE_PEAK_TAPS // 2 - 1, TRUE_PEAK_TAPS // 2)
#: Samples (all channels) a meter filters at a time: bounds its float64 temporaries (the block in
#: float64, its magnitudes, the filtered signal, its squares) to ~2 MiB each, whatever the size and
#: channel count of the block passed to it (a 4 MiB block of 8-channel float32 would otherwise make
#: ~35 MB of them).
_PROCESS_SAMPLES = 1 << 18
#: The one-shot functions take the channel count from a 2-D array's first axis. An array with more rows
#: than this that also has more rows than columns is refused: it is almost certainly ``(n, channels)``
#: (a transposed signal would otherwise be measured as thousands of two-sample channels). 32 is the
#: most channels :class:`tonearm.audio.decode.PcmFormat` accepts and more than 22.2 surround has.
MAX_INFERRED_CHANNELS = 32

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
    ParameterError
        If ``sr`` is below :data:`MIN_SAMPLE_RATE`.
    """
    if sr < MIN_SAMPLE_RATE:
        raise ParameterError(f"K-weighting needs a sample rate of at least {MIN_SAMPLE_RATE} Hz, got {sr} Hz")

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

    Raises
    ------
    ParameterError
        If ``channels`` is below 1.
    """
    if channels < 1:
        raise ParameterError(f"channels must be >= 1, got {channels}")
    weights = np.ones(channels, dtype=np.float64)
    if channels == 5:
        weights[3:5] = _SURROUND_WEIGHT
    return weights


def true_peak_oversampling(*, sr: int) -> int:
    """Return the BS.1770-4 true-peak oversampling factor for a sample rate.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.

    Returns
    -------
    int
        4 below 96 kHz, 2 from 96 kHz up to (not including) 192 kHz, 1 (no oversampling) from 192 kHz,
        so that every rate is examined at 176.4 kHz or more.
    """
    if sr < 96000:
        return 4
    if sr < 192000:
        return 2
    return 1


def true_peak_kernel(*, factor: int) -> npt.NDArray[np.float64]:
    """Return the in-between phases of the BS.1770-4 true-peak interpolator.

    The interpolator upsamples by ``factor`` with a Kaiser-windowed sinc (beta 5) of
    :data:`TRUE_PEAK_TAPS` (16) taps per phase. It is a Nyquist filter: its zero phase is the identity
    (the input samples themselves), so only phases ``1 .. factor - 1`` are returned. Every meter in
    tonearm that reads a true peak (:func:`true_peak_dbtp`, :class:`LoudnessMeter` and the mastering
    limiter, :mod:`tonearm.generation.master`) interpolates with these taps, so their true peaks agree.

    Parameters
    ----------
    factor : int
        Oversampling factor (>= 1): what :func:`true_peak_oversampling` gives for the sample rate, i.e.
        4 below 96 kHz, 2 from 96 kHz and 1 (no oversampling) from 192 kHz.

    Returns
    -------
    numpy.ndarray
        Shape ``(TRUE_PEAK_TAPS, factor - 1)`` float64, dimensionless gains (empty for ``factor`` 1).
        Column ``p - 1`` holds phase ``p``'s taps in input order: the value at instant
        ``k + p / factor`` (in frames at the input rate, i.e. ``p / (factor * sr)`` seconds after frame
        ``k``) is ``x[k - 7 .. k + 8] @ kernel[:, p - 1]``, in the units of ``x`` (full scale = 1.0 for
        dBTP). At 4x every phase's gain is flat to 0.02 dB up to a quarter of the input rate and to
        0.04 dB up to 0.4 of it, and the largest absolute tap sum of any phase is about 2.1 (+6.4 dB),
        which bounds an interpolated value by the largest input magnitude in its window.

    Raises
    ------
    ParameterError
        If ``factor`` is below 1.
    """
    if factor < 1:
        raise ParameterError(f"the oversampling factor must be >= 1, got {factor}")
    half = TRUE_PEAK_TAPS * factor // 2
    taps = np.sinc(np.arange(-half, half + 1) / factor) * signal.windows.kaiser(2 * half + 1, _TP_KAISER_BETA)
    offsets = np.arange(-(TRUE_PEAK_TAPS // 2 - 1), TRUE_PEAK_TAPS // 2 + 1)  # x[k + d] for d in -7..8
    phases = np.arange(1, factor)
    return taps[half + phases[np.newaxis, :] - offsets[:, np.newaxis] * factor]


class _TruePeak:
    """Streaming inter-sample peak of a ``(channels, n)`` signal: carries the last 15 frames."""

    def __init__(self, *, sr: int, channels: int) -> None:
        self.factor = true_peak_oversampling(sr=sr)
        self._kernel = true_peak_kernel(factor=self.factor)
        # No interpolated value exceeds the largest input magnitude in its window times the largest
        # absolute tap sum of any phase (2.1, i.e. +6.4 dB); the margin covers rounding.
        self._gain = float(np.abs(self._kernel).sum(axis=0).max(initial=0.0)) * (1.0 + 1e-9)
        # A tighter bound per window: the two taps nearest the instant (x[k], x[k + 1]) weigh most
        # (up to 1.26 together), the fourteen others at most 0.84, so a value is at most
        # near_gain * max(|x[k]|, |x[k + 1]|) + far_gain * (the window's largest magnitude).
        near = np.abs(self._kernel[list(_NEAR_TAPS)]).sum(axis=0)
        far = np.abs(self._kernel).sum(axis=0) - near
        self._near_gain = float(near.max(initial=0.0)) * (1.0 + 1e-9)
        self._far_gain = float(far.max(initial=0.0)) * (1.0 + 1e-9)
        # The samples before the first block are zeros, as for a one-shot filter run.
        self._history: npt.NDArray[np.float64] = np.zeros((channels, TRUE_PEAK_TAPS - 1), dtype=np.float64)
        self._peak = 0.0  # largest interpolated magnitude so far (in-between phases only)
        self._floor = 0.0  # a known lower bound of the true peak (the sample peak so far, or a seed)

    def seed(self, floor: float) -> None:
        """Declare a lower bound of the final true peak (e.g. the whole signal's sample peak).

        Only lets :meth:`process` skip more sub-blocks; never changes the result.
        """
        self._floor = max(self._floor, floor)

    def process(self, x: npt.NDArray[np.float64]) -> None:
        """Consume the next ``(channels, n)`` block."""
        if self.factor == 1 or x.shape[1] == 0:
            return
        for start in range(0, x.shape[1], _TP_CHUNK):
            chunk = x[:, start : start + _TP_CHUNK]
            joined = np.concatenate((self._history, chunk), axis=1)
            level = max(float(joined.max()), -float(joined.min()))
            self._floor = max(self._floor, level)
            # Exact shortcut: if even the worst-case interpolation of this sub-block stays below what
            # has already been found (or is known to come), its values cannot change the maximum. Quiet
            # passages of dynamic music are skipped this way; dense, loud masters are not.
            best = max(self._peak, self._floor)
            if self._gain * level > best:
                self._peak = max(self._peak, self._interpolated_peak(joined, above=best))
            self._history = joined[:, -(TRUE_PEAK_TAPS - 1) :].copy()

    def _interpolated_peak(self, joined: npt.NDArray[np.float64], *, above: float = 0.0) -> float:
        """Largest in-between magnitude over the windows lying wholly inside ``joined`` that can exceed
        ``above`` (0.0 when none can).

        Phase p at instant k is a 16-tap dot product of x[k - 7 .. k + 8] with its kernel column. A
        window whose bound (``near_gain`` times its two nearest magnitudes' maximum plus ``far_gain``
        times its largest magnitude) stays at or below ``above`` cannot produce a larger value, so only
        the other windows are gathered and multiplied (one matrix product for all phases): exact, and
        on music (the benchmark's renders, 30 s and 10 min) 4-7 % of the windows remain, where the
        plain bound (largest magnitude times 2.1) left 12-25 %. Only windows wholly inside ``joined``
        are used, so that no zero stands in for samples the next block will supply.
        """
        n = joined.shape[1]
        if n < TRUE_PEAK_TAPS:
            return 0.0
        # The bound per window (see __init__): the largest magnitude of window w (frames w .. w + 15)
        # is at most the larger maximum of the aligned 16-frame blocks w // 16 and w // 16 + 1 (cheap
        # to get); its instant's two nearest frames are w + 7 and w + 8.
        size = TRUE_PEAK_TAPS
        magnitude = np.abs(joined).max(axis=0)
        blocks = -(-n // size)
        padded = np.zeros(blocks * size)
        padded[:n] = magnitude
        block_max = padded.reshape(blocks, size).max(axis=1)
        reach = np.repeat(np.maximum(block_max, np.append(block_max[1:], 0.0)), size)[: n - size + 1]
        lo, hi = _NEAR_TAPS
        nearest = np.maximum(magnitude[lo : n - size + 1 + lo], magnitude[hi : n - size + 1 + hi])
        starts = np.flatnonzero(self._near_gain * nearest + self._far_gain * reach > above)
        if starts.size == 0:
            return 0.0
        windows = np.lib.stride_tricks.sliding_window_view(joined, TRUE_PEAK_TAPS, axis=-1)[:, starts]
        values = windows @ self._kernel  # (channels, candidates, factor - 1)
        return max(float(values.max()), -float(values.min()))

    def peak(self) -> float:
        """Largest interpolated magnitude, including the ringing after the last sample."""
        if self.factor == 1:
            return 0.0
        # Flush with zeros (the samples after the end) without disturbing the carried state.
        tail = np.concatenate((self._history, np.zeros_like(self._history)), axis=1)
        return max(self._peak, self._interpolated_peak(tail))


class LoudnessMeter:
    """Streaming ITU-R BS.1770-4 integrated-loudness meter.

    Feed the signal with :meth:`process` in consecutive ``(channels, k)`` blocks of any length, then read
    :meth:`integrated_lufs`, :meth:`loudness_range`, :meth:`peak_dbfs` or :meth:`true_peak_dbtp` (all of
    which may also be read mid-stream). Memory is constant per block apart from one float per completed
    100 ms step.

    Parameters
    ----------
    sr : int
        Sample rate in Hz (>= :data:`MIN_SAMPLE_RATE`).
    channels : int
        Number of channels (>= 1); see :func:`channel_weights` for the weights.
    true_peak : bool
        Track the true peak (default). Oversampling roughly doubles the cost of :meth:`process`; pass
        ``False`` when :meth:`true_peak_dbtp` will not be read.

    Raises
    ------
    ParameterError
        On a sample rate below :data:`MIN_SAMPLE_RATE` or a channel count below 1.
    """

    def __init__(self, *, sr: int, channels: int, true_peak: bool = True) -> None:
        self._sr = int(sr)
        self._channels = int(channels)
        self._weights = channel_weights(channels=self._channels)
        self._sos = k_weighting_sos(sr=self._sr)
        # Filter state per section, per channel: shape (n_sections, channels, 2) for filtering along the
        # last axis of a (channels, n) block.
        self._zi = np.zeros((self._sos.shape[0], self._channels, 2), dtype=np.float64)
        self._samples = 0  # frames consumed so far
        self._step = 0  # index of the 100 ms step currently being filled
        self._partial = 0.0  # weighted energy accumulated in that step so far
        self._steps: list[npt.NDArray[np.float64]] = []  # weighted energy of each completed step
        self._peak = 0.0  # largest |sample| seen, linear full scale
        self._true_peak = _TruePeak(sr=self._sr, channels=self._channels) if true_peak else None

    def seed_true_peak(self, floor: float) -> None:
        """Declare a known lower bound of the final true peak (e.g. the whole signal's sample peak).

        Lets the true-peak tracker skip more quiet passages; never changes any result. A no-op for a
        meter without true peak.
        """
        if self._true_peak is not None:
            self._true_peak.seed(floor)

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
            Shape ``(channels, n)`` (or ``(n,)`` for a mono meter), floating point, full scale = 1.0,
            e.g. a :class:`tonearm.audio.decode.BlockConsumer` block. ``n`` may be any length,
            including 0. Must be finite.

        Raises
        ------
        ParameterError
            If the block is not ``(channels, n)`` with the meter's channel count.
        """
        raw = np.asarray(block)
        if raw.ndim == 1 and self._channels == 1:
            raw = raw[np.newaxis, :]
        if raw.ndim != 2 or raw.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, n), got {raw.shape}")
        step = max(1, _PROCESS_SAMPLES // self._channels)
        for begin in range(0, raw.shape[1], step):
            self._process(np.asarray(raw[:, begin : begin + step], dtype=np.float64))

    def _process(self, x: npt.NDArray[np.float64]) -> None:
        # One piece of a block, (channels, n) float64, n >= 1.
        n = x.shape[1]
        self._peak = max(self._peak, float(np.max(np.abs(x))))
        if self._true_peak is not None:
            self._true_peak.process(x)
        y, self._zi = signal.sosfilt(self._sos, x, axis=-1, zi=self._zi)
        # Channel-weighted energy per frame. The gates only ever use the weighted sum over channels
        # (and means are linear), so per-channel energies need not be kept.
        energy = self._weights @ np.square(y)

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
        return self._window_energies(_STEPS_PER_BLOCK)

    def short_term_energies(self) -> npt.NDArray[np.float64]:
        """Return the channel-weighted mean square of every complete 3 s short-term window so far.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_windows,)`` float64, linear (full scale = 1.0); window ``j`` covers
            ``[0.1 j, 0.1 j + 3)`` s (EBU Tech 3342: 3 s windows every 100 ms). Empty when less than 3 s
            has been processed.
        """
        return self._window_energies(_STEPS_PER_SHORT_TERM)

    def _window_energies(self, width: int) -> npt.NDArray[np.float64]:
        # Mean square over every run of `width` consecutive completed 100 ms steps.
        if not self._steps:
            return np.zeros(0, dtype=np.float64)
        steps = np.concatenate(self._steps)
        n_windows = steps.shape[0] - width + 1
        if n_windows <= 0:
            return np.zeros(0, dtype=np.float64)
        # Direct sum of `width` shifted views rather than a cumulative-sum difference: after a loud
        # passage a cumsum difference would lose the quiet windows' energy to cancellation.
        sums = steps[0:n_windows].copy()
        for offset in range(1, width):
            sums += steps[offset : offset + n_windows]
        idx = np.arange(n_windows + width, dtype=np.int64)
        bounds = np.asarray(self._boundary(idx), dtype=np.int64)
        lengths = bounds[width:] - bounds[:n_windows]  # frames per window (width / 10 s +- 1 frame)
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

    def loudness_range(self) -> float:
        """Return the EBU Tech 3342 loudness range (LRA) of everything processed so far.

        Returns
        -------
        float
            ``L95 - L10`` in LU: the spread between the 10th and 95th percentiles (nearest rank) of the
            3 s short-term loudness values that pass the absolute (-70 LUFS) and relative (-20 LU) gates.
            ``nan`` when the range is undefined: less than 3 s processed, or no short-term value above
            -70 LUFS (silence). ``0.0`` is a genuine measurement (a steady signal), so it is not used as
            the "no data" marker.
        """
        z = self.short_term_energies()
        passed = z[z > _energy(ABSOLUTE_GATE_LUFS)]
        if passed.size == 0:
            return math.nan
        rel_gate = float(np.mean(passed)) * 10.0 ** (LRA_RELATIVE_GATE_LU / 10.0)
        gated = np.sort(passed[passed > rel_gate])
        if gated.size == 0:  # unreachable for finite input (the loudest value always passes); be safe
            return math.nan
        # Nearest-rank percentiles on the energies (loudness is monotonic in energy), as Tech 3342's
        # reference implementation and libebur128 compute them.
        last = gated.size - 1
        low = gated[int(last * _LRA_LOW_PERCENTILE + 0.5)]
        high = gated[int(last * _LRA_HIGH_PERCENTILE + 0.5)]
        return 10.0 * math.log10(float(high) / float(low))

    def peak_dbfs(self) -> float:
        """Return the sample peak of everything processed so far.

        Returns
        -------
        float
            ``20 log10(max |x|)`` in dBFS (full scale = 1.0); ``-inf`` for silence or no input.
        """
        return _to_dbfs(self._peak)

    def summary(self) -> LoudnessSummary:
        """Return all four figures of everything processed so far.

        Raises
        ------
        RuntimeError
            If the meter was created with ``true_peak=False``.
        """
        return LoudnessSummary(
            integrated_lufs=self.integrated_lufs(),
            range_lu=self.loudness_range(),
            sample_peak_dbfs=self.peak_dbfs(),
            true_peak_dbtp=self.true_peak_dbtp(),
        )

    def true_peak_dbtp(self) -> float:
        """Return the BS.1770-4 true peak of everything processed so far.

        Returns
        -------
        float
            ``20 log10`` of the largest magnitude of the signal oversampled by
            :func:`true_peak_oversampling` (4x below 96 kHz), in dBTP (full scale = 1.0); at least
            :meth:`peak_dbfs`. ``-inf`` for silence or no input. Includes the interpolated values up to
            eight samples past the last one processed, so reading it mid-stream is final only for the
            audio so far.

        Raises
        ------
        RuntimeError
            If the meter was created with ``true_peak=False``.
        """
        if self._true_peak is None:
            raise RuntimeError("this LoudnessMeter was created with true_peak=False")
        return _to_dbfs(max(self._peak, self._true_peak.peak()))


def _energy(lufs: float) -> float:
    # Inverse of _loudness: the weighted mean square that reads `lufs`.
    return 10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0)


def _loudness(energy: float) -> float:
    return LOUDNESS_OFFSET_DB + 10.0 * math.log10(energy) if energy > 0.0 else -math.inf


def _to_dbfs(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def integrated_loudness(y: npt.ArrayLike, *, sr: int) -> float:
    """Measure the BS.1770-4 integrated loudness of a whole signal.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` (mono) or ``(channels, n)``, floating point, full scale = 1.0, finite.
    sr : int
        Sample rate in Hz (>= :data:`MIN_SAMPLE_RATE`).

    Returns
    -------
    float
        Integrated loudness in LUFS; ``-inf`` when everything is gated out (silence, below -70 LUFS,
        or shorter than 400 ms).

    Raises
    ------
    ParameterError
        On a rate below :data:`MIN_SAMPLE_RATE`, or a shape other than ``(n,)`` or ``(channels, n)``
        (see :data:`MAX_INFERRED_CHANNELS`).
    """
    x = _as_channels(y)
    meter = LoudnessMeter(sr=sr, channels=x.shape[0], true_peak=False)
    _feed(meter, x)
    return meter.integrated_lufs()


def _as_channels(y: npt.ArrayLike) -> npt.NDArray[np.floating]:
    # (n,) -> (1, n); (channels, n) as is (a view stays a view; blocks are converted as they are fed).
    x = np.asarray(y)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[0] < 1:
        raise ParameterError(f"audio must have shape (n,) or (channels, n), got {x.shape}")
    channels, n = x.shape
    if channels > MAX_INFERRED_CHANNELS and channels > n:
        raise ParameterError(
            f"audio of shape {x.shape} would be {channels} channels of {n} samples each: audio is "
            "(channels, n); pass the transpose of an (n, channels) array"
        )
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


#: Frames per block when the one-shot functions feed a whole signal to a meter: bounds the float64
#: temporaries of filtering and oversampling whatever the signal's length.
_ONE_SHOT_BLOCK = 65536


def _feed(meter: LoudnessMeter, x: npt.NDArray[np.floating]) -> None:
    """Pass a whole ``(channels, n)`` signal to ``meter`` in ``_ONE_SHOT_BLOCK`` blocks."""
    for start in range(0, x.shape[1], _ONE_SHOT_BLOCK):
        meter.process(x[:, start : start + _ONE_SHOT_BLOCK])


def loudness_range(y: npt.ArrayLike, *, sr: int) -> float:
    """Measure the EBU Tech 3342 loudness range (LRA) of a whole signal.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` (mono) or ``(channels, n)``, floating point, full scale = 1.0, finite.
    sr : int
        Sample rate in Hz (>= :data:`MIN_SAMPLE_RATE`).

    Returns
    -------
    float
        Loudness range in LU; ``nan`` when shorter than 3 s or silent (see
        :meth:`LoudnessMeter.loudness_range`).

    Raises
    ------
    ParameterError
        As for :func:`integrated_loudness`.
    """
    x = _as_channels(y)
    meter = LoudnessMeter(sr=sr, channels=x.shape[0], true_peak=False)
    _feed(meter, x)
    return meter.loudness_range()


def true_peak_dbtp(y: npt.ArrayLike, *, sr: int) -> float:
    """Measure the BS.1770-4 true peak of a whole signal.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` (mono) or ``(channels, n)``, floating point, full scale = 1.0, finite.
    sr : int
        Sample rate in Hz (any positive rate; it only sets the oversampling factor).

    Returns
    -------
    float
        True peak in dBTP; ``-inf`` for silence or an empty signal. See :meth:`LoudnessMeter.true_peak_dbtp`.

    Raises
    ------
    ParameterError
        On a shape other than ``(n,)`` or ``(channels, n)`` (see :data:`MAX_INFERRED_CHANNELS`).
    """
    x = _as_channels(y)
    tracker = _TruePeak(sr=sr, channels=x.shape[0])
    peak = sample_peak(x)
    tracker.seed(peak)
    for start in range(0, x.shape[1], _ONE_SHOT_BLOCK):
        tracker.process(np.asarray(x[:, start : start + _ONE_SHOT_BLOCK], dtype=np.float64))
    return _to_dbfs(max(peak, tracker.peak()))


@dataclass(frozen=True)
class LoudnessSummary:
    """Loudness figures of one signal, as :func:`loudness_summary` measures them.

    Attributes
    ----------
    integrated_lufs : float
        BS.1770-4 integrated loudness, LUFS; ``-inf`` when everything is gated out, ``nan`` below
        :data:`MIN_SAMPLE_RATE` (K-weighting is undefined there).
    range_lu : float
        EBU Tech 3342 loudness range, LU; ``nan`` when undefined (under 3 s, silent, or below
        :data:`MIN_SAMPLE_RATE`).
    sample_peak_dbfs : float
        Sample peak, dBFS; ``-inf`` for silence.
    true_peak_dbtp : float
        BS.1770-4 true peak, dBTP; ``-inf`` for silence.
    """

    integrated_lufs: float
    range_lu: float
    sample_peak_dbfs: float
    true_peak_dbtp: float

    def to_json(self) -> dict[str, float | None]:
        """Return the wire form, with ``None`` for every non-finite value (JSON has no ``-inf``/``nan``).

        Returns
        -------
        dict
            ``{"loudnessLufs", "loudnessRangeLu", "samplePeakDb", "truePeakDb"}``.
        """
        return {
            "loudnessLufs": _finite_or_none(self.integrated_lufs),
            "loudnessRangeLu": _finite_or_none(self.range_lu),
            "samplePeakDb": _finite_or_none(self.sample_peak_dbfs),
            "truePeakDb": _finite_or_none(self.true_peak_dbtp),
        }


def sample_peak(y: npt.ArrayLike) -> float:
    """Return the largest magnitude of a signal, block by block, without a full-size temporary.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` or ``(channels, n)`` (any strides), floating point.

    Returns
    -------
    float
        ``max |y|``, linear full scale; 0.0 for an empty signal.

    Raises
    ------
    ParameterError
        On a shape other than ``(n,)`` or ``(channels, n)`` (see :data:`MAX_INFERRED_CHANNELS`).
    """
    x = _as_channels(y)
    peak = 0.0
    for start in range(0, x.shape[1], _ONE_SHOT_BLOCK):
        block = x[:, start : start + _ONE_SHOT_BLOCK]
        if block.size:
            peak = max(peak, float(block.max()), -float(block.min()))
    return peak


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def loudness_summary(y: npt.ArrayLike, *, sr: int) -> LoudnessSummary:
    """Measure integrated loudness, loudness range, sample peak and true peak in one pass.

    Parameters
    ----------
    y : array_like
        Shape ``(n,)`` (mono) or ``(channels, n)`` (such as ``DecodedAudio.y``), floating point, full
        scale = 1.0, finite. Converted one block at a time, never copied whole.
    sr : int
        Sample rate in Hz (> 0). Below :data:`MIN_SAMPLE_RATE` only the peaks are measured.

    Returns
    -------
    LoudnessSummary
        All four figures (floats; see :meth:`LoudnessSummary.to_json` for the JSON form).

    Raises
    ------
    ParameterError
        On a rate that is not positive, or a shape other than ``(n,)`` or ``(channels, n)`` (see
        :data:`MAX_INFERRED_CHANNELS`).
    """
    if sr <= 0:
        raise ParameterError(f"sr must be positive, got {sr}")
    x = _as_channels(y)
    if sr < MIN_SAMPLE_RATE:
        return LoudnessSummary(
            integrated_lufs=math.nan,
            range_lu=math.nan,
            sample_peak_dbfs=_to_dbfs(sample_peak(x)),
            true_peak_dbtp=true_peak_dbtp(x, sr=sr),
        )
    meter = LoudnessMeter(sr=sr, channels=x.shape[0])
    # The whole signal is at hand: its sample peak (one cheap pass) is a lower bound of the true peak
    # from the start, so oversampling can skip every passage far enough below it.
    meter.seed_true_peak(sample_peak(x))
    _feed(meter, x)
    return meter.summary()


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
