"""Benchmark: a 30 s MP3 through the local stack, upload -> job -> SUCCEEDED -> verified webhook.

Starts ``tonearm serve`` on a free port, drives it with the official Music.AI SDK, receives the
webhook on loopback, and reports per-phase wall times (median and max over ``--runs``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import requests
import soundfile as sf
from musicai_sdk import MusicAiClient
from standardwebhooks.webhooks import Webhook

from tonearm.events.signing import secret_key_bytes

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_mp3(path: Path, *, seconds: float = 30.0, sr: int = 44100) -> None:
    """A stereo chord with a decaying click track, encoded as MP3 by libsndfile."""
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    clicks = 0.4 * np.exp(-40 * (t % 0.5)) * np.sin(2 * np.pi * 2000 * t)
    y = np.stack([chord + clicks, chord - 0.5 * clicks], axis=1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="MP3")
    path.write_bytes(buf.getvalue())


class Hooks:
    """Webhook requests received, with their arrival times."""

    def __init__(self) -> None:
        self.received: dict[str, tuple[float, dict[str, str], bytes]] = {}
        self.event = threading.Condition()


def start_receiver(hooks: Hooks) -> tuple[ThreadingHTTPServer, str]:
    """A loopback webhook receiver."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            job_id = json.loads(body)["id"]
            with hooks.event:
                hooks.received[job_id] = (time.perf_counter(), dict(self.headers.items()), body)
                hooks.event.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/hook"


def one_run(client: MusicAiClient, song: Path, hook_url: str, hooks: Hooks) -> dict[str, float]:
    """Time one round trip; raise if anything is wrong."""
    t0 = time.perf_counter()
    url = client.upload_file(str(song))
    t1 = time.perf_counter()
    job_id = client.add_job(
        "bench", "tonearm/audio-info", {"inputUrl": url}, metadata={"webhookUrl": hook_url}
    )["id"]
    t2 = time.perf_counter()
    job = client.wait_for_job_completion(job_id)
    t3 = time.perf_counter()
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"job failed: {job['error']}")
    with hooks.event:
        hooks.event.wait_for(lambda: job_id in hooks.received, timeout=30)
    arrived, headers, body = hooks.received[job_id]
    Webhook(SECRET).verify(body, headers)
    expected = hmac.new(secret_key_bytes(SECRET), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers["X-Signature"], expected):
        raise RuntimeError("X-Signature mismatch")
    wav = requests.get(job["result"]["wav"], timeout=30).content
    t4 = time.perf_counter()
    if sf.info(io.BytesIO(wav)).subtype != "PCM_16":
        raise RuntimeError("output is not 16-bit WAV")
    return {
        "upload_s": t1 - t0,
        "create_s": t2 - t1,
        "completion_seen_s": t3 - t2,
        "webhook_after_create_s": arrived - t1,
        "upload_to_verified_webhook_s": arrived - t0,
        "total_with_download_s": t4 - t0,
    }


def main() -> int:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "job_roundtrip.json")
    args = parser.parse_args()
    hooks = Hooks()
    receiver, hook_url = start_receiver(hooks)
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.mp3"
        render_mp3(song)
        port = free_port()
        env = {**os.environ, "TONEARM_API_KEY": KEY, "TONEARM_WEBHOOK_SECRET": SECRET}
        server = subprocess.Popen(
            [sys.executable, "-m", "tonearm.cli", "serve", "--port", str(port), "--data-dir", f"{tmp}/data"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if requests.get(base + "/health", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            client = MusicAiClient(api_key=KEY, job_monitor_interval=0.05, timeout=30)
            client.base_url = base + "/v1"
            one_run(client, song, hook_url, hooks)  # warm-up: imports, first decode
            runs = [one_run(client, song, hook_url, hooks) for _ in range(args.runs)]
        finally:
            server.terminate()
            server.wait(timeout=30)
            receiver.shutdown()
        size = song.stat().st_size
    report = {
        "what": "30 s stereo 44.1 kHz MP3: SDK upload, POST /v1/job, SUCCEEDED, signed webhook verified",
        "input_bytes": size,
        "runs": args.runs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]},
        "max": {k: round(max(r[k] for r in runs), 3) for k in runs[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
