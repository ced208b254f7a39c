"""Lambda entry point (template.yaml: webhooks); the code lives in tonearm.handlers.webhooks."""

from tonearm.handlers.webhooks import handler

__all__ = ["handler"]
