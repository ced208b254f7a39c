"""Per-key usage and error counts of Sofy's routes, for Sofy's ``GET /api-keys/stats``.

Sofy reports its upstream API keys by position ("0", "1", ...) with their request and error counts; tonearm
reports its own keys the same way: by the order this process first saw them, never the keys or their
hashes. The counts are this process's (in AWS, one Lambda instance's).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response

from tonearm.api.rate_limit import client_identity


@dataclass
class KeyUsage:
    """Requests and errors (status >= 400) per API key, keys numbered in the order first seen."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _index: dict[str, int] = field(default_factory=dict)
    _usage: dict[int, int] = field(default_factory=dict)
    _errors: dict[int, int] = field(default_factory=dict)
    current: int | None = None

    def record(self, identity: str, status: int) -> None:
        """Count one response to a request made with the key ``identity`` stands for."""
        with self._lock:
            n = self._index.setdefault(identity, len(self._index))
            self._usage[n] = self._usage.get(n, 0) + 1
            if status >= 400:
                self._errors[n] = self._errors.get(n, 0) + 1
            self.current = n

    def stats(self, total_keys: int) -> dict[str, object]:
        """Sofy's ``/api-keys/stats`` body."""
        with self._lock:
            keys = range(len(self._index))
            return {
                "total_keys": total_keys,
                "current_key": self.current,
                "key_usage": {str(n): self._usage.get(n, 0) for n in keys},
                "key_errors": {str(n): self._errors.get(n, 0) for n in keys},
            }


def key_usage_middleware(
    usage: KeyUsage, applies: Callable[[str], bool]
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Count the responses of the paths ``applies`` accepts that carried an API key."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not applies(request.url.path):
            return response  # other APIs' requests: no key hashed for nothing
        identity = client_identity(request)
        if identity.startswith("key:"):
            usage.record(identity, response.status_code)
        return response

    return middleware
