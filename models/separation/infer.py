"""Torch-free inference helpers for tonearm's separation model (issue 19): STFT, chunked masks, iSTFT.

The implementation lives in the core package, :mod:`tonearm.separation.masking` (what the service runs,
whole-track there and block by block in :mod:`tonearm.separation.streaming`); this module re-exports it
under the names ``models/separation/train.py`` and the tests have always used, so what is measured
during training is what inference computes. Everything is numpy (plus ``onnxruntime``, imported only by
:func:`onnx_mask_fn`), so the main environment can run and test it without torch.

The STFT is ``torch.stft(x, 2048, 512, window=hann_window(2048), center=True, pad_mode="constant")``
written in numpy: periodic Hann window of :data:`N_FFT` samples, hop :data:`HOP`, frame ``k`` centred on
sample ``k * HOP``, ``1 + n // HOP`` frames; :func:`istft` is its weighted overlap-add inverse. The model
(``separation.onnx``) maps a magnitude chunk ``(batch, 2, CHUNK_FRAMES, BINS)`` to soft masks
``(batch, len(STEMS), CHUNK_FRAMES, BINS)`` that sum to one over the stems; :func:`chunked_masks` runs it
over chunks overlapping by 64 frames and cross-fades them, and :func:`separate` applies the masks to the
complex STFT of the mix and inverts every stem.
"""

from __future__ import annotations

from tonearm.separation.masking import (
    BINS,
    CHUNK_FRAMES,
    HOP,
    N_FFT,
    SAMPLE_RATE,
    STEMS,
    ComplexArray,
    FloatArray,
    MaskFn,
    apply_masks,
    blend_weights,
    chunk_starts,
    chunked_masks,
    hann,
    istft,
    onnx_mask_fn,
    separate,
    stft,
)

__all__ = [
    "BINS",
    "CHUNK_FRAMES",
    "HOP",
    "N_FFT",
    "SAMPLE_RATE",
    "STEMS",
    "ComplexArray",
    "FloatArray",
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
