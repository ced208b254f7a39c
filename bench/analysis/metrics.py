"""Scoring with mir_eval and aggregation over clips.

* Tempo Acc1: ``|est - ref| <= 4 % of ref``. Acc2: the same after allowing the factors 2, 3, 1/2, 1/3
  (the MIREX / Gouyon et al. octave-error tolerance).
* Beat F-measure: ``mir_eval.beat.f_measure`` (default 70 ms window) on ``mir_eval.beat.trim_beats``'d
  reference and estimate (beats before 5 s dropped, as mir_eval's own ``evaluate`` does).
* Downbeat F-measure: the same functions on downbeats; ``None`` (n/a) for tools that give none.
* Key: ``mir_eval.key.weighted_score`` (MIREX: 1 same key, 0.5 fifth, 0.3 relative, 0.2 parallel, else 0).
* Chords: weighted chord symbol recall (WCSR) under mir_eval's ``majmin`` and ``sevenths`` rules
  (:func:`chord_scores`); per clip, then the mean over clips.
* Local tempo (realistic set, whose labels carry a per-beat tempo ``local_tempo`` = 60 / the inter-beat
  interval that starts at each beat): the median absolute percent error (MdAPE) over the reference beats
  after 5 s of the tool's tempo curve (``tempo_curve``: ``[time, bpm]`` rows) evaluated at the middle of
  each reference inter-beat interval (:func:`local_tempo_mdape`); n/a for a tool without a tempo curve.
  The same error of the curve implied by the tool's *beats* (60 / its inter-beat intervals, placed at
  their midpoints) is a diagnostic every beat tracker gets (``beat_tempo_mdape``). Over clips: median.
* A clip a tool failed on scores 0 everywhere (and is counted in ``n_errors``).
"""

from __future__ import annotations

import itertools
import statistics
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

ACC_TOLERANCE = 0.04
ACC2_FACTORS = (1.0, 2.0, 3.0, 1 / 2, 1 / 3)


def tempo_acc(ref: float, est: float | None) -> tuple[float, float]:
    """(Acc1, Acc2) for one clip, each 0 or 1."""
    if est is None or not np.isfinite(est) or est <= 0:
        return 0.0, 0.0
    acc1 = float(abs(est - ref) <= ACC_TOLERANCE * ref)
    acc2 = float(any(abs(est - f * ref) <= ACC_TOLERANCE * f * ref for f in ACC2_FACTORS))
    return acc1, acc2


