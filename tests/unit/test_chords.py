"""Chord recognition (tonearm.chords): labels, the recogniser on rendered progressions, the exports.

Accuracy is measured here the way the benchmark does (mir_eval's majmin and sevenths rules), with a
small reimplementation so the unit tests need no bench dependency: every 10 ms from the first chord
onward, the estimate's root and triad (``7``/``maj7`` count as major, ``min7`` as minor under majmin)
must equal the reference's.
"""

from __future__ import annotations

import io
import itertools
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tonearm.chords.export import beat_map_json, chord_map_json, chords_midi, lead_sheet_text
from tonearm.chords.labels import (
    NO_CHORD,
    QUALITIES,
    VOCABULARY,
    Chord,
    harte_to_musicai,
    musicai_to_harte,
    parse_harte,
)
from tonearm.chords.recognize import (
    BeatsAndChords,
    ChordSegment,
    _viterbi,
    beats_and_chords,
    beats_and_chords_source,
)
from tonearm.errors import ParameterError
from tonearm.midi import smf

SR = 22050
BPM = 100.0
BEAT_S = 60.0 / BPM
#: Harmonic amplitudes 1/h, h = 1..6: a bright tone whose 3rd and 5th harmonics pose as a fifth and a
#: major third of every note.
PARTIALS = 1.0 / np.arange(1, 7)
#: C-Am-F-G7, one 4/4 bar each (Harte labels, and the voicing as MIDI notes: bass, then upper voices).
PROGRESSION = (
    ("C:maj", 36, (60, 64, 67)),
    ("A:min", 45, (60, 64, 69)),
    ("F:maj", 41, (60, 65, 69)),
    ("G:7", 43, (59, 62, 65, 67)),
)
_TRIAD = {"maj": "maj", "7": "maj", "maj7": "maj", "min": "min", "min7": "min"}


def _tone(midi: int, seconds: float) -> np.ndarray:
    """Additive tone with a 5 ms attack and an exponential decay (time constant 1 s)."""
    t = np.arange(round(seconds * SR)) / SR
    f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    h = np.arange(1, len(PARTIALS) + 1)[:, np.newaxis]
    y = (PARTIALS[:, np.newaxis] * np.sin(2 * np.pi * f * h * t)).sum(axis=0)
    return y * np.minimum(1.0, t / 0.005) * np.exp(-t / 1.0)


def _additive_progression(repeats: int = 2) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """The progression with the chord re-struck on every beat, bass on beats 1 and 3; and its labels."""
    parts, labels, t = [], [], 0.0
    for _ in range(repeats):
        for label, bass, upper in PROGRESSION:
            for beat in range(4):
                y = sum(0.5 * _tone(m, BEAT_S) for m in upper)
                if beat % 2 == 0:
                    y = y + _tone(bass, BEAT_S)
                parts.append(y)
            labels.append((t, t + 4 * BEAT_S, label))
            t += 4 * BEAT_S
    y = np.concatenate(parts)
    return (0.8 * y / np.abs(y).max()).astype(np.float32), labels


def _rendered_progression(tmp_path: Path) -> tuple[np.ndarray, int, list[tuple[float, float, str]]]:
    """The progression on a General MIDI piano (FluidSynth, FluidR3_GM), a bar per chord, twice."""
    from tonearm.midi.fluidsynth import render_midi

    ticks = smf.TICKS_PER_QUARTER
    song = smf.Song(us_per_quarter=round(60e6 / BPM), numerator=4, denominator=4, programs={0: 0, 1: 32})
    labels = []
    for bar in range(2 * len(PROGRESSION)):
        label, bass, upper = PROGRESSION[bar % len(PROGRESSION)]
        start = bar * 4 * ticks
        song.notes.append(smf.Note(start, 2 * ticks - 10, 1, bass, 96))
        song.notes.append(smf.Note(start + 2 * ticks, 2 * ticks - 10, 1, bass, 90))
        for beat in range(4):  # the chord re-struck on every beat, as a pianist's comping would
            for m in upper:
                song.notes.append(smf.Note(start + beat * ticks, ticks - 10, 0, m, 80 if beat else 88))
        labels.append((bar * 4 * BEAT_S, (bar + 1) * 4 * BEAT_S, label))
    song.end_tick = 2 * len(PROGRESSION) * 4 * ticks
    path = tmp_path / "progression.mid"
    smf.write(song, path)
    y = render_midi(path, sr=44100)
    return y[:, : round(labels[-1][1] * 44100)], 44100, labels


def _label_at(rows: list[tuple[float, float, str]], t: float) -> str:
    for start, end, label in rows:
        if start <= t < end:
            return label
    return NO_CHORD


