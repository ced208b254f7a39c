"""Process-wide counts of generations, for ``/metrics`` (``tonearm.api.metrics`` reads them on scrape).

The generate task records here; the API's Prometheus collector reads a snapshot. Locally both run in
one process, so ``/metrics`` counts every generation. In AWS the task runs in GenerateFunction and the
API in ApiFunction: there the numbers that matter are the CloudWatch metrics the task handler emits
(``tonearm.generation.workflow.generation_metrics``), and the API's ``/metrics`` counts only what its
own process saw.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

#: Upper bounds of the generation-seconds histogram [s]; a 5-minute track takes about 10 s.
SECONDS_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class GenerationSnapshot:
    """Counts by outcome, and the histogram of successful generations' wall time."""

    counts: dict[str, int]
    bucket_counts: tuple[int, ...]  # per bucket of SECONDS_BUCKETS, then +Inf; not cumulative
    seconds_sum: float
    seconds_count: int


@dataclass
class GenerationStats:
    """Thread-safe counters (the local runtime runs several generations at once)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counts: dict[str, int] = field(default_factory=dict)
    _buckets: list[int] = field(default_factory=lambda: [0] * (len(SECONDS_BUCKETS) + 1))
    _sum: float = 0.0
    _n: int = 0

    def record(self, status: str, seconds: float | None = None) -> None:
        """Count one generation that ended with ``status`` (``succeeded``/``failed``), taking ``seconds``."""
        with self._lock:
            self._counts[status] = self._counts.get(status, 0) + 1
            if seconds is not None:
                self._buckets[bisect.bisect_left(SECONDS_BUCKETS, seconds)] += 1
                self._sum += seconds
                self._n += 1

    def snapshot(self) -> GenerationSnapshot:
        """A consistent copy of the counters."""
        with self._lock:
            return GenerationSnapshot(dict(self._counts), tuple(self._buckets), self._sum, self._n)


#: This process's generations.
GENERATIONS = GenerationStats()
