"""Generation benchmark: speed on one thread, the controls honoured (closed loop), taggers, determinism.

One command measures everything and writes ``generation.json`` (every number) and ``generation.md``
next to it::

    python -m bench.generation.run --out bench/results/generation.json
    python -m bench.generation.run --quick --out /tmp/generation.json     # smoke run, ~1 minute

Measured (see ``bench/generation/README.md``):

* speed (``worker.py --mode speed``, a fresh process bound to one CPU): a 30 s track end to end, median
  of 7 after a warm-up, a 300 s track 3 times, one 30 s track per style; per-stage times from the
  ``progress`` callback; peak RSS of a 30 s and a 300 s generation (``--mode memory``, one process each);
* the grid (``grid.py``): 60 tracks over the 20 styles, 12 scales and 60-200 bpm: tempo (Acc1/Acc2),
  key, duration, format; the musicnn taggers' probability of each style's genre tag;
* density and brightness sweeps: onset rate and spectral centroid at 0.2 / 0.5 / 0.9;
* determinism: same seed twice, in one process and across processes; two seeds.
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

from bench.common import ROOT, default_cpu, single_thread_env
from bench.tagging.common import machine

from . import grid, report, worker


def run_worker(mode: str, out: Path, cpu: int | None, *extra: str) -> dict[str, Any]:
    """``python -m bench.generation.worker --mode MODE ...`` in a fresh single-threaded process."""
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.generation.worker", "--mode", mode, "--out", str(out), *extra]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=single_thread_env(), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.is_file():
        doc: dict[str, Any] = json.loads(out.read_text())
    else:
        doc = {"error": f"worker exited {p.returncode}: {p.stderr.strip()[-2000:]}"}
    doc["process_wall_s"] = wall
    return doc


def _fluidsynth_version() -> str | None:
    try:
        p = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = p.stdout.strip().splitlines()
    return first[0].split()[-1] if first else None


def _cross_process(work: Path, seconds: int = 10) -> dict[str, Any]:
    """Two fresh processes, started together, generate the same track: are the bytes the same?

    Started at the same moment so that both import the same engine code even while it is being edited;
    each reports the digest of the sources it loaded, and the comparison counts only when they agree.
    """
    procs, outs = [], []
    for k in range(2):
        out = work / f"determinism_{k}.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.generation.worker", "--mode", "determinism", "--out", str(out)]
        cmd += ["--seconds", str(seconds)]
        procs.append(subprocess.Popen(cmd, env=single_thread_env(), cwd=ROOT, stderr=subprocess.PIPE))
        outs.append(out)
    for p in procs:
        p.wait()
    docs = [json.loads(o.read_text()) if o.is_file() else {} for o in outs]
    if any("wav_sha256" not in d for d in docs):
        return {"identical": None, "note": "a determinism worker failed", "runs": docs}
    same = docs[0]["wav_sha256"] == docs[1]["wav_sha256"]
    if docs[0]["engine_digest"] != docs[1]["engine_digest"]:
        return {"identical": None, "bytes_equal": same, "note": "engine edited between the processes"}
    return {"identical": same, "seconds": seconds, "digest": docs[0]["engine_digest"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="default: bench/results/generation.json")
    ap.add_argument("--quick", action="store_true", help="small smoke run (20 grid tracks, few repeats)")
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="CPU the timed processes use")
    ap.add_argument(
        "--report-only", action="store_true", help="measure nothing: rewrite the .md from the --out JSON"
    )
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = (
            Path(tempfile.gettempdir()) / "generation.quick.json"
            if args.quick
            else ROOT / "bench/results/generation.json"
        )
    out_path: Path = args.out.resolve()
    if args.report_only:
        saved: dict[str, Any] = json.loads(out_path.read_text())
        saved["summary"] = report.summarize(saved)
        out_path.write_text(json.dumps(saved, indent=1) + "\n")
        out_path.with_suffix(".md").write_text(report.markdown(saved))
        return 0

    started = time.perf_counter()
    rel = out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path
    doc: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f"python -m bench.generation.run {'--quick ' if args.quick else ''}--out {rel}",
        "quick": args.quick,
        "machine": machine(),
        "fluidsynth_version": _fluidsynth_version(),
        "cpu": args.cpu,
    }
    phases: dict[str, float] = {}

    def phase(name: str, t0: float) -> None:
        phases[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {phases[name]} s", flush=True)

    def log(line: str) -> None:
        print(line, flush=True)

    short_s, long_s = 30, (60 if args.quick else 300)
    with tempfile.TemporaryDirectory(prefix="generation-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        reps = ["--reps", "2", "--long-reps", "1"] if args.quick else ["--reps", "7", "--long-reps", "3"]
        extra = [] if args.quick else ["--per-style"]
        doc["speed"] = run_worker(
            "speed", work / "speed.json", args.cpu, "--seconds", str(short_s),
            "--long-seconds", str(long_s), *reps, *extra,
        )  # fmt: skip
        phase("speed", t0)
        t0 = time.perf_counter()
        doc["memory"] = {
            f"track_{s}s": run_worker("memory", work / f"memory_{s}.json", args.cpu, "--seconds", str(s))
            for s in (short_s, long_s)
        }
        phase("memory", t0)
        t0 = time.perf_counter()
        cross = _cross_process(work)
        phase("cross-process determinism", t0)

    t0 = time.perf_counter()
    doc["determinism"] = grid.run_determinism(quick=args.quick, log=log)
    doc["determinism"]["cross_process_identical"] = cross["identical"]
    doc["determinism"]["cross_process"] = cross
    modules = doc["speed"].get("engine_modules")
    doc["engine_digest"] = {
        "speed_worker": doc["speed"].get("engine_digest"),
        "grid": worker.engine_digest(modules)[0] if modules else None,
    }
    phase("determinism", t0)

    t0 = time.perf_counter()
    specs = grid.grid_specs(quick=args.quick)
    doc["grid"] = grid.run_grid(specs, log=log)
    phase("grid", t0)

    t0 = time.perf_counter()
    doc["controls"] = grid.run_controls(quick=args.quick, log=log)
    phase("controls", t0)

    doc["phases_s"] = phases
    doc["wall_s"] = round(time.perf_counter() - started, 1)
    doc["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["summary"] = report.summarize(doc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1) + "\n")
    md = out_path.with_suffix(".md")
    md.write_text(report.markdown(doc))
    print(f"wrote {out_path} and {md} in {doc['wall_s']} s")
    for f in report.failures(doc["summary"]):
        print(f"target missed: {f}", file=sys.stderr)
    errors = [k for k in ("speed",) if doc[k].get("error")]
    errors += [f"memory.{k}" for k, v in doc["memory"].items() if v.get("error")]
    for e in errors:
        print(f"error in {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