def _accuracy(
    result: BeatsAndChords, reference: list[tuple[float, float, str]], *, sevenths: bool = False
) -> float:
    """Share of 10 ms steps inside the reference rows whose estimated chord matches (majmin or sevenths)."""
    est = [(c.start_s, c.end_s, c.label_harte) for c in result.chords]
    times = np.concatenate([np.arange(start, end, 0.01) for start, end, _ in reference])
    hits = 0
    for t in times:
        ref, guess = parse_harte(_label_at(reference, t)), parse_harte(_label_at(est, t))
        if ref is None or guess is None:
            hits += ref is None and guess is None
        elif sevenths:
            hits += (ref.root, ref.quality) == (guess.root, guess.quality)
        else:
            hits += ref.root == guess.root and _TRIAD[ref.quality] == _TRIAD.get(guess.quality)
    return hits / len(times)


# ---------------------------------------------------------------- labels


def test_vocabulary_covers_the_required_qualities() -> None:
    assert set(QUALITIES) >= {"maj", "min", "7", "maj7", "min7", "dim", "aug", "sus2", "sus4"}
    assert len(VOCABULARY) == 12 * len(QUALITIES)
    assert Chord(0, "maj7").pitch_classes == (0, 4, 7, 11)


@pytest.mark.parametrize("chord", VOCABULARY, ids=lambda c: c.harte)
def test_labels_round_trip(chord: Chord) -> None:
    musicai = harte_to_musicai(chord.harte)
    assert musicai == chord.musicai
    assert musicai_to_harte(musicai) == chord.harte
    assert parse_harte(chord.harte) == chord


def test_label_spelling() -> None:
    assert harte_to_musicai("C:maj") == "Cmaj"
    assert harte_to_musicai("A:min7") == "Amin7"
    assert harte_to_musicai("Bb:min7") == "A#min7"  # sharps by default; names in a key: test_spelling.py
    assert harte_to_musicai("F#:7") == "F#7"
    assert harte_to_musicai("N") == "N" and musicai_to_harte("N") == "N"
    assert musicai_to_harte("Ebmaj7") == "D#:maj7"
    assert musicai_to_harte("C7") == "C:7" and musicai_to_harte("Cmaj7") == "C:maj7"
    assert parse_harte("D") == Chord(2, "maj")  # shorthand: a bare root is major
    assert parse_harte("C:maj/3") == Chord(0, "maj")  # inversions: the bass is dropped
    assert parse_harte(NO_CHORD) is None


@pytest.mark.parametrize("bad", ["H:maj", "C:min9", "Cmin", ":maj", "C;maj", ""])
def test_bad_harte_labels_raise(bad: str) -> None:
    with pytest.raises(ParameterError):
        parse_harte(bad)


@pytest.mark.parametrize("bad", ["Cmajor", "Xmin", "C:maj", "C9"])
def test_bad_musicai_labels_raise(bad: str) -> None:
    with pytest.raises(ParameterError):
        musicai_to_harte(bad)


# ---------------------------------------------------------------- recogniser


def test_additive_progression_is_recognised() -> None:
    # GIVEN C-Am-F-G7 at 100 BPM, a bar each, from tones whose overtones pose as fifths and thirds
    y, reference = _additive_progression()
    # WHEN
    result = beats_and_chords(y, SR)
    # THEN tempo, meter, key and most of the chords are right
    assert abs(result.bpm - BPM) < 0.04 * BPM
    assert result.key == "C major"
    assert _accuracy(result, reference) >= 0.85
    assert result.chords[0].start_s == 0.0
    assert result.chords[-1].end_s == pytest.approx(result.duration_s)


def test_fluidsynth_progression_and_its_seventh(tmp_path: Path) -> None:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed")
    # GIVEN the progression on a GM piano with an acoustic bass, rendered by FluidSynth at 44.1 kHz
    y, sr, reference = _rendered_progression(tmp_path)
    # WHEN
    result = beats_and_chords(y, sr)
    # THEN majmin accuracy over the duration, and the G7 bars are named as a seventh chord
    assert _accuracy(result, reference) >= 0.85
    g7 = [row for row in reference if row[2] == "G:7"]
    assert _accuracy(result, g7, sevenths=True) >= 0.7
    assert {c.label_harte for c in result.chords} >= {"C:maj", "A:min", "F:maj", "G:7"}


def test_silence_is_no_chord() -> None:
    result = beats_and_chords(np.zeros(5 * SR, dtype=np.float32), SR)
    assert result.chords == [ChordSegment(0.0, 5.0, NO_CHORD)]
    assert result.beats == [] and result.bpm == 0.0


