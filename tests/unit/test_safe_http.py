"""Tests for the SSRF-guarded HTTP client (tonearm.net.safe_http).

Network tests only talk to servers started here on 127.0.0.1.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from tonearm.net.safe_http import (
    AddressCategory,
    EgressPolicy,
    FetchError,
    ResponseTooLargeError,
    SafeHttpClient,
    UrlForbiddenError,
    classify_address,
)

LOCAL = EgressPolicy(allow_http=True, allow_loopback=True)

# --- address classification ----------------------------------------------------------------------------

A = AddressCategory


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", A.PUBLIC),
        ("1.1.1.1", A.PUBLIC),
        ("172.32.0.1", A.PUBLIC),  # just outside 172.16/12
        ("2606:4700:4700::1111", A.PUBLIC),
        ("127.0.0.1", A.LOOPBACK),
        ("127.255.255.254", A.LOOPBACK),
        ("::1", A.LOOPBACK),
        ("10.1.2.3", A.PRIVATE),
        ("172.16.0.1", A.PRIVATE),
        ("172.31.255.255", A.PRIVATE),
        ("192.168.1.1", A.PRIVATE),
        ("fd12:3456::1", A.PRIVATE),
        ("100.64.0.1", A.SHARED),
        ("100.127.255.255", A.SHARED),
        ("169.254.169.254", A.METADATA),
        ("fd00:ec2::254", A.METADATA),
        ("100.100.100.200", A.METADATA),
        ("169.254.1.1", A.LINK_LOCAL),
        ("fe80::1", A.LINK_LOCAL),
        ("fe80::1%eth0", A.LINK_LOCAL),
        ("0.0.0.0", A.UNSPECIFIED),
        ("0.1.2.3", A.UNSPECIFIED),
        ("::", A.UNSPECIFIED),
        ("224.0.0.1", A.MULTICAST),
        ("ff02::1", A.MULTICAST),
        ("240.0.0.1", A.RESERVED),
        ("255.255.255.255", A.RESERVED),
        ("192.0.2.1", A.RESERVED),
        ("2001:db8::1", A.RESERVED),
        ("::7f00:1", A.RESERVED),  # deprecated IPv4-compatible form
        ("::ffff:127.0.0.1", A.LOOPBACK),
        ("::ffff:169.254.169.254", A.METADATA),
        ("::ffff:10.0.0.1", A.PRIVATE),
        ("::ffff:8.8.8.8", A.PUBLIC),
        ("64:ff9b::a9fe:a9fe", A.METADATA),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", A.LOOPBACK),  # 6to4 of 127.0.0.1
    ],
)
def test_classify_address(address: str, expected: AddressCategory) -> None:
    assert classify_address(address) is expected


def test_classify_address_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        classify_address("not-an-ip")


def test_policy_categories() -> None:
    strict = EgressPolicy()
    loopback = EgressPolicy(allow_loopback=True)
    private = EgressPolicy(allow_private=True)
    everything = EgressPolicy(allow_http=True, allow_loopback=True, allow_private=True)
    assert strict.permits(A.PUBLIC)
    assert not strict.permits(A.LOOPBACK) and not strict.permits(A.PRIVATE)
    assert loopback.permits(A.LOOPBACK) and not loopback.permits(A.PRIVATE)
    assert private.permits(A.PRIVATE) and private.permits(A.SHARED) and not private.permits(A.LOOPBACK)
    for never in (A.METADATA, A.LINK_LOCAL, A.UNSPECIFIED, A.MULTICAST, A.RESERVED):
        assert not everything.permits(never)


# --- URL checks -------------------------------------------------------------------------------------------


def _resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


PUBLIC_DNS = _resolver({"example.com": ["93.184.215.14"], "files.example.com": ["2606:2800:21f::1"]})


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a",
        "file:///etc/passwd",
        "gopher://example.com/",
        "//example.com/x",
        "http://example.com/",  # http not allowed by default
        "https://user:pw@example.com/",
        "https://user@example.com/",
        "https://example.com\\@127.0.0.1/",
        "https:///nohost",
        "https://example.com:99999/",
        "https://example.com/a b",
        "https://example.com/\r\nX-Injected: 1",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://10.0.0.1/",
    ],
)
def test_check_url_refuses(url: str) -> None:
    client = SafeHttpClient(EgressPolicy(), resolver=PUBLIC_DNS)
    with pytest.raises(UrlForbiddenError):
        client.check_url(url)


def test_check_url_accepts_public_https() -> None:
    client = SafeHttpClient(EgressPolicy(), resolver=PUBLIC_DNS)
    client.check_url("https://example.com/path?q=1")
    client.check_url("https://files.example.com:8443/x")
    client.check_url("HTTPS://Example.COM/")


def test_public_looking_name_resolving_to_private_is_refused() -> None:
    client = SafeHttpClient(EgressPolicy(), resolver=_resolver({"cdn.example.net": ["10.0.0.7"]}))
    with pytest.raises(UrlForbiddenError, match="private"):
        client.check_url("https://cdn.example.net/a.wav")


def test_any_forbidden_address_among_many_is_refused() -> None:
    dns = _resolver({"mixed.example": ["93.184.215.14", "169.254.169.254"]})
    client = SafeHttpClient(EgressPolicy(allow_private=True, allow_loopback=True), resolver=dns)
    with pytest.raises(UrlForbiddenError, match="metadata"):
        client.check_url("https://mixed.example/")


def test_allow_private_permits_rfc1918_but_not_metadata() -> None:
    dns = _resolver({"internal.example": ["10.0.0.7"], "imds.example": ["169.254.169.254"]})
    client = SafeHttpClient(EgressPolicy(allow_private=True), resolver=dns)
    client.check_url("https://internal.example/")
    with pytest.raises(UrlForbiddenError):
        client.check_url("https://imds.example/")


def test_allowed_ports() -> None:
    client = SafeHttpClient(EgressPolicy(allowed_ports=frozenset({443})), resolver=PUBLIC_DNS)
    client.check_url("https://example.com/")
    with pytest.raises(UrlForbiddenError, match="port"):
        client.check_url("https://example.com:8443/")


def test_unresolvable_host_is_a_fetch_error() -> None:
    client = SafeHttpClient(EgressPolicy(), resolver=PUBLIC_DNS)
    with pytest.raises(FetchError, match="resolve"):
        client.check_url("https://nope.invalid/")


# --- a real local server --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append((self.command, self.path, dict(self.headers), body))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self, body)

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Callable[[_Handler, bytes], None]]
    received: list[tuple[str, str, dict[str, str], bytes]]


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes = {}
    srv.received = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _base(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def _reply(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, length: bool = True
) -> Callable[[_Handler, bytes], None]:
    def route(handler: _Handler, _: bytes) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def _echo(handler: _Handler, body: bytes) -> None:
    payload = handler.command.encode() + b" " + body
    handler.send_response(201)
    handler.send_header("Content-Length", str(len(payload)))
    handler.send_header("X-Echo", "yes")
    handler.end_headers()
    handler.wfile.write(payload)


def test_get_put_post_against_local_server(server: _Server) -> None:
    server.routes["/data"] = _reply(200, b"hello", {"Content-Type": "text/plain"})
    server.routes["/echo"] = _echo
    client = SafeHttpClient(LOCAL, timeout_s=5)

    got = client.request("GET", _base(server) + "/data")
    assert (got.status, got.body) == (200, b"hello")
    assert got.headers["content-type"] == "text/plain"

    put = client.request("PUT", _base(server) + "/echo", body=b"result-bytes", headers={"X-Key": "v"})
    assert (put.status, put.body, put.headers["x-echo"]) == (201, b"PUT result-bytes", "yes")
    post = client.request("POST", _base(server) + "/echo", body=b"{}")
    assert post.body == b"POST {}"

    method, path, headers, body = server.received[1]
    assert (method, path, body, headers["X-Key"]) == ("PUT", "/echo", b"result-bytes", "v")
    assert headers["User-Agent"].startswith("tonearm/")


def test_non_2xx_is_returned_not_raised(server: _Server) -> None:
    server.routes["/gone"] = _reply(410, b"gone")
    resp = SafeHttpClient(LOCAL).request("POST", _base(server) + "/gone", body=b"x")
    assert (resp.status, resp.body) == (410, b"gone")


def test_loopback_refused_without_policy(server: _Server) -> None:
    server.routes["/data"] = _reply(200, b"hello")
    with pytest.raises(UrlForbiddenError, match="loopback"):
        SafeHttpClient(EgressPolicy(allow_http=True)).request("GET", _base(server) + "/data")
    assert server.received == []


def test_connects_to_checked_address_with_original_host_header(server: _Server) -> None:
    # A rebinding resolver: the first answer passes the guard, later answers would not. The client must
    # resolve once and connect to what it checked.
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    server.routes["/data"] = _reply(200, b"ok")
    port = server.server_address[1]
    client = SafeHttpClient(LOCAL, resolver=rebinding)
    resp = client.request("GET", f"http://media.example.test:{port}/data")
    assert resp.body == b"ok"
    assert calls == ["media.example.test"]
    assert server.received[0][2]["Host"] == f"media.example.test:{port}"


def test_https_uses_hostname_for_sni_while_connecting_to_checked_ip(server: _Server) -> None:
    # A stand-in TLS context records server_hostname and hands back the plain socket, so the request then
    # runs over plain HTTP to the local server: this proves pinning and SNI without a certificate.
    seen: list[str | None] = []

    class RecordingContext:
        verify_mode = ssl.CERT_REQUIRED
        check_hostname = True

        def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None) -> socket.socket:
            seen.append(server_hostname)
            return sock

    server.routes["/x"] = _reply(200, b"tls-ok")
    port = server.server_address[1]
    client = SafeHttpClient(
        EgressPolicy(allow_loopback=True),
        resolver=_resolver({"secure.example.test": ["127.0.0.1"]}),
        ssl_context=cast(ssl.SSLContext, RecordingContext()),
    )
    resp = client.request("GET", f"https://secure.example.test:{port}/x")
    assert resp.body == b"tls-ok"
    assert seen == ["secure.example.test"]
    assert server.received[0][2]["Host"] == f"secure.example.test:{port}"


def test_default_tls_context_verifies_certificates() -> None:
    client = SafeHttpClient(EgressPolicy())
    ctx = client._ssl_context
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


# --- redirects --------------------------------------------------------------------------------------------


def test_get_follows_redirects(server: _Server) -> None:
    server.routes["/a"] = _reply(302, headers={"Location": "/b"})
    server.routes["/b"] = _reply(301, headers={"Location": _base(server) + "/c"})
    server.routes["/c"] = _reply(200, b"final")
    resp = SafeHttpClient(LOCAL).request("GET", _base(server) + "/a")
    assert (resp.status, resp.body) == (200, b"final")


def test_redirect_to_forbidden_host_is_refused(server: _Server) -> None:
    server.routes["/a"] = _reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(UrlForbiddenError, match="metadata"):
        SafeHttpClient(LOCAL).request("GET", _base(server) + "/a")


def test_redirect_to_name_resolving_private_is_refused(server: _Server) -> None:
    server.routes["/a"] = _reply(307, headers={"Location": "http://internal.example/secret"})
    client = SafeHttpClient(LOCAL, resolver=_resolver({"internal.example": ["10.1.1.1"]}))
    with pytest.raises(UrlForbiddenError):
        client.download_to(_base(server) + "/a", io.BytesIO(), max_bytes=100)


def test_redirect_to_forbidden_scheme_is_refused(server: _Server) -> None:
    server.routes["/a"] = _reply(302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(UrlForbiddenError):
        SafeHttpClient(LOCAL).request("GET", _base(server) + "/a")


def test_at_most_three_redirects(server: _Server) -> None:
    for i in range(5):
        server.routes[f"/r{i}"] = _reply(302, headers={"Location": f"/r{i + 1}"})
    server.routes["/r3"] = _reply(200, b"three hops")
    assert SafeHttpClient(LOCAL).request("GET", _base(server) + "/r0").body == b"three hops"


def test_four_redirects_is_too_many(server: _Server) -> None:
    for i in range(4):
        server.routes[f"/r{i}"] = _reply(302, headers={"Location": f"/r{i + 1}"})
    server.routes["/r4"] = _reply(200, b"four hops")
    with pytest.raises(FetchError, match="redirects"):
        SafeHttpClient(LOCAL).request("GET", _base(server) + "/r0")


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_put_and_post_do_not_follow_redirects(server: _Server, method: str) -> None:
    server.routes["/a"] = _reply(307, headers={"Location": "/b"})
    server.routes["/b"] = _reply(200, b"should not get here")
    resp = SafeHttpClient(LOCAL).request(method, _base(server) + "/a", body=b"x")
    assert resp.status == 307
    assert [r[1] for r in server.received] == ["/a"]


# --- download_to and size caps -------------------------------------------------------------------------


def test_download_to_streams_body(server: _Server) -> None:
    payload = bytes(range(256)) * 1000
    server.routes["/big"] = _reply(200, payload)
    out = io.BytesIO()
    written = SafeHttpClient(LOCAL).download_to(_base(server) + "/big", out, max_bytes=len(payload))
    assert written == len(payload)
    assert out.getvalue() == payload


def test_download_to_checks_content_length_first(server: _Server) -> None:
    server.routes["/big"] = _reply(200, b"x" * 1000)
    out = io.BytesIO()
    with pytest.raises(ResponseTooLargeError):
        SafeHttpClient(LOCAL).download_to(_base(server) + "/big", out, max_bytes=100)
    assert out.getvalue() == b""  # refused before reading any body


def test_download_to_counts_when_length_unknown(server: _Server) -> None:
    # No Content-Length: an HTTP/1.0 body runs until the server closes the connection.
    server.routes["/stream"] = _reply(200, b"y" * 5000, length=False)
    out = io.BytesIO()
    with pytest.raises(ResponseTooLargeError) as excinfo:
        SafeHttpClient(LOCAL).download_to(_base(server) + "/stream", out, max_bytes=1000)
    assert excinfo.value.status == 413
    assert len(out.getvalue()) <= 1000


def test_download_to_raises_on_non_2xx(server: _Server) -> None:
    server.routes["/missing"] = _reply(404, b"nope")
    with pytest.raises(FetchError, match="404"):
        SafeHttpClient(LOCAL).download_to(_base(server) + "/missing", io.BytesIO(), max_bytes=100)


def test_request_max_response_bytes(server: _Server) -> None:
    server.routes["/big"] = _reply(200, b"z" * 2000)
    server.routes["/stream"] = _reply(200, b"z" * 2000, length=False)
    client = SafeHttpClient(LOCAL)
    for path in ("/big", "/stream"):
        with pytest.raises(ResponseTooLargeError):
            client.request("GET", _base(server) + path, max_response_bytes=1999)
    assert len(client.request("GET", _base(server) + "/stream", max_response_bytes=2000).body) == 2000


# --- network failures -------------------------------------------------------------------------------------


def test_timeout_on_server_that_never_answers() -> None:
    # The kernel completes the TCP handshake from the listen backlog; nothing ever reads or replies.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = SafeHttpClient(LOCAL, timeout_s=0.3)
        start = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            client.request("GET", f"http://127.0.0.1:{port}/")
        assert time.monotonic() - start < 3.0


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    with pytest.raises(FetchError) as excinfo:
        SafeHttpClient(LOCAL, timeout_s=2).request("GET", f"http://127.0.0.1:{port}/")
    assert excinfo.value.code == "fetch_failed" and excinfo.value.status == 502


def test_error_codes() -> None:
    assert (UrlForbiddenError("x").code, UrlForbiddenError("x").status) == ("url_forbidden", 400)
    assert (FetchError("x").code, FetchError("x").status) == ("fetch_failed", 502)
    assert (ResponseTooLargeError("x").code, ResponseTooLargeError("x").status) == ("input_too_large", 413)
