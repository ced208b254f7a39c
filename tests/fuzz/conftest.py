"""The fuzzers' shared set-up: the whole app on the local stack in a temp folder, a strict JSON reader,
and the ``fuzz`` marker (tests that run only under ``make fuzz``, i.e. ``pytest -m fuzz``)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import free_port

API_KEY = "fuzz-api-key"
#: the local stack's presigned URLs point here (never listened on: the tests call the app in-process)
BASE_URL = "http://127.0.0.1:3999"
#: the per-client (Sofy) and per-application (the other APIs) rate limits, raised so that the fuzzers
#: reach the routes instead of 429s
RATE_LIMITS = {
    name: "1000000"
    for name in (
        "RATE_LIMIT_PER_MINUTE",
        "RATE_LIMIT_PER_HOUR",
        "API_RATE_LIMIT_PER_MINUTE",
        "API_RATE_LIMIT_PER_HOUR",
    )
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``fuzz`` tests run only when asked for by marker (``make fuzz``: ``pytest -m fuzz``)."""
    if "fuzz" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzz run: `make fuzz` (pytest -m fuzz) runs it")
    for item in items:
        if item.get_closest_marker("fuzz") is not None:
            item.add_marker(skip)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} in JSON")


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` refusing ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON: strict parsers refuse)."""
    return json.loads(text, parse_constant=_no_constants)


def build_runtime(data_dir: Path, *, workers: int = 8) -> Any:
    """The local stack (``tonearm serve`` without the HTTP server) over ``data_dir``, key ``API_KEY``."""
    from tonearm.local_stack.runtime import build_local_runtime

    with pytest.MonkeyPatch.context() as mp:
        for name, value in RATE_LIMITS.items():
            mp.setenv(name, value)
        return build_local_runtime(
            project_root=PROJECT_ROOT,
            data_dir=data_dir,
            base_url=BASE_URL,
            api_key=API_KEY,
            webhook_base_delay_s=0.01,
            webhook_max_attempts=2,
            watch_interval_s=0.05,
            workers=workers,
        )


@dataclass
class FileServer:
    """Loopback HTTP server for ``payload.url`` and ``inputUrl``: ``GET /<name>`` answers ``files[name]``;
    ``POST`` anything is recorded (webhook deliveries) and answered 200."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    posts: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    """A :class:`FileServer` on a free loopback port."""
    port = free_port()
    state = FileServer(url=f"http://127.0.0.1:{port}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            data = state.files.get(self.path.lstrip("/"))
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: fine
                self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.posts.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def short(value: Any, limit: int = 300) -> str:
    """``value`` as at most ``limit`` characters, for failure messages."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value) if isinstance(value, Mapping | list) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
