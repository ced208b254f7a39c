"""The local server in a subprocess on a free port, and a webhook receiver on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PROJECT_ROOT, wait_for

API_KEY = "e2e-api-key"
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``tonearm serve``."""

    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def headers(self) -> dict[str, str]:
        """Auth headers."""
        return {"Authorization": API_KEY}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET with the API key."""
        return requests.get(self.base_url + path, headers=self.headers(), timeout=10, **kwargs)


def start_server(
    port: int,
    data_dir: Path,
    *,
    api_key: str,
    log_path: Path,
    https: bool = False,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``tonearm serve`` on ``port`` with ``data_dir`` (output appended to ``log_path``) and return
    once ``/health`` answers; a server that exits first fails the test with its log. ``https``: serve
    with ``--https`` and check health against the CA it writes (``data_dir/tls/ca.pem``); ``env``: more
    environment for the server."""
    server_env = {
        **os.environ,
        "TONEARM_API_KEY": api_key,
        "TONEARM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_BASE_DELAY_SECONDS": "0.05",
        **(env or {}),
    }
    command = [sys.executable, "-m", "tonearm.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--project-root", str(PROJECT_ROOT)]
    command += ["--https"] if https else []
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    ca = data_dir / "tls" / "ca.pem"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(log_path.read_text(errors="replace"))
        if https and not ca.is_file():
            return False
        try:
            verify: str | bool = str(ca) if https else True
            return requests.get(base_url + "/health", timeout=1, verify=verify).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout_s=60, interval_s=0.05)
    return process


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tonearm serve`` on a free port with a fresh data folder."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("server-data")
    process = start_server(port, data_dir, api_key=API_KEY, log_path=data_dir / "server.log")
    yield Server(base_url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process)
    process.terminate()
    process.wait(timeout=20)


@dataclass
class Receiver:
    """Webhook requests received on loopback; answers ``fail_first`` 500s, then 200s."""

    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    always_fail: bool = False

    def bodies(self) -> list[dict[str, Any]]:
        """Decoded JSON bodies."""
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port."""
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(({k: v for k, v in self.headers.items()}, body))
                failing = state.always_fail or len(state.requests) <= state.fail_first
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
