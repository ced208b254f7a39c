"""Separation training songs from music21 corpus scores (models/separation/score_source.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.separation import data, score_source
from tonearm.midi.smf import DRUM_CHANNEL, TICKS_PER_QUARTER, Song

#: Every preset a GM SoundFont has: melodic programs on bank 0, the drum kits on bank 128.
PRESETS = {(0, p) for p in range(128)} | {(128, k) for k in data.DRUM_KITS}
BPM = 120  # 960 ticks per second


def _satb(bars: int = 2) -> list[np.ndarray]:
    """Four parts in 4/4 with a one-beat pickup (onsets -1 ...), soprano to bass, quarters and halves."""
    beats = np.arange(-1.0, 4.0 * bars)
    soprano = np.column_stack([beats, np.ones_like(beats), 72 + (beats % 3)])
    alto = np.column_stack([beats, np.ones_like(beats), 65 + (beats % 2)])
    halves = np.arange(-1.0, 4.0 * bars, 2.0)
    tenor = np.column_stack([halves, np.full_like(halves, 2.0), np.full_like(halves, 60)])
    bass = np.column_stack([halves, np.full_like(halves, 2.0), 62 - (halves % 4)])  # high: mean > 55
    return [soprano, alto, tenor, bass]


def _song(seed: int, parts: list[np.ndarray] | None = None, **kw: object) -> tuple[Song, dict]:
    args: dict = {"seconds": 10.0, "presets": PRESETS, "bpm": BPM} | kw
    return score_source.parts_to_song(
        _satb() if parts is None else parts, np.random.default_rng(seed), **args
    )


def _by_channel(song: Song, channel: int) -> list:
    return [n for n in song.notes if n.channel == channel]


def test_the_piece_loops_on_the_bar_grid_until_the_end_and_no_note_passes_it() -> None:
    # GIVEN two 4/4 bars and a pickup beat (9 quarters -> 3 bars a copy), 20 s at 120 BPM
    song, info = _song(0, drums=False, transpose=0, seconds=20.0)
    end = round(20.0 * BPM / 60 * TICKS_PER_QUARTER)
    period = 3 * 4 * TICKS_PER_QUARTER
    # THEN the song is 20 s long, every note starts and ends inside it
    assert song.end_tick == end == 19_200 and song.us_per_quarter == 500_000
    assert all(n.start < end and n.start + n.duration <= end and n.duration > 0 for n in song.notes)
    # AND each copy starts a whole number of bars after the last (the pickup at 0, downbeats at 1 beat)
    soprano = _by_channel(song, 0)
    starts = np.array([n.start for n in soprano])
    copies = int(np.ceil(end / period))
    assert info["copies"] == copies == 4
    expected = np.concatenate([np.arange(9) * 480 + c * period for c in range(copies)])
    assert np.array_equal(starts, expected[expected < end])
    assert starts[-1] >= end - 2 * 480  # filled to the end
    # AND velocities stay 60-100, pitches untransposed
    assert all(60 <= n.velocity <= 100 for n in song.notes)
    assert {n.pitch for n in soprano} == {72, 73, 74}


def test_pitched_parts_never_use_the_drum_channel() -> None:
    parts = [np.array([[0.0, 1.0, 60.0 + k]]) for k in range(15)]
    song, info = _song(3, parts, drums=False)
    channels = {n.channel for n in song.notes}
    assert len(channels) == 15 and DRUM_CHANNEL not in channels and DRUM_CHANNEL not in song.programs
    assert json.loads(json.dumps(info)) == info  # JSON-serialisable
    with pytest.raises(score_source.ScoreSourceError, match="at most 15"):
        _song(3, [*parts, np.array([[0.0, 1.0, 50.0]])])
    with pytest.raises(score_source.ScoreSourceError, match="x/4 or x/8"):
        _song(3, numerator=4, denominator=2)


def test_top_part_reaches_the_vocals_stem_and_bottom_part_the_bass_stem() -> None:
    seen_voice = seen_bass = False
    for seed in range(40):
        song, info = _song(seed, drums=False, transpose=0)
        stems = dict(zip(song.notes, (data.STEMS[k] for k in data.stem_of_notes(song)), strict=True))
        top, bottom = song.programs[0], song.programs[3]
        # only the top part may sing, only the bottom part may play bass
        assert {stems[n] for n in song.notes if n.channel in (1, 2)} == {"other"}
        if top in data.VOCAL_PROGRAMS:
            seen_voice = True
            assert info["roles"]["0"] == "top"
            assert {stems[n] for n in _by_channel(song, 0)} == {"vocals"}
        if bottom in data.BASS_PROGRAMS:
            seen_bass = True
            bass = [n.pitch for n in _by_channel(song, 3)]
            assert {stems[n] for n in _by_channel(song, 3)} == {"bass"}
            assert max(bass) <= 67 and min(bass) >= 28 and max(bass) == 61 - 12  # an octave down
    assert seen_voice and seen_bass


def test_drum_part_plays_kick_snare_and_hats_on_the_bar_grid() -> None:
    # GIVEN the pickup piece with drums (4/4): the first downbeat is one beat in
    song, info = _song(5, drums=True)
    drums = _by_channel(song, DRUM_CHANNEL)
    assert info["drums"] and song.programs[DRUM_CHANNEL] in data.DRUM_KITS
    keys = {key: np.array([n.start for n in drums if n.pitch == key]) for key in (36, 38, 42)}
    assert {n.pitch for n in drums} == {36, 38, 42}
    bar, beat = 4 * 480, 480
    # THEN kick on beats 1 and 3, snare on 2 and 4, hats on every eighth from the first downbeat
    assert np.all((keys[36] - beat) % bar % (2 * beat) == 0) and keys[36][0] == beat
    assert np.all((keys[38] - beat) % bar % (2 * beat) == beat)
    assert np.array_equal(keys[42], np.arange(beat, song.end_tick, 240))
    which = zip(data.stem_of_notes(song), song.notes, strict=True)
    assert {data.STEMS[k] for k, n in which if n.channel == DRUM_CHANNEL} == {"kick", "snare", "drums_other"}
    # AND in 3/4 the snare is on beats 2 and 3; in 6/8 the kick on 1, the snare on the dotted-quarter 2
    two = [np.array([[0.0, 3.0, 60.0]]), np.array([[0.0, 3.0, 48.0]])]
    waltz, _ = _song(5, two, drums=True, numerator=3)
    snares = np.array([n.start for n in waltz.notes if n.pitch == 38 and n.channel == 9])
    assert set(snares % (3 * 480)) == {480, 960}
    jig, _ = _song(5, two, drums=True, numerator=6, denominator=8)
    assert set(np.array([n.start for n in jig.notes if n.pitch == 38 and n.channel == 9]) % 1440) == {720}
    assert set(np.array([n.start for n in jig.notes if n.pitch == 36 and n.channel == 9]) % 1440) == {0}


def test_same_seed_same_song_other_seed_other_song() -> None:
    first, again, other = _song(11), _song(11), _song(12)
    assert first == again
    assert first != other
    transposes = {_song(s)[1]["transpose"] for s in range(30)}
    assert transposes <= set(range(-5, 6)) and len(transposes) > 5


def test_a_bach_chorale_loads_from_the_music21_corpus() -> None:
    pytest.importorskip("music21")
    parts, numerator, denominator = score_source.load_corpus_parts("bach/bwv1.6.mxl")
    # horn doubling the soprano, then SATB; a one-beat pickup, in 4/4
    assert (numerator, denominator) == (4, 4) and len(parts) == 5
    assert all(a.shape[1] == 3 and a[0, 0] == -1.0 and np.all(np.diff(a[:, 0]) >= 0) for a in parts)
    assert min(a[:, 2].min() for a in parts) >= 36 and max(a[:, 2].max() for a in parts) <= 84
    assert "bach/bwv1.6.mxl" in score_source.corpus_paths()
    song, info = score_source.parts_to_song(
        parts, np.random.default_rng(0), seconds=30, presets=PRESETS, bpm=90, piece="bach/bwv1.6.mxl"
    )
    assert info["kind"] == "music21" and song.notes and max(n.start for n in song.notes) < song.end_tick
