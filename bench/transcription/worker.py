"""One process, one CPU, one thread: transcribe every clip of the set and time it.

Run by ``run.py`` as a fresh subprocess. ``--tool tonearm`` (the project venv) times, per clip:

* ``decode_s``: ``tonearm.audio.decode.decode`` of the WAV;
* ``transcribe_s``: ``tonearm.transcription.transcribe(y, sr)`` on the decoded WAV (mono, 22.05 kHz
  resampling, the model over every window, note decoding), the faster of :data:`REPS` runs: the
  headline time; the notes of the first run are scored;
* ``source_mp3_s``: ``transcribe_source(clip.mp3)`` end to end (MP3 decode, transcription and the tempo
  estimate), and its ``bpm``;
* on the first ``--stages`` clips, the stages alone: resampling, model, note decoding, tempo.

``--tool basic-pitch`` (run with ``models/.venv-basic-pitch/bin/python``, see
``models/basic_pitch/fetch.py``) times the ORIGINAL ``basic_pitch.inference.predict(wav, Model(nmp.onnx))``
with its defaults, as the peer (same model file; its own loading, windowing, note creation and times),
also the faster of :data:`REPS` runs.

``--tool tonearm-long`` runs ``transcribe_source`` once on the set's 10-minute MP3 (``long_10min.mp3``,
the first 20 clips concatenated) in its own process, for its time and the process's peak RSS
(``VmHWM``; the interpreter, numpy and onnxruntime included).

The first clip is run once untimed beforehand (session creation, lazy imports, caches); its time is
reported as ``first_call_s``.
"""

from __future__ import annotations

from bench.common import cap_thread_pools, pin, vm_hwm_mb

cap_thread_pools()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: Timed transcriptions per clip; the fastest counts (the shared machine's load comes and goes).
REPS = 2


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def tonearm_clip(clip_dir: Path, *, stages: bool) -> dict[str, Any]:
    """Decode and transcribe one clip with tonearm (see the module docstring)."""
    from tonearm.audio.decode import decode
    from tonearm.transcription.service import transcribe, transcribe_source

    decode_s, audio = _timed(lambda: decode(clip_dir / "clip.wav"))
    runs = [_timed(lambda: transcribe(audio.y, audio.sr)) for _ in range(REPS)]
    result = runs[0][1]
    source_s, from_mp3 = _timed(lambda: transcribe_source(clip_dir / "clip.mp3"))
    row: dict[str, Any] = {
        "decode_s": decode_s,
        "transcribe_s": min(t for t, _ in runs),
        "transcribe_runs_s": [t for t, _ in runs],
        "source_mp3_s": source_s,
        "bpm": from_mp3.bpm,
        "duration_s": result.duration_s,
        "notes": [[n.start_s, n.end_s, n.pitch, n.velocity] for n in result.notes],
    }
    if stages:
        from tonearm.models.registry import default_registry
        from tonearm.transcription.notes import extract_notes
        from tonearm.transcription.posteriors import posteriors_from_signal, transcription_signal
        from tonearm.transcription.service import estimate_bpm

        default_registry()
        resample_s, signal = _timed(lambda: transcription_signal(audio.y, sr=audio.sr))
        model_s, post = _timed(lambda: posteriors_from_signal(signal, contour=False))
        notes_s, _ = _timed(lambda: extract_notes(post.note, post.onset))
        tempo_s, _ = _timed(lambda: estimate_bpm(signal))
        row["stages_s"] = {"resample": resample_s, "model": model_s, "notes": notes_s, "tempo": tempo_s}
        row["frames"] = int(post.note.shape[0])
    return row


def basic_pitch_clip(clip_dir: Path, model: Any) -> dict[str, Any]:  # pragma: no cover - peer venv
    """The original ``basic_pitch.inference.predict`` on the WAV, with its defaults."""
    import contextlib
    import io

    from basic_pitch import inference

    with contextlib.redirect_stdout(io.StringIO()):
        runs = [_timed(lambda: inference.predict(clip_dir / "clip.wav", model)) for _ in range(REPS)]
    events = runs[0][1][2]
    notes = [[float(s), float(e), int(p), round(127 * float(a))] for s, e, p, a, _ in events]
    return {
        "transcribe_s": min(t for t, _ in runs),
        "transcribe_runs_s": [t for t, _ in runs],
        "notes": sorted(notes),
    }


def long_track(path: Path) -> dict[str, Any]:
    """``transcribe_source`` of the 10-minute MP3 in this (fresh) process: time and peak RSS."""
    from tonearm.transcription.service import transcribe_source

    seconds, result = _timed(lambda: transcribe_source(path))
    return {
        "file": path.name,
        "duration_s": result.duration_s,
        "transcribe_source_s": seconds,
        "notes": len(result.notes),
        "bpm": result.bpm,
        "peak_rss_mb": vm_hwm_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", choices=["tonearm", "basic-pitch", "tonearm-long"], required=True)
    ap.add_argument("--data", type=Path, required=True, help="bench/analysis/data (with manifest.json)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--clips", type=int, default=None, help="only the first N clips of the manifest")
    ap.add_argument("--stages", type=int, default=8, help="clips whose stages are timed separately")
    args = ap.parse_args(argv)
    doc: dict[str, Any] = {"tool": args.tool, "pinning": pin(args.cpu), "clips": {}, "errors": {}}
    if args.tool == "tonearm-long":
        try:
            doc["long"] = long_track(args.data / "long_10min.mp3")
        except Exception:
            doc["errors"]["_worker"] = traceback.format_exc()[-4000:]
        args.out.write_text(json.dumps(doc))
        return 0
    manifest = json.loads((args.data / "manifest.json").read_text())
    ids = [c["clip_id"] for c in manifest["clips"]][: args.clips]
    try:
        if args.tool == "tonearm":

            def run(i: int, cid: str) -> dict[str, Any]:
                return tonearm_clip(args.data / cid, stages=i < args.stages)

        else:
            import logging

            logging.disable(logging.WARNING)
            from basic_pitch import ICASSP_2022_MODEL_PATH, inference

            model = inference.Model(ICASSP_2022_MODEL_PATH)
            doc["model_path"] = str(ICASSP_2022_MODEL_PATH)

            def run(i: int, cid: str) -> dict[str, Any]:
                return basic_pitch_clip(args.data / cid, model)

        doc["first_call_s"], _ = _timed(lambda: run(0, ids[0]))
        for i, cid in enumerate(ids):
            try:
                doc["clips"][cid] = run(i, cid)
            except Exception:  # a failing clip is recorded and scored 0, the run goes on
                doc["errors"][cid] = traceback.format_exc()[-2000:]
    except Exception:
        doc["errors"]["_worker"] = traceback.format_exc()[-4000:]
    args.out.write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
