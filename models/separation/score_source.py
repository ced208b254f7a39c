"""A second source of separation training songs: the scores of music21's corpus (issue 19).

Bach chorales, Palestrina masses, Monteverdi madrigals, trecento songs and Haydn / Mozart / Beethoven
string quartets (the score files shipped inside the ``music21`` wheel) give real voice-leading: lines
that cross, double and answer each other, which tonearm's generator never writes. Each piece becomes a
:class:`~tonearm.midi.smf.Song` that :func:`models.separation.data.render_stems` renders like a generated
one:

* one tempo (quarter = 60-140 BPM), the piece played from its start and looped until the example is
  full (the next copy's first downbeat on the first bar line after the end, so the bar grid is kept);
* each part on its own channel (never channel 10) with a random General MIDI program among those the
  SoundFont offers: the top part a voice program (choir aahs, voice oohs, synth voice, lead 6 "voice")
  half of the time, so real melodic lines reach the ``vocals`` stem; the bottom part a bass program
  60 % of the time (an octave lower when it lies high); the rest any "other" program;
* a random transposition of up to a fourth (±5 semitones);
* half of the time a plain drum part (kick on beat 1, and 3 in 4/4; snare on the backbeats; closed
  hi-hat on every eighth), so the kick and snare stems also hear non-generator music.

:func:`parts_to_song` does the conversion without music21 (testable anywhere); :func:`load_corpus_parts`,
:func:`corpus_paths` and :func:`corpus_song` import music21 lazily (``pip install -r
requirements/bench.txt``: the ``bench`` extra names it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from models.separation.data import BASS_PROGRAMS, DRUM_KITS, OTHER_PROGRAMS, VOCAL_PROGRAMS
from tonearm.midi.smf import DRUM_CHANNEL, TICKS_PER_QUARTER, Note, Song

__all__ = [
    "BPM_RANGE",
    "CORPUS_GROUPS",
    "P_BOTTOM_BASS",
    "P_DRUMS",
    "P_TOP_VOICE",
    "ScoreSourceError",
    "corpus_paths",
    "corpus_song",
    "load_corpus_parts",
    "parts_to_song",
]

#: Probabilities of the random choices.
P_TOP_VOICE = 0.5
P_BOTTOM_BASS = 0.6
P_DRUMS = 0.5
#: Quarter-note tempo range [BPM], both ends included.
BPM_RANGE = (60, 140)
#: Largest random transposition [semitones].
MAX_TRANSPOSE = 5
#: A bass line whose mean pitch lies above this (MIDI) is played an octave lower...
BASS_HIGH = 55.0
#: ...and folded by octaves into this range (MIDI, both ends included).
BASS_RANGE = (28, 67)
#: Pitched parts on channels 0-15 but 10 (0-based 9): at most 15.
PART_CHANNELS = tuple(ch for ch in range(16) if ch != DRUM_CHANNEL)
#: GM drum keys of the drum part, and its velocities.
KICK, SNARE, HAT = 36, 38, 42
DRUM_VELOCITY = {KICK: 96, SNARE: 88, HAT: 64}
#: Corpus folders (music21's ``getComposer`` names) drawn with equal probability, whatever their size.
CORPUS_GROUPS: dict[str, tuple[str, ...]] = {
    "bach": ("bach",),  # chorales, SATB
    "palestrina": ("palestrina",),  # masses, 4-6 voices (4/2: note values halved)
    "monteverdi": ("monteverdi",),  # madrigals, 5 voices
    "trecento": ("trecento",),  # 2-3 voice songs and mass movements
    "quartets": ("haydn", "mozart", "beethoven"),  # string quartets
}
#: Larger files are left out [bytes]: music21 takes 20 s to 2 min to parse the few whole quartets
#: (Beethoven's op. 132, 133, 74 ...) above these, and a 30 s example only plays the first bars.
_MAX_BYTES = {".mxl": 100_000, ".xml": 1_500_000, ".musicxml": 1_500_000, ".krn": 500_000}

Part = Sequence[tuple[float, float, int]] | npt.NDArray[np.float64]


class ScoreSourceError(ValueError):
    """A corpus piece cannot be used (meter, too few or too many parts, no notes, parse failure)."""


def _pick(rng: np.random.Generator, pool: Sequence[int], melodic: set[int]) -> int:
    """A program of ``pool`` that the SoundFont offers (any of ``pool`` when it offers none)."""
    offered = [p for p in pool if p in melodic] or list(pool)
    return int(rng.choice(offered))


def _fold(pitches: npt.NDArray[np.int64], lo: int, hi: int) -> npt.NDArray[np.int64]:
    """``pitches`` moved by whole octaves into [lo, hi] (which must span at least an octave)."""
    up = np.maximum(0, -((pitches - lo) // 12))  # octaves needed to reach lo
    down = np.maximum(0, (pitches - hi + 11) // 12)  # octaves needed to get under hi
    return pitches + 12 * up - 12 * down


def _beats(numerator: int, denominator: int) -> tuple[float, int]:
    """(beat length [quarters], beats per bar): compound x/8 meters (6/8, 9/8, 12/8) in dotted quarters."""
    unit = 4.0 / denominator
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return 3 * unit, numerator // 3
    return unit, numerator


def _drum_notes(
    *, grid0: int, bar: int, end_tick: int, numerator: int, denominator: int, rng: np.random.Generator
) -> list[Note]:
    """The drum part on channel 10, from the first downbeat at or after tick 0 to ``end_tick``.

    Kick on beat 1 (and 3 when a bar has four beats), snare on beats 2 and 4 (2 and 3 in three-beat
    bars), closed hi-hat on every eighth; velocities of :data:`DRUM_VELOCITY` ±4.
    """
    beat_q, n_beats = _beats(numerator, denominator)
    beat = round(beat_q * TICKS_PER_QUARTER)
    first = grid0 % bar
    downbeats = np.arange(first, end_tick, bar)
    kick_beats = [0, 2] if n_beats == 4 else [0]
    snare_beats = [1, 2] if n_beats == 3 else list(range(1, n_beats, 2))
    eighth = TICKS_PER_QUARTER // 2
    hits = [
        (KICK, (downbeats[:, None] + beat * np.array(kick_beats)).ravel()),
        (SNARE, (downbeats[:, None] + beat * np.array(snare_beats, dtype=np.int64)).ravel()),
        (HAT, np.arange(first, end_tick, eighth)),
    ]
    notes = []
    for key, ticks in hits:
        ticks = ticks[ticks < end_tick]
        velocity = np.clip(DRUM_VELOCITY[key] + rng.integers(-4, 5, size=ticks.size), 1, 127)
        length = np.minimum(eighth // 2, end_tick - ticks)
        notes += [
            Note(int(t), int(d), DRUM_CHANNEL, key, int(v))
            for t, d, v in zip(ticks, length, velocity, strict=True)
        ]
    return notes


def parts_to_song(
    parts: Sequence[Part],
    rng: np.random.Generator,
    *,
    seconds: float,
    presets: set[tuple[int, int]],
    bpm: int,
    numerator: int = 4,
    denominator: int = 4,
    transpose: int | None = None,
    drums: bool | None = None,
    piece: str = "",
) -> tuple[Song, dict[str, Any]]:
    """A :class:`Song` of the parts of a score, looped to ``seconds``, with random GM programs.

    Parameters
    ----------
    parts : sequence of array-like [shape=(n_notes, 3)]
        One per part, in score order: (onset [quarters], duration [quarters], MIDI pitch) per note.
        Onsets count from the first downbeat of the bar grid (bar lines at multiples of the bar
        length); a pickup has negative onsets. The song starts at the earliest onset of all parts.
        Empty parts are dropped.
    rng : np.random.Generator
        Every random choice (programs, velocities, transposition, drums) is drawn from it.
    seconds : float [s]
        Length of the song: notes starting at or after it are dropped, longer ones shortened.
    presets : set of (bank, program)
        What the SoundFont offers: programs (bank 0) and the drum kit (bank 128) are drawn among these.
    bpm : int [quarter notes per minute]
    numerator, denominator : int
        The meter (x/4 or x/8); sets the bar length and the drum pattern.
    transpose : int, optional [semitones]
        Default: drawn uniformly from -5..5.
    drums : bool, optional
        Whether to add the drum part. Default: drawn with probability :data:`P_DRUMS`.
    piece : str
        The piece's corpus path, recorded in the info.

    Returns
    -------
    song : Song
        One tempo and meter; pitched parts on channels 0-8 and 10-15 (never the drum
        channel 9, 0-based), drums on channel 9.
    info : dict
        JSON-serialisable: ``kind`` ("music21"), ``piece``, ``bpm``, ``meter``, ``transpose``,
        ``drums``, ``drum_kit``, ``copies`` (how many times the piece starts), ``roles`` and
        ``programs`` per channel.

    Raises
    ------
    ScoreSourceError
        No notes, more than 15 non-empty parts, or a meter other than x/4, x/8.
    """
    if denominator not in (4, 8) or numerator < 1:
        raise ScoreSourceError(f"meter {numerator}/{denominator} is not x/4 or x/8")
    arrays = [np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in parts]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        raise ScoreSourceError(f"{piece or 'the piece'} has no notes")
    if len(arrays) > len(PART_CHANNELS):
        raise ScoreSourceError(f"{piece or 'the piece'} has {len(arrays)} parts, at most 15 fit")
    if transpose is None:
        transpose = int(rng.integers(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1))
    if drums is None:
        drums = bool(rng.random() < P_DRUMS)

    bar_q = numerator * 4.0 / denominator
    start_q = min(float(a[:, 0].min()) for a in arrays)
    end_q = max(float((a[:, 0] + a[:, 1]).max()) for a in arrays)
    period_q = max(1, math.ceil((end_q - start_q) / bar_q - 1e-6)) * bar_q  # whole bars
    ticks_per_s = bpm / 60.0 * TICKS_PER_QUARTER
    end_tick = round(seconds * ticks_per_s)
    period = round(period_q * TICKS_PER_QUARTER)
    copies = max(1, math.ceil(end_tick / period))
    shifts = period * np.arange(copies)

    # top / bottom by mean pitch (score order is usually the same: soprano first, bass last)
    means = np.array([a[:, 2].mean() for a in arrays])
    order = np.argsort(-means, kind="stable")
    top, bottom = int(order[0]), int(order[-1])
    melodic = {p for b, p in presets if b == 0}
    notes: list[Note] = []
    programs: dict[int, int] = {}
    roles: dict[int, str] = {}
    for k, a in enumerate(arrays):
        channel = PART_CHANNELS[k]
        pitches = np.rint(a[:, 2]).astype(np.int64) + transpose
        if k == top and rng.random() < P_TOP_VOICE:
            role, program = "top", _pick(rng, sorted(VOCAL_PROGRAMS), melodic)
        elif k == bottom and k != top and rng.random() < P_BOTTOM_BASS:
            role, program = "bottom", _pick(rng, sorted(BASS_PROGRAMS), melodic)
            if pitches.mean() > BASS_HIGH:
                pitches = pitches - 12
            pitches = _fold(pitches, *BASS_RANGE)
        else:
            role = "top" if k == top else "bottom" if k == bottom else "inner"
            program = _pick(rng, OTHER_PROGRAMS, melodic)
        pitches = _fold(pitches, 0, 127)
        programs[channel], roles[channel] = program, role
        onsets = np.rint((a[:, 0] - start_q) * TICKS_PER_QUARTER).astype(np.int64)
        lengths = np.maximum(1, np.rint(a[:, 1] * TICKS_PER_QUARTER).astype(np.int64))
        every = (onsets[None, :] + shifts[:, None]).ravel()  # copy by copy
        keep = every < end_tick
        starts = every[keep]
        durations = np.minimum(np.tile(lengths, copies)[keep], end_tick - starts)
        keys = np.tile(pitches, copies)[keep]
        base = int(rng.integers(70, 91))
        velocity = np.clip(base + rng.integers(-6, 7, size=starts.size), 60, 100)
        notes += [
            Note(int(t), int(d), channel, int(p), int(v))
            for t, d, p, v in zip(starts, durations, keys, velocity, strict=True)
        ]

    kit = None
    if drums:
        kits = [k for k in DRUM_KITS if (128, k) in presets] or [0]
        kit = int(rng.choice(kits))
        programs[DRUM_CHANNEL], roles[DRUM_CHANNEL] = kit, "drums"
        grid0 = round(-start_q * TICKS_PER_QUARTER)  # tick of the score's bar line at 0
        notes += _drum_notes(
            grid0=grid0,
            bar=round(bar_q * TICKS_PER_QUARTER),
            end_tick=end_tick,
            numerator=numerator,
            denominator=denominator,
            rng=rng,
        )

    channels = sorted(programs)
    channels_of_parts = PART_CHANNELS[: len(arrays)]
    drum_pan = {DRUM_CHANNEL: 64} if drums else {}
    pans = np.linspace(40, 88, len(arrays)).round().astype(int)[rng.permutation(len(arrays))]
    song = Song(
        us_per_quarter=round(60_000_000 / bpm),
        numerator=numerator,
        denominator=denominator,
        programs=programs,
        volumes={ch: 100 if ch == DRUM_CHANNEL else 90 for ch in channels},
        pans={ch: int(pans[k]) if k < len(pans) else 64 for k, ch in enumerate(channels_of_parts)} | drum_pan,
        notes=sorted(notes),
        end_tick=end_tick,
    )
    info: dict[str, Any] = {
        "kind": "music21",
        "piece": piece,
        "bpm": int(bpm),
        "meter": f"{numerator}/{denominator}",
        "parts": len(arrays),
        "transpose": int(transpose),
        "drums": drums,
        "drum_kit": kit,
        "copies": int(copies),
        "roles": {str(ch): roles[ch] for ch in channels},
        "programs": {str(ch): programs[ch] for ch in channels},
    }
    return song, info


def load_corpus_parts(path: str) -> tuple[list[npt.NDArray[np.float64]], int, int]:
    """The notes of each part of a music21 corpus piece, and its meter.

    Imports music21 (not a dependency of the package: ``requirements/bench.txt`` installs it).

    Parameters
    ----------
    path : str
        A corpus path, as :func:`corpus_paths` lists them (``"bach/bwv1.6.mxl"``).

    Returns
    -------
    parts : list of np.ndarray [shape=(n_notes, 3)], float64
        One per part that has notes, in score order: (onset [quarters], duration [quarters], MIDI
        pitch) sorted by onset. Ties are merged, chords split into their notes, rests and grace notes
        skipped. Onsets count from the first full bar's downbeat (a pickup's are negative). Only the
        piece up to its first change of meter is kept. Meters in halves (Palestrina's 4/2, 3/2) are
        read with every note value halved (4/2 -> 4/4), the way modern editions often print them.
    numerator, denominator : int
        The first time signature of the first part (after halving): x/4 or x/8.

    Raises
    ------
    ScoreSourceError
        No time signature, a meter other than x/2, x/4, x/8, fewer than two parts with notes.
    Exception
        Whatever music21 raises on a file it cannot parse.
    """
    import warnings

    from music21 import corpus, meter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = corpus.parse(path)
        with contextlib.suppress(Exception):  # transposing instruments; most corpus scores sound as written
            score = score.toSoundingPitch()
    parts = list(score.parts)
    if len(parts) < 2:
        raise ScoreSourceError(f"{path}: {len(parts)} part(s), at least 2 wanted")
    signatures = list(parts[0].recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        raise ScoreSourceError(f"{path}: no time signature")
    first = signatures[0]
    numerator, denominator = int(first.numerator), int(first.denominator)
    if denominator not in (2, 4, 8):
        raise ScoreSourceError(f"{path}: meter {first.ratioString} is not x/2, x/4 or x/8")
    scale = 0.5 if denominator == 2 else 1.0
    bar = float(first.barDuration.quarterLength)
    cut = math.inf  # the first change of meter
    for ts in signatures[1:]:
        if ts.ratioString != first.ratioString:
            cut = float(ts.getOffsetInHierarchy(parts[0]))
            break
    measures = list(parts[0].getElementsByClass("Measure"))
    d0 = next((float(m.offset) for m in measures if float(m.duration.quarterLength) >= bar - 1e-6), 0.0)
    out = []
    for part in parts:
        rows = []
        for n in part.stripTies(inPlace=False).flatten().notes:
            ql, onset = float(n.duration.quarterLength), float(n.offset)
            if ql <= 0 or n.duration.isGrace or onset >= cut:
                continue
            ql = min(ql, cut - onset)
            rows += [(onset - d0, ql, float(p.ps)) for p in getattr(n, "pitches", ())]
        if rows:
            a = np.array(rows, dtype=np.float64)
            a[:, :2] *= scale
            out.append(a[np.argsort(a[:, 0], kind="stable")])
    if len(out) < 2:
        raise ScoreSourceError(f"{path}: {len(out)} part(s) with notes, at least 2 wanted")
    if denominator == 2:
        denominator = 4
    return out, numerator, denominator


@lru_cache(maxsize=1)
def _corpus_paths() -> tuple[str, ...]:
    from music21 import common, corpus

    root = common.getCorpusFilePath()
    found: set[str] = set()
    for composers in CORPUS_GROUPS.values():
        for composer in composers:
            for p in corpus.getComposer(composer):
                full = p if p.is_absolute() else root / p
                rel = full.relative_to(root).as_posix()
                ext = full.suffix.lower()
                if ext in _MAX_BYTES and "_old." not in rel and full.stat().st_size <= _MAX_BYTES[ext]:
                    found.add(rel)
    # the same movement in two formats (Beethoven's op. 18 no. 1 is there as .krn and .mxl): keep .mxl
    stems = {f.rsplit(".", 1)[0] for f in found if f.endswith(".mxl")}
    return tuple(sorted(f for f in found if f.endswith(".mxl") or f.rsplit(".", 1)[0] not in stems))


def corpus_paths() -> list[str]:
    """The corpus pieces :func:`corpus_song` draws from, sorted (computed once, in about a second).

    Every score file (MusicXML, Humdrum) music21's corpus holds for the folders of
    :data:`CORPUS_GROUPS`; Roman-numeral analyses (``.rntxt``), ABC tune books, superseded
    versions (``*_old``) and the few files too large to parse quickly (whole quartets in one file)
    are left out. Pieces are not parsed here: a piece with one part or an
    unusable meter is skipped when it is drawn.

    Returns
    -------
    list of str
        Corpus paths relative to music21's corpus folder (``"bach/bwv1.6.mxl"``).
    """
    return list(_corpus_paths())


def _group_of(path: str) -> str:
    folder = path.split("/", 1)[0]
    return next((g for g, folders in CORPUS_GROUPS.items() if folder in folders), folder)


def corpus_song(
    rng: np.random.Generator,
    *,
    seconds: float,
    presets: set[tuple[int, int]],
    paths: Sequence[str] | None = None,
    tries: int = 10,
) -> tuple[Song, dict[str, Any]]:
    """A song from a random piece of music21's corpus (see :func:`parts_to_song`).

    A group of :data:`CORPUS_GROUPS` is drawn with equal probability (so 1,300 Palestrina movements do
    not crowd out 50 quartet movements), then a piece of it; a piece that fails to load is recorded
    and another drawn, up to ``tries`` times. The tempo is drawn uniformly among the integers of
    :data:`BPM_RANGE` (quarter notes per minute).

    Parameters
    ----------
    rng : np.random.Generator
    seconds : float [s]
    presets : set of (bank, program)
        What the SoundFont offers.
    paths : sequence of str, optional
        Corpus paths to draw from. Default: :func:`corpus_paths`.
    tries : int
        Pieces drawn at most.

    Returns
    -------
    song : Song
    info : dict
        :func:`parts_to_song`'s, with ``group`` and ``skipped`` (the pieces that failed, with why).

    Raises
    ------
    ScoreSourceError
        ``tries`` pieces in a row failed to load.
    """
    pool = sorted(paths) if paths is not None else corpus_paths()
    groups: dict[str, list[str]] = {}
    for p in pool:
        groups.setdefault(_group_of(p), []).append(p)
    names = sorted(groups)
    skipped: list[dict[str, str]] = []
    for _ in range(tries):
        group = names[int(rng.integers(len(names)))]
        path = groups[group][int(rng.integers(len(groups[group])))]
        try:
            parts, numerator, denominator = load_corpus_parts(path)
            if len(parts) > len(PART_CHANNELS):
                raise ScoreSourceError(f"{path}: {len(parts)} parts, at most 15 fit")
        except Exception as exc:  # music21 raises many kinds on files it cannot read
            skipped.append({"piece": path, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        bpm = int(rng.integers(BPM_RANGE[0], BPM_RANGE[1] + 1))
        song, info = parts_to_song(
            parts,
            rng,
            seconds=seconds,
            presets=presets,
            bpm=bpm,
            numerator=numerator,
            denominator=denominator,
            piece=path,
        )
        info["group"] = group
        info["skipped"] = skipped
        return song, info
    raise ScoreSourceError(f"{tries} corpus pieces failed to load: {skipped}")
