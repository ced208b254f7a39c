"""Lambda entry point (template.yaml: api); the code lives in tonearm.handlers.api."""

from tonearm.handlers.api import handler

__all__ = ["handler"]
