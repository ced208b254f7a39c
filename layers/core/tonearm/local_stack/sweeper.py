"""The watchdog's schedule locally: a daemon thread that sweeps every ``interval_s`` (AWS: a rule)."""

from __future__ import annotations

import logging
import threading

from tonearm.jobs.watchdog import DEFAULT_GRACE_S, JobWatchdog

logger = logging.getLogger(__name__)


class PeriodicSweep:
    """Runs ``watchdog.sweep`` every ``interval_s`` seconds until stopped."""

    def __init__(self, watchdog: JobWatchdog, *, interval_s: float, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.watchdog = watchdog
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-watchdog", daemon=True)

    def start(self) -> None:
        """Start sweeping in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the sweep in progress, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                report = self.watchdog.sweep(grace_s=self.grace_s)
            except Exception:  # the store may be busy; the next sweep tries again
                logger.exception("watchdog sweep failed")
                continue
            if report.redriven or report.failed:
                logger.warning("watchdog sweep: %s", report.to_dict())
