"""A process-wide cap on concurrent decodes: a few slots, a short queue, then ``503 busy``.

Decoding is where one request's memory and CPU scale with what a client sent. The decoders bound what one
decode holds (see :func:`tonearm.audio.mono.decode_mono`), but a server's thread pool (40 threads for the
synchronous routes locally) would still let forty of them run at once. Every decode therefore takes a slot
of :data:`SLOTS` first: at most ``capacity`` decodes run in one process, so the decoded audio a process
holds is at most ``capacity`` times one request's bound, whatever the concurrency of its callers.

How long a decode waits for a slot is the caller's choice, set for a stretch of code with
:func:`queue_wait` (a context variable, so it follows the request into whatever the route calls):

* The synchronous API routes wait briefly (``Settings.decode_queue_wait_s``), then answer
  :class:`DecoderBusyError` (``503 busy`` with a ``Retry-After``): a client can retry, and a thread
  blocked for long would only hold its request's upload in memory for nothing.
* Everything else (job tasks, the command line) waits as long as it takes, the default: a job is already
  queued work, and failing it because the process is busy would lose it for no reason.

A slot is held for the decode only (with the streaming consumer it feeds), not for the analysis after
it. A thread that already holds a slot takes no second one (the hold is re-entrant), so a caller can
also hold one around more than a decode without the decoder inside waiting for itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import threading
import time
from collections.abc import Iterator

from tonearm.errors import ParameterError, TonearmError

__all__ = ["SLOTS", "DecodeSlots", "DecoderBusyError", "decode_slot", "default_capacity", "queue_wait"]

#: Bounds of the ``Retry-After`` a busy answer suggests [s]: at least one second (the header's unit),
#: at most a minute (beyond that a client had better be told to come back later some other way).
_RETRY_AFTER_BOUNDS_S = (1, 60)
#: Weight of the newest hold in the running mean of hold times that sizes ``Retry-After``.
_HOLD_EWMA_WEIGHT = 0.2
#: The running mean's starting value [s]: about one decode of a few minutes of stereo audio.
_INITIAL_HOLD_S = 2.0


class DecoderBusyError(TonearmError):
    """Every decode slot of this process stayed taken for the whole queue wait; retry later.

    Attributes
    ----------
    retry_after_s : int
        Seconds after which a retry has a fair chance (what the ``Retry-After`` header says).
    """

    code = "busy"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def default_capacity() -> int:
    """Slots when none are configured: one per CPU, and at least two (so one long decode blocks nobody).

    Returns
    -------
    int >= 2
    """
    return max(2, os.cpu_count() or 1)


class DecodeSlots:
    """A resizable counting semaphore with a bounded wait, re-entrant per thread.

    Parameters
    ----------
    capacity : int >= 1, optional
        Concurrent holders allowed (default :func:`default_capacity`).

    Raises
    ------
    ParameterError
        ``capacity`` below 1.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self._capacity = _checked_capacity(default_capacity() if capacity is None else capacity)
        self._in_use = 0
        self._changed = threading.Condition()
        self._local = threading.local()
        self._mean_hold_s = _INITIAL_HOLD_S

    @property
    def capacity(self) -> int:
        """Concurrent holders allowed."""
        return self._capacity

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    def resize(self, capacity: int) -> None:
        """Allow ``capacity`` concurrent holders from now on.

        Holders beyond a smaller capacity keep their slot until they release it; nobody new gets one until
        the count is below the new capacity.

        Parameters
        ----------
        capacity : int >= 1

        Raises
        ------
        ParameterError
            ``capacity`` below 1.
        """
        capacity = _checked_capacity(capacity)
        with self._changed:
            if capacity != self._capacity:
                self._capacity = capacity
                self._changed.notify_all()

    def retry_after_s(self) -> int:
        """Seconds a turned-away caller should wait: the mean time a slot is held, rounded up, bounded.

        Returns
        -------
        int
            Within 1-60 s.
        """
        lo, hi = _RETRY_AFTER_BOUNDS_S
        return min(hi, max(lo, math.ceil(self._mean_hold_s)))

    @contextlib.contextmanager
    def hold(self, *, wait_s: float | None = None) -> Iterator[None]:
        """Hold a slot for the duration of the ``with`` block.

        Parameters
        ----------
        wait_s : float >= 0, optional
            Longest wait for a free slot [s]; ``None`` (default) waits as long as it takes.

        Raises
        ------
        DecoderBusyError
            No slot became free within ``wait_s``.
        """
        depth = getattr(self._local, "depth", 0)
        if depth:  # this thread already holds a slot: the outer hold covers this decode too
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        self._acquire(wait_s)
        self._local.depth = 1
        started = time.monotonic()
        try:
            yield
        finally:
            self._local.depth = 0
            self._release(time.monotonic() - started)

    def _acquire(self, wait_s: float | None) -> None:
        deadline = None if wait_s is None else time.monotonic() + max(0.0, wait_s)
        with self._changed:
            while self._in_use >= self._capacity:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise DecoderBusyError(
                        f"all {self._capacity} audio decoding slots of this server stayed busy for "
                        f"{wait_s:g} s; retry in {self.retry_after_s()} s",
                        retry_after_s=self.retry_after_s(),
                    )
                self._changed.wait(remaining)
            self._in_use += 1

    def _release(self, held_s: float) -> None:
        with self._changed:
            self._in_use -= 1
            self._mean_hold_s += _HOLD_EWMA_WEIGHT * (held_s - self._mean_hold_s)
            # All, not one: a waiter whose deadline passes as it is woken would swallow a single wake-up.
            self._changed.notify_all()


def _checked_capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ParameterError(f"decode slots must be an integer >= 1, got {capacity!r}")
    return capacity


#: The slots every decode in this process takes (:func:`tonearm.audio.decode.decode` and
#: :func:`tonearm.audio.decode.decode_stream` hold one while they run).
SLOTS = DecodeSlots()


# The queue wait of decodes started in the current context [s]; None: as long as it takes.
_QUEUE_WAIT_S: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "decode_queue_wait_s", default=None
)


@contextlib.contextmanager
def queue_wait(wait_s: float | None) -> Iterator[None]:
    """Make decodes started inside the ``with`` block wait at most ``wait_s`` for a slot.

    Parameters
    ----------
    wait_s : float >= 0 or None
        Longest wait [s]; ``None``: as long as it takes (the default outside any such block).
    """
    token = _QUEUE_WAIT_S.set(wait_s)
    try:
        yield
    finally:
        _QUEUE_WAIT_S.reset(token)


def decode_slot() -> contextlib.AbstractContextManager[None]:
    """Hold one of the process's :data:`SLOTS` (re-entrant; see :meth:`DecodeSlots.hold`).

    Waits as long as the innermost :func:`queue_wait` allows (as long as it takes outside one).

    Returns
    -------
    contextlib.AbstractContextManager
        Holds the slot while its ``with`` block runs; raises :class:`DecoderBusyError` on entry when no
        slot became free in time.
    """
    return SLOTS.hold(wait_s=_QUEUE_WAIT_S.get())
