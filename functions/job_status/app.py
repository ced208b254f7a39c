"""Lambda entry point (template.yaml: job_status); the code lives in tonearm.handlers.job_status."""

from tonearm.handlers.job_status import handler

__all__ = ["handler"]
