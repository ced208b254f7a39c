"""Per-client request limits, with the ``X-RateLimit-*`` headers and ``429`` + ``Retry-After``.

Sofy allows each client 60 requests a minute and 1000 an hour; tonearm applies the same to Sofy's
routes (limits from ``Settings``), counting per API key when the request carries one, else per client
IP. The counters are fixed windows: in-process locally, and in AWS in the jobs table (a ``RateCounter``,
``tonearm.adapters.aws.dynamodb.DynamoRateCounter``), so a client spread over many Lambda instances
still gets the limit once, not once per instance.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from tonearm.jobs.service import parse_authorization
from tonearm.ports import RateCounter

#: Drop expired counters once this many are held (every distinct client has one per window).
_PRUNE_AT = 50_000


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests per ``seconds`` (aligned to multiples of ``seconds``)."""

    seconds: int
    limit: int


@dataclass(frozen=True)
class RateDecision:
    """Whether one request may pass, and what to tell the client about the tightest window."""

    allowed: bool
    limit: int
    remaining: int
    #: seconds until the reported window starts afresh
    reset_s: int
    window_s: int

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (seconds), plus ``Retry-After`` when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers


class RateLimiter:
    """Fixed-window counters per client; thread-safe (the API serves requests from a thread pool)."""

    def __init__(
        self,
        windows: Sequence[Window],
        *,
        clock: Callable[[], float] = time.time,
        shared: RateCounter | None = None,
    ) -> None:
        self.windows = tuple(w for w in windows if w.limit > 0)
        self._clock = clock
        #: counts shared by every process (AWS); None: this process's own counters
        self._shared = shared
        self._lock = threading.Lock()
        # (client, window seconds) -> (window start, requests counted in it)
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}

    @property
    def enabled(self) -> bool:
        """Whether any window limits anything (limits of 0 switch windows off)."""
        return bool(self.windows)

    def hit(self, client: str) -> RateDecision:
        """Count one request of ``client`` if every window has room; say so either way."""
        if self._shared is not None:
            return self._hit_shared(client, self._shared)
        with self._lock:
            now = self._clock()
            states = []
            for window in self.windows:
                start = int(now // window.seconds) * window.seconds
                counted_start, count = self._counts.get((client, window.seconds), (start, 0))
                states.append((window, start, count if counted_start == start else 0))
            full = [(w, start) for w, start, count in states if count >= w.limit]
            if full:
                # the client may come back when the last full window has rolled over
                window, start = max(full, key=lambda item: item[1] + item[0].seconds)
                reset = max(1, math.ceil(start + window.seconds - now))
                return RateDecision(False, window.limit, 0, reset, window.seconds)
            for window, start, count in states:
                self._counts[(client, window.seconds)] = (start, count + 1)
            if len(self._counts) > _PRUNE_AT:
                self._prune(now)
            # report the window closest to refusing (the fewest requests left), as most limiters do
            window, start, count = min(states, key=lambda s: (s[0].limit - s[2] - 1, s[0].seconds))
            reset = max(1, math.ceil(start + window.seconds - now))
            return RateDecision(True, window.limit, window.limit - count - 1, reset, window.seconds)

    def _hit_shared(self, client: str, shared: RateCounter) -> RateDecision:
        # One atomic conditional increment per window, tightest first. A request refused by a later
        # window has been counted in the earlier ones: a client at its hourly limit uses up its minute
        # too, which only errs towards refusing.
        now = self._clock()
        reported: RateDecision | None = None
        for window in sorted(self.windows, key=lambda w: w.seconds):
            start = int(now // window.seconds) * window.seconds
            reset = max(1, math.ceil(start + window.seconds - now))
            count = shared.add(client, window_s=window.seconds, window_start=start, limit=window.limit)
            if count is None:
                return RateDecision(False, window.limit, 0, reset, window.seconds)
            decision = RateDecision(True, window.limit, window.limit - count, reset, window.seconds)
            if reported is None or decision.remaining < reported.remaining:
                reported = decision
        assert reported is not None  # hit() is only called when a window is enabled
        return reported

    def _prune(self, now: float) -> None:
        self._counts = {
            key: (start, count) for key, (start, count) in self._counts.items() if start + key[1] > now
        }


def client_identity(request: Request) -> str:
    """Who a request counts against: its API key (hashed; never kept), else the client's IP.

    A made-up key only buys a fresh counter for requests the routes then refuse with 401.
    """
    header = request.headers.get("authorization") or request.headers.get("x-api-key")
    if header and header.strip():
        # the key as authentication reads it ("Bearer " and blanks dropped): one key, one counter
        key = parse_authorization(header)
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    # behind API Gateway, Mangum sets the client from the request context's source IP
    host = request.client.host if request.client else "unknown"
    return "ip:" + host


CallNext = Callable[[Request], Awaitable[Response]]


def rate_limit_middleware(
    limiter: RateLimiter,
    applies: Callable[[str], bool],
    refused: Callable[[RateDecision], Response],
) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """HTTP middleware limiting the paths ``applies`` accepts; ``refused`` shapes the 429."""

    async def middleware(request: Request, call_next: CallNext) -> Response:
        if not limiter.enabled or not applies(request.url.path):
            return await call_next(request)
        decision = limiter.hit(client_identity(request))
        if not decision.allowed:
            response = refused(decision)
        else:
            response = await call_next(request)
        response.headers.update(decision.headers())
        return response

    return middleware


def default_refusal(decision: RateDecision) -> JSONResponse:
    """A ``429`` in tonearm's error envelope."""
    period = "minute" if decision.window_s == 60 else "hour" if decision.window_s == 3600 else "window"
    message = f"rate limit exceeded: {decision.limit} requests per {period}; retry in {decision.reset_s} s"
    return JSONResponse(status_code=429, content={"error": {"code": "rate_limited", "message": message}})
