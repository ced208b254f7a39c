"""The separation model's numeric front and back end: STFT, chunked masks with cross-fades, iSTFT (issue 19).

Everything here is numpy (plus ``onnxruntime``, imported only by :func:`onnx_mask_fn`) and works on whole
signals held in memory; :mod:`tonearm.separation.streaming` computes the same thing block by block.
``models/separation/infer.py`` re-exports this module for the training script, so what is measured during
training is what inference computes.

The STFT is ``torch.stft(x, 2048, 512, window=hann_window(2048), center=True, pad_mode="constant")``
written in numpy, at :data:`SAMPLE_RATE` (44.1 kHz): periodic Hann window of :data:`N_FFT` samples, hop
:data:`HOP` (the geometry of ``tonearm.separation.baselines.stft_geometry(44100)``), frame ``k`` centred
on sample ``k * HOP`` with the signal taken as zero outside ``[0, n)``, ``1 + n // HOP`` frames.
:func:`istft` is its weighted overlap-add inverse (exact up to float32 rounding for any ``n``); the
overlap-add is :func:`overlap_add`, whose carry lets a stream continue where one call stopped with the
same float32 sums.

The model (``separation.onnx``) maps a magnitude chunk ``(batch, 2, CHUNK_FRAMES, BINS)`` to soft masks
``(batch, len(STEMS), CHUNK_FRAMES, BINS)`` that sum to one over the stems. :func:`chunked_masks` runs it
over a spectrogram of any length in chunks of :data:`CHUNK_FRAMES` frames that overlap by ``overlap``
frames and cross-fades the masks with weights that sum to one in every frame, so the blended masks still
sum to one; :func:`separate` applies them to the complex STFT of every channel of the mix and inverts
every stem. The model reads two channels: :func:`analysis_matrix` says how any channel count is brought
to them (mono duplicated, more than two channels folded down), and the masks, one per time-frequency bin,
are shared by all the input's channels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "BINS",
    "CHUNK_FRAMES",
    "HOP",
    "MODEL_CHANNELS",
    "N_FFT",
    "OVERLAP",
    "SAMPLE_RATE",
    "STEMS",
    "MaskFn",
    "analysis_magnitude",
    "analysis_matrix",
    "apply_masks",
    "blend_weights",
    "chunk_starts",
    "chunked_masks",
    "hann",
    "istft",
    "onnx_mask_fn",
    "overlap_add",
    "separate",
    "stft",
    "stft_frames",
]

#: The stems the model predicts, in its output order (``models.separation.data.STEMS``).
STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")
#: Rate the model works at, Hz.
SAMPLE_RATE = 44_100
#: STFT window length and hop, samples at 44.1 kHz (``tonearm.separation.baselines.stft_geometry(44100)``).
N_FFT = 2048
HOP = 512
#: Frequency bins of the one-sided spectrum.
BINS = N_FFT // 2 + 1
#: Frames of one model call (the exported ONNX graph has this static frame count): 2.97 s.
CHUNK_FRAMES = 256
#: Frames shared by consecutive model calls (cross-faded), by default.
OVERLAP = 64
#: Channels of the model's input magnitude.
MODEL_CHANNELS = 2

FloatArray = npt.NDArray[np.float32]
ComplexArray = npt.NDArray[np.complex64]
#: A model: magnitudes ``(batch, 2, CHUNK_FRAMES, BINS)`` -> masks ``(batch, stems, CHUNK_FRAMES, BINS)``.
MaskFn = Callable[[FloatArray], FloatArray]


@functools.lru_cache(maxsize=4)
def _hann(n_fft: int) -> FloatArray:
    k = np.arange(n_fft)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * k / n_fft)).astype(np.float32)
    window.flags.writeable = False
    return window


def hann(n_fft: int = N_FFT) -> FloatArray:
    """Periodic Hann window (``torch.hann_window(n_fft)``).

    Parameters
    ----------
    n_fft : int
        Window length, samples.

    Returns
    -------
    np.ndarray [shape=(n_fft,)], float32
    """
    return _hann(n_fft).copy()


def stft_frames(padded: npt.ArrayLike, frames: int, n_fft: int = N_FFT, hop: int = HOP) -> ComplexArray:
    """Windowed ``rfft`` of ``frames`` consecutive frames of a signal: the kernel of :func:`stft`.

    Parameters
    ----------
    padded : array_like [shape=(channels, (frames - 1) * hop + n_fft)], float32
        The samples the frames cover; frame ``j`` is ``padded[:, j * hop : j * hop + n_fft]``.
    frames : int
        Frames to compute (>= 0).
    n_fft, hop : int
        Window length and hop, samples.

    Returns
    -------
    np.ndarray [shape=(channels, frames, n_fft // 2 + 1)], complex64
    """
    signal = np.asarray(padded, dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(signal, n_fft, axis=-1)[:, ::hop][:, :frames]
    return np.fft.rfft(view * _hann(n_fft), axis=-1).astype(np.complex64, copy=False)


def stft(x: npt.ArrayLike, n_fft: int = N_FFT, hop: int = HOP) -> ComplexArray:
    """Short-time Fourier transform, centred frames, zero padding.

    Parameters
    ----------
    x : array_like [shape=(channels, n)], float
        The signal (full scale ±1), at 44.1 kHz for the model.
    n_fft, hop : int
        Window length and hop, samples.

    Returns
    -------
    np.ndarray [shape=(channels, 1 + n // hop, n_fft // 2 + 1)], complex64
        Unnormalised (``rfft`` of the windowed frame): a full-scale sine reads about ``n_fft / 4``.
    """
    signal = np.atleast_2d(np.asarray(x, dtype=np.float32))
    channels, n = signal.shape
    frames = 1 + n // hop
    half = n_fft // 2
    padded = np.zeros((channels, (frames - 1) * hop + n_fft), dtype=np.float32)
    padded[:, half : half + n] = signal
    return stft_frames(padded, frames, n_fft, hop)


def overlap_add(
    segments: npt.ArrayLike, carry: npt.ArrayLike, hop: int = HOP
) -> tuple[FloatArray, FloatArray]:
    """Overlap-add consecutive frames, continuing the partial sums of the frames before them.

    Every output sample is the float32 sum of its frames' contributions in frame order, starting from the
    carry, so splitting a run of frames into consecutive calls (each given the carry the previous one
    returned) gives the same bits as one call.

    Parameters
    ----------
    segments : array_like [shape=(..., frames, n_fft)], float32
        Frame ``j``'s samples start ``j * hop`` samples after the first frame's; ``n_fft`` must be a
        multiple of ``hop``.
    carry : array_like [shape=(..., n_fft - hop)], float32
        Partial sums of the earlier frames over the first ``n_fft - hop`` samples of the first frame
        (zeros when there are none).
    hop : int
        Frame step, samples.

    Returns
    -------
    done : np.ndarray [shape=(..., frames * hop)], float32
        The samples no later frame reaches (from the first frame's first sample).
    carry : np.ndarray [shape=(..., n_fft - hop)], float32
        The partial sums of the samples after them, for the next call.
    """
    seg = np.asarray(segments, dtype=np.float32)
    *lead, frames, n_fft = seg.shape
    if n_fft % hop:
        raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop ({hop})")
    overlap = n_fft // hop
    out = np.zeros((*lead, (frames + overlap - 1) * hop), dtype=np.float32)
    out[..., : (overlap - 1) * hop] = carry
    parts = seg.reshape(*lead, frames, overlap, hop)
    # Oldest frame first: hop block j gets frame j - overlap + 1, ..., then frame j.
    for r in reversed(range(overlap)):
        out[..., r * hop : r * hop + frames * hop] += parts[..., r, :].reshape(*lead, frames * hop)
    return out[..., : frames * hop], out[..., frames * hop :]


def istft(spectrum: npt.ArrayLike, n: int, n_fft: int = N_FFT, hop: int = HOP) -> FloatArray:
    """Inverse of :func:`stft` by weighted overlap-add.

    Parameters
    ----------
    spectrum : array_like [shape=(channels, frames, n_fft // 2 + 1)], complex
    n : int
        Samples to return (the ``n`` given to :func:`stft`).
    n_fft, hop : int

    Returns
    -------
    np.ndarray [shape=(channels, n)], float32
    """
    spec = np.asarray(spectrum)
    channels, frames, _ = spec.shape
    window = _hann(n_fft)
    segments = np.fft.irfft(spec, n=n_fft, axis=-1).astype(np.float32, copy=False) * window
    zeros = np.zeros((channels, n_fft - hop), dtype=np.float32)
    done, rest = overlap_add(segments, zeros, hop)
    out = np.concatenate([done, rest], axis=-1)
    square = np.broadcast_to(window * window, (frames, n_fft))
    norm_done, norm_rest = overlap_add(square, zeros[0], hop)
    norm = np.concatenate([norm_done, norm_rest])
    half = n_fft // 2
    result: FloatArray = out[:, half : half + n] / np.maximum(norm[half : half + n], np.float32(1e-8))
    return result.astype(np.float32, copy=False)


def chunk_starts(frames: int, chunk: int = CHUNK_FRAMES, overlap: int = OVERLAP) -> list[int]:
    """First frame of every model call covering ``frames`` frames.

    Parameters
    ----------
    frames : int
        Frames of the whole spectrogram (>= 1).
    chunk : int
        Frames per call.
    overlap : int
        Frames shared by consecutive calls (``0 <= overlap < chunk``).

    Returns
    -------
    list of int
        Increasing starts, step ``chunk - overlap``; the last call ends at or after ``frames`` (the
        spectrogram is zero-padded up to ``starts[-1] + chunk``).
    """
    if frames < 1 or not 0 <= overlap < chunk:
        raise ValueError(f"need frames >= 1 and 0 <= overlap < chunk, got {frames}, {overlap}, {chunk}")
    step = chunk - overlap
    count = 1 + max(0, -(-(frames - chunk) // step))
    return [k * step for k in range(count)]


def blend_weights(chunk: int, overlap: int, *, first: bool, last: bool) -> FloatArray:
    """Cross-fade weights of one chunk: linear ramps over the ``overlap`` frames shared with neighbours.

    Consecutive chunks' ramps are complementary (``w_left[-overlap:] + w_right[:overlap] == 1``), so the
    weights of every frame sum to one over the chunks that cover it.

    Parameters
    ----------
    chunk, overlap : int
        Frames per chunk and frames shared by neighbours.
    first, last : bool
        Whether the chunk has no left / right neighbour (no ramp on that side).

    Returns
    -------
    np.ndarray [shape=(chunk,)], float32
    """
    weights = np.ones(chunk, dtype=np.float64)
    if overlap > 0:
        ramp = (np.arange(overlap) + 0.5) / overlap
        if not first:
            weights[:overlap] = ramp
        if not last:
            weights[chunk - overlap :] = 1.0 - ramp
    return weights.astype(np.float32)


def chunked_masks(
    magnitude: npt.ArrayLike,
    mask_fn: MaskFn,
    *,
    chunk: int = CHUNK_FRAMES,
    overlap: int = OVERLAP,
    batch: int = 4,
) -> FloatArray:
    """Run a fixed-size mask model over a spectrogram of any length and blend the chunks.

    Parameters
    ----------
    magnitude : array_like [shape=(channels, frames, bins)], float
        STFT magnitudes of the mix (two channels for the model).
    mask_fn : callable
        ``(b, channels, chunk, bins)`` float32 -> ``(b, stems, chunk, bins)`` float32 masks.
    chunk, overlap : int
        Frames per call and frames shared by neighbouring calls.
    batch : int
        Chunks per call of ``mask_fn``.

    Returns
    -------
    np.ndarray [shape=(stems, frames, bins)], float32
        Cross-faded masks; they sum to one over the stems wherever ``mask_fn``'s do.
    """
    mag = np.asarray(magnitude, dtype=np.float32)
    channels, frames, bins = mag.shape
    starts = chunk_starts(frames, chunk, overlap)
    padded = np.zeros((channels, starts[-1] + chunk, bins), dtype=np.float32)
    padded[:, :frames] = mag
    out: FloatArray | None = None
    for b0 in range(0, len(starts), batch):
        group = starts[b0 : b0 + batch]
        masks = np.asarray(mask_fn(np.stack([padded[:, s : s + chunk] for s in group])), dtype=np.float32)
        if out is None:
            out = np.zeros((masks.shape[1], padded.shape[1], bins), dtype=np.float32)
        for j, s in enumerate(group):
            index = b0 + j
            w = blend_weights(chunk, overlap, first=index == 0, last=index == len(starts) - 1)
            out[:, s : s + chunk] += masks[j] * w[None, :, None]
    assert out is not None
    return out[:, :frames]


def analysis_matrix(channels: int) -> FloatArray:
    """How the model's two input channels are made from ``channels`` input channels.

    Mono is duplicated; stereo is taken as it is; with more channels the first two are the front left
    and right and every other channel (centre, LFE, surrounds: WAV/FLAC/FFmpeg order) goes to both sides
    at -3 dB, the sum scaled so that a signal equal on every channel keeps its level. The STFT is linear,
    so the model's spectrum is this matrix times the channels' spectra.

    Parameters
    ----------
    channels : int
        Input channels (>= 1).

    Returns
    -------
    np.ndarray [shape=(2, channels)], float32
    """
    if channels < 1:
        raise ValueError(f"need at least one channel, got {channels}")
    if channels == 1:
        return np.ones((MODEL_CHANNELS, 1), dtype=np.float32)
    matrix = np.zeros((MODEL_CHANNELS, channels), dtype=np.float64)
    matrix[0, 0] = matrix[1, 1] = 1.0
    if channels > 2:
        matrix[:, 2:] = math.sqrt(0.5)
        matrix /= 1.0 + (channels - 2) * math.sqrt(0.5)
    return matrix.astype(np.float32)


def analysis_magnitude(spectrum: npt.ArrayLike) -> FloatArray:
    """The model's input magnitude from the STFT of every input channel (see :func:`analysis_matrix`).

    Parameters
    ----------
    spectrum : array_like [shape=(channels, frames, bins)], complex64

    Returns
    -------
    np.ndarray [shape=(2, frames, bins)], float32
        ``abs(spectrum)`` itself for stereo.
    """
    spec = np.asarray(spectrum)
    channels = spec.shape[0]
    if channels == MODEL_CHANNELS:
        return np.abs(spec).astype(np.float32, copy=False)
    if channels == 1:
        single = np.abs(spec[0]).astype(np.float32, copy=False)
        return np.broadcast_to(single, (MODEL_CHANNELS, *single.shape))
    mixed = np.tensordot(analysis_matrix(channels), spec, axes=(1, 0)).astype(np.complex64, copy=False)
    return np.abs(mixed).astype(np.float32, copy=False)


def apply_masks(spectrum: npt.ArrayLike, masks: npt.ArrayLike, n: int) -> FloatArray:
    """Mask the complex mixture STFT (one mask per stem, shared by the channels) and invert.

    Parameters
    ----------
    spectrum : array_like [shape=(channels, frames, bins)], complex
        :func:`stft` of the mix.
    masks : array_like [shape=(stems, frames, bins)], float
    n : int
        Samples of the mix.

    Returns
    -------
    np.ndarray [shape=(stems, channels, n)], float32
        The stems; they sum to the mix (to float32 rounding) when the masks sum to one.
    """
    spec = np.asarray(spectrum)
    m = np.asarray(masks, dtype=np.float32)
    return np.stack([istft(spec * m[k][None], n) for k in range(m.shape[0])])


def onnx_mask_fn(model: str | Path, *, threads: int = 1) -> MaskFn:
    """A :data:`MaskFn` running ``separation.onnx`` with onnxruntime (CPU).

    Parameters
    ----------
    model : str or Path
        The exported model (input ``magnitude``, output ``masks``).
    threads : int
        onnxruntime intra-op threads.

    Returns
    -------
    callable
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def run(magnitude: FloatArray) -> FloatArray:
        (masks,) = session.run(["masks"], {"magnitude": np.ascontiguousarray(magnitude, dtype=np.float32)})
        return np.asarray(masks, dtype=np.float32)

    return run


def separate(
    mix: npt.ArrayLike, mask_fn: MaskFn, *, overlap: int = OVERLAP, batch: int = 4
) -> dict[str, FloatArray]:
    """Separate a 44.1 kHz mix into :data:`STEMS`, the whole signal in memory.

    Parameters
    ----------
    mix : array_like [shape=(channels, n)], float
        The mix at 44.1 kHz, full scale ±1, any channel count (the model reads the two channels of
        :func:`analysis_matrix`; its masks apply to every channel).
    mask_fn : callable
        The model (:func:`onnx_mask_fn`, or a torch wrapper during training).
    overlap, batch : int
        As in :func:`chunked_masks`.

    Returns
    -------
    dict of str to np.ndarray [shape=(channels, n)], float32 at 44.1 kHz
        One stem per name of :data:`STEMS`, summing to ``mix``.
    """
    signal = np.atleast_2d(np.asarray(mix, dtype=np.float32))
    spectrum = stft(signal)
    masks = chunked_masks(analysis_magnitude(spectrum), mask_fn, overlap=overlap, batch=batch)
    stems = apply_masks(spectrum, masks, signal.shape[-1])
    return dict(zip(STEMS, stems, strict=True))
