"""Mastering: exact length, fades, loudness normalisation, true-peak limiting, 16-bit PCM and the WAV file.

:func:`master` turns the synthesiser's float stereo into the delivered 16-bit audio:

1. **Length.** The render (which runs on into reverb tails) is cut, or zero-padded, to exactly
   ``n_frames`` frames, so the duration is exact to the sample.
2. **Fades.** Raised-cosine (sin²) fades: a short fade-in (5 ms by default) so the first frame starts
   from zero without a click, and a fade-out whose gain reaches exactly zero on the last frame. Each is
   capped at a third of the track.
3. **Loudness.** The make-up gain brings the BS.1770-4 integrated loudness of the faded audio to
   ``target_lufs``. The loudness is computed exactly as :mod:`tonearm.audio.loudness` measures it (its
   K-weighting coefficients, 100 ms steps, 400 ms gating blocks and gates; the two agree to ~1e-9 LU);
   the same pass also keeps the K-weighted energy of every 32-frame hop for the limiter's estimates.
4. **Limiting.** Where the gained audio's true peak would exceed ``ceiling_dbtp``, a linked-stereo
   look-ahead limiter pulls it down. It works on 32-frame hops (0.67 ms at 48 kHz), fully vectorised:

   - the reduction each hop needs, from its 4x-oversampled (BS.1770 annex 2) peak, aimed
     :data:`_LIMIT_MARGIN_DB` under the ceiling;
   - release: every reduction is held and decays at :data:`_RELEASE_DB_PER_S` (linear in dB), which is
     ``max over i <= j of need[i] - (j - i) * rate``: one ``np.maximum.accumulate`` of
     ``need[i] + i * rate``, minus ``j * rate``;
   - attack: the largest reduction over the next :data:`_LOOKAHEAD_S` (``maximum_filter1d`` of the
     reduction, i.e. a moving minimum of the gain), then a raised-cosine average over the same span of
     the past. Every value averaged at hop ``j`` is a maximum over a window containing ``j``, so the
     smoothed reduction is never less than hop ``j`` needs (whatever the smoothing window's shape, as
     long as it is normalised, non-negative and no wider than the maximum filter);
   - per-frame gain by linear interpolation between hop boundaries, each boundary carrying the larger
     need of its two hops: every frame's gain is a convex combination of two gains that satisfy its hop.

   Limiting lowers the loudness, so the make-up gain is solved for (regula falsi over the limiter's
   depth) on a loudness estimate that weights each hop's K-weighted energy by the mean square of its gain
   ramp, to within 0.01 LU of the target, with as little limiting as that takes. The limiter never
   reduces by more than :data:`_MAX_REDUCTION_DB`. Material too peaky to reach the target that way stays
   quieter, and ``loudness_lufs`` says so; it is then limited only as far as pays (to within
   :data:`_GIVE_UP_LU` of the loudness the full depth would give), because between close peaks the
   release never recovers and the last dB of limiting buy next to nothing.
5. **16 bits.** High-pass TPDF dither (see :func:`master`), rounding, clipping. The true peak of the
   16-bit result is then measured (exactly, see :func:`_final_peak`); should it exceed the ceiling (the
   hop peaks are those of the un-gained audio, and a gain ramp under the interpolator's 16 taps can move
   an inter-sample peak slightly; not seen outside a test that forces it), the whole track is scaled
   down by the excess and quantised again, landing that much under the loudness target. When the limiter
   acted, the loudness of the 16-bit result is measured too (the solver's estimate is within ~0.06 LU).

Cost on one core: the audio is read three times (peaks, K-weighting, quantisation; a fourth, K-weighting
the result, when limited), chunk by chunk, and never copied whole: memory is the int16 result plus
per-hop arrays (1/32 of the frames) and chunk-sized scratch. The 4x interpolator runs as a matrix product
(a Toeplitz block per 16 frames, in batches small enough that OpenBLAS stays single-threaded), several
times faster than filtering phase by phase; the K-weighting filters stereo as one complex signal.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

# The interpolator's taps, the gates and the loudness offset come from the loudness meter itself, so
# that this module's loudness and true peaks are the meter's; tests compare the two on random signals.
from tonearm.audio.loudness import (
    ABSOLUTE_GATE_LUFS,
    LOUDNESS_OFFSET_DB,
    MIN_SAMPLE_RATE,
    RELATIVE_GATE_LU,
    TRUE_PEAK_TAPS,
    channel_weights,
    k_weighting_sos,
    true_peak_kernel,
    true_peak_oversampling,
)
from tonearm.errors import ParameterError

__all__ = ["MasteredAudio", "master", "wav_bytes"]

#: Frames per limiter hop: the resolution of the gain curve and of the peak and energy analysis. A
#: 100 ms loudness step at 48 kHz is exactly 150 hops.
_HOP = 32
#: Hops per chunk of the frame-level work (32768 frames): temporaries stay in cache.
_CHUNK_HOPS = 1024
#: Frames per K-weighting call (a multiple of _HOP): scipy's per-call overhead (~0.1 ms) stays negligible.
_FILTER_CHUNK = 1 << 17
#: Look-ahead (= attack time) of the limiter, s: long enough for the gain to reach its floor along a smooth
#: S-curve rather than a step (which splatters), short enough not to duck the lead-in audibly.
_LOOKAHEAD_S = 0.005
#: Release rate of the limiter, dB/s: 1 dB recovers in ~33 ms, 6 dB in 200 ms. Slower pumps audibly on
#: dense material; faster modulates bass notes (distortion).
_RELEASE_DB_PER_S = 30.0
#: Deepest reduction the limiter may apply, dB. Beyond it the make-up gain is lowered instead and the track
#: stays under the loudness target: sparse, peaky material squashed harder sounds worse than quieter.
_MAX_REDUCTION_DB = 12.0
#: The limiter aims this far under the ceiling. It limits the un-gained hop peaks times the gain, while
#: the gain also varies under the interpolator's 16 taps; but the curve is flat around every peak it
#: limits (the moving maximum holds it there), and on clicks, bursts and dense noise without any margin
#: the result's true peak came out at most 0.0005 dB over. The final scale-down covers the rest.
_LIMIT_MARGIN_DB = 0.02
#: Extra headroom of the final scale-down, dB: dither and rounding move an interpolated value by at most
#: 1.5 LSB x 2.1 (the interpolator's largest absolute tap sum), 0.001 dB at -1 dBTP.
_QUANTISE_MARGIN_DB = 0.003
#: Make-up gain solver: loudness tolerance of the estimate (LU) and most steps.
_LOUDNESS_TOLERANCE_LU = 0.01
_MAX_GAIN_STEPS = 12
#: When even the deepest limiting misses the target, settle this far (LU) under the loudness it would
#: give: past the point where the release cannot recover between peaks, the last few dB of limiting buy
#: a few hundredths of an LU (and sometimes, through the relative gate, lose some).
_GIVE_UP_LU = 0.2
#: Fixed seed of the dither: the same input gives byte-identical output.
_DITHER_SEED = 0x746F6E65  # "tone"
#: int16 full scale: 32768 LSB reads as 1.0 (libsndfile's convention for reading 16-bit PCM as float).
_FULL_SCALE = 32768.0
#: Frames the true-peak interpolator reads before the instant it interpolates: the value between frames
#: k and k + 1 reads frames k - 7 .. k + 8 (TRUE_PEAK_TAPS of them).
_TP_BEFORE = TRUE_PEAK_TAPS // 2 - 1
#: Frames per block of the true-peak matrix product (two per hop), and the frames one block reads.
_TP_BLOCK = 16
_TP_WIDTH = _TP_BLOCK + TRUE_PEAK_TAPS - 1
#: OpenBLAS computes a product single-threaded when M * N * K is at most 4 * 65536. Its threads only slow
#: products of this shape down (2x with an idle second core, 10x with a busy one, measured), so the
#: interpolation is cut into products under that size: one batched matmul per chunk, looped over in C.
_GEMM_SINGLE_THREAD_MNK = 4 * 65536
#: Blocks per chunk of the peak scan (times the rows per product): bounds the scratch arrays.
_TP_CHUNK_PRODUCTS = 32


@dataclass(frozen=True)
class MasteredAudio:
    """The mastered track and what was done to it.

    Attributes
    ----------
    pcm : numpy.ndarray
        Shape ``(n_frames, channels)`` int16, C order (frames interleaved, ready for a WAV ``data``
        chunk); full scale 32768.
    loudness_lufs : float
        BS.1770-4 integrated loudness of ``pcm``, LUFS; ``-inf`` when every block is gated out (silence,
        or under 400 ms). Measured on ``pcm`` when the limiter acted; otherwise the input's loudness plus
        the gain, which is the same to 1e-6 LU (see :func:`master`).
    true_peak_dbtp : float
        BS.1770-4 true peak of ``pcm`` (4x oversampled below 96 kHz), dBTP; ``-inf`` for silence.
    gain_db : float
        Make-up gain applied before limiting, dB (including any final scale-down).
    limited_db : float
        Deepest gain reduction the limiter applied, dB: ``<= 0``, ``0.0`` when it never acted.
    """

    pcm: npt.NDArray[np.int16]
    loudness_lufs: float
    true_peak_dbtp: float
    gain_db: float
    limited_db: float


def master(
    audio: npt.NDArray[np.float32],
    *,
    n_frames: int,
    sr: int = 48000,
    target_lufs: float = -14.0,
    ceiling_dbtp: float = -1.0,
    fade_in_s: float = 0.005,
    fade_out_s: float = 1.5,
) -> MasteredAudio:
    """Master rendered audio to an exact length, a loudness target and a true-peak ceiling, as 16-bit PCM.

    Parameters
    ----------
    audio : numpy.ndarray
        Shape ``(channels, n)``, floating point (float32 from the renderer; stereo in practice), full
        scale = 1.0, finite. ``n`` may be more or less than ``n_frames``. Not modified.
    n_frames : int
        Exact length of the result in frames (>= 0): ``audio`` is cut or zero-padded to it.
    sr : int
        Sample rate in Hz (>= :data:`tonearm.audio.loudness.MIN_SAMPLE_RATE`).
    target_lufs : float
        Integrated loudness to normalise to, LUFS (ITU-R BS.1770-4).
    ceiling_dbtp : float
        Highest true peak allowed in the result, dBTP.
    fade_in_s, fade_out_s : float
        Raised-cosine fade lengths in seconds (>= 0), each capped at a third of the track. The fade-in
        starts at gain 0 on the first frame; the fade-out reaches gain 0 on the last frame.

    Returns
    -------
    MasteredAudio
        ``pcm`` of shape ``(n_frames, channels)`` int16, and its loudness and true peak, the gain and the
        deepest limiter reduction. The loudness is ``target_lufs`` (to 0.01 LU; to ~0.06 LU when limited,
        see the notes) unless the material
        cannot reach it under the ceiling with at most 12 dB of limiting (it is then limited as far as
        pays, see the module notes, and stays quieter) or its loudness is undefined (everything gated
        out: silence, under -70 LUFS or under 400 ms; no make-up gain then, only what the ceiling needs).
        The true peak is at most ``ceiling_dbtp``.

    Raises
    ------
    ParameterError
        On a wrong shape or dtype, a negative length or fade, a sample rate below the K-weighting's
        minimum, or non-finite samples.

    Notes
    -----
    Quantisation uses high-pass TPDF dither: each sample gets ``(u[t] - u[t-1]) / 65536`` LSB added,
    ``u`` a stream of uniform 16-bit integers from SFC64 with a fixed seed, before rounding. Each
    sample's dither is triangular over +-1 LSB, which (like plain TPDF) makes the error's mean and power
    independent of the signal, so fade-outs and reverb tails decay into steady noise at -96 dBFS rather
    than into truncation distortion; the differencing tilts that noise towards high frequencies, where
    hearing is least sensitive, and needs one random number per sample instead of two. The fixed seed
    keeps the output byte-identical for the same input (the stream of a numpy bit generator is stable
    across numpy versions). Hops that are digital silence, including the interpolator's reach into their
    neighbours, get no dither, so padding and silent input stay exactly zero.

    Without limiting, the reported loudness is the input's plus the gain (K-weighting is linear; the
    dither, at -96 dBFS, moves it by under 1e-6 LU). With limiting, the solver works on an estimate
    (each 32-frame hop's K-weighted energy weighted by its gain ramp's mean square), which misses how the
    gain's ramps pass through the K-filter's memory: within 0.002 LU on clicks, bursts and drums, but up
    to ~0.06 LU on bass under deep limiting. So the 16-bit result is then measured (one more K-weighting
    pass) and that is what is reported; it may sit that far from the target.
    The true peak is always measured on the 16-bit result.
    """
    x_in = np.asarray(audio)
    if x_in.ndim != 2 or x_in.shape[0] < 1 or not np.issubdtype(x_in.dtype, np.floating):
        raise ParameterError(
            f"audio must be floating point of shape (channels, n), got {x_in.dtype} {x_in.shape}"
        )
    if n_frames < 0:
        raise ParameterError(f"n_frames must be >= 0, got {n_frames}")
    if sr < MIN_SAMPLE_RATE:
        raise ParameterError(f"sr must be at least {MIN_SAMPLE_RATE} Hz, got {sr}")
    if not (fade_in_s >= 0.0 and fade_out_s >= 0.0):
        raise ParameterError(f"fade lengths must be >= 0 s, got {fade_in_s} and {fade_out_s}")
    track = _Track(x_in, n_frames=n_frames, fade_in=round(fade_in_s * sr), fade_out=round(fade_out_s * sr))
    channels = track.channels
    n_hops = -(-n_frames // _HOP)

    interpolator = _Interpolator(sr)
    hop_peaks = _hop_peaks(track, n_hops, interpolator)  # (channels, n_hops), linear
    peak = float(hop_peaks.max(initial=0.0))
    if not math.isfinite(peak):
        raise ParameterError("audio contains non-finite samples")
    if peak == 0.0:
        return MasteredAudio(
            pcm=np.zeros((n_frames, channels), dtype=np.int16),
            loudness_lufs=-math.inf,
            true_peak_dbtp=-math.inf,
            gain_db=0.0,
            limited_db=0.0,
        )

    loudness = _Loudness(track, n_hops, sr=sr)
    input_lufs = loudness.lufs

    linked = hop_peaks.max(axis=0)  # linked stereo: one gain for all channels keeps the image
    with np.errstate(divide="ignore"):
        peak_db = 20.0 * np.log10(linked.astype(np.float64))
    aim_db = ceiling_dbtp - _LIMIT_MARGIN_DB
    free_gain_db = aim_db - 20.0 * math.log10(peak)  # the most gain that needs no limiting
    limiter = _Limiter(peak_db, aim_db=aim_db, sr=sr)
    reduction = None
    if not math.isfinite(input_lufs):
        # No loudness to normalise (all gated out): no make-up gain, only what the ceiling asks for.
        gain_db = min(0.0, free_gain_db)
    elif target_lufs - input_lufs <= free_gain_db:
        gain_db = target_lufs - input_lufs
    else:
        gain_db, reduction = _solve_gain(free_gain_db, target_lufs, limiter, loudness)
    boundary_db = gain_db - (reduction if reduction is not None else np.zeros(n_hops + 1))

    pcm = np.empty((n_frames, channels), dtype=np.int16)
    scale_db = 0.0
    true_peak = -math.inf
    for _ in range(3):
        boundary_gain = _db_to_gain(boundary_db + scale_db) * _FULL_SCALE
        _quantise(track, pcm, boundary_gain, silent=hop_peaks == 0.0)
        true_peak = _to_db(_final_peak(pcm, linked, boundary_gain, interpolator) / _FULL_SCALE)
        if true_peak <= ceiling_dbtp:
            break
        # Rare: a gain ramp moved an inter-sample peak past the margin. A uniform scale leaves the
        # limiter's curve as it is, and one more quantisation lands under the ceiling.
        scale_db += ceiling_dbtp - true_peak - _QUANTISE_MARGIN_DB

    gain_db += scale_db
    if reduction is None:
        out_lufs = loudness.lufs + gain_db  # K-weighting is linear
    else:
        # The solver's estimate misses how the gain's ramps pass through the K-filter's memory (up to
        # ~0.06 LU on bass under deep limiting): measure the result itself.
        out_lufs = _Loudness(_PcmFrames(pcm), n_hops, sr=sr, scale=1.0 / _FULL_SCALE).lufs
    return MasteredAudio(
        pcm=pcm,
        loudness_lufs=out_lufs,
        true_peak_dbtp=true_peak,
        gain_db=gain_db,
        limited_db=-float(reduction.max()) if reduction is not None else 0.0,
    )


class _Frames(Protocol):
    """Audio read chunk by chunk: ``read(start, stop)`` gives shape ``(channels, stop - start)``."""

    channels: int
    n_frames: int

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32] | npt.NDArray[np.int16]: ...


class _PcmFrames:
    """The 16-bit result as :class:`_Frames` (in LSB)."""

    def __init__(self, pcm: npt.NDArray[np.int16]) -> None:
        self.pcm = pcm
        self.n_frames, self.channels = pcm.shape

    def read(self, start: int, stop: int) -> npt.NDArray[np.int16]:
        return self.pcm[start:stop].T


class _Track:
    """The audio before gain, read chunk by chunk: cut or zero-padded to ``n_frames``, and faded.

    Frames outside ``[0, n_frames)`` read as zeros: the silence that BS.1770 assumes around a signal,
    which the true-peak interpolator reads at both ends.
    """

    def __init__(
        self, audio: npt.NDArray[np.floating], *, n_frames: int, fade_in: int, fade_out: int
    ) -> None:
        self.audio = audio
        self.channels = audio.shape[0]
        self.n_frames = n_frames
        self._kept = min(n_frames, audio.shape[1])
        fade_in, fade_out = min(fade_in, n_frames // 3), min(fade_out, n_frames // 3)
        # sin² from exactly 0: the fade-in's first frame and the fade-out's last frame are silent.
        self._fade_in = self._fade_in_curve(fade_in)
        self._fade_out = self._fade_in_curve(fade_out)[::-1].copy()
        self._fade_out_start = n_frames - fade_out

    @staticmethod
    def _fade_in_curve(n: int) -> npt.NDArray[np.float32]:
        return (np.sin(0.5 * np.pi * np.arange(n) / max(n, 1)) ** 2).astype(np.float32)

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Frames ``[start, stop)`` (either may lie outside the track), shape ``(channels, stop - start)``."""
        out = np.empty((self.channels, stop - start), dtype=np.float32)
        lo, hi = min(max(start, 0), stop), max(min(stop, self._kept), start)
        out[:, : lo - start] = 0.0
        out[:, hi - start :] = 0.0
        if hi > lo:
            out[:, lo - start : hi - start] = self.audio[:, lo:hi]
        lo, hi = max(start, 0), min(stop, self._fade_in.size)
        if hi > lo:
            out[:, lo - start : hi - start] *= self._fade_in[lo:hi]
        lo, hi = max(start, self._fade_out_start), min(stop, self.n_frames)
        if hi > lo:
            out[:, lo - start : hi - start] *= self._fade_out[
                lo - self._fade_out_start : hi - self._fade_out_start
            ]
        return out


