"""An SSRF-guarded HTTP client built on :mod:`http.client`.

tonearm fetches user-supplied input URLs, PUTs results to user-supplied ``copyResultsTo`` URLs and
POSTs webhooks to user-supplied endpoints. Any of those URLs could point at the cloud metadata service,
the VPC, or localhost, so every request goes through one guard:

1. Only ``https`` (and ``http`` when the policy allows it) with no userinfo and an allowed port.
2. The hostname is resolved once, and *every* resolved address is classified; the request is refused if
   any of them is in a category the policy does not allow (see :func:`classify_address`).
3. The connection is made to the addresses that were checked, never by resolving the name again, so a
   DNS-rebinding answer that flips to ``127.0.0.1`` after the check cannot be reached. The original
   hostname is still sent as ``Host`` and used for TLS SNI and certificate verification.
4. Redirects are followed only for ``GET`` (at most three) and each target goes through the same guard.

Every transfer has two time limits: ``timeout_s`` bounds the connect and each socket read or write, and
``deadline_s`` the whole transfer (connect, TLS, request, status line, headers and body, redirects
included). A server that drips its reply (64 bytes every 2 s never trips a per-read timeout) is cut at the
deadline with a :class:`TransferDeadlineError`.

Proxies are never used (``http.client`` ignores ``*_proxy`` environment variables), which is what we want:
a proxy would resolve names itself and defeat the pinning.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO
from urllib.parse import quote, urljoin, urlsplit

from tonearm.errors import TonearmError

__all__ = [
    "DEFAULT_DEADLINE_S",
    "AddressCategory",
    "EgressPolicy",
    "FetchError",
    "HttpResponse",
    "ResponseTooLargeError",
    "SafeHttpClient",
    "TransferDeadlineError",
    "UrlForbiddenError",
    "classify_address",
]

_CHUNK_BYTES = 64 * 1024
#: The longest any one transfer (an input download, a copyResultsTo PUT) may take unless its caller says
#: otherwise: 100 MB (the input limit) at 2 MB/s, and far below a task function's 900 s.
DEFAULT_DEADLINE_S = 60.0
_MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "tonearm/0.1"
# Headers that carry credentials for one origin; they must not follow a redirect to another origin.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlForbiddenError(TonearmError):
    """The URL's scheme, userinfo, port or resolved address is not allowed by the egress policy."""

    code = "url_forbidden"
    status = 400


class FetchError(TonearmError):
    """The request failed: DNS, connection, TLS, timeout, malformed response, or a refused status."""

    code = "fetch_failed"
    status = 502


class TransferDeadlineError(FetchError):
    """The transfer did not finish within its deadline (however steadily bytes were still arriving)."""


class ResponseTooLargeError(TonearmError):
    """The response body is larger than the caller's limit."""

    code = "input_too_large"
    status = 413


class AddressCategory(StrEnum):
    """What kind of destination an IP address is, for egress decisions."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    SHARED = "shared"  # 100.64.0.0/10 carrier-grade NAT
    LINK_LOCAL = "link-local"
    METADATA = "metadata"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"


@dataclass(frozen=True)
class EgressPolicy:
    """Which destinations the client may reach.

    ``https`` is always allowed; ``allow_http`` adds plain ``http``. ``allow_loopback`` (local mode) permits
    127.0.0.0/8 and ::1. ``allow_private`` permits RFC 1918, IPv6 unique-local (fc00::/7) and shared
    100.64.0.0/10 space. Metadata, link-local, unspecified, multicast and reserved addresses are never
    allowed. ``allowed_ports`` restricts the destination port (``None`` = any).
    """

    allow_http: bool = False
    allow_loopback: bool = False
    allow_private: bool = False
    allowed_ports: frozenset[int] | None = None

    def permits(self, category: AddressCategory) -> bool:
        """Return whether an address of ``category`` may be connected to."""
        if category is AddressCategory.PUBLIC:
            return True
        if category is AddressCategory.LOOPBACK:
            return self.allow_loopback
        if category in (AddressCategory.PRIVATE, AddressCategory.SHARED):
            return self.allow_private
        return False


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response. Header names are lower-cased; repeated headers are joined with ", "."""

    status: int
    headers: dict[str, str]
    body: bytes


# --- address classification -------------------------------------------------------------------------

_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


