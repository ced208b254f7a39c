"""Render one benchmark clip: music21 score -> timed notes -> MIDI -> FluidSynth -> 30 s WAV + MP3 + labels.

Conventions (the labels follow the audio exactly because both are computed from the same numbers):

* **Time zero** is the first note onset of the score (``f0``, in quarter lengths). Audio time of a score
  position ``q`` is ``(q - f0) * spq`` where ``spq`` is the MIDI tempo (integer microseconds per quarter)
  in seconds. The single tempo event replaces every tempo mark, fermata and ritardando in the score.
* **Downbeats** are the bar lines of the score's first full bar ``d0`` and every bar after it:
  ``d0 + k * bar``. A pickup (anacrusis) bar is therefore not a downbeat; its beats are counted backwards
  from ``d0`` (``d0 - beat``, ``d0 - 2 beat``, ...) and kept when they are at or after the first onset.
  Rendering verifies that every full measure of the score that is played starts on that grid.
* **Beats** are every quarter note on the same grid (meters are x/4 only).
* **Looping**: pieces shorter than 30 s at their tempo (chorales, folk tunes) are played again, the next
  copy starting on the first bar line at or after the end of the previous one (a "da capo" that keeps the
  bar grid; repeats inside the score are not expanded). Labels continue on the grid through any rest.
* **Key**: the pinned original key (``corpus.py``) transposed by the clip's interval; music21's analysis of
  the rendered excerpt is stored alongside as ``key_music21``.
* **Chords** (not scored by the benchmark unless a tool outputs chords): for scores, ``chordify()`` verticals
  weighted by duration inside each beat and matched to maj/min/dim/aug/7/maj7/min7/hdim7/dim7 templates
  (a seventh must fill more than 15 % of the beat; bass note on the root as a tie-breaker); for folk
  tunes, the generated accompaniment's chords. Labels use mir_eval syntax (``"C:maj"``, ``"A:min"``, ``"N"``).
* **Folk tunes** (monophonic) get a generated accompaniment from the tune's key: per bar the chord among
  I / IV / V (minor: i / iv / V) that covers most of the melody's duration in that bar (downbeat note counted
  twice, ties -> I, then V, then IV; the final bar -> I). Patterns: ``oompah`` (bass on beat 1, fifth on 3 in
  4/4; chords on the other beats) or ``block`` (chord held through the bar, bass on the half bars).
* **Drums** (General MIDI channel 10), from the first downbeat: 4/4 kick on 1 and 3, snare on 2 and 4;
  3/4 kick on 1, snare on 2 and 3; closed hi-hat on every eighth; nothing in the pickup.
* **Velocities**: fixed per voice role, +8 on downbeats, +3 on other beats, +-5 uniform jitter from the
  clip's seed. No timing jitter.
* **Audio**: ``fluidsynth -ni -q -g 0.6 -r 44100 -T wav -O float -F out.wav FluidR3_GM.sf2 in.mid``
  (reverb/chorus at their defaults); FluidSynth keeps rendering the release tail after the last MIDI
  event, and the notes are written 1.5 s past the cut, so the cut [0 s, 30 s) is all music. Measured
  onset latency of the render: about +5 ms (64-sample blocks plus attack), well inside the 70 ms beat
  window. Then the peak is normalised to -1 dBFS, stored as 16-bit PCM WAV, and encoded to 192 kbit/s CBR
  MP3 with LAME (libmp3lame through PyAV/FFmpeg, with a LAME/Xing header carrying the encoder delay).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tonearm.midi import smf as midi

from . import performance
from .corpus import CHORD_ROOT_NAMES, ENSEMBLES, FOLK_ENSEMBLES, MAJOR, ClipSpec, split_key
from .performance import Performance, TempoMap

SR = 44100
CLIP_SECONDS = 30.0
TAIL_SECONDS = 1.5
PEAK_DBFS = -1.0
MP3_BITRATE = 192_000
FLUIDSYNTH_GAIN = "0.6"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_VERSION = 4
EPS = 1e-6

KICK, SNARE, HAT = 36, 38, 42
CHORD_TEMPLATES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}


class CorpusError(RuntimeError):
    """A pinned piece does not match what the benchmark expects (meter, grid, key-signature changes)."""


@dataclass
class TimedNote:
    """A note in score quarter lengths (copy 0), MIDI pitch before transposition."""

    onset: float
    dur: float
    pitch: int
    part: int


@dataclass
class ScoreInfo:
    """What the renderer needs from a parsed score."""

    notes: list[TimedNote]
    n_parts: int
    numerator: int
    bar: float  # quarter lengths per bar
    f0: float  # first onset
    d0: float  # first full bar
    end: float  # end of the piece (last note end / last bar end)
    measures: list[tuple[float, float, int]]  # (offset, duration, number), part 0
    changes: list[tuple[float, str]]  # meter/key-signature changes after the start
    score: Any  # the music21 score (kept for chordify and key analysis)


def _parse(spec: ClipSpec) -> Any:
    from music21 import corpus

    p = spec.piece
    s = corpus.parse(p.path, number=p.number) if p.number is not None else corpus.parse(p.path)
    with contextlib.suppress(Exception):  # best effort; most corpus scores are at sounding pitch already
        s = s.toSoundingPitch()  # transposing instruments and ottava lines
    return s


def load_score(spec: ClipSpec) -> ScoreInfo:
    """Parse the piece and extract notes, bar grid and any meter/key changes."""
    from music21 import key as m21key
    from music21 import meter, stream

    s = _parse(spec)
    parts = list(s.parts) if s.parts else [s]
    notes: list[TimedNote] = []
    for i, part in enumerate(parts):
        flat = part.stripTies(inPlace=False).flatten()
        for n in flat.notes:
            ql = float(n.duration.quarterLength)
            if ql <= 0 or n.duration.isGrace:
                continue
            pitches = getattr(n, "pitches", ())
            for pch in pitches:
                notes.append(TimedNote(float(n.offset), ql, round(pch.ps), i))
    if not notes:
        raise CorpusError(f"{spec.piece.path}: no notes")
    p0 = parts[0]
    tss = list(p0.recurse().getElementsByClass(meter.TimeSignature))
    if not tss:
        raise CorpusError(f"{spec.piece.path}: no time signature")
    ts0 = tss[0]
    if ts0.ratioString != spec.piece.meter:
        raise CorpusError(f"{spec.piece.path}: meter {ts0.ratioString}, expected {spec.piece.meter}")
    changes: list[tuple[float, str]] = []
    for ts in tss[1:]:
        off = float(ts.getOffsetInHierarchy(p0))
        if ts.ratioString != ts0.ratioString:
            changes.append((off, f"meter {ts.ratioString}"))
    kss = list(p0.recurse().getElementsByClass(m21key.KeySignature))
    for ks in kss[1:]:
        off = float(ks.getOffsetInHierarchy(p0))
        if ks.sharps != kss[0].sharps and off > EPS:
            changes.append((off, f"key signature {ks.sharps}"))
    measures = [
        (float(m.getOffsetInHierarchy(p0)), float(m.duration.quarterLength), int(m.number or 0))
        for m in p0.getElementsByClass(stream.Measure)
    ]
    bar = float(ts0.barDuration.quarterLength)
    full = [m for m in measures if m[1] >= bar - EPS]
    if not full:
        raise CorpusError(f"{spec.piece.path}: no full bar")
    f0 = min(n.onset for n in notes)
    end = max(max(n.onset + n.dur for n in notes), max(o + d for o, d, _ in measures) if measures else 0.0)
    return ScoreInfo(
        notes=notes,
        n_parts=len(parts),
        numerator=int(ts0.numerator),
        bar=bar,
        f0=f0,
        d0=full[0][0],
        end=end,
        measures=measures,
        changes=changes,
        score=s,
    )


def _on_grid(x: float, origin: float, step: float) -> bool:
    r = (x - origin) / step
    return abs(r - round(r)) < 1e-4


def check_grid(info: ScoreInfo, q_end: float, path: str) -> None:
    """Every full measure played must start on the bar grid; no meter/key change may be played."""
    horizon = min(info.end, q_end)
    for off, dur, num in info.measures:
        if off >= horizon:
            break
        if dur >= info.bar - EPS and off >= info.d0 - EPS and not _on_grid(off, info.d0, info.bar):
            raise CorpusError(f"{path}: measure {num} at {off} is off the bar grid from {info.d0}")
    for off, what in info.changes:
        if off < horizon - EPS:
            raise CorpusError(f"{path}: {what} at quarter {off} inside the rendered excerpt")


def harmonize(info: ScoreInfo, tonic: int, mode: str) -> list[tuple[float, int, str, str]]:
    """Per bar (copy 0): (bar start, root pc, quality, roman) chosen among I/IV/V from the melody."""
    third = 4 if mode == MAJOR else 3
    cands = [
        ("I" if mode == MAJOR else "i", 0, "maj" if mode == MAJOR else "min", (0, third, 7)),
        ("V", 7, "maj", (7, 11, 2)),
        ("IV" if mode == MAJOR else "iv", 5, "maj" if mode == MAJOR else "min", (5, 5 + third, 0)),
    ]
    out: list[tuple[float, int, str, str]] = []
    prev = cands[0]
    n_bars = math.ceil((info.end - info.d0) / info.bar - EPS)
    for k in range(n_bars):
        b0 = info.d0 + k * info.bar
        w = np.zeros(12)
        for n in info.notes:
            ov = min(n.onset + n.dur, b0 + info.bar) - max(n.onset, b0)
            if ov > 0:
                w[(n.pitch - tonic) % 12] += ov * (2.0 if abs(n.onset - b0) < EPS else 1.0)
        if k == n_bars - 1:
            best = cands[0]  # final bar: tonic
        elif w.sum() == 0:
            best = prev  # a bar of rest keeps the previous chord
        else:
            best = cands[int(np.argmax([sum(w[pc % 12] for pc in c[3]) for c in cands]))]
        prev = best
        out.append((b0, (tonic + best[1]) % 12, best[2], best[0]))
    return out


def _closest(pc: int, lo: int) -> int:
    """The MIDI note of pitch class ``pc`` in [lo, lo + 12)."""
    return lo + (pc - lo) % 12


def chord_label(weights: np.ndarray, bass_pc: int | None) -> str:
    """Best template for duration-weighted pitch classes (mir_eval label), "N" if silent, "X" if unclear."""
    total = float(weights.sum())
    if total <= EPS:
        return "N"
    if np.count_nonzero(weights > EPS) < 2:
        return "X"
    best, best_score = "X", -math.inf
    for root in range(12):
        for q, tpl in CHORD_TEMPLATES.items():
            members = {(root + i) % 12 for i in tpl}
            inside = sum(weights[pc] for pc in members)
            score = 2 * inside - total - 0.3 * total * (len(tpl) - 3)  # a seventh must be >15 % of the beat
            score -= 0.3 * total * sum(1 for pc in members if weights[pc] <= EPS)  # missing chord tones
            if bass_pc is not None and bass_pc == root:
                score += 0.1 * total
            if score > best_score + EPS:
                best, best_score = f"{CHORD_ROOT_NAMES[root]}:{q}", score
    return best


def score_chords(info: ScoreInfo, q_hi: float) -> list[tuple[float, float, set[int], int | None]]:
    """chordify() verticals of copy 0 up to ``q_hi``: (start, end, pitch classes, bass pc)."""
    from music21 import chord

    s = info.score
    last = None
    for off, _dur, num in info.measures:
        if off < q_hi:
            last = num
    first = info.measures[0][2] if info.measures else 0
    try:
        sub = s.measures(first, last) if last is not None and q_hi < info.end - EPS else s
    except Exception:
        sub = s
    cs = sub.chordify()
    out = []
    for c in cs.recurse().getElementsByClass(chord.Chord):
        start = float(c.getOffsetInHierarchy(cs))
        dur = float(c.duration.quarterLength)
        if dur <= 0 or not c.pitches:
            continue
        out.append((start, start + dur, {p.pitchClass for p in c.pitches}, c.bass().pitchClass))
    return out


def render_clip(
    spec: ClipSpec, clip_dir: Path, soundfont: Path = SOUNDFONT, perf: Performance | None = None
) -> dict[str, Any]:
    """Render ``spec`` into ``clip_dir`` (clip.wav, clip.mp3, clip.mid, labels.json); return the labels.

    With ``perf`` (the realistic set, ``performance.py``): the tempo map, swing and humanisation time the
    notes and the labels, ``perf``'s SoundFont(s) replace ``soundfont``, the production chain runs on the
    mix and the coded file is ``clip.<mp3|m4a|opus>`` (files key ``coded``) instead of ``clip.mp3``.
    """
    t_start = time.perf_counter()
    p = spec.piece
    info = load_score(spec)
    us = round(60e6 / p.tempo)
    spq = us / 1e6
    beat = 1.0
    tmap: TempoMap | None = None
    if perf is None:
        q_cut = info.f0 + CLIP_SECONDS / spq
        q_end = info.f0 + (CLIP_SECONDS + TAIL_SECONDS) / spq
    else:
        # the map reaches well past the clip even if the whole clip ran 40 % faster than nominal
        q_far = info.f0 + 1.6 * (CLIP_SECONDS + TAIL_SECONDS) / spq + 2 * info.bar
        tmap = performance.tempo_map(perf, p.tempo, f0=info.f0, d0=info.d0, bar=info.bar, q_hi=q_far)
        q_cut = tmap.position(CLIP_SECONDS)
        q_end = tmap.position(CLIP_SECONDS + TAIL_SECONDS)
    check_grid(info, q_end, p.path)
    period = math.ceil((info.end - info.f0) / info.bar - EPS) * info.bar
    copies = max(1, math.ceil((q_end - info.f0) / period)) if info.end < q_end else 1
    rng = random.Random(spec.seed)
    orig_tonic, mode = split_key(p.key)

    song = midi.Song(us_per_quarter=us, numerator=info.numerator, denominator=4)
    song.end_tick = round((q_end - info.f0) * midi.TICKS_PER_QUARTER)
    if perf is not None:
        song.us_per_quarter = performance.MIDI_US_PER_QUARTER
        song.end_tick = _ticks_at(CLIP_SECONDS + TAIL_SECONDS + 0.5)
    nprng = np.random.default_rng(perf.seed + 2) if perf is not None else None

    def tick(q: float) -> int:
        return round((q - info.f0) * midi.TICKS_PER_QUARTER)

    def accent(q: float) -> int:
        if _on_grid(q, info.d0, info.bar):
            return 8
        return 3 if _on_grid(q, info.d0, beat) else 0

    def add(q: float, dur: float, ch: int, pitch: int, base: int) -> None:
        if q >= q_end or q < info.f0 - EPS:
            return
        vel = base + accent(q) + rng.randint(-5, 5)
        if tmap is None or perf is None or nprng is None:
            song.notes.append(
                midi.Note(tick(q), max(1, round(dur * midi.TICKS_PER_QUARTER) - 4), ch, pitch, vel)
            )
            return
        # humanised: the same onset jitter moves the note's start and end; labels stay on the map
        sigma = perf.timing_sigma_ms / 1000.0 * (0.5 if ch == midi.DRUM_CHANNEL else 1.0)
        jitter = float(np.clip(nprng.normal(0.0, sigma), -2.5 * sigma, 2.5 * sigma))
        vel += round(float(np.clip(nprng.normal(0.0, perf.velocity_sigma), -12, 12)))
        t0, t1 = performance.note_span(tmap, q, dur, jitter)
        start = _ticks_at(t0)
        song.notes.append(
            midi.Note(start, max(1, _ticks_at(t1) - start - 4), ch, pitch, max(1, min(127, vel)))
        )

    monophonic = p.category == "folk"
    chords_q: list[tuple[float, float, str]] = []  # (start, end, label) in performance quarters
    if monophonic:
        mel, chd, bas = FOLK_ENSEMBLES[p.ensemble]
        song.programs.update({0: mel, 1: chd, 2: bas})
        song.volumes.update({0: 110, 1: 84, 2: 100})
        song.pans.update({0: 64, 1: 44, 2: 72})
        harmony = harmonize(info, orig_tonic, mode)
        for c in range(copies):
            shift = c * period
            for n in info.notes:
                add(n.onset + shift, n.dur, 0, n.pitch + spec.semitones, 94)
            for b0, root, qual, _roman in harmony:
                q0 = b0 + shift
                third = 4 if qual == "maj" else 3
                tones = [_closest((root + i) % 12, 54) for i in (0, third, 7)]
                bass_root = _closest(root, 40)
                fifth = _closest((root + 7) % 12, 40)
                chords_q.append(
                    (q0, q0 + info.bar, f"{CHORD_ROOT_NAMES[(root + spec.semitones) % 12]}:{qual}")
                )
                if p.accompaniment == "block":
                    for t in tones:
                        add(q0, info.bar - 0.05, 1, t + spec.semitones, 62)
                    halves = [0.0, 2.0] if info.numerator == 4 else [0.0]
                    for h in halves:
                        add(
                            q0 + h,
                            (2.0 if info.numerator == 4 else info.bar) - 0.1,
                            2,
                            bass_root + spec.semitones,
                            86,
                        )
                else:
                    add(q0, 0.9, 2, bass_root + spec.semitones, 88)
                    if info.numerator == 4:
                        add(q0 + 2, 0.9, 2, fifth + spec.semitones, 84)
                        offbeats = [1.0, 3.0]
                    else:
                        offbeats = [1.0, 2.0]
                    for ob in offbeats:
                        for t in tones:
                            add(q0 + ob, 0.8, 1, t + spec.semitones, 64)
    else:
        programs = ENSEMBLES[p.ensemble]
        n = info.n_parts
        channels = [ch for ch in range(16) if ch != midi.DRUM_CHANNEL]
        for i in range(n):
            ch = channels[i % len(channels)]
            song.programs[ch] = programs[i % len(programs)]
            song.volumes[ch] = 100
            song.pans[ch] = 64 if n == 1 else round(34 + 60 * i / (n - 1))
        for c in range(copies):
            shift = c * period
            for nt in info.notes:
                role = 90 if nt.part == 0 else (84 if nt.part == n - 1 else 76)
                add(
                    nt.onset + shift,
                    nt.dur,
                    channels[nt.part % len(channels)],
                    nt.pitch + spec.semitones,
                    role,
                )
        verticals = score_chords(info, min(info.end, q_end))
        for c in range(copies):
            shift = c * period
            lo = info.f0
            grid = [info.d0 + k * beat for k in range(math.floor((lo - info.d0) / beat) + 1, 10_000)]
            bounds = (
                [lo] + [g for g in grid if g < min(info.end, q_end - shift)] + [min(info.end, q_end - shift)]
            )
            for a, b in itertools.pairwise(bounds):
                if b - a <= EPS:
                    continue
                w = np.zeros(12)
                bass_pc = None
                for v0, v1, pcs, bass in verticals:
                    ov = min(v1, b) - max(v0, a)
                    if ov > EPS:
                        for pc in pcs:
                            w[(pc + spec.semitones) % 12] += ov
                    if v0 <= a + EPS < v1:
                        bass_pc = (bass + spec.semitones) % 12
                chords_q.append((a + shift, b + shift, chord_label(w, bass_pc)))

    if p.drums:
        song.programs[midi.DRUM_CHANNEL] = 0
        song.volumes[midi.DRUM_CHANNEL] = 92
        k0 = math.ceil((info.f0 - info.d0) / info.bar - EPS)
        k = k0
        while info.d0 + k * info.bar < q_end:
            b0 = info.d0 + k * info.bar
            for e in range(info.numerator * 2):
                add(b0 + e / 2, 0.25, midi.DRUM_CHANNEL, HAT, 58 if e % 2 == 0 else 44)
            if info.numerator == 4:
                for bt, drum, v in ((0, KICK, 100), (1, SNARE, 88), (2, KICK, 94), (3, SNARE, 88)):
                    add(b0 + bt, 0.5, midi.DRUM_CHANNEL, drum, v)
            else:
                for bt, drum, v in ((0, KICK, 100), (1, SNARE, 76), (2, SNARE, 72)):
                    add(b0 + bt, 0.5, midi.DRUM_CHANNEL, drum, v)
            k += 1

    # ---- labels (seconds) ----
    def sec(q: float) -> float:
        if tmap is not None:
            return round(tmap.seconds(q), 6)
        return round((q - info.f0) * spq, 6)

    kb = math.ceil((info.f0 - info.d0) / beat - EPS)
    beats, positions = [], []
    while info.d0 + kb * beat < q_cut - EPS:
        q = info.d0 + kb * beat
        beats.append(sec(q))
        positions.append(round((q - info.d0) / beat) % info.numerator + 1)
        kb += 1
    downbeats = [b for b, pos in zip(beats, positions, strict=True) if pos == 1]
    chords = _segments(chords_q, sec)
    beat_qs = [info.d0 + k * beat for k in range(math.ceil((info.f0 - info.d0) / beat - EPS), kb)]

    # ---- audio ----
    clip_dir.mkdir(parents=True, exist_ok=True)
    mid_path = clip_dir / "clip.mid"
    midi.write(song, mid_path)
    fonts = [str(soundfont)] if perf is None else [str(f) for f in perf.soundfont_paths()]
    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "render.wav"
        cmd = ["fluidsynth", "-ni", "-q", "-g", FLUIDSYNTH_GAIN, "-r", str(SR), "-T", "wav", "-O", "float"]
        subprocess.run([*cmd, "-F", str(raw), *fonts, str(mid_path)], check=True, capture_output=True)
        y, sr = sf.read(raw, dtype="float64", always_2d=True)
    if sr != SR:
        raise RuntimeError(f"fluidsynth rendered at {sr} Hz")
    n = round(CLIP_SECONDS * SR)
    if len(y) < n:
        y = np.concatenate([y, np.zeros((n - len(y), y.shape[1]))])
    y = y[:n]
    peak = float(np.max(np.abs(y)))
    if peak <= 0:
        raise RuntimeError(f"{spec.clip_id}: silent render")
    if perf is None:
        y = y * (10 ** (PEAK_DBFS / 20) / peak)
    else:
        y = performance.produce(y, SR, perf, peak_dbfs=PEAK_DBFS)
    pcm = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
    wav_path = clip_dir / "clip.wav"
    sf.write(wav_path, pcm, SR, subtype="PCM_16")
    if perf is None:
        coded_key, mp3_path = "mp3", clip_dir / "clip.mp3"
        encode_mp3(pcm, SR, mp3_path)
    else:
        coded_key, mp3_path = "coded", clip_dir / f"clip.{performance.CODECS[perf.codec]['ext']}"
        performance.encode(pcm, SR, mp3_path, perf.codec, perf.bitrate_kbps)

    key_m21, corr = _music21_key(info, min(info.end, q_cut))
    tonic_m21 = (split_key(key_m21)[0] + spec.semitones) % 12 if key_m21 else None
    labels = {
        **spec.as_dict(),
        "tempo": 60e6 / us,
        "us_per_quarter": us,
        "numerator": info.numerator,
        "beats": beats,
        "beat_positions": positions,
        "downbeats": downbeats,
        "chords": chords,
        "key_music21_original": key_m21,
        "key_music21_correlation": corr,
        "key_music21_agrees": bool(key_m21 is not None and split_key(key_m21) == split_key(p.key)),
        "key_music21_transposed_tonic": tonic_m21,
        "first_onset_ql": info.f0,
        "first_downbeat_ql": info.d0,
        "pickup_ql": max(0.0, info.d0 - info.f0),
        "piece_end_ql": info.end,
        "loop_period_ql": period,
        "copies": copies,
        "n_parts": info.n_parts,
        "files": {"wav": "clip.wav", coded_key: mp3_path.name, "mid": "clip.mid"},
        "sha256": {"wav": _sha(wav_path), coded_key: _sha(mp3_path), "mid": _sha(mid_path)},
        "render_seconds": round(time.perf_counter() - t_start, 3),
    }
    if tmap is not None and perf is not None:
        local = [round(float(b), 4) for b in tmap.local_bpm(beat_qs)]
        labels["performance"] = perf.as_dict()
        labels["local_tempo"] = local
        labels["tempo"] = float(np.median(local))  # Acc1/Acc2 against the clip's median tempo
        labels["nominal_tempo_bpm"] = 60e6 / us
        labels["us_per_quarter"] = performance.MIDI_US_PER_QUARTER
        labels["tempo_range"] = [min(local), max(local)]
    (clip_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


def _ticks_at(seconds: float) -> int:
    """MIDI ticks of ``seconds`` under the realistic set's fixed tempo (``MIDI_US_PER_QUARTER``)."""
    return round(seconds * 1e6 / performance.MIDI_US_PER_QUARTER * midi.TICKS_PER_QUARTER)


