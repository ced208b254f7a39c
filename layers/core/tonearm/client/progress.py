"""Progress bars for the command line: rich on standard error, or nothing.

A bar is drawn only when it helps a person: standard error is a terminal, the output is not ``--json``,
and rich is installed (the ``cli`` extra; the project's venv has it). Otherwise every call is a no-op,
so callers report progress unconditionally. Updates are throttled (0.5 % steps), so a task may report
as often as it likes.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any


def bars_wanted(*, json_output: bool, stream: IO[str] | None = None) -> bool:
    """Whether to draw bars: not for ``--json``, only on a terminal, only with rich installed."""
    stream = sys.stderr if stream is None else stream
    if json_output or not getattr(stream, "isatty", lambda: False)():
        return False
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


class ProgressBar:
    """One bar (``total`` units, default percent), or nothing when ``enabled`` is false.

    ``console``: a ``rich.console.Console`` to draw on (tests pass one with ``force_terminal``);
    default standard error. ``transient``: erase the bar when done (the local analyses, whose result
    follows).
    """

    def __init__(
        self,
        description: str,
        *,
        total: float | None = 100.0,
        enabled: bool = True,
        console: Any = None,
        transient: bool = False,
    ) -> None:
        self.description = description
        self.transient = transient
        self.enabled = enabled
        self._total = total
        self._console = console
        self._progress: Any = None
        self._task: Any = None
        self._shown = -1.0

    def __enter__(self) -> ProgressBar:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = self._console or Console(file=sys.stderr)
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        columns.append(
            DownloadColumn() if self._total is not None and self._total > 1000 else TaskProgressColumn()
        )
        columns.append(TimeElapsedColumn())
        self._progress = Progress(*columns, console=console, transient=self.transient)
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self._total)
        return self

    def update(
        self, completed: float | None = None, *, total: float | None = None, description: str | None = None
    ) -> None:
        """Move the bar to ``completed`` (of ``total``, when given) and/or change its label."""
        if self._progress is None:
            return
        if total is not None and total != self._total:
            self._total = total
            self._progress.update(self._task, total=total)
        if description is not None and description != self.description:
            self.description = description
            self._progress.update(self._task, description=description)
        if completed is not None:
            step = (self._total or 100.0) / 200.0
            if abs(completed - self._shown) >= step or completed >= (self._total or 100.0):
                self._shown = completed
                self._progress.update(self._task, completed=completed)

    def percent(self, value: float) -> None:
        """A ``progress(percent)`` callback (the tasks' ``Progress``): ``value`` is 0-100."""
        self.update(max(0.0, min(100.0, value)))

    def fraction(self, value: float) -> None:
        """A ``progress(fraction)`` callback: ``value`` is 0-1."""
        self.update(100.0 * max(0.0, min(1.0, value)))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is None:
            return
        if kind is None and self._total is not None:
            self._progress.update(self._task, completed=self._total)
        self._progress.stop()
        self._progress = None
