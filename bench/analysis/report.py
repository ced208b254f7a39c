"""Summaries, target verdicts and the markdown report for the analysis benchmark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import metrics
from .metrics import aggregate

PEERS = ("librosa", "essentia", "madmom")
LABEL = {"tonearm": "tonearm", "librosa": "librosa", "essentia": "Essentia", "madmom": "madmom"}
#: Tools that give downbeats (a failed clip scores 0 for them; n/a for the others).
DOWNBEAT_TOOLS = ("tonearm", "madmom")
TARGETS: dict[str, dict[str, Any]] = {
    "tempo_acc1": {"op": ">=", "value": 0.95, "text": "tempo Acc1 >= 0.95 (WAV)"},
    "tempo_acc2": {"op": ">=", "value": 1.00, "text": "tempo Acc2 = 1.00 (WAV)"},
    "beat_f": {"op": ">=", "value": 0.90, "text": "beat F-measure >= 0.90 (WAV)"},
    "key_weighted": {"op": ">=", "value": 0.95, "text": "key weighted score >= 0.95 (WAV)"},
    "mp3_30s_total_s": {
        "op": "<=",
        "value": 0.120,
        "text": "analyze a 30 s MP3, decode included, median <= 120 ms (issue 21)",
    },
    "long_10min_total_s": {"op": "<=", "value": 3.0, "text": "10-minute MP3, decode + analyze <= 3 s"},
    "long_10min_rss_mb": {"op": "<=", "value": 500.0, "text": "10-minute MP3, peak RSS <= 500 MB"},
    "vs_best_peer": {"op": "all", "value": None, "text": "every metric at least as good as the best peer"},
    "chords_majmin": {"op": ">=", "value": 0.85, "text": "chords: majmin WCSR >= 0.85 (WAV)"},
    "chords_vs_peer": {
        "op": ">=",
        "value": 0.05,
        "text": "chords: majmin WCSR >= best peer + 0.05 (WAV)",
    },
    "chords_30s_s": {
        "op": "<=",
        "value": 1.0,
        "text": "beats and chords of a 30 s MP3, decode included, median <= 1 s",
    },
    "chords_long_10min_s": {
        "op": "<=",
        "value": 20.0,
        "text": "beats and chords of the 10-minute MP3, decode included, <= 20 s",
    },
    "chords_long_10min_rss_mb": {
        "op": "<=",
        "value": 1024.0,
        "text": "beats and chords of the 10-minute MP3, peak RSS <= 1 GB",
    },
}
#: Chord peers (columns of the chords tables): the per-beat Essentia variant is "essentia"; its per-frame
#: ChordsDetection is reported as a row of its own.
CHORD_VARIANTS = (
    ("librosa", "chord_majmin", "chord_sevenths", "librosa chroma_cqt + triad templates"),
    ("essentia", "chord_majmin", "chord_sevenths", "Essentia HPCP + ChordsDetectionBeats"),
    ("essentia", "chord_majmin_frames", "chord_sevenths_frames", "Essentia HPCP + ChordsDetection (frames)"),
    ("madmom", "chord_majmin", "chord_sevenths", "madmom CNNChordFeature + CRF"),
)


def summarize(
    results: dict[str, Any], clips: dict[str, dict[str, Any]], formats: tuple[str, ...] = ("wav", "mp3")
) -> dict[str, Any]:
    """Per tool: aggregates per format, and breakdowns (of the first format) by category, meter, drums and
    mode, plus the performance choices (tempo event, swing, SoundFont, codec) on the realistic set."""
    out: dict[str, Any] = {}
    realistic = any(c.get("performance") for c in clips.values())
    for tool, res in results.items():
        rows = res["rows"]

        def sel(fmt: str, pred: Callable[[dict[str, Any]], bool] = lambda c: True) -> Callable[[dict], bool]:
            return lambda r: r["format"] == fmt and pred(clips[r["clip_id"]])

        s: dict[str, Any] = {fmt: aggregate(rows, sel(fmt)) for fmt in formats}
        s["by"] = {}
        groups: dict[str, Callable[[dict[str, Any]], str]] = {
            "category": lambda c: c["category"],
            "meter": lambda c: c["meter"],
            "drums": lambda c: "drums" if c["drums"] else "no drums",
            "mode": lambda c: c["mode"],
        }
        if realistic:
            groups |= {
                "tempo event": lambda c: c["performance"]["event"],
                "swing": lambda c: "swing" if c["performance"]["swing_ratio"] != 1.0 else "straight",
                "soundfont": lambda c: c["performance"]["soundfont"],
                "codec": lambda c: c["performance"]["codec"],
            }
        for gname, fn in groups.items():
            values = sorted({fn(c) for c in clips.values()})
            s["by"][gname] = {
                v: aggregate(rows, sel(formats[0], lambda c, fn=fn, v=v: fn(c) == v)) for v in values
            }
        s["error"] = res["summary"].get("error")
        s["maxrss_mb"] = res["summary"].get("maxrss_mb")
        s["first_call_s"] = res["summary"].get("first_call_s")
        out[tool] = s
    return out


# (id, label, getter(summary_of_tool, tool_summary_extra) -> value, higher is better, kind)
def _g(fmt: str, key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda s: (s.get(fmt) or {}).get(key)


COMPARED: list[tuple[str, str, Callable[[dict[str, Any]], Any], bool, str]] = [
    ("tempo_acc1", "Tempo Acc1 (±4 %)", _g("wav", "acc1"), True, "acc"),
    ("tempo_acc2", "Tempo Acc2 (octave errors x2, x3, x1/2, x1/3 allowed)", _g("wav", "acc2"), True, "acc"),
    ("beat_f", "Beat F-measure (±70 ms)", _g("wav", "beat_f"), True, "acc"),
    ("downbeat_f", "Downbeat F-measure (±70 ms)", _g("wav", "downbeat_f"), True, "acc"),
    ("key_weighted", "Key weighted score (MIREX)", _g("wav", "key_weighted"), True, "acc"),
    ("key_exact", "Key exactly right (share)", _g("wav", "key_exact"), True, "acc"),
    (
        "beat_offset_ms",
        "Beat offset vs reference, median ms (diagnostic)",
        _g("wav", "median_beat_offset_ms"),
        False,
        "diag",
    ),
    ("mp3_tempo_acc1", "Tempo Acc1", _g("mp3", "acc1"), True, "acc_mp3"),
    ("mp3_tempo_acc2", "Tempo Acc2", _g("mp3", "acc2"), True, "acc_mp3"),
    ("mp3_beat_f", "Beat F-measure", _g("mp3", "beat_f"), True, "acc_mp3"),
    ("mp3_downbeat_f", "Downbeat F-measure", _g("mp3", "downbeat_f"), True, "acc_mp3"),
    ("mp3_key_weighted", "Key weighted score", _g("mp3", "key_weighted"), True, "acc_mp3"),
    ("wav_analysis_s", "Analysis only, 30 s WAV (median)", _g("wav", "median_analysis_s"), False, "speed"),
    ("mp3_analysis_s", "Analysis only, 30 s MP3 (median)", _g("mp3", "median_analysis_s"), False, "speed"),
    ("wav_total_s", "Decode + analysis, 30 s WAV (median)", _g("wav", "median_total_s"), False, "speed"),
    ("mp3_total_s", "Decode + analysis, 30 s MP3 (median)", _g("mp3", "median_total_s"), False, "speed"),
    ("wav_decode_s", "Decode only, 30 s WAV (median, as used)", _g("wav", "median_decode_s"), False, "speed"),
    ("mp3_decode_s", "Decode only, 30 s MP3 (median, as used)", _g("mp3", "median_decode_s"), False, "speed"),
    (
        "first_call_s",
        "First call in the process (warm-up, JIT)",
        lambda s: s.get("first_call_s"),
        False,
        "speed",
    ),
    ("maxrss_mb", "Peak RSS, whole set in one process (MB)", lambda s: s.get("maxrss_mb"), False, "mem"),
    ("chords_majmin", "Chords majmin WCSR", _g("wav", "chord_majmin"), True, "chords"),
    ("chords_sevenths", "Chords sevenths WCSR", _g("wav", "chord_sevenths"), True, "chords"),
    ("mp3_chords_majmin", "Chords majmin WCSR, MP3", _g("mp3", "chord_majmin"), True, "chords"),
    ("mp3_chords_sevenths", "Chords sevenths WCSR, MP3", _g("mp3", "chord_sevenths"), True, "chords"),
    (
        "chords_majmin_frames",
        "Chords majmin WCSR, Essentia ChordsDetection per frame (not judged)",
        _g("wav", "chord_majmin_frames"),
        True,
        "chords_diag",
    ),
    (
        "chords_sevenths_frames",
        "Chords sevenths WCSR, Essentia ChordsDetection per frame (not judged)",
        _g("wav", "chord_sevenths_frames"),
        True,
        "chords_diag",
    ),
    (
        "chords_wav_s",
        "Beats and chords only, 30 s WAV (median)",
        _g("wav", "median_bc_s"),
        False,
        "chords_speed",
    ),
    (
        "chords_30s_s",
        "Beats and chords, 30 s MP3, decode included (median)",
        _g("mp3", "median_bc_total_s"),
        False,
        "chords_speed",
    ),
]


def _cmp(a: float, b: float, higher: bool) -> bool:
    return a >= b - 1e-12 if higher else a <= b + 1e-12


def verdicts(
    summary: dict[str, Any],
    long_res: dict[str, Any],
    imports: dict[str, Any],
    results: dict[str, Any],
    long_chords: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pass/fail for every target, plus the per-metric comparison with the best peer."""
    t = summary.get("tonearm")
    out: dict[str, Any] = {"targets": {}, "vs_best_peer": []}
    if t is None:
        return out

    def thr(name: str, value: float | None) -> dict[str, Any]:
        spec = TARGETS[name]
        ok = (
            None
            if value is None
            else (value >= spec["value"] - 1e-12 if spec["op"] == ">=" else value <= spec["value"])
        )
        return {"target": spec["text"], "value": value, "pass": ok}

    v = out["targets"]
    v["tempo_acc1"] = thr("tempo_acc1", t["wav"].get("acc1"))
    v["tempo_acc2"] = thr("tempo_acc2", t["wav"].get("acc2"))
    v["beat_f"] = thr("beat_f", t["wav"].get("beat_f"))
    v["key_weighted"] = thr("key_weighted", t["wav"].get("key_weighted"))
    v["mp3_30s_total_s"] = thr("mp3_30s_total_s", t["mp3"].get("median_total_s"))
    lm = long_res.get("mp3") or {}
    v["long_10min_total_s"] = thr("long_10min_total_s", lm.get("median_total_s"))
    v["long_10min_rss_mb"] = thr("long_10min_rss_mb", lm.get("max_maxrss_mb"))
    if t["wav"].get("chord_majmin") is not None:
        v["chords_majmin"] = thr("chords_majmin", t["wav"]["chord_majmin"])
        peers = _chord_peer_scores(summary, "wav", "majmin")
        if peers:
            best = max(peers, key=lambda k: peers[k])
            margin = t["wav"]["chord_majmin"] - peers[best]
            v["chords_vs_peer"] = thr("chords_vs_peer", margin)
            v["chords_vs_peer"].update(best_peer=best, best_peer_value=peers[best])
        v["chords_30s_s"] = thr("chords_30s_s", t["mp3"].get("median_bc_total_s"))
        lc = (long_chords or {}).get("tonearm") or {}
        v["chords_long_10min_s"] = thr("chords_long_10min_s", lc.get("median_total_s"))
        v["chords_long_10min_rss_mb"] = thr("chords_long_10min_rss_mb", lc.get("max_maxrss_mb"))

    rows = []
    extra = [("import_net_s", "Cold import, net of interpreter start (median of runs)", False)]
    for mid, label, get, higher, kind in COMPARED:
        if kind.endswith("diag"):
            continue
        mine = get(t)
        peers = {p: get(summary[p]) for p in PEERS if p in summary and not summary[p].get("error")}
        peers = {p: x for p, x in peers.items() if x is not None}
        rows.append(_row(mid, label, kind, higher, mine, peers))
    for mid, label, higher in extra:
        mine = (imports.get("tonearm") or {}).get("median_net_s")
        peers = {
            p: imports[p]["median_net_s"]
            for p in PEERS
            if (imports.get(p) or {}).get("median_net_s") is not None
        }
        rows.append(_row(mid, label, "speed", higher, mine, peers))
    out["vs_best_peer"] = rows
    judged = [r for r in rows if r["pass"] is not None]
    v["vs_best_peer"] = {
        "target": TARGETS["vs_best_peer"]["text"],
        "value": f"{sum(r['pass'] for r in judged)}/{len(judged)} metrics",
        "pass": all(r["pass"] for r in judged) if judged else None,
        "failing": [r["id"] for r in judged if not r["pass"]],
    }
    return out