class _Interpolator:
    """The BS.1770 true-peak interpolator as a matrix product over blocks of :data:`_TP_BLOCK` frames.

    Each block's frames, with 7 before and 8 after, map through one Toeplitz matrix to all of the block's
    oversampled values (phase 0, the frames themselves, included). The taps are those of
    :func:`tonearm.audio.loudness.true_peak_kernel`, so the peaks are those its ``true_peak_dbtp`` reads.
    """

    def __init__(self, sr: int) -> None:
        factor = true_peak_oversampling(sr=sr)
        # Row p * _TP_BLOCK + i: phase p (p / factor of a frame after frame i of the block).
        matrix = np.zeros((factor * _TP_BLOCK, _TP_WIDTH), dtype=np.float32)
        frames = np.arange(_TP_BLOCK)
        matrix[frames, frames + _TP_BEFORE] = 1.0
        if factor > 1:
            taps = true_peak_kernel(factor=factor)  # (16, factor - 1): frames k - 7 .. k + 8 per phase
            for phase in range(1, factor):
                for offset in range(TRUE_PEAK_TAPS):
                    matrix[phase * _TP_BLOCK + frames, frames + offset] = taps[offset, phase - 1]
        self.matrix = matrix
        #: Largest sum of absolute taps of any phase: bounds an interpolated value by the largest frame.
        self.tap_sum = float(np.abs(matrix).sum(axis=1).max())
        self.rows_per_product = max(1, _GEMM_SINGLE_THREAD_MNK // matrix.size)

    def peaks(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Largest oversampled magnitude of each block.

        Parameters
        ----------
        rows : numpy.ndarray
            Shape ``(m, _TP_WIDTH)``: each block's frames with 7 before and 8 after (a strided view is
            fine).

        Returns
        -------
        numpy.ndarray
            Shape ``(m,)`` float32, linear.
        """
        m = rows.shape[0]
        per = self.rows_per_product
        full, rest = divmod(m, per)
        batch = np.empty((full + (rest > 0), per, _TP_WIDTH), dtype=np.float32)
        batch[:full] = rows[: full * per].reshape(full, per, _TP_WIDTH)
        if rest:
            batch[full, :rest] = rows[full * per :]
            batch[full, rest:] = 0.0
        # Products of `per` blocks each, blocks as columns (BLAS reads the transposed view as is), written
        # phase-major across all products (BLAS writes with a row stride): each block's maximum is then a
        # reduction across long contiguous rows, which numpy vectorises, rather than along short ones.
        values = np.empty((self.matrix.shape[0], batch.shape[0], per), dtype=np.float32)
        np.matmul(self.matrix, batch.transpose(0, 2, 1), out=values.transpose(1, 0, 2))
        np.abs(values, out=values)
        return values.max(axis=0).reshape(-1)[:m]


def _hop_peaks(track: _Track, n_hops: int, interpolator: _Interpolator) -> npt.NDArray[np.float32]:
    """Largest oversampled magnitude (frames included) in every hop, per channel.

    Returns
    -------
    numpy.ndarray
        Shape ``(channels, n_hops)`` float32, linear. The interpolator's ringing before the first and after
        the last frame (which the BS.1770 meter includes) is counted in the first and last hop.
    """
    channels = track.channels
    per_hop = _HOP // _TP_BLOCK
    # Blocks of hops -1 .. n_hops: one extra hop of ringing at each end.
    n_blocks = (n_hops + 2) * per_hop
    peaks = np.empty((channels, n_blocks), dtype=np.float32)
    chunk = interpolator.rows_per_product * _TP_CHUNK_PRODUCTS
    for start in range(0, n_blocks, chunk):
        stop = min(n_blocks, start + chunk)
        first = (start - per_hop) * _TP_BLOCK  # block `start` is the chunk's first; block 0 is hop -1's
        frames = track.read(first - _TP_BEFORE, (stop - per_hop) * _TP_BLOCK + TRUE_PEAK_TAPS // 2)
        # Overlapping rows: each block with its reach (a view; the interpolator gathers it once).
        rows = np.lib.stride_tricks.sliding_window_view(frames, _TP_WIDTH, axis=1)[:, ::_TP_BLOCK]
        for channel in range(channels):
            peaks[channel, start:stop] = interpolator.peaks(rows[channel])
    per_hop_peaks = peaks.reshape(channels, n_hops + 2, per_hop).max(axis=2)
    hops = per_hop_peaks[:, 1:-1].copy()
    if n_hops:
        hops[:, 0] = np.maximum(hops[:, 0], per_hop_peaks[:, 0])
        hops[:, -1] = np.maximum(hops[:, -1], per_hop_peaks[:, -1])
    return hops


class _Loudness:
    """BS.1770-4 integrated loudness of some frames, and estimates of it under a per-hop gain.

    Steps, blocks and gates are those of :class:`tonearm.audio.loudness.LoudnessMeter`: 100 ms steps
    starting at frame ``floor(k * sr / 10)``, complete steps only, 400 ms blocks of four steps.
    """

    def __init__(self, frames: _Frames, n_hops: int, *, sr: int, scale: float = 1.0) -> None:
        n_frames = frames.n_frames
        n_steps = (10 * n_frames + 9) // sr  # steps whose last frame lies inside the track
        bounds = (np.arange(n_steps + 1, dtype=np.int64) * sr) // 10
        steps, hops = _k_energies(frames, n_hops, bounds, sr=sr)
        self._step_energy, self._hop_energy = steps * scale**2, hops * scale**2
        n_blocks = max(n_steps - 3, 0)
        self._block_frames = (bounds[4 : 4 + n_blocks] - bounds[:n_blocks]).astype(np.float64)
        # Hops are grouped by the step their first frame lies in (a hop across a step boundary counts
        # towards the earlier step; at 48 kHz none is: a step is exactly 150 hops).
        hop_bounds = -(-bounds // _HOP)
        self._step_hops = hop_bounds[:-1]
        self._n_hops_used = int(hop_bounds[-1])
        self._hop_energy_per_step = self._sum_hops(self._hop_energy)
        self.lufs = self.integrated(None)

    def _sum_hops(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not self._step_hops.size:
            return np.zeros(0, dtype=np.float64)
        return np.add.reduceat(values[: self._n_hops_used], self._step_hops)

    def under_gain(self, gain_db: float, reduction: npt.NDArray[np.float64] | None) -> float:
        """Loudness estimate under a make-up gain and a limiter curve (``None``: not limiting)."""
        if reduction is None:
            return self.lufs + gain_db  # K-weighting is linear
        return self.integrated(_hop_gain_sq(gain_db, reduction))

    def integrated(self, hop_gain_sq: npt.NDArray[np.float64] | None) -> float:
        """Integrated loudness in LUFS: as is, or with hop ``j``'s energy scaled by ``hop_gain_sq[j]``."""
        steps = self._step_energy
        if hop_gain_sq is not None and steps.size:
            weighted = self._sum_hops(self._hop_energy * hop_gain_sq)
            share = self._hop_energy_per_step
            ratio = np.divide(weighted, share, out=np.zeros_like(share), where=share > 0.0)
            steps = steps * ratio
        n_blocks = self._block_frames.size
        if n_blocks == 0:
            return -math.inf
        blocks = steps[:n_blocks] + steps[1 : n_blocks + 1]
        blocks += steps[2 : n_blocks + 2]
        blocks += steps[3 : n_blocks + 3]
        blocks /= self._block_frames
        passed = blocks[blocks > 10.0 ** ((ABSOLUTE_GATE_LUFS - LOUDNESS_OFFSET_DB) / 10.0)]
        if passed.size == 0:
            return -math.inf
        gated = passed[passed > float(np.mean(passed)) * 10.0 ** (RELATIVE_GATE_LU / 10.0)]
        return LOUDNESS_OFFSET_DB + 10.0 * math.log10(float(np.mean(gated)))


def _k_energies(
    source: _Frames, n_hops: int, bounds: npt.NDArray[np.int64], *, sr: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Channel-weighted K-weighted energy summed per 100 ms step and per hop.

    Parameters
    ----------
    bounds : numpy.ndarray
        First frame of every complete step, then the end of the last one.

    Returns
    -------
    tuple of numpy.ndarray
        Energy per complete step (``bounds.size - 1``) and per hop (``n_hops``), float64, in the squared
        units of ``source``.
    """
    sos = k_weighting_sos(sr=sr)
    weights = channel_weights(channels=source.channels)
    n_steps = bounds.size - 1
    steps = np.zeros(n_steps + 1, dtype=np.float64)  # the last one collects the incomplete tail step
    hops = np.zeros(n_hops, dtype=np.float64)
    # Channels are filtered in pairs, as the real and imaginary parts of one complex signal: the filter's
    # coefficients are real, so the parts never mix (the result is bit-identical) and one complex pass
    # costs ~25 % less than two real ones. An odd last channel is filtered as a real signal.
    pairs = [(c, c + 1) for c in range(0, source.channels - 1, 2)]
    single = source.channels - 1 if source.channels % 2 else None
    zi_pairs = [np.zeros((sos.shape[0], 2), dtype=np.complex128) for _ in pairs]
    zi_single = np.zeros((sos.shape[0], 2), dtype=np.float64)
    packed = np.empty(_FILTER_CHUNK, dtype=np.complex128)
    for start in range(0, source.n_frames, _FILTER_CHUNK):
        stop = min(source.n_frames, start + _FILTER_CHUNK)
        frames = source.read(start, stop)
        energy = np.zeros(stop - start, dtype=np.float64)
        z = packed[: stop - start]
        for k, (left, right) in enumerate(pairs):
            z.real, z.imag = frames[left], frames[right]
            y, zi_pairs[k] = signal.sosfilt(sos, z, zi=zi_pairs[k])
            parts = y.view(np.float64)
            np.square(parts, out=parts)
            energy += weights[left] * parts[0::2] if weights[left] != 1.0 else parts[0::2]
            energy += weights[right] * parts[1::2] if weights[right] != 1.0 else parts[1::2]
        if single is not None:
            y_single, zi_single = signal.sosfilt(sos, frames[single], zi=zi_single)
            energy += weights[single] * np.square(y_single)
        first_hop = start // _HOP
        hop_sums = np.add.reduceat(energy, np.arange(0, stop - start, _HOP))
        hops[first_hop : first_hop + hop_sums.size] = hop_sums
        # Step boundaries inside this chunk split it; the first piece finishes the step already begun.
        first_step = int(np.searchsorted(bounds, start, side="right")) - 1
        cuts = bounds[first_step + 1 : int(np.searchsorted(bounds, stop, side="left"))] - start
        pieces = np.add.reduceat(energy, np.concatenate((np.zeros(1, dtype=np.int64), cuts)))
        steps[first_step : first_step + pieces.size] += pieces
    return steps[:n_steps], hops


class _Limiter:
    """Gain-reduction curves of the look-ahead limiter at hop boundaries, for a given make-up gain."""

    def __init__(self, peak_db: npt.NDArray[np.float64], *, aim_db: float, sr: int) -> None:
        # A boundary's gain reaches into the hops on both sides (linear interpolation), so it must do for
        # the louder one.
        padded = np.concatenate(([-np.inf], peak_db, [-np.inf]))
        self._boundary_peak_db = np.maximum(padded[:-1], padded[1:])
        self._aim_db = aim_db
        hop_s = _HOP / sr
        self._release = _RELEASE_DB_PER_S * hop_s  # dB per hop
        self._ramp = np.arange(self._boundary_peak_db.size, dtype=np.float64) * self._release
        self._lookahead = max(1, round(_LOOKAHEAD_S / hop_s))
        span = self._lookahead + 1
        window = np.sin(np.pi * np.arange(1, span + 1) / (span + 1)) ** 2
        self._window = window / window.sum()

    def reduction(self, gain_db: float) -> npt.NDArray[np.float64] | None:
        """Reduction in dB (>= 0) at each hop boundary, shape ``(n_hops + 1,)``; ``None`` if none needed."""
        need = self._boundary_peak_db + (gain_db - self._aim_db)
        if float(need.max()) <= 0.0:
            return None
        np.maximum(need, 0.0, out=need)
        # Release: each need held and decaying by `release` dB per hop, i.e. the largest
        # need[i] - (j - i) * release over i <= j.
        held = np.maximum.accumulate(need + self._ramp) - self._ramp
        # Attack: the largest reduction over the next `lookahead` boundaries, averaged over the past
        # `lookahead` with a raised-cosine window. Each averaged maximum's window contains this boundary,
        # so the average is at least this boundary's need. At the start, the first maximum stands in for
        # those before it (its window holds every boundary up to `lookahead`).
        span = self._lookahead + 1
        ahead = ndimage.maximum_filter1d(held, size=span, origin=-(span // 2), mode="nearest")
        lead_in = np.concatenate((np.full(self._lookahead, ahead[0]), ahead))
        return np.convolve(lead_in, self._window, mode="valid")


def _solve_gain(
    free_gain_db: float, target_lufs: float, limiter: _Limiter, loudness: _Loudness
) -> tuple[float, npt.NDArray[np.float64] | None]:
    """Make-up gain and limiter curve for the target: as little limiting as reaches it, at most 12 dB.

    With gain ``free_gain_db + depth`` the limiter's deepest reduction is ``depth``. Loudness grows ever
    slower with depth (between close peaks the release never recovers, so past some depth more gain
    buys almost nothing) and, through the relative gate, not even always monotonically. So: if the
    target is out of reach at the full depth, the goal becomes the loudness there less
    :data:`_GIVE_UP_LU`, reached with far less limiting. The depth for the goal is then found by regula
    falsi (Illinois variant) between 0 (below the goal) and the full depth (at or above it), ending on
    a depth known to reach the goal.
    """

    def shortfall(depth: float, goal: float) -> tuple[float, npt.NDArray[np.float64] | None]:
        reduction = limiter.reduction(free_gain_db + depth)
        return loudness.under_gain(free_gain_db + depth, reduction) - goal, reduction

    full = _MAX_REDUCTION_DB
    at_full, full_reduction = shortfall(full, target_lufs)
    goal = target_lufs if at_full > -_LOUDNESS_TOLERANCE_LU else target_lufs + at_full - _GIVE_UP_LU
    low, f_low = 0.0, loudness.lufs + free_gain_db - goal
    high, f_high, high_reduction = full, target_lufs + at_full - goal, full_reduction
    if f_low >= 0.0:  # the give-up goal is met without limiting at all
        return free_gain_db, None
    # Illinois: when the same end is replaced twice running, the other end's value is halved for the
    # interpolation only (w_low, w_high), which keeps regula falsi from stalling on one side.
    w_low, w_high = f_low, f_high
    moved = 0  # the end replaced last: 1 high, -1 low
    for _ in range(_MAX_GAIN_STEPS):
        if f_high < _LOUDNESS_TOLERANCE_LU:
            break
        depth = high - w_high * (high - low) / (w_high - w_low)
        f, reduction = shortfall(depth, goal)
        if abs(f) < _LOUDNESS_TOLERANCE_LU:
            return free_gain_db + depth, reduction
        if f > 0.0:
            high, f_high, w_high, high_reduction = depth, f, f, reduction
            w_low = w_low / 2.0 if moved == 1 else w_low
            moved = 1
        else:
            low, f_low, w_low = depth, f, f
            w_high = w_high / 2.0 if moved == -1 else w_high
            moved = -1
    return free_gain_db + high, high_reduction


def _hop_gain_sq(gain_db: float, reduction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Mean square of the gain over each hop: it ramps linearly from boundary value a to b, and the mean
    # of that ramp squared is (a² + ab + b²) / 3.
    g = _db_to_gain(gain_db - reduction)
    a, b = g[:-1], g[1:]
    return (a * a + a * b + b * b) / 3.0


def _quantise(
    track: _Track,
    pcm: npt.NDArray[np.int16],
    boundary_gain: npt.NDArray[np.float64],
    *,
    silent: npt.NDArray[np.bool_],
) -> None:
    """Apply the gain (LSB per full scale at each hop boundary), dither, clip and round into ``pcm``."""
    channels, n_hops = silent.shape
    n_frames = pcm.shape[0]
    gain = boundary_gain.astype(np.float32)
    constant = bool((gain == gain[0]).all())
    ramp = np.arange(_HOP, dtype=np.float32) / _HOP
    # Raw bit-generator output: numpy keeps bit generators' streams stable across versions (Generator
    # methods may change), and it is the cheapest source (64 bits are four 16-bit uniforms).
    bits = np.random.SFC64(_DITHER_SEED)
    previous: npt.NDArray[np.float32] = np.zeros(channels, dtype=np.float32)  # u[t - 1], across chunks
    for start in range(0, n_hops, _CHUNK_HOPS):
        stop = min(n_hops, start + _CHUNK_HOPS)
        count = stop - start
        first, last = start * _HOP, min(n_frames, stop * _HOP)
        y = track.read(first, stop * _HOP).reshape(channels, count, _HOP)
        if constant:
            y *= gain[0]
        else:
            a, b = gain[start:stop, np.newaxis], gain[start + 1 : stop + 1, np.newaxis]
            y *= a + (b - a) * ramp
        # High-pass TPDF: u[t] - u[t - 1] for uniform 16-bit u, in LSB.
        u = bits.random_raw(channels * count * _HOP // 4).view(np.uint16).reshape(channels, count * _HOP)
        uniform = np.multiply(u, np.float32(1.0 / 65536.0), dtype=np.float32)
        dither = np.empty_like(uniform)
        dither[:, 0] = uniform[:, 0] - previous
        np.subtract(uniform[:, 1:], uniform[:, :-1], out=dither[:, 1:])
        previous = uniform[:, -1].copy()
        mute = silent[:, start:stop]
        dither_hops = dither.reshape(channels, count, _HOP)
        if mute.any():
            dither_hops[mute] = 0.0
        y += dither_hops
        np.clip(y, -_FULL_SCALE, _FULL_SCALE - 1.0, out=y)
        np.rint(y, out=y)
        rounded = y.reshape(channels, count * _HOP)[:, : last - first].astype(np.int16)
        # One channel at a time: a strided int16 copy per channel is several times faster than casting
        # through a transposed view.
        for channel in range(channels):
            pcm[first:last, channel] = rounded[channel]


def _final_peak(
    pcm: npt.NDArray[np.int16],
    peaks: npt.NDArray[np.float32],
    boundary_gain: npt.NDArray[np.float64],
    interpolator: _Interpolator,
) -> float:
    """True peak of the 16-bit result in LSB, interpolating only the hops that can hold it.

    At an instant of hop ``j`` the interpolated value is ``sum_d h[d] g[k+d] x[k+d] + e``: ``x`` the
    un-gained audio, ``g`` the gain, ``|e| <= 1.5 LSB * sum |h|`` (dither and rounding). Its magnitude
    therefore lies within ``[g_lo * P[j] - s, g_hi * P[j] + s]`` for the hop's largest one, where
    ``P[j]`` is hop ``j``'s un-gained peak (all channels), ``g_lo`` and ``g_hi`` the extreme gains the
    interpolator reads (boundaries ``j - 1 .. j + 2``) and
    ``s = (g_hi - g_lo) * sum |h| * max(P[j - 1 .. j + 1]) + |e|``. Hops whose upper bound is under the
    largest lower bound cannot hold the peak, so skipping them leaves the result exact. Without limiting
    (constant gain) only the few hops within ~3 LSB of the peak remain; the ramps of a limited track
    leave more.
    """
    n_hops = peaks.size
    n_frames = pcm.shape[0]
    if n_hops == 0:
        return 0.0
    tap_sum = interpolator.tap_sum
    g = np.concatenate((boundary_gain[:1], boundary_gain, boundary_gain[-1:]))  # boundaries -1 .. n + 1
    g_hi = ndimage.maximum_filter1d(g, size=4, origin=-2)[:n_hops]
    g_lo = ndimage.minimum_filter1d(g, size=4, origin=-2)[:n_hops]
    near = ndimage.maximum_filter1d(peaks, size=3).astype(np.float64)
    slack = (g_hi - g_lo) * tap_sum * near + 1.5 * tap_sum
    upper = g_hi * peaks + slack
    lower = g_lo * peaks - slack
    # Clipping would break the error bound: then every hop is interpolated.
    clipping = float(upper.max()) >= _FULL_SCALE - 1.0
    candidates = np.flatnonzero((upper >= lower.max()) | clipping)
    # Hops -1 and n_hops: the ringing before the first and after the last frame, counted in hops 0 and
    # n_hops - 1.
    edges = [row for row, hop in ((-1, 0), (n_hops, n_hops - 1)) if hop in (candidates[0], candidates[-1])]
    rows = np.concatenate((candidates, np.array(edges, dtype=np.int64)))
    # Each hop's blocks, with the interpolator's reach; frames outside the track are zeros.
    block_starts = (rows[:, np.newaxis] * _HOP + np.arange(0, _HOP, _TP_BLOCK)).reshape(-1)
    reach = np.arange(_TP_WIDTH) - _TP_BEFORE
    best = 0.0
    for start in range(0, block_starts.size, _CHUNK_HOPS):
        frames = block_starts[start : start + _CHUNK_HOPS, np.newaxis] + reach  # (blocks, _TP_WIDTH)
        inside = (frames >= 0) & (frames < n_frames)
        gathered = pcm[np.clip(frames, 0, n_frames - 1)].astype(np.float32)  # (blocks, width, channels)
        gathered[~inside] = 0.0
        for channel in range(pcm.shape[1]):
            best = max(best, float(interpolator.peaks(gathered[:, :, channel]).max()))
    return best


def _db_to_gain(db: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # exp is ~3x faster than 10.0 ** x, and the solver calls this on every step.
    return np.exp(db * (math.log(10.0) / 20.0))


def _to_db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0.0 else -math.inf


def wav_bytes(pcm: npt.NDArray[np.int16], *, sr: int, info: dict[str, str]) -> bytes:
    """Encode 16-bit PCM as a RIFF/WAVE file with a ``LIST``/``INFO`` chunk.

    Layout: ``RIFF`` ``WAVE``, ``fmt `` (16 bytes, PCM), ``data``, then ``LIST`` ``INFO``. The header is
    the canonical 44 bytes (metadata after the audio), which even readers that assume a fixed header
    play; libsndfile and other chunk-walking readers find the ``INFO`` strings after the data.

    Parameters
    ----------
    pcm : numpy.ndarray
        Shape ``(n_frames, channels)`` int16 (frames interleaved in the file in this order).
    sr : int
        Sample rate in Hz (> 0).
    info : dict of str to str
        ``INFO`` sub-chunks in order, e.g. ``{"ISFT": "tonearm 0.1", "ICMT": "...", "IGNR": "jazz"}``.
        Ids are exactly four printable ASCII characters; values are UTF-8, written NUL-terminated and
        padded to an even length. Empty: no ``LIST`` chunk.

    Returns
    -------
    bytes
        The complete file.

    Raises
    ------
    ParameterError
        On a non-int16 or non-2-D ``pcm``, a bad sample rate, an invalid ``INFO`` id, a value containing
        NUL, or a file over the 4 GiB RIFF limit.
    """
    samples = np.asarray(pcm)
    if samples.dtype != np.int16 or samples.ndim != 2 or samples.shape[1] < 1:
        raise ParameterError(
            f"pcm must be int16 of shape (n_frames, channels), got {samples.dtype} {samples.shape}"
        )
    if sr <= 0:
        raise ParameterError(f"sr must be positive, got {sr}")
    channels = samples.shape[1]

    subchunks = []
    for key, value in info.items():
        if len(key) != 4 or not all(" " <= ch <= "~" for ch in key):
            raise ParameterError(f"INFO ids must be exactly 4 printable ASCII characters, got {key!r}")
        if "\x00" in value:
            raise ParameterError(f"INFO value for {key} contains NUL")
        text = value.encode("utf-8") + b"\x00"
        subchunks.append(_chunk(key.encode("ascii"), text))
    list_chunk = _chunk(b"LIST", b"INFO" + b"".join(subchunks)) if subchunks else b""

    data = samples.astype("<i2", copy=False).tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, sr, sr * channels * 2, channels * 2, 16)
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(b"data", data) + list_chunk
    if len(body) > 0xFFFFFFFF:
        raise ParameterError("audio too long for a RIFF file (4 GiB)")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    # RIFF chunks are word-aligned: an odd payload gets a pad byte that its size does not count.
    pad = b"\x00" if len(payload) % 2 else b""
    return chunk_id + struct.pack("<I", len(payload)) + payload + pad