def _v4(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def _v6(cidr: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(cidr)


# Order matters: the first matching rule wins (e.g. 169.254/16 before anything broader).
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, AddressCategory], ...] = (
    (_v4("0.0.0.0/8"), AddressCategory.UNSPECIFIED),  # "this network"; 0.x reaches localhost on Linux
    (_v4("127.0.0.0/8"), AddressCategory.LOOPBACK),
    (_v4("169.254.0.0/16"), AddressCategory.LINK_LOCAL),
    (_v4("224.0.0.0/4"), AddressCategory.MULTICAST),
    (_v4("240.0.0.0/4"), AddressCategory.RESERVED),  # includes 255.255.255.255
    (_v4("100.64.0.0/10"), AddressCategory.SHARED),
    (_v4("10.0.0.0/8"), AddressCategory.PRIVATE),
    (_v4("172.16.0.0/12"), AddressCategory.PRIVATE),
    (_v4("192.168.0.0/16"), AddressCategory.PRIVATE),
    (_v4("192.0.0.0/24"), AddressCategory.RESERVED),  # IETF protocol assignments
    (_v4("192.0.2.0/24"), AddressCategory.RESERVED),  # documentation (TEST-NET-1..3)
    (_v4("198.51.100.0/24"), AddressCategory.RESERVED),
    (_v4("203.0.113.0/24"), AddressCategory.RESERVED),
    (_v4("198.18.0.0/15"), AddressCategory.RESERVED),  # benchmarking
    (_v4("192.88.99.0/24"), AddressCategory.RESERVED),  # deprecated 6to4 relay anycast
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, AddressCategory], ...] = (
    (_v6("::/128"), AddressCategory.UNSPECIFIED),
    (_v6("::1/128"), AddressCategory.LOOPBACK),
    (_v6("fe80::/10"), AddressCategory.LINK_LOCAL),
    (_v6("ff00::/8"), AddressCategory.MULTICAST),
    (_v6("fc00::/7"), AddressCategory.PRIVATE),  # unique local
    (_v6("2001:db8::/32"), AddressCategory.RESERVED),  # documentation
    (_v6("2001::/23"), AddressCategory.RESERVED),  # IETF protocol assignments (Teredo, ORCHID, ...)
)
_V6_GLOBAL_UNICAST = _v6("2000::/3")
_V6_NAT64 = _v6("64:ff9b::/96")  # well-known NAT64 prefix: the low 32 bits are an IPv4 destination


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address will actually reach, for the forms that tunnel/translate to v4."""
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    if address in _V6_NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour  # 2002:aabb:ccdd::/48, or None


def classify_address(address: str | IPAddress) -> AddressCategory:
    """Classify an IP address for egress decisions.

    IPv6 forms that lead to an IPv4 destination (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) are
    classified by that destination, so ``::ffff:169.254.169.254`` is metadata. IPv6 outside global unicast
    (2000::/3) that no specific rule covers is reserved. Raises ``ValueError`` for a non-address.
    """
    if isinstance(address, str):
        # A zone id ("fe80::1%eth0") does not change what kind of address it is.
        address = ipaddress.ip_address(address.split("%", 1)[0])
    if address in _METADATA_ADDRESSES:
        return AddressCategory.METADATA
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return classify_address(embedded)
        for network6, category in _V6_RULES:
            if address in network6:
                return category
        if address not in _V6_GLOBAL_UNICAST:
            return AddressCategory.RESERVED
        return AddressCategory.PUBLIC
    for network4, category in _V4_RULES:
        if address in network4:
            return category
    return AddressCategory.PUBLIC


# --- deadlines ------------------------------------------------------------------------------------


class _DeadlinePassedError(TimeoutError):
    """No time is left for the next blocking operation of a transfer."""


class _Deadline:
    """When one transfer must be over, and how long each blocking socket operation may wait within it."""

    def __init__(self, deadline_s: float, per_operation_s: float) -> None:
        self.deadline_s = deadline_s
        self.per_operation_s = per_operation_s
        self._ends_at = time.monotonic() + deadline_s

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self._ends_at - time.monotonic()

    def operation_timeout(self) -> float:
        """The timeout of the next blocking operation: the per-operation timeout, or what is left of the
        deadline if less; raises :class:`_DeadlinePassedError` when nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise _DeadlinePassedError("the transfer deadline has passed")
        return min(self.per_operation_s, left)