#: The realistic set's accuracy rows: (id, label, metric, higher is better, judged against the best peer).
REALISTIC_METRICS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("acc1", "Tempo Acc1 (±4 % of the clip's median tempo)", "acc1", True, True),
    ("acc2", "Tempo Acc2 (x2, x3, x1/2, x1/3 allowed)", "acc2", True, True),
    ("beat_f", "Beat F-measure (±70 ms)", "beat_f", True, True),
    ("downbeat_f", "Downbeat F-measure (±70 ms)", "downbeat_f", True, True),
    ("key_weighted", "Key weighted score (MIREX)", "key_weighted", True, True),
    ("key_exact", "Key exactly right (share)", "key_exact", True, True),
    ("chord_majmin", "Chords majmin WCSR", "chord_majmin", True, True),
    ("chord_sevenths", "Chords sevenths WCSR", "chord_sevenths", True, True),
    (
        "local_tempo_mdape",
        "Local tempo: tempo curve's median abs. % error per beat (median over clips)",
        "local_tempo_mdape",
        False,
        True,
    ),
    (
        "beat_tempo_mdape",
        "Local tempo implied by the beats (60 / IBI), median abs. % error (diagnostic)",
        "beat_tempo_mdape",
        False,
        False,
    ),
    (
        "beat_offset_ms",
        "Beat offset vs reference, median ms (diagnostic)",
        "median_beat_offset_ms",
        False,
        False,
    ),
    ("analysis_s", "Analysis only, 30 s (median)", "median_analysis_s", False, False),
)


