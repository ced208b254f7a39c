"""Lambda entry point (template.yaml: ExecutionWatchdogFunction); code in tonearm.handlers."""

from tonearm.handlers.execution_watchdog import handler

__all__ = ["handler"]
