"""Cold load: a fresh ``python -c`` imports the tagging service, loads both models, tags a 1 s clip.

The child stamps ``time.time()`` after each phase; the parent stamps it just before launching the child,
so the phases add up to "process launch -> first answer" (interpreter start included, process exit not).
Model load is ``ModelRegistry.get`` of both models: reading the files, checking their sha256 and building
the onnxruntime sessions (onnxruntime itself is imported in the phase before). The first answer is
``decode`` + ``tag_tasks`` (both models) of a 1 s WAV cut from the 30 s clip. ``python -c pass`` is timed
the same way for the interpreter's own start. Each run is bound to one CPU.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import soundfile as sf

from . import common

CHILD = """
import time, json, sys
t_start = time.time()
from tonearm.audio.decode import decode
from tonearm.models.registry import ModelRegistry
from tonearm.tagging.service import tag_tasks
t_import = time.time()
import onnxruntime
t_ort = time.time()
registry = ModelRegistry(threads=1)
for name in ("mtt_musicnn", "msd_musicnn"):
    registry.get(name)
t_load = time.time()
result = tag_tasks(decode(sys.argv[1]), ["MusicTaggingMTT", "MusicTaggingMSD"], registry=registry)
assert len(result.answers) == 2
t_answer = time.time()
print(json.dumps({"start": t_start, "import": t_import, "ort": t_ort, "load": t_load, "answer": t_answer}))
"""

PHASES = (
    ("interpreter_start_s", None, "start"),
    ("import_tonearm_s", "start", "import"),
    ("import_onnxruntime_s", "import", "ort"),
    ("model_load_s", "ort", "load"),
    ("first_answer_s", "load", "answer"),
    ("launch_to_models_loaded_s", None, "load"),
    ("launch_to_first_answer_s", None, "answer"),
)


def _launch(
    code: str, args: list[str], cpu: int | None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    def bind() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    t_launch = time.time()
    p = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=common.single_thread_env(),
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        preexec_fn=bind,
    )
    return t_launch, time.time(), p


def measure(clip_wav: str, work: Path, cpu: int | None, runs: int) -> dict[str, Any]:
    """Median (and every value) of each phase over ``runs`` fresh processes."""
    y, sr = sf.read(clip_wav, dtype="int16", always_2d=True)
    one_s = work / "clip_1s.wav"
    sf.write(one_s, y[:sr], sr, subtype="PCM_16")
    bare = []
    for _ in range(runs):
        t_launch, t_end, p = _launch("pass", [], cpu)
        bare.append(t_end - t_launch)
    rows: list[dict[str, float]] = []
    for _ in range(runs):
        t_launch, t_end, p = _launch(CHILD, [str(one_s)], cpu)
        if p.returncode != 0:
            return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "stderr": p.stderr[-2000:]}
        stamps = json.loads(p.stdout.strip().splitlines()[-1])
        stamps["launch"] = t_launch
        row = {name: stamps[b] - stamps[a or "launch"] for name, a, b in PHASES}
        row["process_wall_s"] = t_end - t_launch
        rows.append(row)
    out: dict[str, Any] = {"runs": runs, "python_c_pass_s": statistics.median(bare), "rows": rows}
    for key in rows[0]:
        out[key] = statistics.median(r[key] for r in rows)
    return out