def realistic_verdicts(summary: dict[str, Any], formats: tuple[str, ...]) -> list[dict[str, Any]]:
    """tonearm against the best peer, metric by metric, for each format of the realistic set."""
    t = summary.get("tonearm")
    if t is None:
        return []
    rows = []
    for fmt in formats:
        for mid, label, key, higher, judged in REALISTIC_METRICS:
            if not judged:
                continue
            mine = (t.get(fmt) or {}).get(key)
            peers = {
                p: (summary[p].get(fmt) or {}).get(key)
                for p in PEERS
                if p in summary and not summary[p].get("error")
            }
            peers = {p: x for p, x in peers.items() if x is not None}
            row = _row(f"{fmt}_{mid}", label, "acc", higher, mine, peers)
            if mine is None and not peers:
                row["pass"] = None
            rows.append(row)
    return rows


def _row(mid: str, label: str, kind: str, higher: bool, mine: Any, peers: dict[str, Any]) -> dict[str, Any]:
    if not peers:
        return {"id": mid, "label": label, "kind": kind, "tonearm": mine, "best_peer": None, "pass": None}
    best_p = max(peers, key=lambda p: peers[p]) if higher else min(peers, key=lambda p: peers[p])
    ok = None if mine is None else _cmp(mine, peers[best_p], higher)
    if mine is None:
        ok = False
    return {
        "id": mid,
        "label": label,
        "kind": kind,
        "tonearm": mine,
        "best_peer": best_p,
        "best_peer_value": peers[best_p],
        "pass": ok,
    }


def _chord_peer_scores(summary: dict[str, Any], fmt: str, rule: str) -> dict[str, float]:
    """Every peer variant's mean chord score (``rule``: majmin or sevenths), keyed by its report name."""
    out: dict[str, float] = {}
    for tool, majmin_key, sevenths_key, name in CHORD_VARIANTS:
        s = summary.get(tool)
        if not s or s.get("error"):
            continue
        value = (s.get(fmt) or {}).get(majmin_key if rule == "majmin" else sevenths_key)
        if value is not None:
            out[name] = value
    return out


def clip_public(c: dict[str, Any]) -> dict[str, Any]:
    """A clip's labels as stored in analysis.json."""
    return {k: v for k, v in c.items() if k not in ("cached",)}


# ---------------------------------------------------------------- markdown


def _breakdown_rows(s: dict[str, Any], tools: list[str], groups: tuple[str, ...], third: str) -> list[str]:
    """Rows ``| group: value | n | beat F / tempo Acc1 / <third> |`` per tool, for each group's values."""
    rows = []
    for gname in groups:
        for val in s[tools[0]]["by"].get(gname, {}):
            cells = [
                f"{_fmt(a.get('beat_f'), 'acc')} / {_fmt(a.get('acc1'), 'acc')} / {_fmt(a.get(third), 'acc')}"
                for a in (s[t]["by"][gname][val] for t in tools)
            ]
            n_grp = max(s[t]["by"][gname][val]["n"] for t in tools)
            rows.append(f"| {gname}: {val} | {n_grp} | " + " | ".join(cells) + " |")
    return rows


