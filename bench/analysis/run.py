"""Analysis accuracy/speed benchmark: tonearm vs librosa, Essentia and madmom on rendered music21 scores.

One command renders (or reuses) the sets, measures every tool in its own single-threaded subprocess, scores
with mir_eval and writes ``analysis.json`` (every number, per-clip rows) and ``analysis.md``::

    python -m bench.analysis.run --clips 48 --set both --out bench/results/analysis.json

``--set constant`` is the constant-tempo set (WAV + MP3, import times, the 10-minute track);
``--set realistic`` the same clips with tempo maps, humanisation, three SoundFonts, production and codecs
(WAV after production + the coded file, ``performance.py``); ``both`` (the default) runs the two.
``--tools`` picks tools (default: tonearm, librosa, essentia, madmom).

See ``bench/analysis/README.md`` for the method. ``--tonearm-impl stub`` exists only to develop the harness
before tonearm's analysis modules land; its numbers are labelled as such and must not be published.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, THREAD_VARS, default_cpu
from bench.common import single_thread_env as common_single_thread_env

from . import dataset, metrics, report
from .tools import IMPORT_STATEMENTS

TOOLS = ("tonearm", "librosa", "essentia", "madmom")


def single_thread_env() -> dict[str, str]:
    """The environment every measured subprocess gets (numba/pyc caches behave as in normal use)."""
    return common_single_thread_env(bytecode_caches=True)


def import_times(tools: list[str], impl: str, runs: int) -> dict[str, Any]:
    """Median wall time of ``python -c "<import>"`` in fresh processes, and of ``python -c pass``."""
    env = single_thread_env()

    def timed(code: str) -> tuple[float | None, str | None]:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
        dt_s = time.perf_counter() - t0
        return (dt_s, None) if p.returncode == 0 else (None, (p.stderr.strip().splitlines() or ["?"])[-1])

    out: dict[str, Any] = {}
    base = [timed("pass")[0] for _ in range(runs)]
    out["python_startup_s"] = statistics.median([b for b in base if b is not None])
    for t in tools:
        name = "tonearm-stub" if t == "tonearm" and impl == "stub" else t
        stmt = IMPORT_STATEMENTS[name]
        times, err = [], None
        for _ in range(runs):
            v, e = timed(stmt)
            if v is None:
                err = e
                break
            times.append(v)
        out[t] = {
            "statement": stmt,
            "runs": len(times),
            "median_s": statistics.median(times) if times else None,
            "median_net_s": (statistics.median(times) - out["python_startup_s"]) if times else None,
            "error": err,
        }
    return out


#: Formats each set's workers decode (the first is the one the breakdowns use).
SET_FORMATS = {"constant": ("wav", "mp3"), "realistic": ("coded", "wav")}


def run_worker(
    tool: str,
    impl: str,
    manifest: Path,
    work: Path,
    cpu: int | None,
    clips: int,
    formats: tuple[str, ...] = ("wav", "mp3"),
    reuse: bool = False,
) -> dict[str, Any]:
    """One tool over the whole set in a fresh subprocess; returns rows and summary.

    ``reuse``: take the rows of the previous run in ``work`` instead, when it covered the same clips and
    formats without an error (``--reuse-rows``); its summary then says when it ran.
    """
    out = work / f"rows_{tool}.jsonl"
    if reuse:
        previous = _previous_rows(out, tool, clips, formats)
        if previous is not None:
            return previous
    out.unlink(missing_ok=True)  # never read a previous run's rows
    cmd = [sys.executable, "-m", "bench.analysis.worker", "--tool", tool, "--tonearm-impl", impl]
    cmd += ["--manifest", str(manifest), "--out", str(out), "--clips", str(clips)]
    cmd += ["--formats", ",".join(formats)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=single_thread_env(), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rows, summary = _read_rows(out, tool) if out.is_file() else ([], {})
    if p.returncode != 0 and not summary.get("error"):
        summary["error"] = f"worker exited {p.returncode}: {p.stderr.strip()[-2000:]}"
    summary["process_wall_s"] = wall
    return {"rows": rows, "summary": summary}


def _read_rows(out: Path, tool: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A worker's JSON-lines output: its rows (each tagged with ``tool``) and its summary."""
    rows, summary = [], {}
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        if "summary" in obj:
            summary = obj["summary"]
        else:
            rows.append(obj | {"tool": tool})
    return rows, summary


