"""Decoded audio in, separated outputs out, at the input's rate and channel count, block by block (issue 19).

:class:`SeparationPipeline` is a :class:`tonearm.audio.decode.BlockConsumer`: fed the decoded blocks of an
input at its own rate, it resamples them to the model's 44.1 kHz (soxr's streaming resampler, quality HQ,
as :mod:`tonearm.audio.mono` resamples for the other models), separates them with a
:class:`~tonearm.separation.streaming.StreamSeparator`, resamples every output but the last back to the
input's rate and makes the last one the input minus the others, sample for sample at the input's rate,
so the outputs add up to the input to float32 rounding whatever the resampling did. It hands the outputs
to a sink as aligned ``(outputs, channels, m)`` blocks as soon as every output has them.

What it holds does not grow with the input: the separator's group of chunks (about 9 s at 44.1 kHz),
the resamplers' state, and the input samples waiting for their outputs (the pipeline's latency, about
10 s at the input's rate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import soxr

from tonearm.errors import ParameterError
from tonearm.separation.masking import SAMPLE_RATE, MaskFn
from tonearm.separation.streaming import StreamSeparator

__all__ = ["OutputSink", "SeparationPipeline"]

FloatArray = npt.NDArray[np.float32]
#: Receives the next ``(outputs, channels, m)`` float32 samples of every output, at the input's rate.
OutputSink = Callable[[FloatArray], None]


class _Fifo:
    """Samples ``(channels, k)`` queued in arrival order, taken from the front."""

    def __init__(self, channels: int) -> None:
        self._channels = channels
        self._parts: list[FloatArray] = []
        self.size = 0

    def push(self, x: FloatArray) -> None:
        if x.shape[-1]:
            self._parts.append(x)
            self.size += x.shape[-1]

    def pop(self, m: int) -> FloatArray:
        """The first ``m`` samples, zero-padded when fewer are queued."""
        data = (
            np.concatenate(self._parts, axis=-1) if self._parts else np.zeros((self._channels, 0), np.float32)
        )
        head, rest = data[:, :m], data[:, m:]
        self._parts = [rest] if rest.shape[-1] else []
        self.size = rest.shape[-1]
        if head.shape[-1] < m:
            head = np.pad(head, ((0, 0), (0, m - head.shape[-1])))
        return head


class _Resampler:
    """soxr's streaming resampler over ``(channels, k)`` blocks; the identity at equal rates."""

    def __init__(self, sr: int, target_sr: int, channels: int) -> None:
        self._stream = (
            None
            if sr == target_sr
            else soxr.ResampleStream(sr, target_sr, channels, dtype="float32", quality="HQ")
        )
        self._channels = channels

    def __call__(self, x: FloatArray, *, last: bool = False) -> FloatArray:
        if self._stream is None:
            return x
        out = self._stream.resample_chunk(np.ascontiguousarray(x.T), last=last)
        return np.asarray(out, dtype=np.float32).reshape(-1, self._channels).T


class SeparationPipeline:
    """Separate decoded blocks at any rate into outputs at that rate (see the module docstring).

    Parameters
    ----------
    mask_fn : callable
        The model (:data:`~tonearm.separation.masking.MaskFn`).
    groups : sequence of sequence of int
        The model stems (indices into :data:`~tonearm.separation.masking.STEMS`) each output sums; the
        last output is computed as the input minus the others, whatever its stems (they should be the
        stems no other output has).
    sink : callable
        Called with every ``(len(groups), channels, m)`` float32 block of outputs at the input's rate, in
        order; the blocks add up to the input.
    batch : int
        Model chunks per group (:class:`~tonearm.separation.streaming.StreamSeparator`).
    """

    def __init__(
        self, mask_fn: MaskFn, groups: Sequence[Sequence[int]], sink: OutputSink, *, batch: int = 4
    ) -> None:
        if len(groups) < 2:
            raise ParameterError("a separation needs at least two outputs")
        self._mask_fn = mask_fn
        self._groups = [tuple(g) for g in groups]
        self._sink = sink
        self._batch = batch
        self._sr = 0
        self._channels = 0
        self._frames = 0  # input frames fed
        self._written = 0  # frames handed to the sink
        self._separator: StreamSeparator | None = None
        self._to_model: _Resampler | None = None
        self._back: list[_Resampler] = []
        self._inputs = _Fifo(1)
        self._outputs: list[_Fifo] = []

    @property
    def sr(self) -> int:
        """The input's rate [Hz] (0 before :meth:`start`)."""
        return self._sr

    @property
    def channels(self) -> int:
        """The input's channel count (0 before :meth:`start`)."""
        return self._channels

    @property
    def frames(self) -> int:
        """Input frames fed so far."""
        return self._frames

    @property
    def written(self) -> int:
        """Frames of every output handed to the sink so far."""
        return self._written

    def start(self, *, sr: int, channels: int) -> None:
        """Begin an input of ``channels`` channels at ``sr`` Hz."""
        if sr <= 0 or channels < 1:
            raise ParameterError(f"need a positive rate and at least one channel, got {sr} Hz, {channels}")
        self._sr, self._channels = int(sr), int(channels)
        kept = self._groups[:-1]
        self._separator = StreamSeparator(self._mask_fn, channels=channels, groups=kept, batch=self._batch)
        self._to_model = _Resampler(sr, SAMPLE_RATE, channels)
        self._back = [_Resampler(SAMPLE_RATE, sr, channels) for _ in kept]
        self._inputs = _Fifo(channels)
        self._outputs = [_Fifo(channels) for _ in kept]

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        """Take the next ``(channels, k)`` block at the input's rate (finite samples)."""
        if self._separator is None or self._to_model is None:
            raise ParameterError("start() was not called")
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self._channels:
            raise ParameterError(f"block must have shape ({self._channels}, k), got {x.shape}")
        self._frames += x.shape[1]
        self._inputs.push(x.copy())  # the decoder's block is only valid during this call
        self._take(self._separator.feed(self._to_model(x)), last=False)
        self._drain(final=False)

    def finish(self) -> None:
        """Flush everything: the sink has then had :attr:`frames` frames of every output."""
        if self._separator is None or self._to_model is None:
            raise ParameterError("start() was not called")
        tail = self._to_model(np.zeros((self._channels, 0), dtype=np.float32), last=True)
        self._take(self._separator.feed(tail), last=False)
        self._take(self._separator.finish(), last=True)
        self._drain(final=True)

    def _take(self, separated: FloatArray, *, last: bool) -> None:
        for fifo, back, y in zip(self._outputs, self._back, separated, strict=True):
            fifo.push(back(y, last=last))

    def _drain(self, *, final: bool) -> None:
        # Outputs at the input's rate line up with the input sample for sample; a resampler's total may
        # differ from the input's by a sample or two, hence the padding or trimming at the end.
        ready = self._frames - self._written if final else min(f.size for f in [self._inputs, *self._outputs])
        if ready <= 0:
            return
        x = self._inputs.pop(ready)
        kept = [f.pop(ready) for f in self._outputs]
        residual = x.copy()
        for y in kept:
            residual -= y
        self._written += ready
        self._sink(np.stack([*kept, residual]))
