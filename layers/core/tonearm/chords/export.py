"""Exports of a :class:`~tonearm.chords.recognize.BeatsAndChords`: Music.AI JSON, a lead sheet, MIDI.

* :func:`chord_map_json` / :func:`beat_map_json`: generate-chords' ``chordMap`` and ``beatMap``.
* :func:`lead_sheet_text`: a ``chords.txt`` a musician can read, one bar per cell, four bars a line.
* :func:`chords_midi`: a Standard MIDI File with one block chord (the root in the bass and the chord in
  close position above it) per chord segment, at the track's tempo, so it lines up with the audio in a DAW.

The text exports take a ``spelling`` (:mod:`tonearm.analysis.spelling`): ``"key"`` (the default: roots
and the key named as the track's key writes them, ``Bbmaj`` in G minor), ``"sharps"`` (Music.AI's
convention, the default of ``music-ai/generate-chords``) or ``"flats"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tonearm.analysis.spelling import Spelling, key_name, parse_key, pitch_names
from tonearm.chords.labels import NO_CHORD, harte_to_musicai, parse_harte
from tonearm.chords.recognize import BeatsAndChords
from tonearm.midi import smf

__all__ = ["beat_map_json", "chord_map_json", "chords_midi", "key_label", "lead_sheet_text", "root_names"]

#: Decimal places of times in the JSON exports (1 ms).
_TIME_DECIMALS = 3
#: Bars per line of the lead sheet.
_BARS_PER_LINE = 4
#: Tempo of the MIDI file when no beat was found [BPM].
_DEFAULT_BPM = 120.0
#: MIDI voicing: the bass root in C2..B2, the chord in close position from its root in C4..B4.
_BASS_LOW = 36
_CHORD_LOW = 60
_VELOCITY = 80
#: General MIDI programs (0-based): Acoustic Grand Piano for the chords, Acoustic Bass for the root.
_CHORD_PROGRAM, _BASS_PROGRAM = 0, 32


def _key_of(result: BeatsAndChords) -> tuple[int, int] | None:
    try:
        return parse_key(result.key)
    except ValueError:
        return None


def root_names(result: BeatsAndChords, spelling: Spelling = "key") -> tuple[str, ...]:
    """The twelve chord-root names of ``result`` in ``spelling`` (``"key"``: in the track's key)."""
    return pitch_names(spelling, _key_of(result))


def key_label(result: BeatsAndChords, spelling: Spelling = "key") -> str:
    """The track's key in ``spelling``: ``"Bb major"``, or ``"A# major"`` with ``"sharps"``."""
    key = _key_of(result)
    return result.key if key is None else key_name(*key, spelling)


def chord_map_json(result: BeatsAndChords, spelling: Spelling = "key") -> list[dict[str, Any]]:
    """Music.AI ``chordMap``: ``[{"start": s, "end": s, "label": "Cmaj"}, ...]`` (times in seconds)."""
    names = root_names(result, spelling)
    return [
        {
            "start": round(c.start_s, _TIME_DECIMALS),
            "end": round(c.end_s, _TIME_DECIMALS),
            "label": harte_to_musicai(c.label_harte, names),
        }
        for c in result.chords
    ]


def beat_map_json(result: BeatsAndChords) -> list[dict[str, Any]]:
    """Music.AI ``beatMap``: ``[{"time": s, "beatNum": 1..N}, ...]``, 1 on downbeats."""
    return [{"time": round(t, _TIME_DECIMALS), "beatNum": int(n)} for t, n in result.beats]


def _labels_at(result: BeatsAndChords, times: np.ndarray, roots: tuple[str, ...]) -> list[str]:
    """Music.AI label of the chord sounding at each time (the segment that contains it)."""
    if not result.chords:
        return [NO_CHORD] * len(times)
    starts = np.array([c.start_s for c in result.chords])
    # A beat a few ms before a chord boundary (rounding) belongs to the chord that starts there.
    idx = np.clip(np.searchsorted(starts, times + 0.02, side="right") - 1, 0, len(starts) - 1)
    names = [harte_to_musicai(c.label_harte, roots) for c in result.chords]
    return [names[i] for i in idx]


def lead_sheet_text(result: BeatsAndChords, spelling: Spelling = "key") -> str:
    """A readable chord chart (``chords.txt``).

    The header gives key, tempo, meter and length; then one cell per bar, four bars a line, each beat
    either the chord that starts there or ``.`` while the previous chord goes on (every bar names its
    first chord)::

        | Cmaj . . . | Amin . Fmaj . |

    Beats before the first downbeat form a shorter pickup bar. Without beats (silence, beatless
    audio) the chart lists the chord segments with their times instead.
    """
    r = result
    roots = root_names(r, spelling)
    meter = f"{r.time_signature}/4"
    lines = [
        f"Key: {key_label(r, spelling)}",
        f"Tempo: {r.bpm:.1f} BPM" if r.bpm > 0 else "Tempo: n/a",
        f"Time signature: {meter}",
        f"Length: {int(r.duration_s // 60)}:{r.duration_s % 60:04.1f}",
        "",
    ]
    if not r.beats:
        lines.append("(no beat found; chords with times)")
        lines += [
            f"{c.start_s:7.2f} - {c.end_s:7.2f}  {harte_to_musicai(c.label_harte, roots)}" for c in r.chords
        ]
        return "\n".join(lines) + "\n"
    times = np.array([t for t, _ in r.beats])
    numbers = [n for _, n in r.beats]
    labels = _labels_at(r, times, roots)
    bars: list[list[str]] = []
    previous = None
    for i, (label, number) in enumerate(zip(labels, numbers, strict=True)):
        if number == 1 or i == 0:
            bars.append([])
            show = True
        else:
            show = label != previous
        bars[-1].append(label if show else ".")
        previous = label
    cells = [" ".join(bar) for bar in bars]
    for i in range(0, len(cells), _BARS_PER_LINE):
        lines.append("| " + " | ".join(cells[i : i + _BARS_PER_LINE]) + " |")
    return "\n".join(lines) + "\n"


def chords_midi(result: BeatsAndChords) -> bytes:
    """A Standard MIDI File (format 0) with one block chord per chord segment.

    Each segment that is not ``N`` gets its root in C2..B2 (channel 2, acoustic bass) and its chord in
    close position from the root in C4..B4 upwards (channel 1, piano), held for the segment. The file's tempo
    is the track's BPM (120 when none was found) and its meter the track's, so bar lines fall on the
    detected grid when the first downbeat is at 0; note times follow the audio's seconds exactly.

    Returns
    -------
    bytes
        Starts with ``b"MThd"``.
    """
    bpm = result.bpm if result.bpm > 0 else _DEFAULT_BPM
    us_per_quarter = round(60e6 / bpm)
    ticks_per_s = smf.TICKS_PER_QUARTER * 1e6 / us_per_quarter
    song = smf.Song(
        us_per_quarter=us_per_quarter,
        numerator=result.time_signature,
        denominator=4,
        programs={0: _CHORD_PROGRAM, 1: _BASS_PROGRAM},
        volumes={0: 100, 1: 100},
    )
    for seg in result.chords:
        chord = parse_harte(seg.label_harte)
        if chord is None:
            continue
        start = round(seg.start_s * ticks_per_s)
        duration = max(1, round(seg.end_s * ticks_per_s) - start)
        song.notes.append(smf.Note(start, duration, 1, _BASS_LOW + chord.root, _VELOCITY))
        base = _CHORD_LOW + chord.root
        for interval in sorted((pc - chord.root) % 12 for pc in chord.pitch_classes):
            song.notes.append(smf.Note(start, duration, 0, base + interval, _VELOCITY))
    song.end_tick = round(result.duration_s * ticks_per_s)
    return smf.encode(song)
