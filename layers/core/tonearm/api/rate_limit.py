"""Per-client request limits, with the ``X-RateLimit-*`` headers and ``429`` + ``Retry-After``.

Every API is limited (``RateLimits``: one limiter per API, each API's clients counted apart). Sofy
allows each client 60 requests a minute and 1000 an hour, and tonearm applies the same to Sofy's
routes; the other APIs have their own, more generous windows (``Settings.api_rate_limit_*``). A client
is an application (its API key as authentication reads it, so one key however it is spelled) or,
without a key, a client address (``tonearm.api.client_address``: ``X-Forwarded-For`` only from trusted
proxies). The counters are fixed windows: in-process locally, and in AWS in the jobs table (a
``RateCounter``, ``tonearm.adapters.aws.dynamodb.DynamoRateCounter``), so a client spread over many
Lambda instances still gets the limit once, not once per instance.
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

from tonearm.api.client_address import TrustedProxies, client_address
from tonearm.errors import TonearmError
from tonearm.jobs.errors import UnauthorizedError
from tonearm.jobs.service import parse_authorization
from tonearm.ports import RateCounter

#: Drop expired counters once this many are held (every distinct client has one per window).
_PRUNE_AT = 50_000


class RateLimitedError(TonearmError):
    """The client is over its limit; each API shapes it its own way (``Retry-After`` says when to retry)."""

    code = "rate_limited"
    status = 429


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


def key_identity(key: str | None) -> str | None:
    """The counter of an API key as authentication reads it (``Bearer `` and blanks dropped: one key,
    one counter), hashed so that the key is never kept; ``None`` for no key (or only a scheme)."""
    if key is None or not key.strip():
        return None
    try:
        parsed = parse_authorization(key)
    except UnauthorizedError:  # "Bearer" and nothing else: no key, counted by address
        return None
    return "key:" + hashlib.sha256(parsed.encode()).hexdigest()[:32]


def client_identity(
    request: Request, trusted: TrustedProxies | None = None, *, key: str | None = None
) -> str:
    """Who a request counts against: its API key (``key``, else the ``Authorization`` or ``X-API-Key``
    header), else the client's address.

    A made-up key only buys a fresh counter for requests the routes then refuse with 401.
    """
    header = key or request.headers.get("authorization") or request.headers.get("x-api-key")
    identity = key_identity(header)
    if identity is not None:
        return identity
    return "ip:" + client_address(request, trusted or TrustedProxies())


#: Shapes the ``429`` of one API (its own error body), given the decision; the headers are added after.
Refusal = Callable[[RateDecision], Response]


@dataclass(frozen=True)
class LimitedApi:
    """One API's limiter: which paths it counts and how its refusals look."""

    #: kept apart in the counters: a client's requests to one API do not use up another's
    name: str
    applies: Callable[[str], bool]
    limiter: RateLimiter
    refused: Refusal
    #: counted by the route itself, which alone sees the key (SAMI's is in the body): the middleware
    #: passes such requests on
    in_route: bool = False


class RateLimits:
    """Every API's limiter, and whom a request counts against (``app.state.rate_limits``)."""

    def __init__(self, trusted: TrustedProxies, *, shared: RateCounter | None = None) -> None:
        self.trusted = trusted
        #: counts every process shares (AWS), so the limits hold across Lambda instances
        self.shared = shared
        self._apis: list[LimitedApi] = []

    def add(
        self,
        name: str,
        applies: Callable[[str], bool],
        windows: Sequence[Window],
        refused: Refusal,
        *,
        in_route: bool = False,
    ) -> LimitedApi:
        """Limit the paths ``applies`` accepts (the first API added that accepts a path counts it)."""
        api = LimitedApi(name, applies, RateLimiter(windows, shared=self.shared), refused, in_route)
        self._apis.append(api)
        return api

    def api(self, name: str) -> LimitedApi:
        """The API added as ``name``."""
        return next(api for api in self._apis if api.name == name)

    def for_path(self, path: str) -> LimitedApi | None:
        """The API whose limits count requests to ``path``, if any."""
        return next((api for api in self._apis if api.applies(path)), None)

    def hit(self, api: LimitedApi, request: Request, *, key: str | None = None) -> RateDecision | None:
        """Count one request of ``api`` (``key``: one the route read from its body); ``None`` when the
        API has no window on."""
        if not api.limiter.enabled:
            return None
        return api.limiter.hit(f"{api.name}/{client_identity(request, self.trusted, key=key)}")

    def refusal(self, api: LimitedApi, decision: RateDecision) -> Response:
        """The API's ``429``, with ``Retry-After`` and the ``X-RateLimit-*`` headers."""
        response = api.refused(decision)
        response.headers.update(decision.headers())
        return response


CallNext = Callable[[Request], Awaitable[Response]]


def rate_limit_middleware(limits: RateLimits) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """HTTP middleware counting each request against the API its path belongs to."""

    async def middleware(request: Request, call_next: CallNext) -> Response:
        api = limits.for_path(request.url.path)
        if api is None or api.in_route:
            return await call_next(request)
        decision = limits.hit(api, request)
        if decision is None:
            return await call_next(request)
        if not decision.allowed:
            return limits.refusal(api, decision)
        response = await call_next(request)
        response.headers.update(decision.headers())
        return response

    return middleware


def default_refusal(decision: RateDecision) -> JSONResponse:
    """A ``429`` in tonearm's error envelope."""
    error = RateLimitedError(refusal_message(decision))
    return JSONResponse(status_code=error.status, content={"error": error.to_dict()})


def refusal_message(decision: RateDecision) -> str:
    """What a refused client is told: the limit, its window, when to come back."""
    period = "minute" if decision.window_s == 60 else "hour" if decision.window_s == 3600 else "window"
    return f"rate limit exceeded: {decision.limit} requests per {period}; retry in {decision.reset_s} s"
