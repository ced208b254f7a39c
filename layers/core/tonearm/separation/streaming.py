"""Separation block by block: the model's masks and the iSTFT over a stream, in bounded memory (issue 19).

:class:`StreamSeparator` takes a 44.1 kHz signal in blocks of any size (:meth:`~StreamSeparator.feed`) and
returns the separated outputs as soon as they are final, so what it holds does not grow with the track:
about one group of model chunks (``batch`` chunks, 8.9 s with the defaults) of samples, spectra and masks.
It computes what :func:`tonearm.separation.masking.separate` computes on the whole signal:

* the model's chunks lie on the same global grid (chunk ``c`` covers frames ``c * (256 - overlap)`` to
  ``+ 256``) and run in the same groups of ``batch``, and frames past the end are zero, as there;
* a group runs once every sample its frames reach has arrived; its masks are final up to the next group's
  first frame, and the raw masks of its last chunk's right overlap are carried to the next group (their
  cross-fade weight is only known once it is known whether another chunk follows);
* the iSTFT continues the overlap-add of the frames already inverted (:func:`~tonearm.separation.masking.
  overlap_add` with its carry), so every output sample is the same float32 sum as in the whole-signal
  inverse; a sample is returned once no later frame reaches it (``n_fft / 2`` samples behind the frames).

The outputs are sums of the model's stems (``groups``): the masks of a group are added before the inverse,
which gives the sum of the stems' signals (the iSTFT is linear) for one inverse instead of one per stem.
Every channel of the input is masked; the model reads the two channels of
:func:`~tonearm.separation.masking.analysis_matrix` (mono duplicated, more channels folded down).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tonearm.errors import ParameterError
from tonearm.separation.masking import (
    BINS,
    CHUNK_FRAMES,
    HOP,
    N_FFT,
    OVERLAP,
    STEMS,
    MaskFn,
    analysis_magnitude,
    blend_weights,
    chunk_starts,
    hann,
    overlap_add,
    stft_frames,
)

__all__ = ["StreamSeparator", "iter_separate", "separate_stream"]

FloatArray = npt.NDArray[np.float32]
ComplexArray = npt.NDArray[np.complex64]

_HALF = N_FFT // 2
_TAIL = N_FFT - HOP
#: Samples of the blocks :func:`iter_separate` feeds (about 3 s at 44.1 kHz).
DEFAULT_FEED = 1 << 17


class StreamSeparator:
    """Separate a 44.1 kHz signal fed block by block; the outputs come back as they become final.

    Parameters
    ----------
    mask_fn : callable
        The model: ``(b, 2, 256, 1025)`` float32 magnitudes -> ``(b, stems, 256, 1025)`` float32 masks.
    channels : int
        Channels of the signal (>= 1); every one is masked and returned.
    groups : sequence of sequence of int, optional
        Output ``i`` is the sum of the stems whose indices (into :data:`~tonearm.separation.masking.STEMS`,
        the model's output order) are ``groups[i]``; default: one output per stem, in that order.
    overlap : int
        Frames shared by consecutive model chunks (``0 <= overlap < 256``).
    batch : int
        Chunks per call of ``mask_fn`` (>= 1); also the group of chunks run at a time, so what is held
        grows with it (about 8.9 s of audio per group with 4 chunks and 64 frames of overlap).
    """

    def __init__(
        self,
        mask_fn: MaskFn,
        *,
        channels: int,
        groups: Sequence[Sequence[int]] | None = None,
        overlap: int = OVERLAP,
        batch: int = 4,
    ) -> None:
        if channels < 1:
            raise ParameterError(f"channels must be >= 1, got {channels}")
        if not 0 <= overlap < CHUNK_FRAMES or batch < 1:
            raise ParameterError(f"need 0 <= overlap < {CHUNK_FRAMES} and batch >= 1, got {overlap}, {batch}")
        chosen = [tuple(g) for g in groups] if groups is not None else [(k,) for k in range(len(STEMS))]
        if not chosen or any(not g for g in chosen):
            raise ParameterError("every output needs at least one stem")
        self._mask_fn = mask_fn
        self._channels = channels
        self._groups = chosen
        self._overlap = overlap
        self._step = CHUNK_FRAMES - overlap
        self._batch = batch
        self._window = hann(N_FFT)
        self._square = self._window * self._window
        self._received = 0  # samples fed
        # Samples from _buffer_start on; frame 0 starts half a window before sample 0, on zeros.
        self._buffer: FloatArray = np.zeros((channels, _HALF), dtype=np.float32)
        self._buffer_start = -_HALF
        self._frames = 0  # frames computed
        self._spec: ComplexArray = np.zeros(
            (channels, 0, BINS), dtype=np.complex64
        )  # frames from _spec_start on
        self._spec_start = 0
        self._chunk = 0  # next chunk to run
        self._carry_masks: FloatArray | None = None  # raw masks of the last chunk's right overlap
        self._ola: FloatArray = np.zeros((len(chosen), channels, _TAIL), dtype=np.float32)
        self._norm: FloatArray = np.zeros(_TAIL, dtype=np.float32)
        self._emitted = 0  # output samples returned
        self._finished = False

    @property
    def outputs(self) -> int:
        """Number of outputs (``len(groups)``)."""
        return len(self._groups)

    @property
    def received(self) -> int:
        """Samples fed so far."""
        return self._received

    @property
    def emitted(self) -> int:
        """Output samples returned so far (the same count for every output)."""
        return self._emitted

    def feed(self, block: npt.ArrayLike) -> FloatArray:
        """Take the next samples; return the output samples that became final.

        Parameters
        ----------
        block : array_like [shape=(channels, k)], float at 44.1 kHz

        Returns
        -------
        np.ndarray [shape=(outputs, channels, m)], float32 at 44.1 kHz
            The next ``m`` samples of every output (``m`` may be 0: the first ones come about 10 s in).
        """
        if self._finished:
            raise ParameterError("the stream is finished")
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, k), got {x.shape}")
        self._buffer = np.concatenate([self._buffer, x], axis=1)
        self._received += x.shape[1]
        parts = []
        while True:
            last = (self._chunk + self._batch - 1) * self._step + CHUNK_FRAMES - 1  # group's last frame
            if last * HOP + _HALF > self._received:
                break
            parts.append(self._run_group(self._chunk, self._batch, final=False, frames=None))
        return self._join(parts)

    def finish(self) -> FloatArray:
        """Flush: the rest of every output, up to the number of samples fed.

        Returns
        -------
        np.ndarray [shape=(outputs, channels, m)], float32 at 44.1 kHz
            The last samples; the outputs then hold :attr:`received` samples each.
        """
        if self._finished:
            raise ParameterError("the stream is finished")
        self._finished = True
        n = self._received
        if n == 0:
            return np.zeros((self.outputs, self._channels, 0), dtype=np.float32)
        frames = 1 + n // HOP
        total = len(chunk_starts(frames, CHUNK_FRAMES, self._overlap))
        parts = []
        if self._chunk >= total:  # the last chunk ran already: its right overlap is unweighted
            assert self._carry_masks is not None
            start = self._chunk * self._step
            parts.append(self._emit(start, self._carry_masks[:, : frames - start] * np.float32(1.0), n))
        while self._chunk < total:
            count = min(self._batch, total - self._chunk)
            final = self._chunk + count == total
            parts.append(self._run_group(self._chunk, count, final=final, frames=frames))
        parts.append(self._flush(n))
        return self._join(parts)

    # --- internals -----------------------------------------------------------------------------------

    def _join(self, parts: list[FloatArray]) -> FloatArray:
        if not parts:
            return np.zeros((self.outputs, self._channels, 0), dtype=np.float32)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        self._emitted += out.shape[-1]
        return out

    def _compute_frames(self, upto: int) -> None:
        """STFT frames up to ``upto`` (exclusive), from the buffer (zeros past the samples fed)."""
        count = upto - self._frames
        if count <= 0:
            return
        first = self._frames * HOP - _HALF  # global sample of the first frame's first sample
        length = (count - 1) * HOP + N_FFT
        offset = first - self._buffer_start
        segment = self._buffer[:, offset : offset + length]
        if segment.shape[1] < length:
            segment = np.pad(segment, ((0, 0), (0, length - segment.shape[1])))
        spectrum = stft_frames(segment, count)
        self._spec = np.concatenate([self._spec, spectrum], axis=1)
        self._frames = upto
        keep = upto * HOP - _HALF - self._buffer_start  # the next frame's first sample
        self._buffer = self._buffer[:, keep:]
        self._buffer_start += keep

    def _run_group(self, c0: int, count: int, *, final: bool, frames: int | None) -> FloatArray:
        """Run chunks ``c0 .. c0 + count - 1`` and return the output samples that became final."""
        start = c0 * self._step
        span = (count - 1) * self._step + CHUNK_FRAMES
        real = span if frames is None else min(span, frames - start)
        self._compute_frames(start + real)
        local = start - self._spec_start
        magnitude = np.zeros((2, span, BINS), dtype=np.float32)
        magnitude[:, :real] = analysis_magnitude(self._spec[:, local : local + real])
        chunks = np.stack(
            [magnitude[:, j * self._step : j * self._step + CHUNK_FRAMES] for j in range(count)]
        )
        masks = np.asarray(self._mask_fn(chunks), dtype=np.float32)
        acc = np.zeros((masks.shape[1], span, BINS), dtype=np.float32)
        overlap = self._overlap
        if self._carry_masks is not None and overlap:
            tail = blend_weights(CHUNK_FRAMES, overlap, first=c0 == 1, last=False)[CHUNK_FRAMES - overlap :]
            acc[:, :overlap] += self._carry_masks * tail[None, :, None]
        for j in range(count):
            index = c0 + j
            w = blend_weights(CHUNK_FRAMES, overlap, first=index == 0, last=final and j == count - 1)
            at = j * self._step
            if j == count - 1 and not final:
                keep = CHUNK_FRAMES - overlap
                acc[:, at : at + keep] += masks[j][:, :keep] * w[None, :keep, None]
                self._carry_masks = masks[j][:, keep:].copy()
            else:
                acc[:, at : at + CHUNK_FRAMES] += masks[j] * w[None, :, None]
        self._chunk = c0 + count
        done = real if final else count * self._step
        return self._emit(start, acc[:, :done], self._received if final else None)

    def _emit(self, start: int, masks: FloatArray, n: int | None) -> FloatArray:
        """Invert frames ``start .. start + len(masks)`` under their final masks; drop what is spent."""
        count = masks.shape[1]
        local = start - self._spec_start
        spec = self._spec[:, local : local + count]
        norm_done, self._norm = overlap_add(np.broadcast_to(self._square, (count, N_FFT)), self._norm)
        norm = np.maximum(norm_done, np.float32(1e-8))
        out = np.empty((self.outputs, self._channels, count * HOP), dtype=np.float32)
        for i, group in enumerate(self._groups):
            mask = masks[group[0]]
            for k in group[1:]:
                mask = mask + masks[k]
            segments = np.fft.irfft(spec * mask[None], n=N_FFT, axis=-1).astype(np.float32, copy=False)
            segments *= self._window
            done, self._ola[i] = overlap_add(segments, self._ola[i])
            np.divide(done, norm, out=out[i])
        # Drop the spectra no later frame needs (the next group starts at start + count).
        self._spec = self._spec[:, local + count :]
        self._spec_start = start + count
        first = start * HOP - _HALF  # global sample of out[..., 0]
        lo = max(0, self._emitted - first)
        hi = out.shape[-1] if n is None else max(lo, min(out.shape[-1], n - first))
        return out[..., lo:hi]

    def _flush(self, n: int) -> FloatArray:
        """The samples after the last frame's start that only the carried overlap-add holds."""
        first = self._spec_start * HOP - _HALF
        hi = max(0, min(_TAIL, n - first))
        lo = min(hi, max(0, self._emitted - first))
        norm = np.maximum(self._norm[lo:hi], np.float32(1e-8))
        return (self._ola[..., lo:hi] / norm).astype(np.float32, copy=False)


def iter_separate(
    mix: Any,
    mask_fn: MaskFn,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    feed: int = DEFAULT_FEED,
    overlap: int = OVERLAP,
    batch: int = 4,
) -> Iterator[FloatArray]:
    """Separate a signal held (or memory-mapped) as ``(channels, n)``, yielding the outputs in pieces.

    Parameters
    ----------
    mix : array_like [shape=(channels, n)], float at 44.1 kHz
        Anything sliceable as ``mix[:, a:b]`` (an ndarray, a ``numpy.memmap``).
    mask_fn, groups, overlap, batch
        As for :class:`StreamSeparator`.
    feed : int
        Samples per :meth:`StreamSeparator.feed` (>= 1).

    Yields
    ------
    np.ndarray [shape=(outputs, channels, m)], float32 at 44.1 kHz
        Consecutive pieces (possibly empty) that concatenate to ``n`` samples per output.
    """
    if feed < 1:
        raise ParameterError(f"feed must be >= 1, got {feed}")
    shape = getattr(mix, "shape", None) or np.shape(mix)
    if len(shape) != 2:
        raise ParameterError(f"mix must be (channels, n), got shape {shape}")
    channels, n = int(shape[0]), int(shape[1])
    stream = StreamSeparator(mask_fn, channels=channels, groups=groups, overlap=overlap, batch=batch)
    for a in range(0, n, feed):
        yield stream.feed(np.asarray(mix[:, a : a + feed], dtype=np.float32))
    yield stream.finish()


def separate_stream(
    mix: Any, mask_fn: MaskFn, *, feed: int = DEFAULT_FEED, overlap: int = OVERLAP, batch: int = 4
) -> dict[str, FloatArray]:
    """:func:`tonearm.separation.masking.separate` computed block by block (same stems to float32 rounding).

    Parameters
    ----------
    mix : array_like [shape=(channels, n)], float at 44.1 kHz
    mask_fn : callable
    feed, overlap, batch
        As for :func:`iter_separate`.

    Returns
    -------
    dict of str to np.ndarray [shape=(channels, n)], float32 at 44.1 kHz
        One stem per name of :data:`~tonearm.separation.masking.STEMS`. The stems are assembled whole
        here (for tests and benchmarks); stream :func:`iter_separate` to hold none of them.
    """
    pieces = list(iter_separate(mix, mask_fn, feed=feed, overlap=overlap, batch=batch))
    stems = np.concatenate(pieces, axis=-1)
    return dict(zip(STEMS, stems, strict=True))