def _calibration_lines(rows: list[dict[str, Any]], fmt: str, title: str) -> list[str]:
    """tonearm's bpmConfidence against its tempo errors (Acc1) on one set and format."""
    mine = [r for r in rows if r.get("tool") == "tonearm" and r.get("format") == fmt]
    table = metrics.confidence_calibration(mine)
    if not any(t["n_below"] + t["n_above"] for t in table):
        return []
    lines = [
        f"### bpmConfidence calibration (tonearm, {title})\n",
        "bpmConfidence is the estimated probability that the tempo is right (Acc1), a logistic function "
        "of the beat period's comb salience fitted on *other* performances of these scores "
        "(`bench/analysis/tempo_confidence.json`). How often a confidence below a threshold means a wrong "
        "tempo, and how often a confidence at or above it still does:\n",
        "| threshold | clips below | wrong below | clips at or above | wrong at or above |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t in table:
        lines.append(
            f"| {t['threshold']:.1f} | {t['n_below']} | {_fmt(t['wrong_below'], 'acc')} | {t['n_above']} | "
            f"{_fmt(t['wrong_above'], 'acc')} |"
        )
    lines += [
        "",
        "Reliability: in each confidence bin, the mean confidence against the share of clips whose tempo "
        "is right (calibrated: the two agree).\n",
        "| confidence | clips | mean confidence | tempo right |",
        "|---|---:|---:|---:|",
    ]
    for b in metrics.confidence_reliability(mine):
        lo, hi = b["bin"]
        mean, right = _fmt(b["mean_confidence"], "acc"), _fmt(b["right"], "acc")
        lines.append(f"| {lo:.2f}-{hi:.2f} | {b['n']} | {mean} | {right} |")
    return [*lines, ""]


def _fmt(x: Any, kind: str) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if kind in ("acc", "acc_mp3"):
        return f"{x:.3f}"
    if kind == "speed":
        return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"
    if kind == "mem":
        return f"{x:.0f} MB"
    if kind == "diag":
        return f"{x:+.0f} ms"
    return f"{x}"


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def markdown(doc: dict[str, Any]) -> str:
    """The human-readable report: the constant-tempo set (when run), then the realistic set (when run)."""
    if "summary" not in doc:  # --set realistic
        L = ["# Analysis benchmark, realistic set: tonearm vs librosa vs Essentia vs madmom\n"]  # noqa: N806
        if doc.get("stub_warning"):
            L.append(f"> **WARNING: {doc['stub_warning']}.** These numbers only exercise the harness.\n")
        m = doc["machine"]
        L.append(
            f"Generated {doc['generated']} (`{doc['command']}`). **Machine:** {m.get('cpu', '?')}, "
            f"{m.get('logical_cpus')} logical CPUs; load average {m.get('load_average_at_start')} at start, "
            f"{m.get('load_average_at_report')} at end. Method: `bench/analysis/README.md`.\n"
        )
        _realistic_section(doc, L)
        L.append("## Run time\n")
        L.append(", ".join(f"{k.removesuffix('_s')}: {v:.0f} s" for k, v in doc["stages_s"].items()) + "\n")
        return "\n".join(L)
    s, ver = doc["summary"], doc["verdicts"]
    tools = [t for t in ("tonearm", *PEERS) if t in s]
    names = [
        LABEL[t] + (" (STUB)" if t == "tonearm" and doc["tonearm_impl"] == "stub" else "") for t in tools
    ]
    m = doc["machine"]
    L: list[str] = []  # noqa: N806 - the report's lines
    L.append("# Analysis benchmark: tonearm vs librosa vs Essentia vs madmom\n")
    if doc.get("stub_warning"):
        L.append(f"> **WARNING: {doc['stub_warning']}.** These numbers only exercise the harness.\n")
    L.append(
        f"Generated {doc['generated']} by `make bench` (`{doc['command']}`). "
        f"{doc['dataset']['n_clips']} clips of 30 s rendered from music21's corpus with FluidSynth "
        f"({doc['dataset']['renderer']['fluidsynth']}, FluidR3_GM); every tool in its own process, "
        "one thread, "
        f"bound to CPU {doc['single_thread']['cpu_affinity']}. Method: `bench/analysis/README.md`.\n"
    )
    L.append(
        f"**Machine:** {m.get('cpu', '?')}, {m.get('logical_cpus')} logical CPUs, "
        f"{m.get('memory_gib', '?')} GiB RAM; "
        f"{m['platform']}; Python {m['python']}, numpy {m['numpy']}, mir_eval {m['mir_eval']}; "
        f"load average {m.get('load_average_at_start')} at start, {m.get('load_average_at_report')} at end. "
        + "; ".join(
            f"{LABEL[t]}: "
            + ", ".join(f"{k} {v}" for k, v in (doc["tools"][t].get("versions") or {}).items())
            for t in tools
        )
        + "\n"
    )
    L.extend(_reuse_note(doc.get("tools", {}), "constant-tempo set"))

    L.append("## Targets\n")
    if s.get("tonearm", {}).get("error"):
        L.append(f"> **tonearm could not run:** `{s['tonearm']['error']}`\n")
    L.append("| Target | tonearm | Result |\n|---|---|---|")
    for key, v in ver.get("targets", {}).items():
        val = v["value"]
        if isinstance(val, float):
            if key in ("mp3_30s_total_s", "long_10min_total_s", "chords_30s_s", "chords_long_10min_s"):
                val = _fmt(val, "speed")
            elif key in ("long_10min_rss_mb", "chords_long_10min_rss_mb"):
                val = _fmt(val, "mem")
            elif key == "chords_vs_peer":
                val = f"{val:+.3f} over {v['best_peer']} ({v['best_peer_value']:.3f})"
            else:
                val = f"{val:.3f}"
        extra = f" (failing: {', '.join(v['failing'])})" if v.get("failing") else ""
        L.append(f"| {v['target']} | {val if val is not None else 'n/a'} | {_mark(v['pass'])}{extra} |")
    L.append("")

    rows_by_id = {r["id"]: r for r in ver.get("vs_best_peer", [])}

    def table(title: str, kinds: tuple[str, ...], note: str = "") -> None:
        L.append(f"## {title}\n")
        if note:
            L.append(note + "\n")
        L.append("| Metric | " + " | ".join(names) + " | Target | vs best peer |")
        L.append("|---|" + "---|" * (len(names) + 2))
        for mid, label, get, _higher, kind in COMPARED:
            if kind not in kinds:
                continue
            vals = [_fmt(get(s[t]), kind) for t in tools]
            tgt_s = ""
            if mid in TARGETS:
                tv = ver["targets"].get(mid, {})
                tgt_s = f"{TARGETS[mid]['op']} {TARGETS[mid]['value']:.2f}: {_mark(tv.get('pass'))}"
            elif mid == "mp3_total_s":
                tv = ver["targets"].get("mp3_30s_total_s", {})
                tgt_s = f"<= {TARGETS['mp3_30s_total_s']['value'] * 1000:.0f} ms: {_mark(tv.get('pass'))}"
            judged = "" if kind == "diag" else _mark(rows_by_id.get(mid, {}).get("pass"))
            L.append(f"| {label} | " + " | ".join(vals) + f" | {tgt_s} | {judged} |")
        L.append("")

    n = doc["dataset"]["n_clips"]
    table(
        "Accuracy, WAV (primary)",
        ("acc", "diag"),
        f"Means over {n} clips; a failed clip scores 0. The beat offset row (median over clips of the median "
        "signed distance to the nearest reference beat; positive = late) shows systematic latency; it is "
        "not judged.",
    )
    table(
        "Accuracy, MP3 (192 kbit/s)",
        ("acc_mp3",),
        "Same clips and labels; each tool decodes the MP3 with its own decoder (delay handling differs: see "
        "the decoder table).",
    )
    table("Speed and memory (one thread, per 30 s clip, median over clips)", ("speed", "mem"))
    imp = doc["imports"]
    L.append(
        '| Cold import (`python -c "import …"`, median of runs, raw / net of '
        f"{imp['python_startup_s'] * 1000:.0f} ms interpreter start) | "
        + " | ".join(
            (
                f"{imp[t]['median_s'] * 1000:.0f} / {imp[t]['median_net_s'] * 1000:.0f} ms"
                if imp.get(t, {}).get("median_s")
                else f"n/a ({imp.get(t, {}).get('error')})"
            )
            for t in tools
        )
        + f" | | {_mark(rows_by_id.get('import_net_s', {}).get('pass'))} |\n"
    )

    if any(s[t]["wav"].get("chord_majmin") is not None for t in tools):
        _chords_section(doc, L)

    L.append("## Decoders (median per 30 s clip, one thread)\n")
    L.append("| Decoder | WAV | MP3 | MP3 vs WAV offset (median) |\n|---|---|---|---|")
    dec_names = {
        "tonearm": "tonearm `decode()`",
        "librosa": "`librosa.load()` (22.05 kHz mono)",
        "essentia": "Essentia `MonoLoader` (44.1 kHz mono)",
        "madmom": "madmom: tonearm `decode()`, mono, 44.1 kHz (no ffmpeg for madmom's loader)",
    }
    for t in tools:
        w, p3 = s[t]["wav"], s[t]["mp3"]
        off = p3.get("median_offset_vs_wav_ms")
        L.append(
            f"| {dec_names[t]} | {_fmt(w.get('median_decode_s'), 'speed')} | "
            f"{_fmt(p3.get('median_decode_s'), 'speed')} | {'n/a' if off is None else f'{off:+.1f} ms'} |"
        )
        for name in sorted(
            set(w.get("median_extra_decode_s", {})) | set(p3.get("median_extra_decode_s", {}))
        ):
            L.append(
                f"| `{name}` | {_fmt(w['median_extra_decode_s'].get(name), 'speed')} | "
                f"{_fmt(p3['median_extra_decode_s'].get(name), 'speed')} | |"
            )
    L.append("")

    lt = doc.get("long_track") or {}
    if lt:
        L.append("## 10-minute track (tonearm only, fresh process per run)\n")
        L.append(
            "tonearm runs the product path here (`analyze_source`: decoding streams into the analysis, as in "
            "the `tonearm/analyze` task and the CLI), so decode and analysis have no separate times.\n"
        )
        L.append(
            "| File | runs | decode | analysis | decode + analysis | import | peak RSS |\n"
            "|---|---|---|---|---|---|---|"
        )
        for fmt, r in lt.items():
            if r.get("n_ok"):
                L.append(
                    f"| {r['file']} | {r['n_ok']} | {_fmt(r['median_decode_s'], 'speed')} | "
                    f"{_fmt(r['median_analysis_s'], 'speed')} | {_fmt(r['median_total_s'], 'speed')} | "
                    f"{_fmt(r['median_import_s'], 'speed')} | {_fmt(r['max_maxrss_mb'], 'mem')} |"
                )
            else:
                L.append(f"| {fmt} | 0 | error: {r.get('error')} | | | | |")
        L.append("")

    L.append("## Breakdown (WAV): beat F / tempo Acc1 / key weighted\n")
    L.append("| Group | n | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    L.extend(_breakdown_rows(s, tools, ("category", "meter", "drums", "mode"), "key_weighted"))
    L.append("")
    L.extend(_calibration_lines(doc.get("rows", []), "wav", "constant-tempo set, WAV"))

    errs = {t: (s[t]["wav"]["n_errors"], s[t]["mp3"]["n_errors"], s[t].get("error")) for t in tools}
    if any(e[0] or e[1] or e[2] for e in errs.values()):
        L.append("## Errors\n")
        for t, (ew, em, fatal) in errs.items():
            if ew or em or fatal:
                L.append(f"- {LABEL[t]}: {ew} WAV / {em} MP3 clips failed" + (f"; {fatal}" if fatal else ""))
        L.append("")

    ds = doc["dataset"]
    L.append("## Dataset\n")
    L.append(
        f"Rendered in {ds['render_wall_s']:.0f} s ({ds['rendered']} clips rendered this run, the rest "
        f"cached); set digest `{ds.get('set_sha256')}` (audio, MIDI and labels; re-renders are "
        "bit-identical with the same FluidSynth, SoundFont and music21). Labels come from the scores "
        "(tempo = the one MIDI tempo, beats = every quarter note from the first onset, downbeats = bar "
        "lines from the first full bar, key = the piece's key transposed). Keys marked * differ from "
        "music21's own analysis of the excerpt (kept: the label is the piece's key).\n"
    )
    L.append(
        "| # | Piece | Category | Meter | BPM | Key (original → clip) | Pickup | Loops | Drums "
        "| Instruments |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for c in doc["clips"]:
        piece = c["path"] + (f" #{c['number']}" if c.get("number") is not None else "")
        star = "" if c.get("key_music21_agrees") else "*"
        acc = "/" + c["accompaniment"] if c.get("accompaniment") else ""
        L.append(
            f"| {c['index']} | {piece} | {c['category']} | {c['meter']} | {c['tempo']:.0f} | "
            f"{c['original_key']} → {c['key']}{star} | {c['pickup_ql']:g} | {c['copies']} | "
            f"{'yes' if c['drums'] else ''} | {c['ensemble']}{acc} |"
        )
    L.append("")
    if doc.get("realistic"):
        _realistic_section(doc, L)
    st = doc["stages_s"]
    L.append("## Run time\n")
    L.append(", ".join(f"{k.removesuffix('_s')}: {v:.0f} s" for k, v in st.items()) + "\n")
    return "\n".join(L)


def _ratio(peer: float | None, mine: float | None) -> str:
    if peer is None or not mine:
        return ""
    return f" ({peer / mine:.1f}x)"


def _chords_section(doc: dict[str, Any], L: list[str]) -> None:  # noqa: N803 - the report's lines
    """Beats and chords: accuracy, speed with ratios to the peers, the 10-minute track, breakdown, labels."""
    s, ver = doc["summary"], doc["verdicts"]
    t = s.get("tonearm", {})
    columns = [("tonearm", "chord_majmin", "chord_sevenths", "tonearm")] + [
        v for v in CHORD_VARIANTS if v[0] in s and not s[v[0]].get("error")
    ]
    n = doc["dataset"]["n_clips"]
    L.append("## Beats and chords (Music.AI generate-chords)\n")
    L.append(
        f"Same {n} clips, same run. Weighted chord symbol recall (mir_eval `majmin` and `sevenths` rules, "
        "per clip, mean over clips). tonearm: `tonearm.chords.recognize.beats_and_chords` (beat-synchronous "
        "harmonic-unmixed chroma and bass, templates over 12 roots x maj/min/7/maj7/min7/dim/aug/sus2/sus4, "
        "Viterbi smoothing). Peers as documented in `bench/analysis/tools.py`; the librosa template matcher "
        "is written in the bench (maj/min triads, no smoothing). Times are beats + chords + key from decoded "
        "audio (beat tracking included), ratios are the peer's time over tonearm's.\n"
    )
    L.append("| Metric | " + " | ".join(c[3] for c in columns) + " | Target |")
    L.append("|---|" + "---|" * (len(columns) + 1))
    rules = (("wav", "majmin", 1), ("wav", "sevenths", 2), ("mp3", "majmin", 1), ("mp3", "sevenths", 2))
    for fmt, rule, idx in rules:
        cells = [_fmt((s[c[0]].get(fmt) or {}).get(c[idx]), "acc") for c in columns]
        tgt = ""
        if fmt == "wav" and rule == "majmin":
            a, b = ver["targets"].get("chords_majmin", {}), ver["targets"].get("chords_vs_peer", {})
            tgt = f">= 0.85: {_mark(a.get('pass'))}; >= best peer + 0.05: {_mark(b.get('pass'))}"
        L.append(f"| {rule} WCSR, {fmt.upper()} | " + " | ".join(cells) + f" | {tgt} |")
    speed_rows = (
        ("Beats and chords only, 30 s WAV (median)", "wav", "median_bc_s", None),
        ("Beats and chords, 30 s MP3, decode included (median)", "mp3", "median_bc_total_s", "chords_30s_s"),
    )
    for label, fmt, key, target in speed_rows:
        mine = (t.get(fmt) or {}).get(key)
        cells, seen = [], set()
        for tool, *_rest in columns:
            value = (s[tool].get(fmt) or {}).get(key)
            if tool in seen:
                cells.append("(same run)")
                continue
            seen.add(tool)
            cells.append(_fmt(value, "speed") + ("" if tool == "tonearm" else _ratio(value, mine)))
        tv = ver["targets"].get(target, {}) if target else {}
        tgt = f"<= 1 s: {_mark(tv.get('pass'))}" if target else ""
        L.append(f"| {label} | " + " | ".join(cells) + f" | {tgt} |")
    lc = doc.get("long_track_chords") or {}
    if lc:
        mine = (lc.get("tonearm") or {}).get("median_total_s")
        mine_rss = (lc.get("tonearm") or {}).get("max_maxrss_mb")
        cells_t, cells_m, seen = [], [], set()
        for tool, *_rest in columns:
            r = lc.get(tool) or {}
            if tool in seen:
                cells_t.append("(same run)")
                cells_m.append("(same run)")
                continue
            seen.add(tool)
            if not r.get("n_ok"):
                cells_t.append(f"error: {r.get('error', 'not run')}"[:80])
                cells_m.append("n/a")
                continue
            runs = f" [{r['n_ok']} run{'s' if r['n_ok'] > 1 else ''}]"
            ratio_t = "" if tool == "tonearm" else _ratio(r.get("median_total_s"), mine)
            ratio_m = "" if tool == "tonearm" else _ratio(r.get("max_maxrss_mb"), mine_rss)
            cells_t.append(_fmt(r.get("median_total_s"), "speed") + ratio_t + runs)
            cells_m.append(_fmt(r.get("max_maxrss_mb"), "mem") + ratio_m)
        a = ver["targets"].get("chords_long_10min_s", {})
        b = ver["targets"].get("chords_long_10min_rss_mb", {})
        L.append(
            "| 10-minute MP3, decode included (fresh process; tonearm streams it) | "
            + " | ".join(cells_t)
            + f" | <= 20 s: {_mark(a.get('pass'))} |"
        )
        L.append(
            "| 10-minute MP3, peak RSS | " + " | ".join(cells_m) + f" | <= 1 GB: {_mark(b.get('pass'))} |"
        )
    L.append("")
    L.append("### Chords by category (WAV): majmin / sevenths\n")
    L.append("| Group | n | " + " | ".join(c[3] for c in columns) + " |\n|---|---|" + "---|" * len(columns))
    for gname in ("category", "meter", "drums", "mode"):
        for val in t["by"][gname]:
            cells = []
            for tool, mk, sk, _name in columns:
                a = s[tool]["by"][gname][val]
                cells.append(f"{_fmt(a.get(mk), 'acc')} / {_fmt(a.get(sk), 'acc')}")
            L.append(f"| {gname}: {val} | {t['by'][gname][val]['n']} | " + " | ".join(cells) + " |")
    L.append("")
    L.extend(_label_notes(doc))


def _label_notes(doc: dict[str, Any]) -> list[str]:
    """What the chord labels are, how much of them each rule judges, and their known limits."""
    durations: dict[str, float] = {}
    for c in doc["clips"]:
        for a, b, label in c.get("chords") or []:
            quality = label.split(":", 1)[1] if ":" in label else label
            durations[quality] = durations.get(quality, 0.0) + (b - a)
    total = sum(durations.values()) or 1.0
    # majmin reduces 7/maj7/min7 to their triads, sevenths tells them apart: both judge the same time.
    judged = sum(durations.get(q, 0.0) for q in ("maj", "min", "7", "maj7", "min7", "N"))
    ranked = sorted(durations.items(), key=lambda x: -x[1])
    share = ", ".join(f"{q} {100 * d / total:.1f} %" for q, d in ranked)
    return [
        "### About the chord labels\n",
        "Labels come from the score, not from listening (`render.py`): for the chorales and classical "
        "pieces, music21's `chordify()` verticals weighted by their duration inside each beat and matched to "
        "maj/min/dim/aug/7/maj7/min7/hdim7/dim7 templates (one label per beat; a seventh must fill more than "
        "15 % of the beat; `X` where fewer than two pitch classes sound); for the folk tunes, the chord the "
        "generated accompaniment plays in each bar (exact by construction). Checked by hand against the "
        "MIDI of a few clips (e.g. the first 7 s of BWV 261, 9-12 s of K. 80/iii): the labels follow the "
        "sounding harmony, with these limits:\n",
        "- Passing and neighbour tones become chord tones when they fill enough of the beat: BWV 261 beat 5 "
        "(F3 C#4 A4 F5 then G3 Bb4) is labelled `F:aug`; a melody's neighbour note makes `E:maj7` in K. 80.",
        "- One label per beat: harmony moving in eighth notes is reduced to the beat's dominant chord; a "
        "label cannot change inside a beat.",
        "- Sparse two-voice textures get the best-fitting template even when ambiguous (D#-B octaves "
        "labelled `Eb:aug` in K. 80/iii).",
        "- Folk-tune labels are the accompaniment's I/IV/V choice per bar, not the melody's implied harmony.",
        f"- Share of the labelled time by quality: {share}. `majmin` and `sevenths` judge the "
        f"maj/min/7/maj7/min7/N part ({100 * judged / total:.0f} % of the time); dim, aug, hdim7, dim7 "
        "and X segments are left out, as in MIREX.\n",
    ]


def _reuse_note(tools: dict[str, Any], where: str) -> list[str]:
    """A line naming the tools whose rows a previous run measured (``--reuse-rows``), if any."""
    reused = {t: v["reused_from"] for t, v in tools.items() if v.get("reused_from")}
    if not reused:
        return []
    when = "; ".join(f"{LABEL.get(t, t)} {ran}" for t, ran in reused.items())
    return [
        f"> **Rows reused ({where}):** {when} (UTC, when that run finished; `--reuse-rows`). Their "
        "accuracy does not depend on tonearm's code; their times were measured in that run, on this "
        "machine and CPU, so ratios to them compare runs a few hours apart.\n"
    ]


def _realistic_section(doc: dict[str, Any], L: list[str]) -> None:  # noqa: N803 - the report's lines
    """The realistic set: one accuracy table per format (every metric, every tool), breakdowns, clips."""
    r = doc["realistic"]
    s = r["summary"]
    tools = [t for t in ("tonearm", *PEERS) if t in s]
    formats = r["formats"]
    n = r["dataset"]["n_clips"]
    names = {"coded": "coded file (MP3 / AAC / Opus), primary", "wav": "WAV after production (no codec)"}
    L.append("## Realistic set\n")
    L.append(
        f"The same {n} clip specifications (pieces, keys, instruments, drums) played with a tempo map per "
        "clip (rubato everywhere; ritardando, accelerando or a tempo change between sections; swing on "
        "every third clip), humanised timing (10-20 ms) and velocities, three SoundFonts (FluidR3_GM, "
        "FluidR3_GS on GM, TimGM6mb), production (EQ, room or hall reverb, stereo width, bus compression,"
        " a -60..-45 dBFS noise floor) and a codec (MP3 96-320, AAC 96-256, Opus 64-160 kbit/s); labels "
        "go through the same tempo map (`bench/analysis/performance.py`). Tempo Acc1/Acc2 are against the"
        " clip's median local tempo; local tempo is scored per beat where a tool gives a tempo curve "
        "(tonearm's `beatTempos`; n/a for tools without one), and the tempo implied by each tool's beats "
        "is a diagnostic. Means over clips (MdAPE: median); a failed clip scores 0. Each tool decodes the"
        " file itself, except where it cannot: madmom always, Essentia the Opus files and librosa the AAC "
        "files get tonearm's decoder (then mono, resampled as the tool's own loader would).\n"
    )
    L.extend(_reuse_note(r.get("tools", {}), "realistic set"))
    verdicts = {v["id"]: v for v in r.get("vs_best_peer", [])}
    for fmt in formats:
        L.append(f"### Accuracy, {names.get(fmt, fmt)}\n")
        L.append("| Metric | " + " | ".join(LABEL[t] for t in tools) + " | vs best peer |")
        L.append("|---|" + "---|" * (len(tools) + 1))
        for mid, label, key, _higher, judged in REALISTIC_METRICS:
            cells = []
            for t in tools:
                v = (s[t].get(fmt) or {}).get(key)
                if key.endswith("_mdape"):
                    cells.append("n/a" if v is None else f"{v:.1f} %")
                elif key == "median_beat_offset_ms":
                    cells.append(_fmt(v, "diag"))
                elif key.endswith("_s"):
                    cells.append(_fmt(v, "speed"))
                else:
                    cells.append(_fmt(v, "acc"))
            vb = verdicts.get(f"{fmt}_{mid}") if judged else None
            mark = ""
            if vb is not None:
                mark = _mark(vb.get("pass"))
                if vb.get("best_peer"):
                    mark += f" ({LABEL[vb['best_peer']]})"
            L.append(f"| {label} | " + " | ".join(cells) + f" | {mark} |")
        L.append("")
    judged = [v for v in r.get("vs_best_peer", []) if v.get("pass") is not None]
    failing = [v["id"] for v in judged if not v["pass"]]
    L.append(
        f"tonearm at least as good as the best peer on {sum(bool(v['pass']) for v in judged)}/{len(judged)} "
        "judged metrics" + (f" (failing: {', '.join(failing)})" if failing else "") + ".\n"
    )
    first = formats[0]
    L.append(f"### Breakdown ({first}): beat F / tempo Acc1 / downbeat F\n")
    L.append("| Group | n | " + " | ".join(LABEL[t] for t in tools) + " |\n|---|---|" + "---|" * len(tools))
    groups = ("tempo event", "swing", "soundfont", "codec", "category", "drums")
    L.extend(_breakdown_rows(s, tools, groups, "downbeat_f"))
    L.append("")
    L.extend(_calibration_lines(r.get("rows", []), first, f"realistic set, {first}"))
    errs = {t: [(fmt, (s[t].get(fmt) or {}).get("n_errors")) for fmt in formats] for t in tools}
    if any(any(e for _f, e in v) or s[t].get("error") for t, v in errs.items()):
        L.append("### Errors (realistic set)\n")
        for t, v in errs.items():
            parts = ", ".join(f"{e} {f}" for f, e in v if e)
            if parts or s[t].get("error"):
                L.append(
                    f"- {LABEL[t]}: {parts or 'no'} clips failed"
                    + (f"; {s[t]['error']}" if s[t].get("error") else "")
                )
        L.append("")
    L.append("### Clips (realistic set)\n")
    L.append(
        "| # | Piece | Meter | Nominal BPM | Median BPM (range) | Event | Swing | Timing sigma | SoundFont "
        "| Production | Codec |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for c in r["clips"]:
        pf = c["performance"]
        piece = c["path"] + (f" #{c['number']}" if c.get("number") is not None else "")
        lo, hi = c["tempo_range"]
        event = pf["event"] + (
            f" {pf['event_amount']:+.0%}" if pf["event"] != "rubato" else f" ±{pf['rubato']:.0%}"
        )
        swing = f"{pf['swing_ratio']:.2f}:1" if pf["swing_ratio"] != 1.0 else ""
        prod = (
            f"{pf['reverb']} {pf['rt60_s']:.1f} s, "
            f"comp {pf['comp_ratio']:.1f}:1 @ {pf['comp_threshold_db']:.0f} dB, "
            f"width {pf['width']:.2f}, noise {pf['noise_dbfs']:.0f} dBFS"
        )
        L.append(
            f"| {c['index']} | {piece} | {c['meter']} | {c['nominal_tempo']} "
            f"| {c['tempo']:.1f} ({lo:.0f}-{hi:.0f}) "
            f"| {event} | {swing} | {pf['timing_sigma_ms']:.0f} ms | {pf['soundfont']} | {prod} "
            f"| {pf['codec']} {pf['bitrate_kbps']} kbit/s |"
        )
    L.append("")