def test_chords_cover_the_track_without_gaps() -> None:
    y, _ = _additive_progression(repeats=1)
    result = beats_and_chords(np.stack([y, y]), SR)  # stereo works the same
    starts = [c.start_s for c in result.chords]
    ends = [c.end_s for c in result.chords]
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(len(y) / SR)
    assert starts[1:] == ends[:-1]
    labels = [c.label_harte for c in result.chords]
    assert all(a != b for a, b in itertools.pairwise(labels))  # equal neighbours merged
    assert all(1 <= n <= 4 for _, n in result.beats)


def test_source_path_streams_the_same_result(tmp_path: Path) -> None:
    # GIVEN the progression as a 44.1 kHz WAV file
    y, _ = _additive_progression(repeats=1)
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="FLOAT")
    path = tmp_path / "progression.wav"
    path.write_bytes(buf.getvalue())
    # WHEN decoded and recognised in one streaming pass
    streamed = beats_and_chords_source(path)
    # THEN it equals the in-memory path
    assert streamed == beats_and_chords(y, SR)


@pytest.mark.parametrize(
    "y, sr", [(np.zeros(100, dtype=np.float32), 0), (np.zeros(0, dtype=np.float32), SR)], ids=["sr", "empty"]
)
def test_bad_input_raises(y: np.ndarray, sr: int) -> None:
    with pytest.raises(ParameterError):
        beats_and_chords(y, sr)


def test_viterbi_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    emission = rng.normal(size=(6, 4))
    cost = rng.uniform(0.0, 2.0, size=6)
    best, best_path = -np.inf, None
    for flat in range(4**6):
        path = [(flat // 4**i) % 4 for i in range(6)]
        score = sum(emission[t, s] for t, s in enumerate(path))
        score -= sum(cost[t] for t in range(1, 6) if path[t] != path[t - 1])
        if score > best:
            best, best_path = score, path
    assert list(_viterbi(emission, cost)) == best_path


# ---------------------------------------------------------------- exports


def _example() -> BeatsAndChords:
    beats = [(0.6 * i, i % 4 + 1) for i in range(8)]
    chords = [
        ChordSegment(0.0, 2.4, "C:maj"),
        ChordSegment(2.4, 3.6, "A:min"),
        ChordSegment(3.6, 4.2, "F:maj"),
        ChordSegment(4.2, 4.8, "G:7"),
        ChordSegment(4.8, 5.5, "N"),
    ]
    return BeatsAndChords(bpm=100.0, key="C major", beats=beats, chords=chords, duration_s=5.5)


def test_chord_and_beat_maps() -> None:
    result = _example()
    assert chord_map_json(result)[:2] == [
        {"start": 0.0, "end": 2.4, "label": "Cmaj"},
        {"start": 2.4, "end": 3.6, "label": "Amin"},
    ]
    assert chord_map_json(result)[-1]["label"] == "N"
    assert beat_map_json(result)[:2] == [{"time": 0.0, "beatNum": 1}, {"time": 0.6, "beatNum": 2}]


def test_lead_sheet() -> None:
    text = lead_sheet_text(_example())
    assert "Key: C major" in text and "Tempo: 100.0 BPM" in text and "Time signature: 4/4" in text
    assert "| Cmaj . . . | Amin . Fmaj G7 |" in text


def test_lead_sheet_without_beats() -> None:
    result = BeatsAndChords(
        bpm=0.0, key="C major", beats=[], chords=[ChordSegment(0.0, 1.0, "N")], duration_s=1.0
    )
    text = lead_sheet_text(result)
    assert "Tempo: n/a" in text and "N" in text


def _note_ons(data: bytes) -> list[tuple[int, int, int]]:
    """(tick, channel, key) of every note-on of a format-0 file as smf.write makes it."""
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    end = 22 + struct.unpack(">I", data[18:22])[0]
    i, tick, out = 22, 0, []
    while i < end:
        delta = 0
        while True:
            byte = data[i]
            i += 1
            delta = (delta << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        tick += delta
        status = data[i]
        if status == 0xFF:
            i += 3 + data[i + 2]
        elif status & 0xF0 in (0xC0, 0xD0):
            i += 2
        else:
            if status & 0xF0 == 0x90 and data[i + 2] > 0:
                out.append((tick, status & 0x0F, data[i + 1]))
            i += 3
    return out


def test_chords_midi() -> None:
    data = chords_midi(_example())
    fmt, tracks, division = struct.unpack(">HHH", data[8:14])
    assert (fmt, tracks, division) == (0, 1, smf.TICKS_PER_QUARTER)
    ons = _note_ons(data)
    # 3 triads + 1 seventh chord, each with a bass note; N gets nothing
    assert len(ons) == 3 * 4 + 5
    first = sorted(k for t, ch, k in ons if t == 0 and ch == 0)
    assert first == [60, 64, 67]  # C major in close position from C4
    assert [k for t, ch, k in ons if t == 0 and ch == 1] == [36]  # its root in the bass
