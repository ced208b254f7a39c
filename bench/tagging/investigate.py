"""Speed levers for the musicnn models on one core: measured, with their effect on the outputs.

Not part of ``make bench`` (it takes a few minutes and the quantisation part needs the ``onnx``
package, which tonearm does not depend on). Its result, ``bench/tagging/investigation.json``, is
committed and shown in ``bench/results/tagging.md`` by ``bench.tagging.run``::

    pip install --target /tmp/onnx-exp --no-deps onnx ml_dtypes    # only for the quantisation part
    PYTHONPATH=/tmp/onnx-exp .venv/bin/python -m bench.tagging.investigate

Everything runs in this one process, bound to one CPU, one thread per session; the configurations
of one experiment are timed round-robin (one repetition of each in turn) so that drift of the
machine hits them alike. The input is the patches of the first 2 minutes of the 10-minute track
(41 patches: enough for batch sizes up to 64 to matter); outputs are compared on the 30 s clip and
the first 10 sections of the track. Experiments:

* where the time goes: onnxruntime's profiler, share of node time per operator type;
* batch size of ``ModelRegistry`` (1, 8, 16, 32, 64);
* session options: graph optimisation level (BASIC / EXTENDED / ALL: ALL adds the NCHWc layout
  transformer), ``enable_cpu_mem_arena``, ``enable_mem_pattern``, ``session.use_env_allocators``,
  ``session.intra_op.allow_spinning``, ``session.set_denormal_as_zero``;
* both models concurrently (two Python threads) against one after the other, on one CPU and, for
  information, on two;
* int8 quantisation (``onnxruntime.quantization``): dynamic (ConvInteger) and static QDQ with MinMax
  calibration on the last 10 sections of the track (disjoint from the evaluation audio); speed and
  how far the tag probabilities move from float32.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from tonearm.audio.decode import decode
from tonearm.audio.limits import AudioLimits
from tonearm.models.registry import ModelRegistry
from tonearm.tagging.frontend import log_mel, patches, tagging_signal

from . import audio, common

OUT = Path(__file__).resolve().parent / "investigation.json"
MODELS = ("mtt_musicnn", "msd_musicnn")
LEVELS = {
    "BASIC": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "EXTENDED": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "ALL": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
IDENTICAL = 1e-5


def options(
    *,
    level: str = "ALL",
    arena: bool = True,
    mem_pattern: bool = True,
    config: dict[str, str] | None = None,
    profile: str | None = None,
) -> ort.SessionOptions:
    """ModelRegistry's options (1 intra-op thread, 1 inter-op thread, ALL) with one lever changed."""
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = LEVELS[level]
    o.enable_cpu_mem_arena = arena
    o.enable_mem_pattern = mem_pattern
    for k, v in (config or {}).items():
        o.add_session_config_entry(k, v)
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = profile
    return o


def session(model: bytes | str, opts: ort.SessionOptions | None = None) -> ort.InferenceSession:
    return ort.InferenceSession(model, sess_options=opts or options(), providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, x: np.ndarray, batch: int = 1) -> dict[str, np.ndarray]:
    """Exactly what OnnxModel.run does, for a bare session."""
    names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, x.shape[0], batch):
        values = sess.run(names, {"melspec": np.ascontiguousarray(x[start : start + batch])})
        for n, v in zip(names, values, strict=True):
            parts[n].append(v)
    return {n: np.concatenate(v) for n, v in parts.items()}


def round_robin(configs: dict[str, Any], reps: int) -> dict[str, list[float]]:
    """Time ``fn()`` of every config ``reps`` times, one of each in turn, after one untimed call each."""
    for fn in configs.values():
        fn()
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(reps):
        for name, fn in configs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(times: list[float], n_patches: int, base: float | None = None) -> dict[str, Any]:
    s = common.stats(times)
    s["ms_per_patch_median"] = 1e3 * s["median_s"] / n_patches
    if base:
        s["speedup_vs_baseline"] = base / s["median_s"]
    return s


