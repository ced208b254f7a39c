"""Webhook delivery with retries, exponential backoff, and a per-attempt log.

:func:`deliver_webhook` never raises for delivery failures: it returns a :class:`DeliveryResult` whose
``attempts`` record what happened, and the caller dead-letters a result with ``delivered=False``.

Outcome of one attempt:

* 2xx: delivered.
* 5xx, 408, 409, 425, 429, or a network error (DNS, connect, TLS, timeout): retried after a backoff.
* Any other status (other 4xx, and 3xx since redirects are not followed for POST): permanent; stop.
* :class:`~tonearm.net.safe_http.UrlForbiddenError`: permanent; nothing is sent, one attempt is recorded.

Every attempt is signed afresh with the current timestamp (so a late retry is not rejected as stale) but
keeps the same ``webhook-id``, which receivers use to deduplicate.

Deadlines: each attempt as a whole (connect, send, and the receiver's reply, however slowly it drips)
ends within ``RetryPolicy.attempt_deadline_s`` (or the caller's ``deadline_s``), and the whole delivery,
waits included, within ``RetryPolicy.total_deadline_s``: no attempt or wait starts that would end past
it. The default total (240 s) leaves the webhook function (300 s in template.yaml) time to dead-letter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tonearm.errors import ParameterError
from tonearm.events.signing import sign_webhook
from tonearm.jobs.model import iso_utc
from tonearm.net.safe_http import SafeHttpClient, UrlForbiddenError

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "DeliveryAttempt",
    "DeliveryResult",
    "RetryPolicy",
    "deliver_webhook",
]

# Statuses that mean "try again later" even though they are 4xx.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
# Receivers should answer with a short acknowledgement; don't buffer more than this.
_MAX_RECEIVER_RESPONSE_BYTES = 1024 * 1024
_ERROR_SNIPPET_CHARS = 200
# No retry starts with less time than this (or the attempt deadline, if shorter) left before the total.
_MIN_ATTEMPT_S = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait between tries.

    The delay before attempt ``k`` (``k >= 2``) is ``min(max_delay_s, base_delay_s * factor ** (k - 2))``;
    with the defaults: 1, 2, 4, 8, 16 s before attempts 2..6. A numeric ``Retry-After`` from the receiver
    replaces the computed delay, still capped at ``max_delay_s``.

    ``attempt_deadline_s`` bounds one attempt from connect to the last byte of the reply;
    ``total_deadline_s`` bounds the delivery, attempts and waits together (see the module docstring).
    """

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    factor: float = 2.0
    attempt_deadline_s: float = 15.0
    total_deadline_s: float = 240.0

    def delay_before(self, attempt: int) -> float:
        """Return the backoff delay in seconds before ``attempt`` (1-based; 0 for the first)."""
        if attempt < 2:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * self.factor ** (attempt - 2))


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try: when it started (ISO-8601 UTC), the HTTP status if any, an error message if it failed."""

    attempt: int
    started_at: str
    status: int | None
    error: str | None
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON wire form (camelCase keys)."""
        return {
            "attempt": self.attempt,
            "startedAt": self.started_at,
            "status": self.status,
            "error": self.error,
            "durationMs": self.duration_ms,
        }


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of delivering one webhook message, with every attempt."""

    delivered: bool
    url: str
    message_id: str
    attempts: tuple[DeliveryAttempt, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON wire form (camelCase keys), e.g. for the job record or a dead-letter entry."""
        return {
            "delivered": self.delivered,
            "url": self.url,
            "messageId": self.message_id,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
        }


def _iso_utc(epoch_s: float) -> str:
    return iso_utc(datetime.fromtimestamp(epoch_s, tz=UTC))


def _retry_after_s(value: str | None) -> float | None:
    """Parse a numeric (delta-seconds) Retry-After; HTTP-date and junk values are ignored."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, infinite
        return None
    return seconds


def _status_error(status: int, body: bytes) -> str:
    snippet = body[:_ERROR_SNIPPET_CHARS].decode("utf-8", "replace").strip()
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def deliver_webhook(
    url: str,
    body: bytes,
    *,
    secret: str | bytes,
    message_id: str,
    http: SafeHttpClient,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``url`` with Standard Webhooks signatures, retrying per ``policy``.

    ``secret`` is a ``whsec_`` secret or the raw key bytes (see ``secret_key_bytes``). ``timeout_s``
    bounds each attempt's connect and each read (default: the client's); ``deadline_s`` each attempt as a
    whole (default: ``policy.attempt_deadline_s``), and ``policy.total_deadline_s`` all of them with the
    waits between. ``sleep`` and ``clock`` are injectable so tests run without waiting; ``clock``
    supplies the signature timestamp, ``started_at`` and the time spent against the total deadline. Never
    raises for delivery failures; see the module docstring for which outcomes are retried.
    """
    attempts: list[DeliveryAttempt] = []
    delay = 0.0
    per_attempt = policy.attempt_deadline_s if deadline_s is None else deadline_s
    shortest = min(per_attempt, _MIN_ATTEMPT_S)
    first_started = clock()
    for number in range(1, max(1, policy.max_attempts) + 1):
        if number > 1:
            left = policy.total_deadline_s - (clock() - first_started) - delay
            if left < shortest:
                break  # no useful attempt fits before the total deadline: dead-letter now
            sleep(delay)
        started = clock()
        attempt_deadline = min(per_attempt, policy.total_deadline_s - (started - first_started))
        t0 = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        permanent = False
        try:
            headers = sign_webhook(body, secret=secret, message_id=message_id, timestamp=int(started))
            response = http.request(
                "POST",
                url,
                body=body,
                headers=headers,
                max_response_bytes=_MAX_RECEIVER_RESPONSE_BYTES,
                timeout_s=timeout_s,
                deadline_s=max(attempt_deadline, shortest),
            )
        except (UrlForbiddenError, ParameterError) as exc:
            # Refused before any connection was made (forbidden URL, unusable secret); retrying cannot
            # change the answer.
            error, permanent = exc.message, True
        except Exception as exc:
            # Network errors (FetchError), an oversized reply, or anything unexpected: a failed delivery
            # must never escape into job finalisation, so record it and retry.
            error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        else:
            status = response.status
            if 200 <= status < 300:
                attempts.append(DeliveryAttempt(number, _iso_utc(started), status, None, _elapsed_ms(t0)))
                return DeliveryResult(True, url, message_id, tuple(attempts))
            error = _status_error(status, response.body)
            if status >= 500 or status in _RETRYABLE_4XX:
                retry_after = _retry_after_s(response.headers.get("retry-after"))
            else:
                permanent = True
        attempts.append(DeliveryAttempt(number, _iso_utc(started), status, error, _elapsed_ms(t0)))
        if permanent:
            break
        next_delay = policy.delay_before(number + 1)
        delay = min(policy.max_delay_s, retry_after) if retry_after is not None else next_delay
    return DeliveryResult(False, url, message_id, tuple(attempts))


def _elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)