def _segments(chords_q: list[tuple[float, float, str]], sec: Any) -> list[list[Any]]:
    """Contiguous, non-overlapping (start, end, label) rows over [0, 30 s]: a later segment cuts the one
    before it, gaps are "N", equal neighbours merge."""
    rows: list[list[Any]] = []
    for a, b, lab in sorted(chords_q, key=lambda r: r[0]):
        s0, s1 = max(0.0, sec(a)), min(CLIP_SECONDS, sec(b))
        if s1 - s0 <= 1e-4:
            continue
        if rows and rows[-1][1] > s0:
            rows[-1][1] = s0
            if rows[-1][1] - rows[-1][0] <= 1e-4:
                rows.pop()
        t_prev = rows[-1][1] if rows else 0.0
        if s0 - t_prev > 1e-4:
            rows.append([t_prev, s0, "N"])
        rows.append([s0, s1, lab])
    if rows and rows[-1][1] < CLIP_SECONDS - 1e-4:
        rows.append([rows[-1][1], CLIP_SECONDS, "N"])
    merged: list[list[Any]] = []
    for r in rows:
        if merged and merged[-1][2] == r[2]:
            merged[-1][1] = r[1]
        else:
            merged.append(list(r))
    return [[round(a, 4), round(b, 4), lab] for a, b, lab in merged]