def beat_f(ref: Iterable[float], est: Iterable[float] | None) -> float:
    """mir_eval beat F-measure after trim_beats on both sides."""
    import mir_eval

    if est is None:
        return 0.0
    r = mir_eval.beat.trim_beats(np.asarray(sorted(ref), dtype=float))
    e = mir_eval.beat.trim_beats(np.asarray(sorted(est), dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(r, e))


def beat_offset_ms(ref: Iterable[float], est: Iterable[float] | None) -> float | None:
    """Median signed distance (ms) from each estimated beat after 5 s to its nearest reference beat.

    A diagnostic of systematic latency (positive = the tool's beats are late), not a target metric.
    """
    r = np.asarray(sorted(ref), dtype=float)
    e = np.asarray(sorted(est or []), dtype=float)
    e = e[e >= 5.0]
    if len(r) == 0 or len(e) == 0:
        return None
    idx = np.abs(e[:, None] - r[None, :]).argmin(axis=1)
    return float(np.median(e - r[idx]) * 1000.0)


def key_score(ref: str, est: str | None) -> float:
    """mir_eval MIREX weighted key score."""
    import mir_eval

    if not est:
        return 0.0
    return float(mir_eval.key.weighted_score(ref, est))


CHORD_RULES = ("majmin", "sevenths", "root")


def chord_scores(ref: list[list[Any]], est: Any) -> dict[str, float] | None:
    """mir_eval weighted chord symbol recall (WCSR) under the majmin, sevenths and root rules.

    ``est``: (start, end, label) rows or ``{"start", "end", "label"}`` dicts in Harte syntax
    (``"C:maj"``, ``"A:min7"``, ``"N"``). The estimate is padded/trimmed to the reference's span with
    ``N`` (``mir_eval.util.adjust_intervals``), both are merged onto common intervals, and each rule's
    comparison is duration-weighted; reference segments a rule cannot judge (``X``, or e.g. ``dim`` under
    majmin) are left out of that rule's total, as in MIREX. ``None`` when ``est`` is empty or invalid.
    """
    import mir_eval

    if not est:
        return None
    try:
        rows = [(r["start"], r["end"], r["label"]) if isinstance(r, dict) else tuple(r[:3]) for r in est]
        ei = np.array([[float(a), float(b)] for a, b, _ in rows])
        el = [str(lab) for *_, lab in rows]
        ri = np.array([[a, b] for a, b, _ in ref])
        rl = [lab for *_, lab in ref]
        ei, el = mir_eval.util.adjust_intervals(
            ei, el, ri.min(), ri.max(), mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD
        )
        iv, rlab, elab = mir_eval.util.merge_labeled_intervals(ri, rl, ei, el)
        durations = mir_eval.util.intervals_to_durations(iv)
        out = {}
        for rule in CHORD_RULES:
            comp = getattr(mir_eval.chord, rule)(rlab, elab)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[rule] = float(mir_eval.chord.weighted_accuracy(comp, durations))
        return out
    except Exception:
        return None


def chord_score(ref: list[list[Any]], est: Any) -> float | None:
    """mir_eval majmin WCSR (see :func:`chord_scores`)."""
    scores = chord_scores(ref, est)
    return None if scores is None else scores["majmin"]


def _curve_rows(curve: Any) -> np.ndarray | None:
    """``[[t, bpm], ...]`` or ``[{"time"|"t", "bpm"}, ...]`` -> (n, 2) array sorted by time, or None."""
    if not curve:
        return None
    try:
        rows = [
            (float(r.get("time", r.get("t"))), float(r["bpm"]))
            if isinstance(r, dict)
            else (float(r[0]), float(r[1]))
            for r in curve
        ]
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    arr = np.array(sorted(rows), dtype=float)
    arr = arr[np.isfinite(arr).all(axis=1) & (arr[:, 1] > 0)]
    return arr if len(arr) else None


def beats_to_curve(beats: Iterable[float] | None) -> np.ndarray | None:
    """A tempo curve implied by beat times: 60 / each inter-beat interval, at the interval's midpoint."""
    b = np.sort(np.asarray([] if beats is None else list(beats), dtype=float))
    if len(b) < 2:
        return None
    ibi = np.diff(b)
    ok = ibi > 1e-3
    if not ok.any():
        return None
    return np.stack([(b[:-1] + b[1:])[ok] / 2, 60.0 / ibi[ok]], axis=1)


def local_tempo_mdape(
    ref_beats: Iterable[float], ref_tempo: Iterable[float], curve: Any, *, skip_s: float = 5.0
) -> float | None:
    """Median absolute percent error of a tempo curve against the per-beat reference tempo.

    Reference beat ``i`` (at or after ``skip_s``) has the tempo ``ref_tempo[i]`` over the interval it starts;
    the curve (linear interpolation, held at its ends) is read at the interval's middle (for the last beat,
    half its own interval after it). ``None`` when there is no curve.
    """
    c = curve if isinstance(curve, np.ndarray) else _curve_rows(curve)
    b = np.asarray(list(ref_beats), dtype=float)
    r = np.asarray(list(ref_tempo), dtype=float)
    if c is None or len(b) == 0 or len(b) != len(r):
        return None
    mid = b + 30.0 / r  # half of each interval after its beat
    keep = b >= skip_s
    if not keep.any():
        return None
    est = np.interp(mid[keep], c[:, 0], c[:, 1])
    return float(np.median(np.abs(est - r[keep]) / r[keep]) * 100.0)


def score_row(clip: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Per-clip metrics for one tool's row."""
    if "error" in row:
        out = {"acc1": 0.0, "acc2": 0.0, "beat_f": 0.0, "key_weighted": 0.0}
        out["downbeat_f"] = 0.0 if row.get("tool") in ("tonearm", "madmom") else None
        return out
    acc1, acc2 = tempo_acc(clip["tempo"], row.get("bpm"))
    out: dict[str, Any] = {"acc1": acc1, "acc2": acc2, "beat_f": beat_f(clip["beats"], row.get("beats"))}
    out["downbeat_f"] = (
        beat_f(clip["downbeats"], row["downbeats"]) if row.get("downbeats") is not None else None
    )
    out["beat_offset_ms"] = beat_offset_ms(clip["beats"], row.get("beats"))
    out["key_weighted"] = key_score(clip["key"], row.get("key"))
    out["key_exact"] = float(out["key_weighted"] == 1.0)
    cs = chord_scores(clip["chords"], row.get("chords"))
    if cs is not None:
        out["chord_majmin"], out["chord_sevenths"] = cs["majmin"], cs["sevenths"]
    elif "bc_error" in row:
        out["chord_majmin"], out["chord_sevenths"] = 0.0, 0.0
    cf = chord_scores(clip["chords"], row.get("chords_frames"))
    if cf is not None:
        out["chord_majmin_frames"], out["chord_sevenths_frames"] = cf["majmin"], cf["sevenths"]
    if clip.get("local_tempo") is not None:
        out["local_tempo_mdape"] = local_tempo_mdape(
            clip["beats"], clip["local_tempo"], row.get("tempo_curve")
        )
        out["beat_tempo_mdape"] = local_tempo_mdape(
            clip["beats"], clip["local_tempo"], beats_to_curve(row.get("beats"))
        )
    return out


#: bpmConfidence thresholds of the calibration table. bpmConfidence is a probability of Acc1
#: (tonearm.analysis.rhythm.BPM_CONFIDENCE_FIT), so these are thresholds a user would act on.
CONFIDENCE_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
#: Bins of the reliability table: mean confidence against the observed share of right tempos.
RELIABILITY_EDGES = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0)


def confidence_calibration(
    rows: list[dict[str, Any]], thresholds: tuple[float, ...] = CONFIDENCE_THRESHOLDS
) -> list[dict[str, Any]]:
    """How often a ``bpmConfidence`` below a threshold means a wrong tempo (Acc1 miss), and above it.

    Parameters
    ----------
    rows : list of dict
        One tool's rows of one format, each with ``bpm_confidence`` and ``metrics["acc1"]``; rows
        without a confidence (errors, tools that report none) are left out.
    thresholds : tuple of float

    Returns
    -------
    list of dict
        Per threshold ``t``: ``n_below``, ``wrong_below`` (share of the clips with confidence < t whose
        tempo is wrong), ``n_above``, ``wrong_above`` (the same for confidence >= t); shares are None
        where there is no clip.
    """
    pairs = [
        (float(r["bpm_confidence"]), float(r["metrics"]["acc1"]) < 1.0)
        for r in rows
        if r.get("bpm_confidence") is not None and "error" not in r
    ]
    table = []
    for t in thresholds:
        below = [wrong for c, wrong in pairs if c < t]
        above = [wrong for c, wrong in pairs if c >= t]
        table.append(
            {
                "threshold": t,
                "n_below": len(below),
                "wrong_below": float(np.mean(below)) if below else None,
                "n_above": len(above),
                "wrong_above": float(np.mean(above)) if above else None,
            }
        )
    return table


def confidence_reliability(
    rows: list[dict[str, Any]], edges: tuple[float, ...] = RELIABILITY_EDGES
) -> list[dict[str, Any]]:
    """Reliability of ``bpmConfidence`` as a probability: per bin, its mean against the share of right
    tempos (Acc1).

    Parameters
    ----------
    rows : list of dict
        As for :func:`confidence_calibration`.
    edges : tuple of float
        Bin edges; the last bin includes its upper edge.

    Returns
    -------
    list of dict
        Per bin ``[lo, hi)``: ``n``, ``mean_confidence`` and ``right`` (None where the bin is empty). A
        calibrated confidence has ``right`` close to ``mean_confidence`` in every well-filled bin.
    """
    pairs = [
        (float(r["bpm_confidence"]), float(r["metrics"]["acc1"]) >= 1.0)
        for r in rows
        if r.get("bpm_confidence") is not None and "error" not in r
    ]
    table = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        inside = [(c, right) for c, right in pairs if lo <= c < hi or (last and c == hi)]
        table.append(
            {
                "bin": (lo, hi),
                "n": len(inside),
                "mean_confidence": float(np.mean([c for c, _ in inside])) if inside else None,
                "right": float(np.mean([r for _, r in inside])) if inside else None,
            }
        )
    return table


def _mean(vals: list[float | None]) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def _median(vals: list[float | None]) -> float | None:
    v = [x for x in vals if x is not None]
    return float(statistics.median(v)) if v else None


METRICS = (
    "acc1",
    "acc2",
    "beat_f",
    "downbeat_f",
    "key_weighted",
    "key_exact",
    "chord_majmin",
    "chord_sevenths",
    "chord_majmin_frames",
    "chord_sevenths_frames",
    "local_tempo_mdape",
    "beat_tempo_mdape",
)


def aggregate(
    rows: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool] = lambda r: True
) -> dict[str, Any]:
    """Means of the per-clip metrics and medians of the timings over the rows ``keep`` selects."""
    sel = [r for r in rows if keep(r)]
    out: dict[str, Any] = {"n": len(sel), "n_errors": sum(1 for r in sel if "error" in r)}
    for m in METRICS:
        vals = [r["metrics"].get(m) for r in sel]
        if m == "downbeat_f" and all(v is None for v in vals):
            out[m] = None
        elif m.endswith("_mdape"):  # lower is better: a failed clip is left out (counted in n_errors)
            out[m] = _median(vals)
        elif m.startswith("chord_") and all(v is None for v in vals):
            continue
        else:
            out[m] = _mean([0.0 if v is None and "error" in r else v for v, r in zip(vals, sel, strict=True)])
    out["median_beat_offset_ms"] = _median([r["metrics"].get("beat_offset_ms") for r in sel])
    for t in ("decode_s", "analysis_s", "total_s", "cpu_s", "bc_s", "bc_total_s"):
        out[f"median_{t}"] = _median([r.get(t) for r in sel])
    totals = [r["total_s"] for r in sel if "total_s" in r]
    out["p90_total_s"] = float(np.percentile(totals, 90)) if totals else None
    extra: dict[str, list[float]] = {}
    for r in sel:
        for k, v in (r.get("extra_decode_s") or {}).items():
            extra.setdefault(k, []).append(v)
    out["median_extra_decode_s"] = {k: _median(list(v)) for k, v in extra.items()}
    offs = [r["offset_vs_wav_ms"] for r in sel if "offset_vs_wav_ms" in r]
    if offs:
        out["median_offset_vs_wav_ms"] = _median(list(offs))
    return out
