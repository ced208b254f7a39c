"""Transcription benchmark: note accuracy against the rendered MIDI, and speed on one thread.

One command reuses (or renders) the analysis benchmark's set (``bench/analysis/dataset.py``: 48 clips of
30 s rendered with FluidSynth from their own ``clip.mid``), transcribes every clip in a fresh
single-threaded subprocess bound to one CPU, scores the notes with ``mir_eval.transcription`` against
the clip's MIDI, and writes ``transcription.json`` (every number) and ``transcription.md``::

    python -m bench.transcription.run --out bench/results/transcription.json

When ``models/.venv-basic-pitch`` exists (``models/basic_pitch/fetch.py --record-golden`` makes it), the
original basic-pitch 0.4.0 ``predict()`` runs on the same clips as the peer. See
``bench/transcription/README.md`` for the method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.tagging.common import ROOT, default_cpu, machine, single_thread_env

from .reference import CATEGORIES, category, reference_notes

DATA_DIR = ROOT / "bench" / "analysis" / "data"
#: Clips of the analysis benchmark's set (its Makefile line: ``--clips 48``).
SET_CLIPS = 48
PEER_PYTHON = ROOT / "models" / ".venv-basic-pitch" / "bin" / "python"
#: mir_eval's note-onset tolerance [s] and offset criterion (its defaults, as in the basic-pitch paper).
ONSET_TOLERANCE = 0.05
OFFSET_RATIO = 0.2
OFFSET_MIN_TOLERANCE = 0.05


def run_worker(python: Path, tool: str, out: Path, cpu: int | None, data: Path, clips: int) -> dict[str, Any]:
    """``python -m bench.transcription.worker --tool TOOL`` in a fresh single-threaded process."""
    out.unlink(missing_ok=True)
    cmd = [str(python), "-m", "bench.transcription.worker", "--tool", tool, "--data", str(data)]
    cmd += ["--clips", str(clips)]
    cmd += ["--out", str(out)] + (["--cpu", str(cpu)] if cpu is not None else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=single_thread_env(), cwd=ROOT, capture_output=True, text=True)
    if out.is_file():
        doc: dict[str, Any] = json.loads(out.read_text())
    else:
        doc = {"clips": {}, "errors": {"_worker": f"exited {p.returncode}: {p.stderr.strip()[-2000:]}"}}
    doc["process_wall_s"] = time.perf_counter() - t0
    return doc


def score(reference: list[tuple[float, float, int]], notes: list[list[float]]) -> dict[str, Any]:
    """mir_eval note precision/recall/F: onsets only, and onsets + offsets."""
    import mir_eval

    ref_iv = np.array([[s, e] for s, e, _ in reference]).reshape(-1, 2)
    ref_hz = mir_eval.util.midi_to_hz(np.array([p for *_, p in reference], dtype=float))
    est = [n for n in notes if n[1] > n[0]]
    est_iv = np.array([[n[0], n[1]] for n in est]).reshape(-1, 2)
    est_hz = mir_eval.util.midi_to_hz(np.array([n[2] for n in est], dtype=float))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=ONSET_TOLERANCE, offset_ratio=None
    )
    po, ro, fo, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_iv,
        ref_hz,
        est_iv,
        est_hz,
        onset_tolerance=ONSET_TOLERANCE,
        offset_ratio=OFFSET_RATIO,
        offset_min_tolerance=OFFSET_MIN_TOLERANCE,
    )
    # Median onset error of the onset-matched notes: a systematic timing bias shows here.
    matches = mir_eval.transcription.match_notes(
        ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=ONSET_TOLERANCE, offset_ratio=None
    )
    errors = [est_iv[j, 0] - ref_iv[i, 0] for i, j in matches]
    return {
        "precision": p,
        "recall": r,
        "f": f,
        "precision_offset": po,
        "recall_offset": ro,
        "f_offset": fo,
        "onset_error_median_ms": 1000 * float(np.median(errors)) if errors else None,
        "n_ref": len(reference),
        "n_est": len(est),
    }


METRICS = ("precision", "recall", "f", "precision_offset", "recall_offset", "f_offset")


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over clips of every metric (clips a tool failed on count as 0)."""
    if not rows:
        return {"clips": 0}
    out: dict[str, Any] = {"clips": len(rows)}
    for m in METRICS:
        out[m] = float(np.mean([r[m] for r in rows]))
    errs = [r["onset_error_median_ms"] for r in rows if r["onset_error_median_ms"] is not None]
    out["onset_error_median_ms"] = float(np.median(errs)) if errs else None
    return out


def timing(values: list[float]) -> dict[str, Any]:
    """Median, min and max of a list of seconds."""
    if not values:
        return {"n": 0, "median_s": None}
    return {
        "n": len(values),
        "median_s": statistics.median(values),
        "min_s": min(values),
        "max_s": max(values),
    }


