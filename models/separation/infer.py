"""Torch-free inference helpers for tonearm's separation model (issue 19): STFT, chunked masks, iSTFT.

Everything here is numpy (plus ``onnxruntime``, imported only by :func:`onnx_mask_fn`), so the main
environment can run and test it without torch. ``models/separation/train.py`` uses the same functions
for its validation SDR, so what is measured during training is what inference computes.

The STFT is ``torch.stft(x, 2048, 512, window=hann_window(2048), center=True, pad_mode="constant")``
written in numpy: periodic Hann window of :data:`N_FFT` samples, hop :data:`HOP` (the geometry of
``tonearm.separation.baselines.stft_geometry(44100)``), frame ``k`` centred on sample ``k * HOP`` with the
signal taken as zero outside ``[0, n)``, ``1 + n // HOP`` frames. :func:`istft` is its weighted
overlap-add inverse (exact up to float32 rounding for any ``n``).

The model (``separation.onnx``) maps a magnitude chunk ``(batch, 2, CHUNK_FRAMES, BINS)`` to soft masks
``(batch, len(STEMS), CHUNK_FRAMES, BINS)`` that sum to one over the stems. :func:`chunked_masks` runs it
over a spectrogram of any length in chunks of :data:`CHUNK_FRAMES` frames that overlap by ``overlap``
frames and cross-fades the masks with weights that sum to one in every frame, so the blended masks still
sum to one; :func:`separate` applies them to the complex STFT of the mix and inverts every stem.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "BINS",
    "CHUNK_FRAMES",
    "HOP",
    "N_FFT",
    "SAMPLE_RATE",
    "STEMS",
    "MaskFn",
    "apply_masks",
    "blend_weights",
    "chunk_starts",
    "chunked_masks",
    "hann",
    "istft",
    "onnx_mask_fn",
    "separate",
    "stft",
]

#: The stems the model predicts, in its output order (``models.separation.data.STEMS``).
STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")
SAMPLE_RATE = 44_100
#: STFT window length and hop, samples (``tonearm.separation.baselines.stft_geometry(44100)``).
N_FFT = 2048
HOP = 512
#: Frequency bins of the one-sided spectrum.
BINS = N_FFT // 2 + 1
#: Frames of one model call (the exported ONNX graph has this static frame count): 2.97 s.
CHUNK_FRAMES = 256

FloatArray = npt.NDArray[np.float32]
ComplexArray = npt.NDArray[np.complex64]
#: A model: magnitudes ``(batch, channels, CHUNK_FRAMES, BINS)`` -> masks ``(batch, stems, ...)``.
MaskFn = Callable[[FloatArray], FloatArray]


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
    k = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * k / n_fft)).astype(np.float32)


def stft(x: npt.ArrayLike, n_fft: int = N_FFT, hop: int = HOP) -> ComplexArray:
    """Short-time Fourier transform, centred frames, zero padding.

    Parameters
    ----------
    x : array_like [shape=(channels, n)], float
        The signal (full scale ±1).
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
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop][:, :frames]
    return np.fft.rfft(view * hann(n_fft), axis=-1).astype(np.complex64)


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
    window = hann(n_fft)
    segments = np.fft.irfft(spec, n=n_fft, axis=-1).astype(np.float32) * window
    length = (frames - 1) * hop + n_fft
    out = np.zeros((channels, length), dtype=np.float32)
    norm = np.zeros(length, dtype=np.float32)
    for k in range(frames):
        out[:, k * hop : k * hop + n_fft] += segments[:, k]
        norm[k * hop : k * hop + n_fft] += window * window
    half = n_fft // 2
    result: FloatArray = out[:, half : half + n] / np.maximum(norm[half : half + n], np.float32(1e-8))
    return result.astype(np.float32)


def chunk_starts(frames: int, chunk: int = CHUNK_FRAMES, overlap: int = 64) -> list[int]:
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
    starts = [0]
    while starts[-1] + chunk < frames:
        starts.append(starts[-1] + step)
    return starts


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
    overlap: int = 64,
    batch: int = 4,
) -> FloatArray:
    """Run a fixed-size mask model over a spectrogram of any length and blend the chunks.

    Parameters
    ----------
    magnitude : array_like [shape=(channels, frames, bins)], float
        STFT magnitudes of the mix.
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
    mix: npt.ArrayLike, mask_fn: MaskFn, *, overlap: int = 64, batch: int = 4
) -> dict[str, FloatArray]:
    """Separate a 44.1 kHz stereo mix into :data:`STEMS` (whole signal in memory).

    Parameters
    ----------
    mix : array_like [shape=(2, n)], float
        The mix at 44.1 kHz, full scale ±1.
    mask_fn : callable
        The model (:func:`onnx_mask_fn`, or a torch wrapper during training).
    overlap, batch : int
        As in :func:`chunked_masks`.

    Returns
    -------
    dict of str to np.ndarray [shape=(2, n)], float32
        One stem per name of :data:`STEMS`, summing to ``mix``.
    """
    signal = np.asarray(mix, dtype=np.float32)
    spectrum = stft(signal)
    masks = chunked_masks(np.abs(spectrum), mask_fn, overlap=overlap, batch=batch)
    stems = apply_masks(spectrum, masks, signal.shape[-1])
    return dict(zip(STEMS, stems, strict=True))
