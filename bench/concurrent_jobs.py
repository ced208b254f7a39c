"""Benchmark: throughput of many small concurrent jobs against a real local server (issue 18).

Starts ``tonearm serve`` (``python -m tonearm.cli serve``) in a subprocess on a free port with a fresh
data folder, uploads one 5 s WAV once (``GET /v1/upload`` + ``PUT``), then submits ``--jobs`` jobs of
``--workflow`` on it (default 500 ``tonearm/audio-info``, the cheapest workflow that reads audio) from
``--clients`` client threads at once (default 50), each thread posting its share back to back. One
monitor thread asks ``GET /v1/job?status=QUEUED&status=STARTED&size=1`` every 0.2 s until nothing is
left; then the jobs are read back in pages of 100 (so the client's own load stays far below the
per-application rate limit of the job API, where the code has one).

Reported: jobs/s (jobs SUCCEEDED over the server-side span from the first ``createdAt`` to the last
``completedAt``, and over the client's wall clock to "nothing left"), time to SUCCEEDED per job
(``completedAt - createdAt``, p50/p95/max), time queued (``startedAt - createdAt``), the latency of
``POST /v1/job`` under the burst, and every failure (a non-2xx on submission, or a FAILED job, by code).
A warm-up job (imports, first decode) runs before and is not counted.

The code measured is whatever ``import tonearm`` finds: run it with ``PYTHONPATH=<tree>/layers/core`` and
``cwd=<tree>`` to measure another checkout (``--root`` defaults to that tree). Each run is merged into
``--out`` under ``--label``, with the commit, the machine and the date::

    git worktree add /tmp/wt-before 08c9ac7
    (cd /tmp/wt-before && PYTHONPATH=/tmp/wt-before/layers/core \\
        /work/main/.venv/bin/python /work/main/bench/concurrent_jobs.py --label before)
    .venv/bin/python bench/concurrent_jobs.py --label now
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
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
from pathlib import Path
from typing import Any

import numpy as np
import requests
import soundfile as sf

HERE = Path(__file__).resolve().parents[1]
KEY = "bench-concurrent-key"
TERMINAL = ("SUCCEEDED", "FAILED")


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tonearm_root() -> Path:
    """The checkout whose ``tonearm`` this interpreter imports (``PYTHONPATH`` decides)."""
    import tonearm

    return Path(tonearm.__file__).resolve().parents[3]


def commit_of(root: Path) -> str:
    """``root``'s HEAD commit, ``+dirty`` when its work tree has changes."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    commit = head.stdout.strip() or "unknown"
    return commit + ("+dirty" if status.stdout.strip() else "")


def diff_digest(root: Path) -> str | None:
    """SHA-256 of ``git diff HEAD`` in ``root`` (identifies a dirty tree's state), or None when clean."""
    diff = subprocess.run(["git", "-C", str(root), "diff", "HEAD"], capture_output=True)
    return hashlib.sha256(diff.stdout).hexdigest() if diff.stdout else None


def machine() -> dict[str, Any]:
    """What ran the benchmark (a shared machine: the load average says how busy it was)."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def render_wav(seconds: float = 5.0, sr: int = 44100) -> bytes:
    """A stereo chord with clicks, 16-bit WAV."""
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    clicks = 0.4 * np.exp(-40 * (t % 0.5)) * np.sin(2 * np.pi * 2000 * t)
    y = np.stack([chord + clicks, chord - 0.5 * clicks], axis=1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def quantiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, max and mean (seconds, 3 decimals)."""
    if not values:
        return {"p50": None, "p95": None, "max": None, "mean": None}
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))]

    return {
        "p50": round(q(0.50), 3),
        "p95": round(q(0.95), 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def stamp(value: str | None) -> float | None:
    """An ISO timestamp of the job API as epoch seconds."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


class Server:
    """``tonearm serve`` in a subprocess."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "server.log"
        env = {**os.environ, "TONEARM_API_KEY": KEY, "POWERTOOLS_METRICS_DISABLED": "true"}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tonearm.cli",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--project-root",
                str(root),
            ],
            cwd=root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log_path.read_text()[-4000:])
            try:
                if requests.get(self.base + "/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start:\n" + self.log_path.read_text()[-4000:])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def upload(base: str, data: bytes) -> str:
    """Upload ``data`` once; the URL jobs read it from."""
    urls = requests.get(base + "/v1/upload", headers={"Authorization": KEY}, timeout=30)
    urls.raise_for_status()
    put = requests.put(urls.json()["uploadUrl"], data=data, timeout=60)
    put.raise_for_status()
    return str(urls.json()["downloadUrl"])


