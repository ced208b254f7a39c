"""Fit the calibration of tonearm's ``bpmConfidence`` (``tonearm.analysis.rhythm.BPM_CONFIDENCE_FIT``).

``bpmConfidence`` should be the probability that the reported tempo is right (MIREX Acc1: within 4 % of
the performed tempo). This script renders *other performances* of the analysis bench's scores (the
realistic set's recipe, ``performance.py``, with every clip's seed moved by ``1000 x variant``: other
tempo maps, SoundFonts among FluidR3_GM/GS and TimGM6mb, production and codecs), analyses the coded
file and the produced WAV of each with tonearm, and fits
``P(Acc1) = floor + (top - floor) / (1 + exp(-slope (salience - centre)))`` by maximum likelihood
(``salience``: ``RhythmAnalysis.bpm_salience``). The bench's own clips are not used, so the bench's
calibration tables (``bench/results/analysis.md``) are measured on performances the fit did not see::

    python -m bench.analysis.tempo_confidence --variants 2 --out bench/analysis/tempo_confidence.json

The result goes into ``BPM_CONFIDENCE_FIT`` by hand (the record says which run produced it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import dataset, metrics, performance
from .corpus import plan
from .metrics import tempo_acc

#: Steepest calibration curve allowed [1/salience]: a 10-90 % transition no narrower than 0.022.
MAX_SLOPE = 200.0
#: Renders of each variant live here (cached like the bench's sets).
DEFAULT_DIR = Path("/tmp/tonearm-tempo-dev")


def render_variant(variant: int, n_clips: int, root: Path, jobs: int) -> list[dict[str, Any]]:
    """Render the realistic recipe for every clip with its seed moved by ``1000 x variant``."""
    out = root / f"v{variant}"
    out.mkdir(parents=True, exist_ok=True)
    env = dataset.renderer_env()
    specs = [dataclasses.replace(s, seed=s.seed + 1000 * variant) for s in plan(n_clips)]
    perfs = [performance.draw(s) for s in specs]
    work = [
        (s, str(out), str(dataset.SOUNDFONT), dataset._realistic_key(s, env, p), p)
        for s, p in zip(specs, perfs, strict=True)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            clips = list(ex.map(dataset._render_one, work))
    else:
        clips = [dataset._render_one(w) for w in work]
    return [c | {"dir": str(out / c["clip_id"])} for c in clips]


def measure(clips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """tonearm's tempo, salience and confidence for each clip's coded file and WAV."""
    from tonearm.analysis.analyze import analyze_source

    rows = []
    for clip in clips:
        for fmt, name in clip["files"].items():
            if fmt not in ("coded", "wav"):
                continue
            path = Path(clip["dir"]) / name
            _, analysis = analyze_source(path)
            r = analysis.rhythm
            acc1, acc2 = tempo_acc(clip["tempo"], r.bpm)
            rows.append(
                {
                    "clip_id": clip["clip_id"],
                    "seed": clip["seed"],
                    "format": fmt,
                    "tempo": clip["tempo"],
                    "bpm": round(float(r.bpm), 2),
                    "salience": float(r.bpm_salience),
                    "confidence": float(r.bpm_confidence),
                    "acc1": acc1,
                    "acc2": acc2,
                }
            )
    return rows


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Maximum-likelihood ``(floor, top, centre, slope)`` of
    ``P(y = 1) = floor + (top - floor) / (1 + exp(-slope (x - centre)))``.

    A plain logistic would send the probability to 0 for a weak salience, but among performed music
    whose beat is hardly periodic about a third of the tempos are still right (the floor), and a clearly
    periodic beat is right nearly always but not always (the top).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
    y : np.ndarray [shape=(n,)], 0 or 1

    Returns
    -------
    (float, float, float, float)
    """
    from scipy.optimize import minimize

    def curve(theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        floor, top = 1.0 / (1.0 + np.exp(-theta[:2]))
        return np.asarray(floor + (top - floor) / (1.0 + np.exp(-theta[3] * (x - theta[2]))))

    def loss(theta: npt.NDArray[np.float64]) -> float:
        p = np.clip(curve(theta), 1e-9, 1.0 - 1e-9)
        return float(-np.sum(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))

    # The slope is bounded: the salience of one performance moves by 0.002 (median) to 0.025 (90th
    # percentile) between its coded file and its WAV, so the data cannot support a transition from floor
    # to top narrower than a few hundredths; unbounded, the likelihood runs to a step at one clip.
    bounds = [(None, None), (None, None), (-0.5, 0.5), (1.0, MAX_SLOPE)]
    fits = [
        minimize(loss, np.array([-1.0, 3.0, c, k]), method="L-BFGS-B", bounds=bounds)
        for c in np.quantile(x, [0.25, 0.5, 0.75])
        for k in (20.0, 100.0)
    ]
    theta = min(fits, key=lambda f: f.fun).x
    floor, top = 1.0 / (1.0 + np.exp(-theta[:2]))
    return float(floor), float(top), float(theta[2]), float(theta[3])


def reliability(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.float64]
) -> list[dict[str, Any]]:
    """The bench's reliability table (:func:`metrics.confidence_reliability`) of these confidences."""
    rows = [{"bpm_confidence": c, "metrics": {"acc1": a}} for c, a in zip(confidence, correct, strict=True)]
    return metrics.confidence_reliability(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--variants", type=int, default=2, help="performances per score (seed offsets 1000, 2000, ...)"
    )
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("tempo_confidence.json"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    clips = [
        c for v in range(1, args.variants + 1) for c in render_variant(v, args.clips, args.data, args.jobs)
    ]
    render_s = time.perf_counter() - t0
    rows = measure(clips)
    x = np.array([r["salience"] for r in rows])
    y = np.array([r["acc1"] for r in rows])
    floor, top, centre, slope = fit_logistic(x, y)
    fitted = floor + (top - floor) / (1.0 + np.exp(-slope * (x - centre)))
    record = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.analysis.tempo_confidence "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "variants": args.variants,
        "clips": args.clips,
        "analyses": len(rows),
        "acc1": float(y.mean()),
        "fit": {
            "floor": round(floor, 4),
            "top": round(top, 4),
            "centre": round(centre, 4),
            "slope": round(slope, 3),
        },
        "reliability_of_fit": reliability(fitted, y),
        "reliability_of_current": reliability(np.array([r["confidence"] for r in rows]), y),
        "render_s": round(render_s, 1),
        "rows": rows,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
