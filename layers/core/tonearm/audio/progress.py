"""Fractional progress for long work: ``progress(fraction)`` with ``fraction`` in 0-1.

The analyses take an optional ``progress`` callable and call it as their chunks and stages finish
(per decoded block, per model chunk, per stage: never per sample), so a caller can draw a bar
(``tonearm analyze``'s) or report a job's percent (the workflows' ``Progress``).
"""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(fraction)``: how much is done, 0-1, never decreasing.
FractionProgress = Callable[[float], None]


def span(progress: FractionProgress | None, start: float, end: float) -> FractionProgress | None:
    """``progress`` for a part of the work that fills ``start``-``end`` of the whole; ``None`` stays
    ``None`` (nothing to report to)."""
    if progress is None:
        return None
    outer = progress
    return lambda fraction: outer(start + (end - start) * min(1.0, max(0.0, fraction)))


def percent(progress: Callable[[float], None]) -> FractionProgress:
    """A fraction callback onto a task's ``progress(percent)`` (0-100)."""
    return lambda fraction: progress(100.0 * fraction)