def _music21_key(info: ScoreInfo, q_hi: float) -> tuple[str | None, float | None]:
    """music21's key analysis of the part of copy 0 that is heard, as ("Bb major", r)."""
    try:
        s = info.score
        if q_hi < info.end - EPS:
            last = max(num for off, _d, num in info.measures if off < q_hi)
            s = s.measures(info.measures[0][2], last)
        k = s.analyze("key")
        tonic = k.tonic.name.replace("-", "b")
        return f"{tonic} {k.mode}", round(float(k.correlationCoefficient), 3)
    except Exception:
        return None, None


def encode_mp3(pcm: np.ndarray, sr: int, path: Path, bitrate: int = MP3_BITRATE) -> None:
    """Encode interleaved int16 ``pcm`` (n, channels) as CBR MP3 with libmp3lame via PyAV."""
    performance.encode(pcm, sr, path, "mp3", bitrate // 1000)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_key(spec: ClipSpec, env: dict[str, str]) -> str:
    """Cache key: the clip spec, the renderer version and the renderer environment."""
    blob = json.dumps({"spec": spec.as_dict(), "v": RENDER_VERSION, "env": env}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fraction_str(x: float) -> str:
    """Quarter lengths as a short fraction string (for reports)."""
    return str(Fraction(x).limit_denominator(48))
