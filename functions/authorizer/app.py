"""Lambda entry point (template.yaml: authorizer); the code lives in tonearm.handlers.authorizer."""

from tonearm.handlers.authorizer import handler

__all__ = ["handler"]