def _previous_rows(out: Path, tool: str, clips: int, formats: tuple[str, ...]) -> dict[str, Any] | None:
    """The rows and summary a previous run left in ``out``, if complete and error-free."""
    if not out.is_file():
        return None
    rows, summary = _read_rows(out, tool)
    if not summary or summary.get("error") or len(rows) != clips * len(formats):
        return None
    if {r.get("format") for r in rows} != set(formats):
        return None
    ran = dt.datetime.fromtimestamp(out.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
    summary["reused_from"] = ran
    print(f"[bench] {tool}: reusing {len(rows)} rows of the run that finished {ran}", flush=True)
    return {"rows": rows, "summary": summary}


def run_long(
    tool: str,
    impl: str,
    path: Path,
    work: Path,
    cpu: int | None,
    runs: int,
    task: str = "analyze",
    reuse: bool = False,
) -> dict[str, Any]:
    """Decode + ``task`` (analyze or chords) on one long file in ``runs`` fresh subprocesses; medians and
    worst RSS. ``reuse``: take a previous run's results where all ``runs`` are there without error."""
    results = []
    previous = [work / f"long_{task}_{tool}_{path.suffix[1:]}_{i}.json" for i in range(runs)]
    if reuse and all(p.is_file() for p in previous):
        loaded = [json.loads(p.read_text()) for p in previous]
        if not any("error" in r for r in loaded):
            ran = dt.datetime.fromtimestamp(previous[-1].stat().st_mtime, dt.UTC).isoformat(
                timespec="seconds"
            )
            print(f"[bench] {tool}: reusing the 10-minute {task} runs of {ran}", flush=True)
            runs, results = 0, [r | {"reused_from": ran} for r in loaded]
    for i in range(runs):
        out = work / f"long_{task}_{tool}_{path.suffix[1:]}_{i}.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.analysis.worker", "--tool", tool, "--tonearm-impl", impl]
        cmd += ["--long", str(path), "--out", str(out), "--task", task]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        p = subprocess.run(cmd, env=single_thread_env(), cwd=ROOT, capture_output=True, text=True)
        if out.is_file():
            results.append(json.loads(out.read_text()))
        else:
            results.append({"error": f"worker exited {p.returncode}: {p.stderr.strip()[-1000:]}"})
    ok = [r for r in results if "error" not in r]
    agg: dict[str, Any] = {"file": path.name, "runs": results, "n_ok": len(ok)}
    if results and "reused_from" in results[0]:
        agg["reused_from"] = results[0]["reused_from"]
    if ok:
        for k in ("decode_s", "analysis_s", "total_s", "import_s"):
            values = [r[k] for r in ok if r.get(k) is not None]
            agg[f"median_{k}"] = statistics.median(values) if values else None
        agg["mode"] = ok[0].get("mode", "decode, then analyze")
        agg["max_maxrss_mb"] = max(r["maxrss_mb"] for r in ok)
    else:
        agg["error"] = results[0].get("error") if results else "not run"
    return agg


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and library versions."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "load_average_at_report": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    import mir_eval
    import numpy
    import scipy

    info["numpy"], info["scipy"], info["mir_eval"] = (
        numpy.__version__,
        scipy.__version__,
        mir_eval.__version__,
    )
    return info


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=48, help="number of clips (max 48, the pinned set)")
    ap.add_argument("--out", default="bench/results/analysis.json")
    ap.add_argument("--md", default=None, help="markdown report path (default: --out with .md)")
    ap.add_argument("--data", default=str(dataset.DATA_DIR), help="where the rendered set lives")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    ap.add_argument("--set", default="both", choices=["constant", "realistic", "both"], help="which set(s)")
    ap.add_argument("--tonearm-impl", default="real", choices=["real", "stub"], help="stub: harness dev only")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="render processes")
    ap.add_argument("--rerender", action="store_true", help="ignore the render cache")
    ap.add_argument("--import-runs", type=int, default=5)
    ap.add_argument("--long-runs", type=int, default=3)
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="CPU the measured processes are bound to")
    ap.add_argument(
        "--reuse-rows",
        default="",
        help="comma-separated tools whose rows (and 10-minute chord runs) the previous run left in the data "
        "folder are reused instead of run again, e.g. the peers, which tonearm's commits do not change; "
        "the report names them and when they ran",
    )
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    stages: dict[str, float] = {}
    tools = [t for t in args.tools.split(",") if t]
    reused = {t for t in args.reuse_rows.split(",") if t}
    args.reused = reused
    data_dir = Path(args.data)
    out = Path(args.out)
    md = Path(args.md) if args.md else out.with_suffix(".md")
    work = data_dir / "_runs"
    work.mkdir(parents=True, exist_ok=True)

    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        ap.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    sets = ["constant", "realistic"] if args.set == "both" else [args.set]

    realistic: dict[str, Any] | None = None
    if "realistic" in sets:
        realistic = run_realistic(args, tools, data_dir, stages)
    if "constant" not in sets:
        assert realistic is not None
        stages["total_s"] = time.perf_counter() - t_start
        doc = {
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(
                [Path(sys.executable).name, "-m", "bench.analysis.run", *(argv or sys.argv[1:])]
            ),
            "tonearm_impl": args.tonearm_impl,
            "stub_warning": _stub_warning(args.tonearm_impl),
            "machine": machine() | {"load_average_at_start": load_at_start},
            "single_thread": {"env": dict.fromkeys(THREAD_VARS, "1"), "cpu_affinity": args.cpu},
            "realistic": realistic,
            "stages_s": stages,
        }
        return _write(doc, out, md, stages)

    print(f"[bench] rendering {args.clips} clips into {data_dir} ...", flush=True)
    t0 = time.perf_counter()
    manifest = dataset.build(args.clips, data_dir, jobs=args.jobs, force=args.rerender)
    stages["render_s"] = time.perf_counter() - t0
    print(f"[bench] set ready ({manifest['rendered']} rendered, {stages['render_s']:.1f} s)", flush=True)
    clips = {c["clip_id"]: c for c in manifest["clips"]}

    t0 = time.perf_counter()
    imports = import_times(tools, args.tonearm_impl, args.import_runs)
    stages["import_timing_s"] = time.perf_counter() - t0

    results: dict[str, Any] = {}
    for tool in tools:
        print(f"[bench] {tool}: {args.clips} clips x (wav, mp3), one thread ...", flush=True)
        t0 = time.perf_counter()
        res = run_worker(
            tool,
            args.tonearm_impl,
            data_dir / "manifest.json",
            work,
            args.cpu,
            args.clips,
            SET_FORMATS["constant"],
            reuse=tool in reused,
        )
        stages[f"{tool}_s"] = time.perf_counter() - t0
        for row in res["rows"]:
            row["metrics"] = metrics.score_row(clips[row["clip_id"]], row)
        results[tool] = res
        err = res["summary"].get("error")
        print(f"[bench] {tool}: {stages[f'{tool}_s']:.1f} s" + (f" ERROR {err}" if err else ""), flush=True)

    long_res: dict[str, Any] = {}
    if not args.skip_long and "tonearm" in tools:
        t0 = time.perf_counter()
        for fmt, runs in (("mp3", args.long_runs), ("wav", 1)):
            path = data_dir / manifest["long"]["files"][fmt]
            print(f"[bench] tonearm: 10-minute {fmt} x{runs} (fresh process each) ...", flush=True)
            long_res[fmt] = run_long("tonearm", args.tonearm_impl, path, work, args.cpu, runs)
        stages["long_s"] = time.perf_counter() - t0

    # Beats and chords of the 10-minute MP3: tonearm (streaming) three times, each peer once.
    long_chords: dict[str, Any] = {}
    if not args.skip_long and "tonearm" in tools and args.tonearm_impl == "real":
        t0 = time.perf_counter()
        path = data_dir / manifest["long"]["files"]["mp3"]
        for tool in tools:
            runs = args.long_runs if tool == "tonearm" else 1
            print(f"[bench] {tool}: beats and chords of the 10-minute mp3 x{runs} ...", flush=True)
            long_chords[tool] = run_long(
                tool, args.tonearm_impl, path, work, args.cpu, runs, task="chords", reuse=tool in reused
            )
        stages["long_chords_s"] = time.perf_counter() - t0

    summary = report.summarize(results, clips)
    stages["total_s"] = time.perf_counter() - t_start
    doc = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.analysis.run", *(argv or sys.argv[1:])]),
        "tonearm_impl": args.tonearm_impl,
        "stub_warning": _stub_warning(args.tonearm_impl),
        "machine": machine() | {"load_average_at_start": load_at_start},
        "single_thread": {"env": dict.fromkeys(THREAD_VARS, "1"), "cpu_affinity": args.cpu},
        "dataset": {k: v for k, v in manifest.items() if k != "clips"} | {"n_clips": len(clips)},
        "targets": report.TARGETS,
        "summary": summary,
        "verdicts": report.verdicts(summary, long_res, imports, results, long_chords),
        "imports": imports,
        "long_track": long_res,
        "long_track_chords": long_chords,
        "tools": {t: r["summary"] for t, r in results.items()},
        "stages_s": stages,
        "clips": [report.clip_public(c) for c in manifest["clips"]],
        "rows": [
            {k: v for k, v in r.items() if k != "traceback"} for t in results for r in results[t]["rows"]
        ],
        "realistic": realistic,
    }
    tonearm_failed = "tonearm" in results and bool(results["tonearm"]["summary"].get("error"))
    return max(_write(doc, out, md, stages), 1 if tonearm_failed else 0)


