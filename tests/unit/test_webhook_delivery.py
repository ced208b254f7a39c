"""Tests for webhook delivery with retries (tonearm.events.delivery), against a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tonearm.events.delivery import DeliveryResult, RetryPolicy, deliver_webhook
from tonearm.events.signing import generate_webhook_secret, verify_webhook
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient

BODY = json.dumps({"type": "job.completed", "data": {"jobId": "j-1"}}).encode()
MSG_ID = "msg_abc123"
T0 = 1_700_000_000.0


class _Receiver(ThreadingHTTPServer):
    """Answers POSTs from a script of (status, headers); after the script runs out it answers 200."""

    daemon_threads = True
    script: list[tuple[int, dict[str, str]]]
    received: list[tuple[dict[str, str], bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((dict(self.headers), body))
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        reply = b"ok" if status < 400 else b"receiver says no"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    srv = _Receiver(("127.0.0.1", 0), _Handler)
    srv.script = []
    srv.received = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


class FakeTime:
    """Injected clock and sleep: sleeping advances the clock, so nothing really waits."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _url(srv: _Receiver) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/hook"


def _deliver(url: str, secret: str, fake: FakeTime, policy: RetryPolicy | None = None) -> DeliveryResult:
    http = SafeHttpClient(EgressPolicy(allow_http=True, allow_loopback=True), timeout_s=5)
    return deliver_webhook(
        url,
        BODY,
        secret=secret,
        message_id=MSG_ID,
        http=http,
        policy=policy or RetryPolicy(),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def test_retry_policy_delays() -> None:
    policy = RetryPolicy()
    assert [policy.delay_before(k) for k in range(1, 7)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    capped = RetryPolicy(base_delay_s=10, max_delay_s=25, factor=3)
    assert [capped.delay_before(k) for k in (2, 3, 4)] == [10, 25, 25]


def test_first_try_success(receiver: _Receiver) -> None:
    secret = generate_webhook_secret()
    fake = FakeTime(start=time.time())  # the library checks timestamps against the real clock
    result = _deliver(_url(receiver), secret, fake)
    assert result.delivered
    assert [a.status for a in result.attempts] == [200]
    assert fake.sleeps == []
    headers, body = receiver.received[0]
    assert body == BODY
    assert Webhook(secret).verify(body, headers) == json.loads(BODY)


def test_fails_then_succeeds_with_backoff_and_fresh_signatures(receiver: _Receiver) -> None:
    receiver.script = [(500, {}), (502, {}), (503, {})]
    secret = generate_webhook_secret()
    fake = FakeTime()
    result = _deliver(_url(receiver), secret, fake)

    assert result.delivered
    assert [a.attempt for a in result.attempts] == [1, 2, 3, 4]
    assert [a.status for a in result.attempts] == [500, 502, 503, 200]
    assert result.attempts[0].error is not None and result.attempts[0].error.startswith("HTTP 500")
    assert result.attempts[-1].error is None
    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert all(a.duration_ms >= 0 for a in result.attempts)
    # started_at follows the injected clock, ISO-8601 UTC.
    started = [
        datetime.fromisoformat(a.started_at.replace("Z", "+00:00")).timestamp() for a in result.attempts
    ]
    assert started == [T0, T0 + 1, T0 + 3, T0 + 7]

    # Same webhook-id every time, a fresh timestamp per attempt, each validly signed.
    assert len(receiver.received) == 4
    assert {h["webhook-id"] for h, _ in receiver.received} == {MSG_ID}
    assert [int(h["webhook-timestamp"]) for h, _ in receiver.received] == [int(t) for t in started]
    for (headers, body), ts in zip(receiver.received, started, strict=True):
        verify_webhook(body, headers, secret=secret, now=ts)


def test_410_stops_at_once(receiver: _Receiver) -> None:
    receiver.script = [(410, {})]
    fake = FakeTime()
    result = _deliver(_url(receiver), generate_webhook_secret(), fake)
    assert not result.delivered
    assert [a.status for a in result.attempts] == [410]
    assert fake.sleeps == []
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [408, 409, 425, 429])
def test_retryable_4xx(receiver: _Receiver, status: int) -> None:
    receiver.script = [(status, {})]
    result = _deliver(_url(receiver), generate_webhook_secret(), FakeTime())
    assert result.delivered and [a.status for a in result.attempts] == [status, 200]


def test_429_honours_retry_after_capped(receiver: _Receiver) -> None:
    receiver.script = [
        (429, {"Retry-After": "7"}),
        (429, {"Retry-After": "3600"}),
        (503, {"Retry-After": "soon"}),
    ]
    fake = FakeTime()
    result = _deliver(_url(receiver), generate_webhook_secret(), fake)
    assert result.delivered
    assert [a.status for a in result.attempts] == [429, 429, 503, 200]
    # 7 as asked; 3600 capped at max_delay_s; a non-numeric value falls back to the backoff for attempt 4.
    assert fake.sleeps == [7.0, 60.0, 4.0]


def test_all_attempts_fail(receiver: _Receiver) -> None:
    receiver.script = [(500, {})] * 10
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.5)
    result = _deliver(_url(receiver), generate_webhook_secret(), fake, policy)
    assert not result.delivered
    assert len(result.attempts) == 4
    assert fake.sleeps == [0.5, 1.0, 2.0]
    wire = result.to_dict()
    assert wire["delivered"] is False and wire["messageId"] == MSG_ID
    assert [a["status"] for a in wire["attempts"]] == [500] * 4
    assert set(wire["attempts"][0]) == {"attempt", "startedAt", "status", "error", "durationMs"}
    json.dumps(wire)


def test_network_errors_are_retried() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeTime()
    result = _deliver(
        f"http://127.0.0.1:{port}/hook", generate_webhook_secret(), fake, RetryPolicy(max_attempts=3)
    )
    assert not result.delivered
    assert [a.status for a in result.attempts] == [None, None, None]
    assert all(a.error for a in result.attempts)
    assert fake.sleeps == [1.0, 2.0]


def test_forbidden_url_makes_no_request(receiver: _Receiver) -> None:
    fake = FakeTime()
    port = receiver.server_address[1]
    http = SafeHttpClient(EgressPolicy(allow_http=True))  # loopback not allowed
    result = deliver_webhook(
        f"http://127.0.0.1:{port}/hook",
        BODY,
        secret=generate_webhook_secret(),
        message_id=MSG_ID,
        http=http,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert not result.delivered
    assert len(result.attempts) == 1
    attempt = result.attempts[0]
    assert attempt.status is None and attempt.error and "loopback" in attempt.error
    assert receiver.received == []
    assert fake.sleeps == []


def test_metadata_url_refused_even_when_everything_allowed() -> None:
    http = SafeHttpClient(EgressPolicy(allow_http=True, allow_loopback=True, allow_private=True))
    fake = FakeTime()
    result = deliver_webhook(
        "http://169.254.169.254/latest/meta-data/",
        BODY,
        secret=generate_webhook_secret(),
        message_id=MSG_ID,
        http=http,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert not result.delivered and len(result.attempts) == 1 and fake.sleeps == []


def test_bad_secret_is_permanent_not_raised(receiver: _Receiver) -> None:
    fake = FakeTime()
    result = _deliver(_url(receiver), "whsec_***", fake)
    assert not result.delivered and len(result.attempts) == 1
    assert receiver.received == []
