"""Issue 18, part 6: every outbound transfer ends within a total deadline, however slowly the peer drips.

A server thread made here (on 127.0.0.1) sends a reply 64 bytes at a time, drips its headers, or never
reads an upload; the client must give up at the deadline with a ``TransferDeadlineError`` naming it, not
only when one socket read waits longer than the per-read timeout (a drip never trips that).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tonearm.events.delivery import RetryPolicy, deliver_webhook
from tonearm.events.signing import generate_webhook_secret
from tonearm.net.safe_http import (
    DEFAULT_DEADLINE_S,
    EgressPolicy,
    FetchError,
    SafeHttpClient,
    TransferDeadlineError,
)

LOCAL = EgressPolicy(allow_http=True, allow_loopback=True)


@dataclass
class DripServer:
    """A raw TCP server: ``mode`` "body" answers 200 with a body sent ``chunk`` bytes every ``every_s``;
    "headers" sends the status line and then one header line every ``every_s``; "no-read" accepts and
    never reads the request."""

    mode: str
    every_s: float = 0.2
    chunk: bytes = b"x" * 64
    stop: threading.Event = field(default_factory=threading.Event)
    connections: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/slow"
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _read_request_head(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data and not self.stop.is_set():
            try:
                piece = conn.recv(65536)
            except TimeoutError:
                continue
            if not piece:
                return
            data += piece

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        try:
            if self.mode == "no-read":
                self.stop.wait()
                return
            self._read_request_head(conn)
            if self.mode == "body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                line = None
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                line = b"X-Drip: " + b"a" * 54 + b"\r\n"
            while not self.stop.is_set():
                conn.sendall(self.chunk if line is None else line)
                self.stop.wait(self.every_s)
        except OSError:
            pass  # the client hung up: what the test wants
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def drip() -> Iterator[type[DripServer]]:
    made: list[DripServer] = []

    class Made(DripServer):
        def __post_init__(self) -> None:
            super().__post_init__()
            made.append(self)

    yield Made
    for server in made:
        server.close()


def test_the_issue_s_drip_is_cut_at_the_deadline(drip: type[DripServer]) -> None:
    """64 bytes every 2 s with the client's default 10 s per-read timeout: without a total deadline this
    held a job worker for 170 s; now the download ends at its deadline."""
    server = drip("body", every_s=2.0)
    client = SafeHttpClient(LOCAL)  # per-read timeout 10 s: each 2 s wait is within it
    out = io.BytesIO()
    t0 = time.monotonic()
    with pytest.raises(TransferDeadlineError, match=r"deadline of 1\.5 s") as caught:
        client.download_to(server.url, out, max_bytes=1_000_000, deadline_s=1.5)
    elapsed = time.monotonic() - t0
    assert 1.4 <= elapsed < 3.0, elapsed
    assert isinstance(caught.value, FetchError) and caught.value.code == "fetch_failed"
    assert out.getvalue() == b"x" * 64  # the first chunk came; the peer was slow, not silent


def test_a_steady_drip_never_trips_the_read_timeout_but_the_deadline_cuts_it(
    drip: type[DripServer],
) -> None:
    server = drip("body", every_s=0.1)
    # the client's own deadline applies when a call passes none (what the task runner's fetches use)
    client = SafeHttpClient(LOCAL, timeout_s=5.0, deadline_s=1.0)
    out = io.BytesIO()
    t0 = time.monotonic()
    with pytest.raises(TransferDeadlineError, match=r"deadline of 1 s"):
        client.download_to(server.url, out, max_bytes=1_000_000)
    assert time.monotonic() - t0 < 2.5
    assert len(out.getvalue()) >= 5 * 64  # bytes kept arriving, every read well inside its 5 s


def test_dripping_headers_are_cut_at_the_deadline(drip: type[DripServer]) -> None:
    server = drip("headers", every_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(TransferDeadlineError):
        SafeHttpClient(LOCAL, timeout_s=5.0).request("GET", server.url, deadline_s=1.0)
    assert time.monotonic() - t0 < 2.5


def test_a_reply_to_a_post_that_drips_is_cut_at_the_deadline(drip: type[DripServer]) -> None:
    server = drip("body", every_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(TransferDeadlineError):
        SafeHttpClient(LOCAL, timeout_s=5.0).request("POST", server.url, body=b"{}", deadline_s=1.0)
    assert time.monotonic() - t0 < 2.5


def test_an_upload_the_receiver_never_reads_is_cut_at_the_deadline(drip: type[DripServer]) -> None:
    """A copyResultsTo PUT to a receiver that stops reading: the send waits at most the deadline."""
    server = drip("no-read")
    body = bytes(48 * 1024 * 1024)  # more than loopback's socket buffers hold
    t0 = time.monotonic()
    with pytest.raises(TransferDeadlineError):
        SafeHttpClient(LOCAL, timeout_s=5.0).request("PUT", server.url, body=body, deadline_s=1.0)
    assert time.monotonic() - t0 < 2.5


def test_the_defaults() -> None:
    assert DEFAULT_DEADLINE_S == 60.0 and SafeHttpClient(LOCAL).deadline_s == 60.0
    policy = RetryPolicy()
    assert policy.attempt_deadline_s == 15.0
    # below WebhookFunction's 300 s Timeout in template.yaml, so a dead letter is always written
    assert policy.total_deadline_s == 240.0


def test_each_webhook_attempt_ends_at_its_deadline_and_retries_stop_at_the_total(
    drip: type[DripServer],
) -> None:
    server = drip("body", every_s=0.1)
    policy = RetryPolicy(
        max_attempts=10, base_delay_s=0.1, max_delay_s=0.1, attempt_deadline_s=0.5, total_deadline_s=1.6
    )
    t0 = time.monotonic()
    result = deliver_webhook(
        server.url,
        json.dumps({"id": "j"}).encode(),
        secret=generate_webhook_secret(),
        message_id="msg_1",
        http=SafeHttpClient(LOCAL, timeout_s=5.0),
        policy=policy,
    )
    elapsed = time.monotonic() - t0
    assert not result.delivered
    # 0.5 s attempts, 0.1 s waits: a third would have less than its 0.5 s before 1.6 s, so it is not started
    assert len(result.attempts) == 2, result.to_dict()
    assert all("deadline of 0.5 s" in (a.error or "") for a in result.attempts)
    assert 1.0 <= elapsed < 1.6 + 0.3


class _FakeTime:
    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_after_cannot_stretch_a_delivery_past_the_total_deadline() -> None:
    """Retry-After: 60 on every attempt once made a delivery of 5 x 60 s waits: longer than the webhook
    function's 300 s, which then died without dead-lettering. Now no wait starts past the 240 s total."""
    from tonearm.net.safe_http import HttpResponse

    class Busy(SafeHttpClient):
        calls = 0

        def request(self, *args: object, **kwargs: object) -> HttpResponse:  # type: ignore[override]
            Busy.calls += 1
            return HttpResponse(status=503, headers={"retry-after": "60"}, body=b"busy")

    fake = _FakeTime()
    result = deliver_webhook(
        "https://hooks.example/x",
        b"{}",
        secret=generate_webhook_secret(),
        message_id="msg_2",
        http=Busy(LOCAL),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert not result.delivered
    assert fake.sleeps == [60.0, 60.0, 60.0] and len(result.attempts) == 4 == Busy.calls
    assert sum(fake.sleeps) <= RetryPolicy().total_deadline_s
