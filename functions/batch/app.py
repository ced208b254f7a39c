"""Lambda entry point (template.yaml: BatchFunction); the code lives in tonearm.handlers.batch."""

from tonearm.handlers.batch import handler

__all__ = ["handler"]