def _stub_warning(impl: str) -> str | None:
    if impl != "stub":
        return None
    return "tonearm numbers come from the development stand-in (bench/analysis/stub_tonearm.py), not tonearm"


def _write(doc: dict[str, Any], out: Path, md: Path, stages: dict[str, float]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    md.write_text(report.markdown(doc))
    print(f"[bench] wrote {out} and {md} in {stages['total_s']:.0f} s", flush=True)
    real = doc.get("realistic") or {}
    failed = "tonearm" in real.get("tools", {}) and bool(real["tools"]["tonearm"].get("error"))
    return 1 if failed else 0


def run_realistic(
    args: argparse.Namespace, tools: list[str], data_dir: Path, stages: dict[str, float]
) -> dict[str, Any]:
    """Render (or reuse) the realistic set, run every tool on its coded files and WAVs, score, summarise."""
    sdir = dataset.set_dir("realistic", data_dir)
    print(f"[bench] realistic set: rendering {args.clips} clips into {sdir} ...", flush=True)
    t0 = time.perf_counter()
    manifest = dataset.build(args.clips, sdir, jobs=args.jobs, force=args.rerender, set_name="realistic")
    stages["realistic_render_s"] = time.perf_counter() - t0
    print(
        f"[bench] realistic set ready ({manifest['rendered']} rendered, {stages['realistic_render_s']:.1f} s)"
    )
    clips = {c["clip_id"]: c for c in manifest["clips"]}
    work = sdir / "_runs"
    work.mkdir(parents=True, exist_ok=True)
    formats = SET_FORMATS["realistic"]
    results: dict[str, Any] = {}
    for tool in tools:
        print(f"[bench] realistic {tool}: {args.clips} clips x {formats}, one thread ...", flush=True)
        t0 = time.perf_counter()
        res = run_worker(
            tool,
            args.tonearm_impl,
            sdir / "manifest.json",
            work,
            args.cpu,
            args.clips,
            formats,
            reuse=tool in args.reused,
        )
        stages[f"realistic_{tool}_s"] = time.perf_counter() - t0
        for row in res["rows"]:
            row["metrics"] = metrics.score_row(clips[row["clip_id"]], row)
        results[tool] = res
        err = res["summary"].get("error")
        print(
            f"[bench] realistic {tool}: {stages[f'realistic_{tool}_s']:.1f} s"
            + (f" ERROR {err}" if err else "")
        )
    summary = report.summarize(results, clips, formats=formats)
    return {
        "dataset": {k: v for k, v in manifest.items() if k != "clips"} | {"n_clips": len(clips)},
        "formats": list(formats),
        "summary": summary,
        "vs_best_peer": report.realistic_verdicts(summary, formats),
        "tools": {t: r["summary"] for t, r in results.items()},
        "clips": [report.clip_public(c) for c in manifest["clips"]],
        "rows": [
            {k: v for k, v in r.items() if k != "traceback"} for t in results for r in results[t]["rows"]
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
