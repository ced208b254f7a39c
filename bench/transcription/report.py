"""``transcription.md`` from the benchmark's JSON."""

from __future__ import annotations

from typing import Any

from .reference import CATEGORIES

LABELS = {"tonearm": "tonearm", "basic-pitch": "basic-pitch 0.4.0 (original)"}


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{1000 * seconds:,.0f} ms"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def markdown(doc: dict[str, Any]) -> str:
    """The report (see ``bench/transcription/README.md`` for the method)."""
    m, s, tools = doc["machine"], doc["set"], doc["tools"]
    ta = tools["tonearm"]
    lines = [
        "# Transcription benchmark: basic-pitch (`nmp.onnx`) on one core",
        "",
        f"Generated {doc['generated']} by `{doc['command']}` in {doc['wall_s']:.0f} s. "
        "Method: `bench/transcription/README.md`.",
        "",
        f"**Machine:** {m.get('cpu', '?')} ({', '.join(m.get('simd', []))}), {m.get('logical_cpus')} logical "
        f"CPUs, {m.get('mem_gib')} GiB RAM; {m['platform']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
        + f". Load average {m['load_average']} at start, {doc['load_average_end']} at end: the machine is "
        "shared and timings drift between runs by up to 1.5x, so compare numbers of the same run. Every "
        f"measured process is bound to CPU {doc['cpu']} with its thread pools at 1 (onnxruntime: 1 intra-op "
        "thread in tonearm's registry; the original's default session, confined to the same CPU).",
        "",
        f"**Set:** the analysis benchmark's {s['clips']} clips of 30 s (`bench/analysis/data`, set "
        f"{s['set_sha256']}; {s['renderer']['fluidsynth']}, {s['renderer']['soundfont']}), 44.1 kHz "
        f"stereo WAV, each scored against its own `clip.mid`: {s['reference_notes']:,} pitched notes "
        "(drums left out, onsets in [0, 30 s), offsets cut at 30 s, unison doublings counted once).",
        "",
        "| Category | Clips | What |",
        "|---|---|---|",
    ]
    lines += [f"| {cat} | {s['categories'][cat]} | {CATEGORIES[cat]} |" for cat in CATEGORIES]
    lines += [
        "",
        "## Note accuracy (mir_eval, means over clips)",
        "",
        "Onset: same pitch (within 50 cents), onset within "
        f"{1000 * doc['metric']['onset_tolerance_s']:.0f} ms. "
        f"Onset + offset: also the offset within {doc['metric']['offset_ratio']:.0%} of the note's length or "
        f"{1000 * doc['metric']['offset_min_tolerance_s']:.0f} ms, whichever is larger. Onset error: median "
        "over clips of each clip's median (estimate - reference) over matched notes.",
        "",
        "| Tool | Category | Onset P | Onset R | **Onset F** | On+off P | On+off R | **On+off F** "
        "| Onset error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, res in tools.items():
        for cat, agg in [*res["by_category"].items(), ("all", res["overall"])]:
            if not agg.get("clips"):
                continue
            err = agg.get("onset_error_median_ms")
            lines.append(
                f"| {LABELS.get(tool, tool)} | {cat} ({agg['clips']}) | {_pct(agg['precision'])} | "
                f"{_pct(agg['recall'])} | **{_pct(agg['f'])}** | {_pct(agg['precision_offset'])} | "
                f"{_pct(agg['recall_offset'])} | **{_pct(agg['f_offset'])}** | "
                + ("" if err is None else f"{err:+.1f} ms")
                + " |"
            )
    t = ta["timing"]
    lines += [
        "",
        "## Speed (one thread, 30 s clips, median over clips; min-max in brackets)",
        "",
        "| Measure | tonearm | x real time |"
        + (" basic-pitch (original) |" if "basic-pitch" in tools else ""),
        "|---|---|---|" + ("---|" if "basic-pitch" in tools else ""),
    ]

    def row(label: str, stat: dict[str, Any] | None, peer: dict[str, Any] | None = None) -> str:
        if not stat or stat.get("median_s") is None:
            return ""
        text = (
            f"| {label} | {_ms(stat['median_s'])} ({_ms(stat['min_s'])}-{_ms(stat['max_s'])}) | "
            f"{30.0 / stat['median_s']:.0f}x |"
        )
        if "basic-pitch" in tools:
            text += f" {_ms(peer['median_s'])} |" if peer and peer.get("median_s") is not None else " |"
        return text

    peer_t = tools["basic-pitch"]["timing"]["transcribe_s"] if "basic-pitch" in tools else None
    rows = [
        row("Transcribe decoded audio (`transcribe(y, sr)`)", t["transcribe_s"], peer_t),
        row("Decode WAV (`tonearm.audio.decode`)", t["decode_s"]),
        row("MP3 end to end (`transcribe_source`: decode, transcribe, tempo)", t["source_mp3_s"]),
    ]
    for stage, label in (
        ("resample", "stage: mono + resample to 22.05 kHz"),
        ("model", "stage: model over the windows + unwrapping"),
        ("notes", "stage: note decoding"),
        ("tempo", "stage: tempo (beat tracker)"),
    ):
        rows.append(row(label, t.get("stages", {}).get(stage)))
    lines += [r for r in rows if r]
    long = ta.get("long_track") or {}
    if "transcribe_source_s" in long:
        lines.append(
            f"| 10-minute MP3 end to end (`transcribe_source`, fresh process) | "
            f"{_ms(long['transcribe_source_s'])} | {long['duration_s'] / long['transcribe_source_s']:.0f}x |"
            + (" |" if "basic-pitch" in tools else "")
        )
    first = t.get("first_call_s")
    lines += [
        "",
        f"First call (session creation, imports; untimed in the rows above): {_ms(first)}."
        + (
            " The original's time is `basic_pitch.inference.predict(wav, Model(nmp.onnx))` (librosa load "
            "and resampling, the same ONNX model, note creation, pretty_midi)."
            if "basic-pitch" in tools
            else " The original basic-pitch peer was not run (no `models/.venv-basic-pitch`)."
        ),
    ]
    if "peak_rss_mb" in long:
        lines += [
            "",
            f"10-minute track: {long['notes']:,} notes; peak RSS of that process "
            f"{long['peak_rss_mb']:,.0f} MB "
            "(interpreter, numpy and onnxruntime included; only the 22.05 kHz mono signal is held, never "
            "the decoded 44.1 kHz stereo).",
        ]
    if ta.get("tempo"):
        tempo = ta["tempo"]
        lines += [
            "",
            "Tempo of `transcribe_source` (tonearm's beat tracker) against the clips' tempo: Acc1 (4 %) "
            f"{tempo['acc1']:.3f}, Acc2 (also x2, x3, /2, /3) {tempo['acc2']:.3f} "
            f"over {tempo['clips']} MP3s.",
        ]
    errors = {tool: res["errors"] for tool, res in tools.items() if res["errors"]}
    lines += ["", "## Errors", ""]
    if errors:
        for tool, errs in errors.items():
            for cid, text in errs.items():
                lines.append(f"- {tool} / {cid}: `{text.strip().splitlines()[-1]}` (scored 0)")
    else:
        lines.append("None: every tool transcribed every clip.")
    lines += [
        "",
        "## Per clip (tonearm)",
        "",
        "| Clip | Category | Ref notes | Est notes | Onset F | On+off F |",
        "|---|---|---|---|---|---|",
    ]
    for cid, r in ta["per_clip"].items():
        lines.append(
            f"| {cid} | {r['category']} | {r['n_ref']} | {r['n_est']} | {_pct(r['f'])} "
            f"| {_pct(r['f_offset'])} |"
        )
    return "\n".join(lines) + "\n"