class _DeadlineReader(io.RawIOBase):
    """The reading side of a socket (``socket.makefile("rb", buffering=0)``) whose every read waits at
    most what the transfer's deadline leaves, so a reply that drips is cut at the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # holds a reference, as http.client's file does
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int | None:  # type: ignore[override]
        self._sock.settimeout(self._deadline.operation_timeout())
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected socket (plain or TLS) for http.client: sends and reads bounded by the deadline.

    http.client sends with ``sendall`` and reads the status line, headers and body through
    ``makefile("rb")``; everything else (``close`` included) goes to the socket itself.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes, flags: int = 0) -> None:
        # since Python 3.5 the timeout bounds sendall as a whole
        self._sock.settimeout(self._deadline.operation_timeout())
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)  # type: ignore[call-overload]
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


# --- connections pinned to checked addresses --------------------------------------------------------


def _connect_pinned(addresses: Sequence[str], port: int, deadline: _Deadline) -> socket.socket:
    """Open a TCP connection to the first reachable address of ``addresses`` (IP literals only)."""
    last_error: OSError | None = None
    for address in addresses:
        try:
            # An IP literal makes create_connection skip DNS, so this cannot be rebound.
            sock = socket.create_connection((address, port), timeout=deadline.operation_timeout())
        except _DeadlinePassedError:
            raise
        except OSError as exc:
            last_error = exc
            continue
        with contextlib.suppress(OSError):  # as http.client does: fewer round trips for small requests
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    if last_error is None:
        raise OSError("no address to connect to")
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection that connects to pre-checked IPs instead of resolving ``host`` again, every
    blocking operation bounded by the transfer's deadline."""

    def __init__(self, host: str, port: int, *, addresses: Sequence[str], deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.per_operation_s)
        self._pinned_addresses = tuple(addresses)
        self._deadline = deadline

    def connect(self) -> None:
        """Connect to the pinned addresses; ``self.host`` is only used for the Host header."""
        sock = _connect_pinned(self._pinned_addresses, self.port, self._deadline)
        self.sock = _DeadlineSocket(sock, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPSConnection to pre-checked IPs, with SNI and certificate checks against the hostname."""

    def __init__(
        self, host: str, port: int, *, addresses: Sequence[str], deadline: _Deadline, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=deadline.per_operation_s, context=context)
        self._pinned_addresses = tuple(addresses)
        self._tls_context = context
        self._deadline = deadline

    def connect(self) -> None:
        """Connect to the pinned addresses, then TLS-wrap using the original hostname."""
        raw = _connect_pinned(self._pinned_addresses, self.port, self._deadline)
        try:
            raw.settimeout(self._deadline.operation_timeout())  # the handshake, within the deadline
            tls = self._tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = _DeadlineSocket(tls, self._deadline)


# --- the client ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A URL that passed the guard, with the addresses it is allowed to reach."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) hostname or IP literal without brackets
    port: int
    request_target: str  # path + query, ASCII
    addresses: tuple[str, ...]

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _default_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with getaddrinfo to IP address strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _ascii_request_target(path: str, query: str) -> str:
    target = path or "/"
    if query:
        target = f"{target}?{query}"
    # http.client only sends ASCII; percent-encode anything else rather than fail.
    return "".join(ch if ord(ch) < 128 else quote(ch) for ch in target)


def _past_deadline(host: str, deadline: _Deadline | None) -> TransferDeadlineError | None:
    """The error to raise for a failure once ``deadline`` has passed (``None`` while time is left)."""
    if deadline is None or deadline.remaining() > 0:
        return None
    return TransferDeadlineError(
        f"the transfer with {host} did not finish within its deadline of {deadline.deadline_s:g} s"
    )


@contextlib.contextmanager
def _network_errors(host: str, deadline: _Deadline | None = None) -> Iterator[None]:
    """Turn low-level network/TLS/protocol exceptions into :class:`FetchError` with a human message;
    any of them once ``deadline`` has passed is a :class:`TransferDeadlineError` naming it."""
    try:
        yield
    except TonearmError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"TLS certificate verification failed for {host}: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise _past_deadline(host, deadline) or FetchError(
            f"TLS error talking to {host}: {exc.reason or exc}"
        ) from exc
    except TimeoutError as exc:
        raise _past_deadline(host, deadline) or FetchError(f"timed out talking to {host}") from exc
    except ConnectionRefusedError as exc:
        raise FetchError(f"connection refused by {host}") from exc
    except ConnectionResetError as exc:
        raise FetchError(f"connection reset by {host}") from exc
    except OSError as exc:
        raise _past_deadline(host, deadline) or FetchError(
            f"network error talking to {host}: {exc.strerror or exc}"
        ) from exc
    except http.client.HTTPException as exc:
        raise _past_deadline(host, deadline) or FetchError(
            f"invalid HTTP response from {host} ({type(exc).__name__})"
        ) from exc


class SafeHttpClient:
    """HTTP client that only reaches destinations allowed by an :class:`EgressPolicy`.

    ``resolver(host, port)`` returns IP strings (default: getaddrinfo); tests inject one. ``ssl_context``
    defaults to ``ssl.create_default_context()`` (system CAs, hostname checking on). ``timeout_s`` bounds
    the connect and every socket read/write; ``deadline_s`` the whole transfer (a request or download may
    pass its own: webhooks bound each attempt tighter, see ``tonearm.events.delivery``).
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        timeout_s: float = 10.0,
        deadline_s: float = DEFAULT_DEADLINE_S,
        resolver: Callable[[str, int], list[str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self._resolver = resolver or _default_resolver
        self._ssl_context = ssl_context or ssl.create_default_context()

    # -- the guard --

    def check_url(self, url: str) -> None:
        """Validate ``url`` against the policy, resolving its host.

        Raises :class:`UrlForbiddenError` if the URL or any resolved address is not allowed, and
        :class:`FetchError` if the host does not resolve.
        """
        self._check(url)

    def _check(self, url: str) -> _Target:
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
            raise UrlForbiddenError("URL must not contain whitespace or control characters")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "http":
            if not self.policy.allow_http:
                raise UrlForbiddenError("plain http URLs are not allowed; use https")
        elif scheme != "https":
            raise UrlForbiddenError(f"URL scheme {scheme or '(none)'!r} is not allowed; use https")
        if "@" in parts.netloc:
            raise UrlForbiddenError("URLs with credentials (user:password@) are not allowed")
        hostname = parts.hostname
        if not hostname:
            raise UrlForbiddenError("URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise UrlForbiddenError("URL has an invalid port") from exc
        if self.policy.allowed_ports is not None and port not in self.policy.allowed_ports:
            raise UrlForbiddenError(f"port {port} is not allowed")

        try:
            literal: IPAddress | None = ipaddress.ip_address(hostname)
        except ValueError:
            literal = None
        if literal is not None:
            host = hostname
            addresses = [hostname]
        else:
            try:
                host = hostname.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise UrlForbiddenError("URL host is not a valid hostname") from exc
            addresses = self._resolve(host, port)

        for address in addresses:
            try:
                category = classify_address(address)
            except ValueError as exc:
                raise UrlForbiddenError(f"host {host!r} resolved to something that is not an IP") from exc
            if not self.policy.permits(category):
                # The category, not the address: don't echo internal DNS answers back to callers.
                raise UrlForbiddenError(f"host {host!r} resolves to a {category.value} address, not allowed")

        return _Target(
            url=url,
            scheme=scheme,
            host=host,
            port=port,
            request_target=_ascii_request_target(parts.path, parts.query),
            addresses=tuple(addresses),
        )

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            raw = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"could not resolve host {host!r}") from exc
        addresses = list(dict.fromkeys(raw))  # dedupe, keep resolver order
        if not addresses:
            raise FetchError(f"could not resolve host {host!r}")
        return addresses

    # -- requests --

    def _deadline(self, timeout_s: float | None, deadline_s: float | None) -> _Deadline:
        """The deadline of a transfer starting now."""
        return _Deadline(
            self.deadline_s if deadline_s is None else deadline_s,
            self.timeout_s if timeout_s is None else timeout_s,
        )

    def _connection(self, target: _Target, deadline: _Deadline) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return _PinnedHTTPSConnection(
                target.host,
                target.port,
                addresses=target.addresses,
                deadline=deadline,
                context=self._ssl_context,
            )
        return _PinnedHTTPConnection(target.host, target.port, addresses=target.addresses, deadline=deadline)

    def _open(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        deadline: _Deadline,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, _Target]:
        """Send the request (following GET redirects) and return the open connection and response, all
        within ``deadline``.

        The caller must close the connection.
        """
        method = method.upper()
        # Host is derived from the checked URL; a caller-supplied one could disagree with it.
        request_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        request_headers.setdefault("User-Agent", _USER_AGENT)
        request_headers.setdefault("Connection", "close")
        current = url
        previous: _Target | None = None
        for redirects in range(_MAX_REDIRECTS + 1):
            target = self._check(current)
            if previous is not None and previous.origin != target.origin:
                request_headers = {
                    k: v for k, v in request_headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS
                }
            conn = self._connection(target, deadline)
            try:
                with _network_errors(target.host, deadline):
                    conn.request(method, target.request_target, body=body, headers=request_headers)
                    resp = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            location = resp.getheader("Location")
            if method == "GET" and resp.status in _REDIRECT_STATUSES and location:
                conn.close()
                if redirects == _MAX_REDIRECTS:
                    raise FetchError(f"too many redirects (more than {_MAX_REDIRECTS}) from {target.host}")
                current = urljoin(current, location.strip())
                previous = target
                continue
            return conn, resp, target
        raise AssertionError("unreachable")  # the loop always returns or raises

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_response_bytes: int = 100 * 1024 * 1024,
        timeout_s: float | None = None,
        deadline_s: float | None = None,
    ) -> HttpResponse:
        """Send a request and read the whole response.

        Non-2xx statuses are returned, not raised. Only GET follows redirects (at most 3, each re-checked).
        Raises :class:`UrlForbiddenError`, :class:`FetchError` (:class:`TransferDeadlineError` past the
        deadline), or :class:`ResponseTooLargeError` when the body exceeds ``max_response_bytes``.
        ``timeout_s`` (each socket operation) and ``deadline_s`` (the whole request, from connect to the
        last byte of the reply) replace the client's for this request.
        """
        deadline = self._deadline(timeout_s, deadline_s)
        conn, resp, target = self._open(method, url, body, headers, deadline)
        try:
            with _network_errors(target.host, deadline):
                if resp.length is not None and resp.length > max_response_bytes:
                    raise ResponseTooLargeError(
                        f"response from {target.host} is {resp.length} bytes; limit is {max_response_bytes}"
                    )
                chunks: list[bytes] = []
                total = 0
                while True:
                    # Ask for one byte past the limit so an oversize body is detected without reading it all.
                    chunk = resp.read1(min(_CHUNK_BYTES, max_response_bytes - total + 1))
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_response_bytes:
                        raise ResponseTooLargeError(
                            f"response from {target.host} exceeds the limit of {max_response_bytes} bytes"
                        )
                    chunks.append(chunk)
                merged: dict[str, str] = {}
                for name, value in resp.getheaders():
                    key = name.lower()
                    merged[key] = f"{merged[key]}, {value}" if key in merged else value
                return HttpResponse(status=resp.status, headers=merged, body=b"".join(chunks))
        finally:
            conn.close()

    def download_to(
        self,
        url: str,
        fileobj: BinaryIO,
        *,
        max_bytes: int,
        timeout_s: float | None = None,
        deadline_s: float | None = None,
    ) -> int:
        """Stream a GET response body into ``fileobj`` and return the number of bytes written.

        Raises :class:`FetchError` on a non-2xx status, :class:`TransferDeadlineError` if the whole
        download (redirects included) takes longer than ``deadline_s`` (default: the client's), and
        :class:`ResponseTooLargeError` if the Content-Length (checked before reading) or the bytes actually
        received exceed ``max_bytes``; in the latter cases ``fileobj`` holds a partial body that the caller
        should discard.
        """
        deadline = self._deadline(timeout_s, deadline_s)
        conn, resp, target = self._open("GET", url, None, None, deadline)
        try:
            with _network_errors(target.host, deadline):
                if not 200 <= resp.status < 300:
                    # Host only: the URL may carry presigned credentials in its query string.
                    raise FetchError(f"{target.host} returned HTTP {resp.status} {resp.reason}".rstrip())
                if resp.length is not None and resp.length > max_bytes:
                    raise ResponseTooLargeError(f"input is {resp.length} bytes; the limit is {max_bytes}")
                written = 0
                while True:
                    chunk = resp.read1(min(_CHUNK_BYTES, max_bytes - written + 1))
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > max_bytes:
                        raise ResponseTooLargeError(f"input exceeds the limit of {max_bytes} bytes")
                    fileobj.write(chunk)
                return written
        finally:
            conn.close()
