"""One tool, one process, one thread: analyse the whole set (or one long file) and report per-clip rows.

Run by ``run.py`` as a fresh subprocess per tool, so the RSS high-water mark (``VmHWM``, see
``bench.common.vm_hwm_mb``) is that tool's alone. Thread pools are pinned to one thread through the
environment (set here before numpy is imported, and by the parent), ``threadpoolctl``, numba's thread
count, and the process is bound to a single CPU with ``sched_setaffinity``.

Timed per clip and format: decode (``tool.decode``), analysis (``tool.analyze`` on the decoded audio) and
their sum; then beats-and-chords (``tool.beats_and_chords`` on the same decoded audio, beat tracking
included: ``bc_s``, and ``bc_total_s`` = decode + that). The first clip is run once untimed beforehand (its
time is reported as ``first_call_s``: lazy imports, numba JIT compilation, caches). Extra decoders (e.g.
Essentia's AudioLoader) are timed separately.

Long-track mode (``--long FILE``) runs one task in a fresh process: ``--task analyze`` (the analysis) or
``--task chords`` (beats-and-chords, decoding included; tonearm streams the file through
``beats_and_chords_source``).
"""

from __future__ import annotations

from bench.common import cap_thread_pools, peak_rss_mb, pin, ru_maxrss_mb

cap_thread_pools()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