def load_inputs() -> tuple[np.ndarray, dict[str, np.ndarray], list[np.ndarray]]:
    """Timing input (2 min), evaluation inputs (clip + sections 0-9), calibration inputs (sections 10-19)."""
    manifest = audio.build()
    clip = decode(manifest["clip"]["wav"])
    track = decode(manifest["long"]["wav"], limits=AudioLimits(max_bytes=200 * 2**20))  # WAV > 100 MiB
    sec = int(audio.SECTION_S * track.sr)

    def feats(y: np.ndarray) -> np.ndarray:
        return patches(log_mel(tagging_signal(y, sr=track.sr)), cover_tail=True)

    timing = feats(track.y[:, : 4 * sec])
    evaluation = {"clip_30s": feats(clip.y)}
    for i in range(10):
        evaluation[f"section_{i:02d}"] = feats(track.y[:, i * sec : (i + 1) * sec])
    calibration = [feats(track.y[:, i * sec : (i + 1) * sec]) for i in range(10, 20)]
    return timing, evaluation, calibration


def compare(ref: dict[str, dict[str, np.ndarray]], got: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """How far ``got`` is from ``ref`` over the evaluation clips (taggram, track tags, embedding, top 5)."""
    patch_diff, track_diff, emb_diff, top5_same, top5_overlap, top1_same = [], [], [], [], [], []
    for name, r in ref.items():
        g = got[name]
        patch_diff.append(float(np.abs(g["taggram"] - r["taggram"]).max()))
        tr, tg = r["taggram"].mean(0), g["taggram"].mean(0)
        track_diff.append(float(np.abs(tg - tr).max()))
        emb_diff.append(float(np.abs(g["embedding"] - r["embedding"]).max()))
        a, b = list(np.argsort(-tr)[:5]), list(np.argsort(-tg)[:5])
        top5_same.append(a == b)
        top5_overlap.append(len(set(a) & set(b)) / 5)
        top1_same.append(a[0] == b[0])
    return {
        "clips": len(ref),
        "max_abs_diff_patch_probability": max(patch_diff),
        "max_abs_diff_track_probability": max(track_diff),
        "mean_of_max_abs_diff_track_probability": float(np.mean(track_diff)),
        "max_abs_diff_embedding": max(emb_diff),
        "top5_identical_share": float(np.mean(top5_same)),
        "top5_overlap_mean": float(np.mean(top5_overlap)),
        "top1_identical_share": float(np.mean(top1_same)),
        "identical_within_1e-5": max(patch_diff) <= IDENTICAL and max(emb_diff) <= IDENTICAL,
    }


def outputs_on(
    sess: ort.InferenceSession, evaluation: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    return {k: run(sess, x) for k, x in evaluation.items()}


def profile_ops(model: bytes, x: np.ndarray, reps: int) -> dict[str, Any]:
    """onnxruntime's profiler: share of node time per operator type (after graph optimisation)."""
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(model, options(profile=os.path.join(tmp, "prof")))
        for _ in range(reps + 1):
            run(sess, x)
        path = sess.end_profiling()
        events = json.loads(Path(path).read_text())
    by_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] += e["dur"]
            nodes[f"{e['name'][: -len('_kernel_time')]} ({op})"] += e["dur"]
    total = sum(by_op.values())
    return {
        "share_by_op_type": {k: round(v / total, 4) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
        "top_nodes": {k: round(v / total, 4) for k, v in sorted(nodes.items(), key=lambda kv: -kv[1])[:8]},
    }


def experiment_batch(model: bytes, x: np.ndarray, reps: int) -> dict[str, Any]:
    sess = session(model)
    sizes = (1, 4, 8, 16, 32, 64)
    times = round_robin({f"batch_{b}": (lambda b=b: run(sess, x, batch=b)) for b in sizes}, reps)
    ref = run(sess, x, batch=32)
    out: dict[str, Any] = {"patches": int(x.shape[0])}
    base = common.stats(times["batch_32"])["median_s"]
    for b in sizes:
        got = run(sess, x, batch=b)
        out[f"batch_{b}"] = summary(times[f"batch_{b}"], x.shape[0], base)
        out[f"batch_{b}"]["max_abs_diff_vs_batch_32"] = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    return out


def experiment_options(
    model: bytes, x: np.ndarray, evaluation: dict[str, np.ndarray], reps: int
) -> dict[str, Any]:
    variants: dict[str, ort.SessionOptions] = {
        "baseline (ALL, arena, mem pattern)": options(),
        "EXTENDED (no NCHWc layout)": options(level="EXTENDED"),
        "BASIC": options(level="BASIC"),
        "enable_cpu_mem_arena=False": options(arena=False),
        "enable_mem_pattern=False": options(mem_pattern=False),
        "session.use_env_allocators=1 (one shared arena)": options(
            config={"session.use_env_allocators": "1"}
        ),
        "session.intra_op.allow_spinning=0": options(config={"session.intra_op.allow_spinning": "0"}),
        "session.set_denormal_as_zero=1": options(config={"session.set_denormal_as_zero": "1"}),
    }
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))  # what use_env_allocators uses
    sessions = {k: session(model, o) for k, o in variants.items()}
    times = round_robin({k: (lambda s=s: run(s, x)) for k, s in sessions.items()}, reps)
    base_name = next(iter(variants))
    base = common.stats(times[base_name])["median_s"]
    ref = outputs_on(sessions[base_name], evaluation)
    out: dict[str, Any] = {"patches": int(x.shape[0])}
    for k, s in sessions.items():
        out[k] = summary(times[k], x.shape[0], base)
        cmp = compare(ref, outputs_on(s, evaluation))
        out[k]["max_abs_diff_vs_baseline"] = max(
            cmp["max_abs_diff_patch_probability"], cmp["max_abs_diff_embedding"]
        )
    return out