def evaluate(doc: dict[str, Any], clips: list[dict[str, Any]], refs: dict[str, Any]) -> dict[str, Any]:
    """Per-clip scores, per-category and overall means, and the timings of one tool's run."""
    per_clip: dict[str, Any] = {}
    zero: dict[str, Any] = dict.fromkeys(METRICS, 0.0) | {"onset_error_median_ms": None}
    for c in clips:
        cid = c["clip_id"]
        got = doc["clips"].get(cid)
        row = score(refs[cid], got["notes"]) if got else {**zero, "n_ref": len(refs[cid]), "n_est": 0}
        row["category"] = category(c)
        if got:
            row["transcribe_s"] = got["transcribe_s"]
        per_clip[cid] = row
    by_cat = {cat: aggregate([r for r in per_clip.values() if r["category"] == cat]) for cat in CATEGORIES}
    rows = list(doc["clips"].values())
    times: dict[str, Any] = {"first_call_s": doc.get("first_call_s")}
    for key in ("decode_s", "transcribe_s", "source_mp3_s"):
        times[key] = timing([r[key] for r in rows if key in r])
    stage_rows = [r["stages_s"] for r in rows if "stages_s" in r]
    if stage_rows:
        times["stages"] = {k: timing([s[k] for s in stage_rows]) for k in stage_rows[0]}
    bpms = {cid: r.get("bpm") for cid, r in doc["clips"].items() if "bpm" in r}
    return {
        "overall": aggregate(list(per_clip.values())),
        "by_category": by_cat,
        "timing": times,
        "tempo": _tempo(bpms, clips) if bpms else None,
        "per_clip": per_clip,
        "errors": doc.get("errors", {}),
        "process_wall_s": doc.get("process_wall_s"),
    }


def _tempo(bpms: dict[str, float | None], clips: list[dict[str, Any]]) -> dict[str, Any]:
    """How often ``transcribe_source``'s bpm is within 4 % of the clip's tempo (Acc1) or of 2x, 1/2x, ..."""
    acc1 = acc2 = 0
    for c in clips:
        est, ref = bpms.get(c["clip_id"]), c["tempo"]
        if not est:
            continue
        acc1 += abs(est - ref) <= 0.04 * ref
        acc2 += any(abs(est - k * ref) <= 0.04 * k * ref for k in (1, 2, 3, 1 / 2, 1 / 3))
    return {"acc1": acc1 / len(clips), "acc2": acc2 / len(clips), "clips": len(clips)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/transcription.json")
    ap.add_argument("--clips", type=int, default=48, help="clips of the analysis set (rendered if missing)")
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="CPU the measured processes use")
    ap.add_argument("--no-peer", action="store_true", help="skip the original basic-pitch even if installed")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    host = machine()

    from bench.analysis.dataset import build

    t0 = time.perf_counter()
    # Always the whole set: build() rewrites manifest.json with the clips it is asked for, and the analysis
    # benchmark shares it. --clips only limits what is transcribed.
    manifest = build(max(args.clips, SET_CLIPS), data_dir=DATA_DIR)
    dataset_s = time.perf_counter() - t0
    clips = manifest["clips"][: args.clips]
    refs = {c["clip_id"]: reference_notes(DATA_DIR / c["clip_id"] / "clip.mid") for c in clips}

    tools: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        doc = run_worker(
            Path(sys.executable), "tonearm", Path(tmp) / "tonearm.json", args.cpu, DATA_DIR, len(clips)
        )
        tools["tonearm"] = evaluate(doc, clips, refs)
        doc = run_worker(
            Path(sys.executable), "tonearm-long", Path(tmp) / "long.json", args.cpu, DATA_DIR, len(clips)
        )
        tools["tonearm"]["long_track"] = doc.get("long") or {"error": doc.get("errors")}
        if PEER_PYTHON.is_file() and not args.no_peer:
            doc = run_worker(
                PEER_PYTHON, "basic-pitch", Path(tmp) / "peer.json", args.cpu, DATA_DIR, len(clips)
            )
            tools["basic-pitch"] = evaluate(doc, clips, refs)
    try:
        command = "python -m bench.transcription.run --out " + str(out.relative_to(ROOT))
    except ValueError:
        command = "python -m bench.transcription.run --out " + str(out)
    result = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": host,
        "load_average_end": [round(x, 2) for x in __import__("os").getloadavg()],
        "cpu": args.cpu,
        "set": {
            "clips": len(clips),
            "set_sha256": manifest["set_sha256"],
            "renderer": manifest["renderer"],
            "categories": {cat: sum(category(c) == cat for c in clips) for cat in CATEGORIES},
            "reference_notes": sum(len(r) for r in refs.values()),
            "dataset_s": round(dataset_s, 1),
        },
        "metric": {
            "library": "mir_eval.transcription.precision_recall_f1_overlap",
            "onset_tolerance_s": ONSET_TOLERANCE,
            "offset_ratio": OFFSET_RATIO,
            "offset_min_tolerance_s": OFFSET_MIN_TOLERANCE,
        },
        "tools": tools,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    from .report import markdown

    out.with_suffix(".md").write_text(markdown(result))
    print(out.with_suffix(".md").read_text())
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


if __name__ == "__main__":
    raise SystemExit(main())
