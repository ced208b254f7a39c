"""Tagging benchmark: speed per 30 s clip and per 10-minute track, peak memory and cold load, one thread.

One command renders (or reuses) the audio, measures everything in fresh single-threaded subprocesses
bound to one CPU, and writes ``tagging.json`` (every number) and ``tagging.md`` next to it::

    python -m bench.tagging.run --out bench/results/tagging.json

Measured processes (see ``worker.py``):

* ``speed``: decode (WAV, MP3), the front end stage by stage, each model alone on the patches, and
  ``tag_signal`` per model set (MTT, MSD, both) on the 30 s clip; the same stages on the 10-minute track.
* ``peer``: tonearm's numpy front end against musicnn's librosa front end (same parameters), interleaved.
* ``memory``: one decode + ``tag_tasks`` (both models) of the 30 s MP3 and of the 10-minute MP3, each in
  its own process; the peak RSS of that process.
* cold load: ``python -c`` that imports the tagging service, builds ``ModelRegistry``, loads both models
  and tags a 1 s clip; wall time from process launch, per phase, median of 3 (``cold.py``).

See ``bench/tagging/README.md`` for the method and ``investigate.py`` for the speed investigation, whose
committed result (``investigation.json``) is summarised in the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import audio, cold, common, report

INVESTIGATION = Path(__file__).resolve().parent / "investigation.json"


def run_worker(mode: str, out: Path, cpu: int | None, *extra: str) -> dict[str, Any]:
    """``python -m bench.tagging.worker --mode MODE ...`` in a fresh single-threaded process."""
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.tagging.worker", "--mode", mode, "--out", str(out), *extra]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=common.single_thread_env(), cwd=common.ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.is_file():
        doc: dict[str, Any] = json.loads(out.read_text())
    else:
        doc = {"error": f"worker exited {p.returncode}: {p.stderr.strip()[-2000:]}"}
    doc["process_wall_s"] = wall
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=common.ROOT / "bench/results/tagging.json")
    ap.add_argument("--reps-clip", type=int, default=7, help="repetitions on the 30 s clip")
    ap.add_argument("--reps-track", type=int, default=3, help="repetitions on the 10-minute track")
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=common.default_cpu(), help="CPU the measured processes use")
    ap.add_argument("--rerender", action="store_true")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: rewrite the .md from the --out JSON and the current investigation.json",
    )
    args = ap.parse_args(argv)
    if args.report_only:
        doc = json.loads(args.out.read_text())
        doc["investigation"] = json.loads(INVESTIGATION.read_text()) if INVESTIGATION.is_file() else None
        doc["summary"] = report.summarize(doc)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(report.markdown(doc))
        return 0

    started = time.perf_counter()
    doc: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.tagging.run --out " + str(args.out.relative_to(common.ROOT))
        if args.out.is_absolute() and args.out.is_relative_to(common.ROOT)
        else "python -m bench.tagging.run --out " + str(args.out),
        "machine": common.machine(),
        "cpu": args.cpu,
        "reps": {"clip_30s": args.reps_clip, "track_10min": args.reps_track, "cold": args.cold_runs},
    }
    phases: dict[str, float] = {}

    def phase(name: str, t0: float) -> None:
        phases[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {phases[name]} s", flush=True)

    t0 = time.perf_counter()
    manifest = audio.build(rerender=args.rerender)
    doc["audio"] = {k: v for k, v in manifest.items() if k not in ("clip", "long")} | {
        "clip": {k: manifest["clip"][k] for k in ("seconds", "bytes", "section")},
        "track": {
            "seconds": manifest["long"]["seconds"],
            "bytes": manifest["long"]["bytes"],
            "sections": [f"{s['style']} ({s['bpm']} bpm)" for s in manifest["long"]["sections"]],
        },
    }
    phase("audio", t0)

    with tempfile.TemporaryDirectory(prefix="tagging-bench-") as tmp:
        work = Path(tmp)
        man = work / "manifest.json"
        man.write_text(json.dumps(manifest))
        reps = ["--reps-clip", str(args.reps_clip), "--reps-track", str(args.reps_track)]

        t0 = time.perf_counter()
        doc["cold"] = cold.measure(manifest["clip"]["wav"], work, args.cpu, args.cold_runs)
        phase("cold", t0)

        t0 = time.perf_counter()
        doc["speed"] = run_worker("speed", work / "speed.json", args.cpu, "--manifest", str(man), *reps)
        phase("speed", t0)

        t0 = time.perf_counter()
        doc["peer"] = run_worker("peer", work / "peer.json", args.cpu, "--manifest", str(man), *reps)
        phase("peer", t0)

        t0 = time.perf_counter()
        doc["memory"] = {
            case: run_worker(
                "memory", work / f"memory_{case}.json", args.cpu, "--audio", manifest[key]["mp3"]
            )
            for case, key in (("clip_30s", "clip"), ("track_10min", "long"))
        }
        phase("memory", t0)

    doc["investigation"] = json.loads(INVESTIGATION.read_text()) if INVESTIGATION.is_file() else None
    doc["summary"] = report.summarize(doc)
    doc["phases_s"] = phases
    doc["wall_s"] = round(time.perf_counter() - started, 1)
    doc["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    md = args.out.with_suffix(".md")
    md.write_text(report.markdown(doc))
    print(f"wrote {args.out} and {md} in {doc['wall_s']} s")
    errors = [k for k in ("speed", "peer") if doc[k].get("error")]
    errors += [f"memory.{k}" for k, v in doc["memory"].items() if v.get("error")]
    if doc["cold"].get("error"):
        errors.append("cold")
    for e in errors:
        print(f"error in {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
