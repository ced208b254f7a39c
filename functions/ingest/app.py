"""Lambda entry point (template.yaml: ingest); the code lives in tonearm.handlers.ingest."""

from tonearm.handlers.ingest import handler

__all__ = ["handler"]
