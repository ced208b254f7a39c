"""One measured process of the generation benchmark: bound to one CPU, one thread, writes one JSON file.

Run by ``run.py`` as a fresh subprocess per mode, so each peak RSS is that mode's alone::

    python -m bench.generation.worker --mode speed  --out speed.json    # end-to-end and per-stage times
    python -m bench.generation.worker --mode memory --seconds 300 --out m.json   # one track, peak RSS
    python -m bench.generation.worker --mode determinism --seconds 10 --out d.json  # one track's digest

FluidSynth runs as a child process of the worker; it inherits the worker's CPU affinity, so the whole
generation (Python and synthesiser) shares one CPU. Every timing is ``time.perf_counter`` around one
``generate`` call (plan, score, MIDI, render, mastering and the WAV bytes), after one untimed warm-up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, pin

#: The speed case: a full band (drums, bass, comping, melody, pad at the default density).
SPEED_PROMPT = "Classic rock with electric guitar riffs and driving drums"
SPEED_BPM = 120
SPEED_SEED = 7
STAGES = ("plan", "compose", "render", "master", "done")


def engine_digest(names: list[str] | None = None) -> tuple[str, list[str]]:
    """sha256 (12 hex) of the source of ``tonearm`` modules, and their names.

    ``names``: the modules to digest; by default every ``tonearm`` module this process has loaded (in the
    speed worker: what generation needs). The engine is edited while benchmarks run; two processes whose
    digests over the same modules differ ran different code, so their bytes are not comparable.
    """
    import importlib.util

    if names is None:
        names = sorted(n for n in sys.modules if n.split(".")[0] == "tonearm")
    h = hashlib.sha256()
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) if module else None
        if path is None:
            spec = importlib.util.find_spec(name)
            path = spec.origin if spec else None
        if path and path.endswith(".py"):
            h.update(name.encode())
            h.update(Path(path).read_bytes())
    return h.hexdigest()[:12], names


def _children_maxrss_mb() -> float:
    """Largest peak RSS of any waited-for child (FluidSynth) [MiB]."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def timed_generate(params: Any) -> dict[str, Any]:
    """One ``generate`` call: wall time, the time each stage started, the WAV's digest and size."""
    from tonearm.generation.service import generate

    marks: dict[str, float] = {}

    def progress(fraction: float, stage: str) -> None:
        marks.setdefault(stage, time.perf_counter())

    t0 = time.perf_counter()
    track = generate(params, progress=progress)
    t1 = time.perf_counter()
    starts = [marks.get(s) for s in STAGES]
    stages: dict[str, float | None] = {}
    for name, start, end in zip(STAGES[:-1], starts[:-1], starts[1:], strict=True):
        stages[name] = None if start is None or end is None else end - start
    done = marks.get("done")
    stages["return"] = None if done is None else t1 - done
    return {
        "seconds": params.duration_seconds,
        "wall_s": t1 - t0,
        "stages_s": stages,
        "wav_sha256": hashlib.sha256(track.wav).hexdigest(),
        "wav_bytes": len(track.wav),
        "style": track.plan.style.id,
        "layers": track.plan.controls.layers,
    }


def speed(args: argparse.Namespace) -> dict[str, Any]:
    """30 s track ``--reps`` times, 300 s track ``--long-reps`` times, then one 30 s track per style."""
    from tonearm.generation.params import GenerationParams
    from tonearm.generation.service import estimate_seconds
    from tonearm.generation.styles import STYLES

    def params(seconds: int, prompt: str = SPEED_PROMPT, bpm: int = SPEED_BPM) -> GenerationParams:
        return GenerationParams(prompt=prompt, duration_seconds=seconds, bpm=bpm, seed=SPEED_SEED)

    out: dict[str, Any] = {"prompt": SPEED_PROMPT, "bpm": SPEED_BPM, "seed": SPEED_SEED}
    t0 = time.perf_counter()
    out["warm_up"] = timed_generate(params(args.seconds))  # first call: lazy imports, page cache
    out["engine_digest"], out["engine_modules"] = engine_digest()
    out["warm_up"]["process_import_to_done_s"] = time.perf_counter() - t0
    out["short"] = [timed_generate(params(args.seconds)) for _ in range(args.reps)]
    out["short_estimate_s"] = estimate_seconds(params(args.seconds))
    out["long"] = [timed_generate(params(args.long_seconds)) for _ in range(args.long_reps)]
    out["long_estimate_s"] = estimate_seconds(params(args.long_seconds))
    out["per_style"] = {}
    if args.per_style:
        for sid, style in STYLES.items():
            lo, hi = style.bpm_range
            bpm = int(min(200, max(60, round((lo + hi) / 2))))
            out["per_style"][sid] = timed_generate(params(args.seconds, style.keywords[0], bpm))
    out["maxrss_mb"] = peak_rss_mb()
    out["fluidsynth_maxrss_mb"] = _children_maxrss_mb()
    return out


def memory(args: argparse.Namespace) -> dict[str, Any]:
    """One ``generate`` of ``--seconds``: the peak RSS of this process and of FluidSynth."""
    from tonearm.generation.params import GenerationParams

    rss_import = peak_rss_mb()
    run = timed_generate(
        GenerationParams(prompt=SPEED_PROMPT, duration_seconds=args.seconds, bpm=SPEED_BPM, seed=SPEED_SEED)
    )
    return {
        "seconds": args.seconds,
        "rss_after_import_mb": rss_import,
        "maxrss_mb": peak_rss_mb(),
        "fluidsynth_maxrss_mb": _children_maxrss_mb(),
        "wall_s": run["wall_s"],
    }


def determinism(args: argparse.Namespace) -> dict[str, Any]:
    """The speed case at ``--seconds``: its WAV digest and the engine digest (cross-process check)."""
    from tonearm.generation.params import GenerationParams

    run = timed_generate(
        GenerationParams(prompt=SPEED_PROMPT, duration_seconds=args.seconds, bpm=SPEED_BPM, seed=SPEED_SEED)
    )
    digest, _ = engine_digest()
    return {"wav_sha256": run["wav_sha256"], "engine_digest": digest}


MODES = {"speed": speed, "memory": memory, "determinism": determinism}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=sorted(MODES), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--long-seconds", type=int, default=300)
    ap.add_argument("--long-reps", type=int, default=3)
    ap.add_argument("--per-style", action="store_true", help="speed: also one track per style")
    args = ap.parse_args(argv)
    pinned = pin(args.cpu)
    # imported after pinning: tonearm.generation pulls numpy/scipy, whose pools read the environment
    import tonearm.generation.service  # noqa: F401

    try:
        doc = MODES[args.mode](args)
    except Exception:
        doc = {"error": traceback.format_exc()}
    doc["pinned"] = pinned
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if "error" not in doc else 1


if __name__ == "__main__":
    sys.exit(main())