def wait_idle(base: str, *, timeout_s: float, interval_s: float = 0.2) -> float:
    """Poll until no job is QUEUED or STARTED; the time it was first seen so."""
    session = requests.Session()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = session.get(
            base + "/v1/job",
            params=[("status", "QUEUED"), ("status", "STARTED"), ("size", "1")],
            headers={"Authorization": KEY},
            timeout=30,
        )
        if reply.status_code == 200 and reply.json() == []:
            return time.time()
        time.sleep(interval_s)
    raise RuntimeError(f"jobs still running after {timeout_s} s")


def list_jobs(base: str) -> list[dict[str, Any]]:
    """Every job of the application, in pages of 100."""
    jobs: list[dict[str, Any]] = []
    page = 0
    while True:
        reply = requests.get(
            base + "/v1/job", params={"size": 100, "page": page}, headers={"Authorization": KEY}, timeout=60
        )
        reply.raise_for_status()
        batch = reply.json()
        jobs += batch
        if len(batch) < 100:
            return jobs
        page += 1


def one_run(
    root: Path, *, jobs: int, clients: int, workflow: str, seconds: float, timeout_s: float
) -> dict[str, Any]:
    """Start a server, run the burst, read the jobs back; the measurements."""
    with tempfile.TemporaryDirectory(prefix="tonearm-bench-") as tmp:
        server = Server(root, Path(tmp) / "data")
        try:
            base = server.base
            url = upload(base, render_wav(seconds))
            warm = requests.post(
                base + "/v1/job",
                json={"name": "warm-up", "workflow": workflow, "params": {"inputUrl": url}},
                headers={"Authorization": KEY},
                timeout=60,
            )
            warm.raise_for_status()
            wait_idle(base, timeout_s=120)

            submissions: list[dict[str, Any]] = [{} for _ in range(jobs)]
            barrier = threading.Barrier(clients + 1)

            def client(indices: range) -> None:
                session = requests.Session()
                barrier.wait()
                for i in indices:
                    t0 = time.time()
                    try:
                        reply = session.post(
                            base + "/v1/job",
                            json={"name": f"bench-{i}", "workflow": workflow, "params": {"inputUrl": url}},
                            headers={"Authorization": KEY},
                            timeout=120,
                        )
                        answer = {"status": reply.status_code, "body": reply.text[:300]}
                    except requests.RequestException as exc:
                        answer = {"status": None, "body": f"{type(exc).__name__}: {exc}"[:300]}
                    submissions[i] = {"sent": t0, "answered": time.time(), **answer}

            share = -(-jobs // clients)
            threads = [
                threading.Thread(target=client, args=(range(k * share, min(jobs, (k + 1) * share)),))
                for k in range(clients)
            ]
            for thread in threads:
                thread.start()
            barrier.wait()
            started = time.time()
            for thread in threads:
                thread.join()
            submitted = time.time()
            idle = wait_idle(base, timeout_s=timeout_s)
            listed = [j for j in list_jobs(base) if str(j.get("name", "")).startswith("bench-")]
        finally:
            server.close()

    refused = [s for s in submissions if s.get("status") != 200]
    succeeded = [j for j in listed if j["status"] == "SUCCEEDED"]
    failed = [j for j in listed if j["status"] == "FAILED"]
    created = [stamp(j["createdAt"]) for j in listed]
    completed = [stamp(j["completedAt"]) for j in succeeded]
    span = (max(c for c in completed if c) - min(c for c in created if c)) if succeeded else None
    to_done = [stamp(j["completedAt"]) - stamp(j["createdAt"]) for j in succeeded]  # type: ignore[operator]
    queued = [
        stamp(j["startedAt"]) - stamp(j["createdAt"])  # type: ignore[operator]
        for j in listed
        if j.get("startedAt")
    ]
    return {
        "jobs": jobs,
        "clients": clients,
        "succeeded": len(succeeded),
        "failed": len(failed),
        "failed_by_code": dict(collections.Counter((j.get("error") or {}).get("code") for j in failed)),
        "submissions_refused": len(refused),
        "refused_by_status": dict(collections.Counter(str(s.get("status")) for s in refused)),
        "refused_examples": [s.get("body") for s in refused[:3]],
        "not_terminal": len([j for j in listed if j["status"] not in TERMINAL]),
        "jobs_per_s_server": round(len(succeeded) / span, 2) if span else None,
        "jobs_per_s_client": round(len(succeeded) / (idle - started), 2) if idle > started else None,
        "server_span_s": round(span, 3) if span else None,
        "client_wall_s": round(idle - started, 3),
        "submit_burst_s": round(submitted - started, 3),
        "time_to_succeeded_s": quantiles(to_done),
        "time_queued_s": quantiles(queued),
        "submit_latency_s": quantiles([s["answered"] - s["sent"] for s in submissions if s]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", required=True, help="key in --out, e.g. before or now")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workflow", default="tonearm/audio-info")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the WAV every job reads")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the jobs")
    parser.add_argument("--root", type=Path, default=None, help="the checkout to serve (default: tonearm's)")
    parser.add_argument("--out", type=Path, default=HERE / "bench" / "results" / "concurrent_jobs.json")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add these runs to the label's earlier ones (interleaved rounds)",
    )
    args = parser.parse_args()
    root = (args.root or tonearm_root()).resolve()
    print(f"measuring {root} ({commit_of(root)}); tonearm from {tonearm_root()}", flush=True)
    host = machine()
    report: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    earlier = report.get(args.label, {}) if args.append else {}
    runs: list[dict[str, Any]] = list(earlier.get("runs", []))
    for n in range(args.repeats):
        load = [round(x, 2) for x in os.getloadavg()]
        run = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "load_average_at_start": load}
        run |= one_run(
            root,
            jobs=args.jobs,
            clients=args.clients,
            workflow=args.workflow,
            seconds=args.seconds,
            timeout_s=args.timeout,
        )
        print(f"run {n + 1}: {json.dumps(run)}", flush=True)
        runs.append(run)

    def median_of(pick: Any) -> float | None:
        values = [v for v in map(pick, runs) if v is not None]
        return round(statistics.median(values), 3) if values else None

    result = {
        "commit": commit_of(root),
        "uncommitted_diff_sha256": diff_digest(root),
        "tree": str(root),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": host,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "what": f"{args.jobs} {args.workflow} jobs on one {args.seconds:g} s 16-bit stereo WAV (uploaded "
        f"once), submitted from {args.clients} client threads at once to `tonearm serve` (default settings)",
        "summary": {
            "runs": len(runs),
            "jobs_per_s_server_median": median_of(lambda r: r["jobs_per_s_server"]),
            "jobs_per_s_server_each": [r["jobs_per_s_server"] for r in runs],
            "time_to_succeeded_p50_s_median": median_of(lambda r: r["time_to_succeeded_s"]["p50"]),
            "time_to_succeeded_p95_s_median": median_of(lambda r: r["time_to_succeeded_s"]["p95"]),
            "failures": sum(r["failed"] + r["submissions_refused"] + r["not_terminal"] for r in runs),
        },
        "runs": runs,
    }
    report[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
