"""The root of tonearm's error hierarchy.

Every error a caller can cause carries a stable machine-readable ``code`` and the HTTP status it maps
to; the API maps them to ``{"error": {"code", "message"}}`` in one place (``tonearm.api.errors``).
Concrete errors live next to the module that raises them.
"""

from __future__ import annotations


class TonearmError(Exception):
    """Base class for errors with a machine-readable code.

    Subclasses set ``code`` (snake_case, stable, documented) and ``status`` (the HTTP status).
    """

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, str]:
        """Return the wire form ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class ParameterError(TonearmError):
    """A caller-supplied parameter is invalid; the message says how to fix it."""

    code = "invalid_parameter"
    status = 400


class NotFoundError(TonearmError):
    """The named resource does not exist (or is not visible to the caller)."""

    code = "not_found"
    status = 404
