"""The closed-loop checks: generate with known controls, measure the audio, compare with the request.

* :func:`grid_specs` / :func:`run_grid`: tracks across all 20 styles, all 12 scales and requested tempos
  over 60-200 BPM; tempo, key, exact duration, WAV format and the taggers' probabilities per track.
* :func:`run_controls`: density and brightness swept at 0.2 / 0.5 / 0.9 with everything else fixed, for
  several prompts and seeds; onset rate and spectral centroid of the audio (and, as a diagnostic, the
  score's notes per second and mean pitch).
* :func:`run_determinism`: the same params and seed twice, and two seeds.

Generation here is not timed precisely (the parent process is not bound to one CPU); ``worker.py`` times.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.generation.measure import (
    TagVocabulary,
    analysis_json,
    decode_wav,
    key_matches,
    librosa_onset_rate,
    onset_rate_and_centroid,
    riff_chunks,
    tempo_accuracy,
)

#: The tempo analyzer's notated-beat range (tonearm.analysis.rhythm): outside it, it reports an octave.
ANALYZER_RANGE = (70.0, 180.0)
#: Control levels swept by :func:`run_controls`.
LEVELS = (0.2, 0.5, 0.9)
#: Prompts of the density / brightness sweep (style ids; the prompt is the style's first keyword).
CONTROL_STYLES = (
    "pop",
    "classic_rock",
    "cool_jazz",
    "house",
    "romantic",
    "ambient",
    "baroque",
    "hiphop_lofi",
)
CONTROL_STYLES_QUICK = ("pop", "romantic")
#: Requested tempos spread over Sofy's whole range, one per style (the third track of each style).
GLOBAL_BPMS = tuple(round(60 + 140 * k / 19) for k in range(20))
DURATIONS = (25, 30, 20)

Log = Callable[[str], None]


def _clip_bpm(x: float) -> int:
    return int(min(200, max(60, round(x))))


def grid_specs(*, quick: bool = False) -> list[dict[str, Any]]:
    """The tracks of the grid: three per style (one in ``quick``), every scale five times.

    Per style (index ``i``): a tempo a quarter and three quarters into the style's range (clipped to
    Sofy's 60-200), and one from :data:`GLOBAL_BPMS` (style ``i`` gets entry ``7 i mod 20``), so every
    style is also asked for a tempo far from its own. Scales go round the 12 in order.
    """
    from tonearm.generation.params import SCALES
    from tonearm.generation.styles import STYLES

    scales = list(SCALES)
    specs: list[dict[str, Any]] = []
    for i, (sid, style) in enumerate(STYLES.items()):
        lo, hi = style.bpm_range
        bpms = [_clip_bpm(lo + 0.25 * (hi - lo)), _clip_bpm(lo + 0.75 * (hi - lo)), GLOBAL_BPMS[7 * i % 20]]
        for j in range(1 if quick else 3):
            specs.append(
                {
                    "style": sid,
                    "prompt": style.keywords[0],
                    "bpm": bpms[j],
                    "scale": scales[(3 * i + j) % 12],
                    "seconds": 12 if quick else DURATIONS[j],
                    "seed": 1000 + 3 * i + j,
                }
            )
    return specs


def _generate(spec: dict[str, Any], **controls: float) -> tuple[Any, float]:
    from tonearm.generation.params import GenerationParams
    from tonearm.generation.service import generate

    params = GenerationParams(
        prompt=spec["prompt"],
        duration_seconds=spec["seconds"],
        bpm=spec["bpm"],
        scale=spec["scale"],
        seed=spec["seed"],
        **controls,
    )
    t0 = time.perf_counter()
    track = generate(params)
    return track, time.perf_counter() - t0


def run_grid(specs: list[dict[str, Any]], *, log: Log = print) -> dict[str, Any]:
    """Generate every spec, analyse and tag it. Returns the vocabulary used and one record per track."""
    from tonearm.generation.params import SCALES
    from tonearm.generation.styles import STYLES
    from tonearm.models.registry import ModelRegistry
    from tonearm.tagging.tagger import tag_signal
    from tonearm.tagging.taxonomy import MODEL_MSD, MODEL_MTT

    registry = ModelRegistry(threads=1)
    models = (MODEL_MTT, MODEL_MSD)
    vocab = TagVocabulary({m: registry.get(m).spec.labels for m in models})
    # the genre tag scored per style: plan.style.tags[0], or the first of its tags a model knows
    tag_of = {sid: vocab.first_known(list(s.tags)) for sid, s in STYLES.items()}
    scored = sorted({t for t in tag_of.values() if t})
    records: list[dict[str, Any]] = []
    for n, spec in enumerate(specs, 1):
        track, gen_s = _generate(spec)
        plan = track.plan
        d = decode_wav(track.wav)
        t0 = time.perf_counter()
        a = analysis_json(d.y, sr=d.sr)
        analysis_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = tag_signal(d.y, sr=d.sr, models=frozenset(models), registry=registry)
        tagging_s = time.perf_counter() - t0
        probs: dict[str, float] = {}
        ranks: dict[str, int] = {}
        for tag in scored:
            best_p, best_rank = -1.0, 10**6
            for model, column in vocab.sources(tag):
                track_tags = scores.outputs[model].tags
                p = float(track_tags[column])
                rank = 1 + int(np.count_nonzero(track_tags > track_tags[column]))
                best_p, best_rank = max(best_p, p), min(best_rank, rank)
            probs[tag], ranks[tag] = round(best_p, 5), best_rank
        major_pc, minor_pc = SCALES[spec["scale"]]
        key_ok, same_scale = key_matches(str(a["key"]), major_pc, minor_pc)
        detected_bpm = float(a["bpm"])
        acc1, acc2 = tempo_accuracy(detected_bpm, spec["bpm"])
        expected_frames = round(spec["seconds"] * 48000)
        rec = {
            **spec,
            "plan_style": plan.style.id,
            "plan_key": plan.key,
            "plan_bpm": plan.bpm,
            "bpm_source": plan.bpm_source,
            "tag": tag_of[spec["style"]],
            "tags0": plan.style.tags[0] if plan.style.tags else None,
            "detected_bpm": detected_bpm,
            "bpm_confidence": a["bpmConfidence"],
            "in_analyzer_range": ANALYZER_RANGE[0] <= spec["bpm"] <= ANALYZER_RANGE[1],
            "acc1": acc1,
            "acc2": acc2,
            "detected_key": a["key"],
            "key_confidence": a["keyConfidence"],
            "key_ok": key_ok,
            "same_scale_tonic": same_scale,
            "key_equals_plan": str(a["key"]).split()[-1] == plan.mode and key_ok,
            "frames": d.frames,
            "expected_frames": expected_frames,
            "duration_error_ms": round(1e3 * (d.frames / d.sr - spec["seconds"]), 3),
            "sample_exact": d.frames == expected_frames,
            "format_ok": d.sr == 48000 and d.channels == 2 and d.subtype == "PCM_16",
            "chunks": riff_chunks(track.wav),
            "info_chunk": "LIST/INFO" in riff_chunks(track.wav),
            "loudness_lufs": round(track.loudness_lufs, 2),
            "true_peak_dbtp": round(track.true_peak_dbtp, 2),
            "tag_probabilities": probs,
            "tag_label_ranks": ranks,
            "generate_s": round(gen_s, 3),
            "analysis_s": round(analysis_s, 3),
            "tagging_s": round(tagging_s, 3),
        }
        records.append(rec)
        log(
            f"  grid {n}/{len(specs)} {spec['style']:<18} {spec['bpm']:>3} bpm -> {detected_bpm:6.1f}"
            f" {'ok' if acc1 else 'x2' if acc2 else 'MISS'}  {spec['scale']:<26} -> {a['key']:<9}"
            f" {'ok' if key_ok else 'MISS'}  {rec['tag']}={probs.get(rec['tag'] or '', float('nan')):.2f}"
        )
    return {"labels": {m: list(v) for m, v in vocab.labels.items()}, "tag_of": tag_of, "tracks": records}


def _score_stats(midi: bytes) -> tuple[float, float]:
    """(pitched notes per second, mean MIDI pitch of pitched notes) of the score."""
    from tonearm.midi.smf import DRUM_CHANNEL, read

    parsed = read(midi)
    notes = [n for n in parsed.notes if n.channel != DRUM_CHANNEL]
    end = max((n.start + n.duration for n in parsed.notes), default=0) * parsed.seconds_per_tick
    rate = len(notes) / end if end > 0 else 0.0
    pitch = float(np.mean([n.pitch for n in notes])) if notes else 0.0
    return rate, pitch


def run_controls(*, quick: bool = False, log: Log = print) -> list[dict[str, Any]]:
    """Density and brightness at :data:`LEVELS`, the other control at its default, per prompt and seed."""
    from tonearm.generation.styles import STYLES

    styles = CONTROL_STYLES_QUICK if quick else CONTROL_STYLES
    seeds = (11,) if quick else (11, 12)
    records: list[dict[str, Any]] = []
    for sid in styles:
        for control in ("density", "brightness"):
            for seed in seeds:
                for level in LEVELS:
                    spec: dict[str, Any] = {
                        "style": sid,
                        "prompt": STYLES[sid].keywords[0],
                        "bpm": 110,
                        "scale": "C_MAJOR_A_MINOR",
                        "seconds": 12 if quick else 20,
                        "seed": seed,
                    }
                    track, _ = _generate(spec, **{control: level})
                    d = decode_wav(track.wav)
                    rate, centroid = onset_rate_and_centroid(d.y, sr=d.sr)
                    second = librosa_onset_rate(d.y, sr=d.sr) if control == "density" else None
                    notes_s, pitch = _score_stats(track.midi)
                    records.append(
                        {
                            **spec,
                            "control": control,
                            "level": level,
                            "onset_rate": round(rate, 3),
                            "librosa_onset_rate": None if second is None else round(second, 3),
                            "centroid_hz": round(centroid, 1),
                            "score_notes_per_s": round(notes_s, 3),
                            "score_mean_pitch": round(pitch, 2),
                            "layers": track.plan.controls.layers,
                            "instruments": {p.role: p.instrument for p in track.plan.parts},
                        }
                    )
            row = [r for r in records if r["style"] == sid and r["control"] == control]
            measure = "onset_rate" if control == "density" else "centroid_hz"
            log(f"  {sid:<14} {control:<10} " + " ".join(f"{r['level']}:{r[measure]}" for r in row))
    return records


def run_determinism(*, quick: bool = False, log: Log = print) -> dict[str, Any]:
    """Same params + seed twice (several styles): identical bytes?  Two seeds: different audio?"""
    from tonearm.generation.styles import STYLES

    styles = (
        ("pop", "romantic") if quick else ("pop", "classic_rock", "cool_jazz", "house", "ambient", "flamenco")
    )
    same: list[dict[str, Any]] = []
    different: list[dict[str, Any]] = []
    for k, sid in enumerate(styles):
        spec: dict[str, Any] = {
            "style": sid,
            "prompt": STYLES[sid].keywords[0],
            "bpm": 100 + 7 * k,
            "scale": "E_FLAT_MAJOR_C_MINOR",
            "seconds": 10,
            "seed": 424242,
        }
        a, _ = _generate(spec)
        b, _ = _generate(spec)
        other, _ = _generate({**spec, "seed": spec["seed"] + 1})
        ya, yo = decode_wav(a.wav).y, decode_wav(other.wav).y
        diff = float(np.sqrt(np.mean((ya - yo) ** 2)) / max(1e-12, float(np.sqrt(np.mean(ya**2)))))
        same.append(
            {
                "style": sid,
                "identical_wav": a.wav == b.wav,
                "identical_midi": a.midi == b.midi,
                "sha256": hashlib.sha256(a.wav).hexdigest(),
            }
        )
        different.append(
            {
                "style": sid,
                "seeds": [spec["seed"], spec["seed"] + 1],
                "wav_differs": a.wav != other.wav,
                "midi_differs": a.midi != other.midi,
                "relative_rms_difference": round(diff, 3),
            }
        )
        log(f"  determinism {sid}: same={a.wav == b.wav} different seed differs={a.wav != other.wav}")
    return {"same_seed": same, "different_seed": different}
