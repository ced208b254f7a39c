"""Load test: N files dropped at once under ingest/ on the local stack all become jobs and finish.

Writes N small WAVs (1 s at 8 kHz, distinct) into the local bucket's ``ingest/tonearm/audio-info/`` in one go,
then waits until the ingest application has N jobs and every one is SUCCEEDED or FAILED. Reports the
time to the last job created, to the last job finished, throughput, and how many FAILED (and why).
The local stack runs the same path as AWS: S3 event -> IngestRule -> IngestQueue (emulated, with
redelivery) -> IngestFunction -> StartExecution -> the state machine on the local ASL runner.

    .venv/bin/python bench/ingest_load.py --files 10000 --out bench/results/ingest_load.json
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the handlers' CloudWatch metrics would print a line per job
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from tonearm.jobs.model import JobStatus  # noqa: E402
from tonearm.local_stack.runtime import LOCAL_APP_ID, build_local_runtime  # noqa: E402


def wav(n: int, *, sr: int = 8000, seconds: float = 1.0) -> bytes:
    """A distinct 1 s tone per file (so every object has its own content; 1 s is the shortest input)."""
    t = np.arange(int(sr * seconds)) / sr
    y = (0.2 * np.sin(2 * np.pi * (200.0 + n % 800) * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def run(files: int, workers: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tonearm-load-") as tmp:
        runtime = build_local_runtime(
            project_root=ROOT,
            data_dir=Path(tmp),
            base_url="http://127.0.0.1:3997",
            api_key="load-key",
            watch_interval_s=0.25,
            workers=workers,
        )
        try:
            folder = runtime.watcher.folder / "tonearm" / "audio-info"
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            for n in range(files):
                (folder / f"drop-{n:05d}.wav").write_bytes(wav(n))
            written = time.perf_counter() - started
            store = runtime.services.store
            created_at = finished_at = None
            while True:
                jobs = store.list(
                    app=LOCAL_APP_ID, statuses=[], workflows=[], batch_name=None, offset=0, limit=files + 10
                )
                now = time.perf_counter() - started
                if created_at is None and len(jobs) >= files:
                    created_at = now
                done = [j for j in jobs if j.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)]
                if len(done) >= files:
                    finished_at = now
                    break
                if now > 3600:
                    break
                time.sleep(0.5)
            failed = [j for j in jobs if j.status is JobStatus.FAILED]
            reasons = collections.Counter(j.error.code if j.error else "?" for j in failed)
            return {
                "files": files,
                "local_workers": workers,
                "write_s": round(written, 2),
                "all_jobs_created_s": None if created_at is None else round(created_at, 2),
                "all_jobs_finished_s": None if finished_at is None else round(finished_at, 2),
                "jobs": len(jobs),
                "succeeded": sum(j.status is JobStatus.SUCCEEDED for j in jobs),
                "failed": len(failed),
                "failed_by_code": dict(reasons),
                "jobs_per_s": None if finished_at is None else round(files / finished_at, 1),
                "machine": f"{platform.machine()}, {platform.python_version()}",
            }
        finally:
            runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8, help="the local stack's thread pool")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args.files, args.workers)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["failed"] == 0 and result["jobs"] == args.files else 1


if __name__ == "__main__":
    sys.exit(main())