def lag_ms(
    ref: np.ndarray, other: np.ndarray, sr: int, seconds: float = 10.0, max_lag_s: float = 0.2
) -> float:
    """Delay of ``other`` relative to ``ref`` (ms, positive = ``other`` late), by FFT cross-correlation."""
    n = min(len(ref), len(other), int(seconds * sr))
    a, b = ref[:n] - ref[:n].mean(), other[:n] - other[:n].mean()
    size = 1 << (2 * n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    m = int(max_lag_s * sr)
    lags = np.concatenate([np.arange(0, m + 1), np.arange(-m, 0)])
    vals = np.concatenate([xc[: m + 1], xc[-m:]])
    return float(lags[int(np.argmax(vals))] / sr * 1000.0)


def _clean(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if v is not None or k in ("downbeats", "key", "bpm")}


def run_set(args: argparse.Namespace) -> int:
    """Every clip, WAV and MP3."""
    t_imp = time.perf_counter()
    from .tools import make

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fh = out.open("w")

    def emit(obj: dict[str, Any]) -> None:
        fh.write(json.dumps(obj) + "\n")
        fh.flush()

    applied = pin(args.cpu, numba=True)
    try:
        tool = make(args.tool, args.tonearm_impl)
    except Exception as e:
        emit(
            {"summary": {"tool": args.tool, "error": f"{type(e).__name__}: {e}", "maxrss_mb": peak_rss_mb()}}
        )
        fh.close()
        return 3
    import_s = time.perf_counter() - t_imp
    manifest = json.loads(Path(args.manifest).read_text())
    data_dir = Path(args.manifest).parent
    clips = manifest["clips"][: args.clips] if args.clips else manifest["clips"]
    formats = args.formats.split(",")

    first = data_dir / clips[0]["clip_id"] / clips[0]["files"]["wav"]
    t0 = time.perf_counter()
    first_error = None
    try:
        tool.analyze(tool.decode(first))
    except Exception as e:
        first_error = f"{type(e).__name__}: {e}"
    first_call_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    has_chords, first_bc_error = True, None
    try:
        tool.beats_and_chords(tool.decode(first))
    except NotImplementedError:
        has_chords = False
    except Exception as e:
        first_bc_error = f"{type(e).__name__}: {e}"
    first_bc_call_s = time.perf_counter() - t0

    t_all = time.perf_counter()
    for clip in clips:
        wav_mono: tuple[np.ndarray, int] | None = None
        for fmt in formats:
            path = data_dir / clip["clip_id"] / clip["files"][fmt]
            row: dict[str, Any] = {"clip_id": clip["clip_id"], "format": fmt}
            try:
                c0, w0 = time.process_time(), time.perf_counter()
                audio = tool.decode(path)
                w1 = time.perf_counter()
                res = tool.analyze(audio)
                w2, c2 = time.perf_counter(), time.process_time()
                row.update(decode_s=w1 - w0, analysis_s=w2 - w1, total_s=w2 - w0, cpu_s=c2 - c0)
                row.update(_clean(res))
                if has_chords:
                    try:
                        b0 = time.perf_counter()
                        bc = tool.beats_and_chords(audio)
                        b1 = time.perf_counter()
                        row.update(bc_s=b1 - b0, bc_total_s=(w1 - w0) + (b1 - b0), chords=bc["chords"])
                        if bc.get("chords_frames") is not None:
                            row["chords_frames"] = bc["chords_frames"]
                    except Exception as e:
                        row["bc_error"] = f"{type(e).__name__}: {e}"
                mono = tool.mono(audio)
                if fmt == "wav":
                    wav_mono = mono
                elif wav_mono is not None and wav_mono[1] == mono[1]:
                    row["offset_vs_wav_ms"] = lag_ms(wav_mono[0], mono[0], mono[1])
                    row["decoded_len_diff_samples"] = int(len(mono[0]) - len(wav_mono[0]))
                del audio
                extra = {}
                for name, fn in tool.extra_decoders().items():
                    e0 = time.perf_counter()
                    if fn(path) is None:  # this decoder cannot read this file (not timed)
                        continue
                    extra[name] = time.perf_counter() - e0
                if extra:
                    row["extra_decode_s"] = extra
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
                row["traceback"] = traceback.format_exc(limit=4)
            emit(row)
        print(f"[{args.tool}] {clip['clip_id']}", file=sys.stderr, flush=True)
    versions: dict[str, Any] = {}
    try:
        versions = tool.versions()
    except Exception as e:
        versions = {"error": str(e)}
    emit(
        {
            "summary": {
                "tool": args.tool,
                "tonearm_impl": args.tonearm_impl if args.tool == "tonearm" else None,
                "in_process_import_s": import_s,
                "first_call_s": first_call_s,
                "first_call_error": first_error,
                "first_bc_call_s": first_bc_call_s if has_chords else None,
                "first_bc_call_error": first_bc_error,
                "set_wall_s": time.perf_counter() - t_all,
                "maxrss_mb": peak_rss_mb(),
                "ru_maxrss_mb": ru_maxrss_mb(),
                "threads": applied,
                "versions": versions,
            }
        }
    )
    fh.close()
    return 0


def run_long(args: argparse.Namespace) -> int:
    """One long file, first call in this fresh process: decode + the task, RSS high-water mark."""
    applied = pin(args.cpu, numba=True)
    t0 = time.perf_counter()
    from .tools import make

    tool = make(args.tool, args.tonearm_impl)
    import_s = time.perf_counter() - t0
    rss_after_import = peak_rss_mb()
    out: dict[str, Any] = {
        "tool": args.tool,
        "task": args.task,
        "file": args.long,
        "import_s": import_s,
        "threads": applied,
    }
    try:
        w0 = time.perf_counter()
        streaming = getattr(tool, "analyze_path", None)
        if args.task == "chords":
            res = tool.beats_and_chords_path(Path(args.long))
            w2 = time.perf_counter()
            mode = "streaming" if args.tool == "tonearm" else "decode, then beats and chords"
            out.update(decode_s=None, analysis_s=None, total_s=w2 - w0, bpm=res.get("bpm"), mode=mode)
            out["n_chords"] = len(res.get("chords") or [])
        elif streaming is not None:
            # The product path (job task, CLI): decode and analyse in one streaming pass, so decode and
            # analysis have no separate times.
            res = streaming(Path(args.long))
            w2 = time.perf_counter()
            out.update(decode_s=None, analysis_s=None, total_s=w2 - w0, bpm=res.get("bpm"), mode="streaming")
        else:
            audio = tool.decode(Path(args.long))
            w1 = time.perf_counter()
            res = tool.analyze(audio)
            w2 = time.perf_counter()
            out.update(decode_s=w1 - w0, analysis_s=w2 - w1, total_s=w2 - w0, bpm=res.get("bpm"))
        out["n_beats"] = len(res.get("beats") or [])
        out["key"] = res.get("key")
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
    out["maxrss_mb"] = peak_rss_mb()
    out["ru_maxrss_mb"] = ru_maxrss_mb()
    out["maxrss_after_import_mb"] = rss_after_import
    Path(args.out).write_text(json.dumps(out))
    return 0 if "error" not in out else 4


def main(argv: list[str] | None = None) -> int:
    """CLI entry (used by run.py)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tool", required=True, choices=["tonearm", "librosa", "essentia", "madmom"])
    ap.add_argument("--tonearm-impl", default="real", choices=["real", "stub"])
    ap.add_argument("--manifest", help="data/manifest.json (set mode)")
    ap.add_argument("--long", help="one audio file (long-track mode)")
    ap.add_argument("--task", default="analyze", choices=["analyze", "chords"], help="long-track mode task")
    ap.add_argument("--clips", type=int, default=0)
    ap.add_argument("--formats", default="wav,mp3")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to bind to")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    return run_long(args) if args.long else run_set(args)


if __name__ == "__main__":
    sys.exit(main())
