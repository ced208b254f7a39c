"""One measured process of the tagging benchmark: bound to one CPU, one thread, writes one JSON file.

Run by ``run.py`` as a fresh subprocess per mode, so each peak RSS is that mode's alone::

    python -m bench.tagging.worker --mode speed  --out speed.json    # decode / front end / models, timed
    python -m bench.tagging.worker --mode peer   --out peer.json     # tonearm's vs librosa's front end
    python -m bench.tagging.worker --mode memory --audio X.mp3 --out m.json   # one tagging, peak RSS

Every timing is ``time.perf_counter`` around one call, after one untimed warm-up call of the same
thing; repetitions of the configurations compared with each other are interleaved (round-robin).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import peak_rss_mb, ru_maxrss_mb

from . import common

MODELS = ("mtt_musicnn", "msd_musicnn")
#: The opt-in fast variants (models/musicnn/fast.py), timed beside the originals in the same pass.
FAST_MODELS = ("mtt_musicnn_fast", "msd_musicnn_fast")
MODEL_SETS: dict[str, tuple[str, ...]] = {
    "mtt": ("mtt_musicnn",),
    "msd": ("msd_musicnn",),
    "both": MODELS,
}
#: Model sets ``tag_signal`` answers with a ``variant="fast"`` registry (same names, fast files).
FAST_SETS = {f"{name}_fast": models for name, models in MODEL_SETS.items()}
#: Decoding the 10-minute WAV (16-bit stereo, 101 MiB) needs a larger upload limit than the service's
#: 100 MiB; the service itself would get the MP3.
BIG_WAV_BYTES = 200 * 2**20


def _round_robin(
    fns: dict[str, Callable[[], Any]], reps: int, warm_up: bool = True
) -> dict[str, list[float]]:
    for fn in fns.values() if warm_up else ():
        fn()  # warm-up (lazy imports, allocator, caches)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _decode(path: str) -> Any:
    from tonearm.audio.decode import decode
    from tonearm.audio.limits import AudioLimits

    return decode(path, limits=AudioLimits(max_bytes=BIG_WAV_BYTES))


def _speed_case(
    files: dict[str, Any], reps: int, registry: Any, fast: Any, *, whole: bool, warm_up: bool
) -> dict[str, Any]:
    from tonearm.tagging.frontend import log_mel, patches, tagging_signal
    from tonearm.tagging.tagger import tag_signal

    res: dict[str, Any] = {"seconds": files["seconds"]}
    # decode: WAV and MP3, interleaved
    dec = _round_robin({fmt: (lambda f=files[fmt]: _decode(f)) for fmt in ("wav", "mp3")}, reps, warm_up)
    res["decode"] = {fmt: common.stats(v) for fmt, v in dec.items()}
    audio = _decode(files["wav"])
    y, sr = audio.y, audio.sr
    res["input"] = {"channels": int(y.shape[0]), "sr": sr, "frames": int(y.shape[1])}
    # front end stage by stage, then each model alone on the patches: one pass of all = one repetition
    mono = tagging_signal(y, sr=sr)
    spec = log_mel(mono)
    x = patches(spec, cover_tail=True)
    res["patches"] = int(x.shape[0])
    stages: dict[str, Callable[[], Any]] = {
        "mono_resample": lambda: tagging_signal(y, sr=sr),
        "log_mel": lambda: log_mel(mono),
        "patches": lambda: patches(spec, cover_tail=True),
    }
    for m in MODELS + FAST_MODELS:
        stages[f"model_{m}"] = lambda m=m: registry.get(m).run(x)
    st = _round_robin(stages, reps, warm_up)
    res["stages"] = {k: common.stats(v) for k, v in st.items()}
    front = [a + b + c for a, b, c in zip(st["mono_resample"], st["log_mel"], st["patches"], strict=True)]
    res["front_end"] = common.stats(front)
    if whole:  # the public entry point, timed as a whole, per model set
        tag = {
            name: (lambda ms=ms: tag_signal(y, sr=sr, models=frozenset(ms), registry=registry))
            for name, ms in MODEL_SETS.items()
        } | {
            name: (lambda ms=ms: tag_signal(y, sr=sr, models=frozenset(ms), registry=fast))
            for name, ms in FAST_SETS.items()
        }
        res["tag_signal"] = {k: common.stats(v) for k, v in _round_robin(tag, reps, warm_up).items()}
    return res


def speed(manifest: dict[str, Any], reps_clip: int, reps_track: int) -> dict[str, Any]:
    """Decode, front-end stages, models alone, and ``tag_signal`` per model set (30 s), for both durations.

    The 10-minute case gets no warm-up call of its own (one would cost as much as a repetition): the
    30 s case has already warmed up the same sessions, and ``tag_signal`` there is the sum of the stages.
    """
    from tonearm.models.registry import ModelRegistry

    registry = ModelRegistry(threads=1, variant="original")
    fast = ModelRegistry(threads=1, variant="fast")
    for m in MODELS + FAST_MODELS:
        registry.get(m)
    for m in MODELS:
        fast.get(m)
    out: dict[str, Any] = {"batch": registry._batch, "threads": registry._threads}
    out["clip_30s"] = _speed_case(manifest["clip"], reps_clip, registry, fast, whole=True, warm_up=True)
    out["track_10min"] = _speed_case(manifest["long"], reps_track, registry, fast, whole=False, warm_up=False)
    out["maxrss_mb"] = peak_rss_mb()
    return out


def _librosa_front_end(y: np.ndarray, sr: int) -> np.ndarray:
    """musicnn's original front end (``musicnn/extractor.py``) on librosa: the same parameters."""
    import librosa

    mono = librosa.to_mono(y)
    y16 = librosa.resample(mono, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=y16, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def peer(manifest: dict[str, Any], reps_clip: int, reps_track: int) -> dict[str, Any]:
    """tonearm's numpy front end against librosa's, interleaved, and how far their log-mels differ."""
    t0 = time.perf_counter()
    import librosa

    out: dict[str, Any] = {"import_librosa_s": time.perf_counter() - t0, "librosa": librosa.__version__}
    from tonearm.tagging.frontend import log_mel, patches, tagging_signal

    del reps_track  # the front ends are cheap: reps_clip repetitions of both durations
    for case, key in (("clip_30s", "clip"), ("track_10min", "long")):
        audio = _decode(manifest[key]["wav"])
        y, sr = audio.y, audio.sr

        def tonearm_fe(y: np.ndarray = y, sr: int = sr) -> np.ndarray:
            return patches(log_mel(tagging_signal(y, sr=sr)), cover_tail=True)

        def librosa_fe(y: np.ndarray = y, sr: int = sr) -> np.ndarray:
            return patches(_librosa_front_end(y, sr), cover_tail=True)

        times = _round_robin({"tonearm": tonearm_fe, "librosa": librosa_fe}, reps_clip)
        a, b = tonearm_fe(), librosa_fe()
        out[case] = {
            "tonearm": common.stats(times["tonearm"]),
            "librosa": common.stats(times["librosa"]),
            "patches": [int(a.shape[0]), int(b.shape[0])],
            "max_abs_diff_log_mel": float(np.abs(a - b).max()) if a.shape == b.shape else None,
        }
        del audio, y, a, b
    out["maxrss_mb"] = peak_rss_mb()
    return out


def _share_one_arena() -> None:
    """Investigation only: register one CPU arena in onnxruntime's environment and make every session
    ModelRegistry creates use it (``session.use_env_allocators``) instead of an arena of its own."""
    import onnxruntime as ort

    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
    base = ort.SessionOptions

    class SharedArenaOptions(base):
        def __init__(self) -> None:
            super().__init__()
            self.add_session_config_entry("session.use_env_allocators", "1")

    ort.SessionOptions = SharedArenaOptions


def memory(path: str, models: str, batch: int | None = None, shared_arena: bool = False) -> dict[str, Any]:
    """One decode + tag_tasks of ``path`` in a fresh process: peak RSS before and after, and the time.

    ``batch`` overrides ModelRegistry's default batch size and ``shared_arena`` makes the sessions share
    one environment arena (both for the investigation's memory experiment).
    """
    from tonearm.audio.decode import decode
    from tonearm.models.registry import ModelRegistry
    from tonearm.tagging.service import tag_tasks

    tasks = {
        "mtt": ["MusicTaggingMTT"],
        "msd": ["MusicTaggingMSD"],
        "both": ["MusicTaggingMTT", "MusicTaggingMSD"],
    }
    if shared_arena:
        _share_one_arena()
    registry = ModelRegistry(threads=1) if batch is None else ModelRegistry(threads=1, batch=batch)
    for m in MODEL_SETS[models]:
        registry.get(m)
    loaded = peak_rss_mb()
    t0 = time.perf_counter()
    audio = decode(path)
    t1 = time.perf_counter()
    result = tag_tasks(audio, tasks[models], registry=registry)
    t2 = time.perf_counter()
    return {
        "file": Path(path).name,
        "models": list(MODEL_SETS[models]),
        "batch": registry._batch,
        "shared_arena": shared_arena,
        "decoded_mb": audio.y.nbytes / 2**20,
        "duration_s": result.duration_s,
        "decode_s": t1 - t0,
        "tag_s": t2 - t1,
        "rss_after_model_load_mb": loaded,
        "maxrss_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one measured process of the tagging benchmark")
    ap.add_argument("--mode", choices=("speed", "peer", "memory"), required=True)
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--audio")
    ap.add_argument("--models", choices=tuple(MODEL_SETS), default="both")
    ap.add_argument("--reps-clip", type=int, default=7)
    ap.add_argument("--reps-track", type=int, default=3)
    ap.add_argument("--batch", type=int, help="memory mode: ModelRegistry batch size (default: its own)")
    ap.add_argument("--shared-arena", action="store_true", help="memory mode: one arena for all sessions")
    ap.add_argument("--cpu", type=int)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    applied = common.pin(args.cpu)
    try:
        if args.mode == "memory":
            doc = memory(args.audio, args.models, args.batch, args.shared_arena)
        else:
            manifest = json.loads(args.manifest.read_text())
            fn = speed if args.mode == "speed" else peer
            doc = fn(manifest, args.reps_clip, args.reps_track)
    except Exception:
        doc = {"error": traceback.format_exc()}
    doc["single_thread"] = applied
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 1 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main())