def experiment_concurrency(
    models: dict[str, bytes], x: np.ndarray, reps: int, cpu: int | None
) -> dict[str, Any]:
    sessions = [session(m) for m in models.values()]

    def sequential() -> None:
        for s in sessions:
            run(s, x)

    def concurrent() -> None:
        threads = [threading.Thread(target=run, args=(s, x)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    out: dict[str, Any] = {"patches": int(x.shape[0]), "models": list(models)}
    all_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    for label, cpus in (("one_cpu", {cpu} if cpu is not None else None), ("all_cpus", None)):
        if cpus is None and label == "all_cpus":
            cpus = set(range(os.cpu_count() or 1))
        if cpus is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
        times = round_robin({"sequential": sequential, "two threads": concurrent}, reps)
        base = common.stats(times["sequential"])["median_s"]
        out[label] = {
            "cpus": sorted(cpus) if cpus else all_cpus,
            "sequential": summary(times["sequential"], x.shape[0], base),
            "two threads": summary(times["two threads"], x.shape[0], base),
        }
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    return out


def experiment_batch_memory(cpu: int | None) -> dict[str, Any]:
    """Per batch size, a fresh process decodes + tags (both models) the 30 s and 10-minute MP3 once;
    at 1 and 32 also with both sessions sharing one environment arena."""
    import subprocess
    import sys

    manifest = audio.build()
    out: dict[str, Any] = {}
    plain = [(b, False) for b in (1, 4, 8, 16, 32)]
    cases = (
        ("clip_30s", "clip", [(1, False), (4, False), (8, False), (16, False)]),  # 11 patches: 16 = 32
        ("track_10min", "long", [*plain, (1, True), (32, True)]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case, key, batches in cases:
            rows = {}
            for b, shared in batches:
                name = f"batch_{b}" + ("_shared_arena" if shared else "")
                path = Path(tmp) / f"{case}_{name}.json"
                cmd = [sys.executable, "-m", "bench.tagging.worker", "--mode", "memory", "--out", str(path)]
                cmd += ["--audio", manifest[key]["mp3"], "--batch", str(b)]
                cmd += ["--shared-arena"] if shared else []
                if cpu is not None:
                    cmd += ["--cpu", str(cpu)]
                subprocess.run(cmd, env=common.single_thread_env(), cwd=common.ROOT, check=False)
                rows[name] = json.loads(path.read_text()) if path.is_file() else {"error": "no output"}
            out[case] = rows
    return out


class _Calibration:
    """onnxruntime.quantization CalibrationDataReader over patches, in batches of 32."""

    def __init__(self, sets: list[np.ndarray]) -> None:
        x = np.concatenate(sets)
        self._batches = iter([{"melspec": x[i : i + 32]} for i in range(0, x.shape[0], 32)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def experiment_quantisation(
    models: dict[str, bytes],
    x: np.ndarray,
    evaluation: dict[str, np.ndarray],
    calibration: list[np.ndarray],
    reps: int,
) -> dict[str, Any]:
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        return {"skipped": f"needs the onnx package ({exc})"}
    out: dict[str, Any] = {
        "onnx": onnx.__version__,
        "calibration": {"method": "MinMax", "patches": int(sum(c.shape[0] for c in calibration))},
        "evaluation_clips": list(evaluation),
    }
    variants: dict[str, dict[str, Any]] = {
        "dynamic int8 (ConvInteger, per-tensor)": {"kind": "dynamic", "per_channel": False},
        "static QDQ u8/s8, per-channel": {"kind": "static", "per_channel": True, "reduce_range": False},
        "static QDQ u8/s8, per-channel, reduce_range": {
            "kind": "static",
            "per_channel": True,
            "reduce_range": True,
        },
        "static QDQ u8/s8, per-tensor": {"kind": "static", "per_channel": False, "reduce_range": False},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            fp32 = Path(tmp) / f"{name}.onnx"
            fp32.write_bytes(model)
            pre = Path(tmp) / f"{name}.pre.onnx"
            quant_pre_process(str(fp32), str(pre))
            sessions = {"float32": session(model)}
            sizes = {"float32": len(model)}
            quant_s: dict[str, float] = {}
            for vname, v in variants.items():
                q = Path(tmp) / f"{name}.{len(sessions)}.onnx"
                t0 = time.perf_counter()
                if v["kind"] == "dynamic":
                    quantize_dynamic(
                        str(pre), str(q), per_channel=v["per_channel"], weight_type=QuantType.QInt8
                    )
                else:
                    quantize_static(
                        str(pre),
                        str(q),
                        _Calibration(calibration),
                        quant_format=QuantFormat.QDQ,
                        per_channel=v["per_channel"],
                        reduce_range=v["reduce_range"],
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                    )
                quant_s[vname] = time.perf_counter() - t0
                sizes[vname] = q.stat().st_size
                sessions[vname] = session(str(q))
            times = round_robin({k: (lambda s=s: run(s, x)) for k, s in sessions.items()}, reps)
            base = common.stats(times["float32"])["median_s"]
            ref = outputs_on(sessions["float32"], evaluation)
            res: dict[str, Any] = {}
            for k, s in sessions.items():
                res[k] = summary(times[k], x.shape[0], base)
                res[k]["file_bytes"] = sizes[k]
                if k != "float32":
                    res[k]["quantise_s"] = quant_s[k]
                    res[k]["vs_float32"] = compare(ref, outputs_on(s, evaluation))
            out[name] = res
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=common.default_cpu())
    ap.add_argument("--skip-quantisation", action="store_true")
    ap.add_argument("--only", nargs="+", help="run these experiments only, updating an existing --out file")
    args = ap.parse_args(argv)
    applied = common.pin(args.cpu)
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.tagging.investigate",
        "machine": common.machine(),
        "single_thread": applied,
        "reps": args.reps,
    }
    registry = ModelRegistry()
    models = {m: (registry.root / registry.specs[m].path).read_bytes() for m in MODELS}
    x, evaluation, calibration = load_inputs()
    doc["timing_input"] = {"seconds": 120.0, "patches": int(x.shape[0])}
    mtt = models["mtt_musicnn"]
    steps = {
        "profile": lambda: profile_ops(mtt, evaluation["clip_30s"], args.reps),
        "batch_size": lambda: experiment_batch(mtt, x, args.reps),
        "session_options": lambda: experiment_options(mtt, x, evaluation, args.reps),
        "concurrency": lambda: experiment_concurrency(models, x, args.reps, args.cpu),
        "batch_memory": lambda: experiment_batch_memory(args.cpu),
        "quantisation": lambda: experiment_quantisation(models, x, evaluation, calibration, args.reps),
    }
    if args.skip_quantisation:
        del steps["quantisation"]
    if args.only:
        steps = {k: v for k, v in steps.items() if k in args.only}
        previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
        doc = {**previous, **{k: v for k, v in doc.items() if k not in ("generated", "machine", "reps")}}
        doc.setdefault("updated", {})
        for k in steps:
            doc["updated"][k] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for name, fn in steps.items():
        t0 = time.perf_counter()
        doc[name] = fn()
        doc[name + "_wall_s"] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {doc[name + '_wall_s']} s", flush=True)
    doc["wall_s" if not args.only else "last_update_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
