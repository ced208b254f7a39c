"""The analysis bench's realistic set: tempo maps, swing, local tempo labels and their scoring (issue 21)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import metrics, performance
from bench.analysis.corpus import plan
from bench.analysis.performance import TempoMap, swing_warp


def _ramp(b0: float, b1: float, q0: float, q1: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda q: np.interp(q, [q0, q1], [b0, b1])


def test_constant_tempo_map_is_linear_with_time_zero_at_the_origin() -> None:
    tm = TempoMap.from_bpm(-4.0, 40.0, 1.5, lambda q: np.full_like(q, 120.0))
    q = np.array([1.5, 2.5, 10.0, 39.0])
    assert np.allclose(tm.seconds(q), (q - 1.5) * 0.5)
    assert np.allclose(tm.local_bpm(q), 120.0)
    assert tm.seconds(1.5) == pytest.approx(0.0, abs=1e-12)
    assert tm.position(10.0) == pytest.approx(21.5)
    # beyond the grid the end tempo continues
    assert tm.seconds(50.0) == pytest.approx((50.0 - 1.5) * 0.5)


def test_local_tempo_label_of_a_known_ramp() -> None:
    """A tempo rising linearly in score position, b(q) = b0 + k q: T(q) = 60/k ln(b(q)/b0), so the interval
    from beat q to q + 1 lasts 60/k ln(b(q+1)/b(q)) and the label is k / ln(b(q+1)/b(q))."""
    b0, b1, q_end = 100.0, 150.0, 16.0
    k = (b1 - b0) / q_end
    tm = TempoMap.from_bpm(0.0, 24.0, 0.0, _ramp(b0, b1, 0.0, q_end), step=1 / 96)
    beats = np.arange(0.0, q_end - 1.0 + 1e-9)
    expected = k / np.log((b0 + k * (beats + 1)) / (b0 + k * beats))
    assert np.allclose(tm.local_bpm(beats), expected, rtol=1e-5)
    assert np.allclose(tm.seconds(beats), 60.0 / k * np.log((b0 + k * beats) / b0), rtol=1e-5, atol=1e-6)
    # after the ramp the tempo holds at b1
    assert tm.local_bpm([q_end + 2.0])[0] == pytest.approx(b1, rel=1e-6)


def test_tempo_step_changes_the_beat_interval_at_the_bar_line() -> None:
    tm = TempoMap.from_bpm(0.0, 40.0, 0.0, lambda q: np.where(q >= 12.0, 90.0, 120.0))
    assert tm.local_bpm([11.0])[0] == pytest.approx(120.0)
    assert tm.local_bpm([12.0])[0] == pytest.approx(90.0)
    assert tm.seconds(12.0) == pytest.approx(6.0)


@pytest.mark.parametrize("index", range(12))
def test_every_drawn_map_is_monotone_and_in_range(index: int) -> None:
    spec = plan(48)[index * 4 % 48]
    perf = performance.draw(spec)
    assert perf == performance.draw(spec)  # seeded
    assert perf.soundfont in performance.SOUNDFONTS
    assert perf.codec in performance.CODECS
    assert perf.bitrate_kbps in performance.CODECS[perf.codec]["kbps"]
    assert 10.0 <= perf.timing_sigma_ms <= 20.0 and -60.0 <= perf.noise_dbfs <= -45.0
    bar = 3.0 if spec.piece.meter == "3/4" else 4.0
    tm = performance.tempo_map(perf, spec.piece.tempo, f0=-1.0, d0=0.0, bar=bar, q_hi=200.0)
    q = np.linspace(-1.0, 150.0, 20_000)
    t = tm.seconds(q)
    assert np.all(np.diff(t) > 0)
    local = tm.local_bpm(np.arange(0.0, 100.0))
    rel = local / spec.piece.tempo
    # rubato <= 8 %, ramps and steps <= 30 %, combined
    assert rel.min() > 0.6 and rel.max() < 1.45


def test_events_cycle_so_any_four_clips_cover_them() -> None:
    assert {performance.draw(s).event for s in plan(4)} == set(performance.EVENTS)
    assert {performance.draw(s).soundfont for s in plan(3)} == set(performance.SOUNDFONTS)
    assert {performance.draw(s).codec for s in plan(3)} == set(performance.CODECS)


def test_swing_keeps_beats_and_delays_the_off_beat() -> None:
    q = np.array([0.0, 0.5, 1.0, 1.5, 2.25, 3.0])
    w = swing_warp(q, 0.0, 2.0)
    assert w[[0, 2, 5]] == pytest.approx([0.0, 1.0, 3.0])
    assert w[1] == pytest.approx(2 / 3) and w[3] == pytest.approx(1 + 2 / 3)
    assert np.all(np.diff(swing_warp(np.linspace(-2, 5, 1000), 0.25, 1.7)) > 0)
    tm = TempoMap.from_bpm(0.0, 20.0, 0.0, lambda x: np.full_like(x, 60.0), swing_ratio=2.0)
    assert tm.seconds(0.5) == pytest.approx(2 / 3)  # the eighth note is late
    assert tm.local_bpm([3.0])[0] == pytest.approx(60.0)  # the beat is not


def test_notes_and_labels_share_the_map() -> None:
    spec = plan(3)[2]
    perf = performance.draw(spec)
    tm = performance.tempo_map(perf, spec.piece.tempo, f0=0.0, d0=0.0, bar=3.0, q_hi=120.0)
    for q in (0.0, 1.0, 7.0, 30.0):
        onset, offset = performance.note_span(tm, q, 0.5, 0.0)
        assert onset == tm.seconds(q) and offset == tm.seconds(q + 0.5)
        jittered, _ = performance.note_span(tm, q, 0.5, 0.012)
        assert jittered == pytest.approx(max(0.0, tm.seconds(q) + 0.012))


def test_local_tempo_scoring() -> None:
    beats = np.cumsum(np.full(40, 0.5))  # 120 BPM from 0.5 s
    local = np.full(40, 120.0)
    assert metrics.local_tempo_mdape(beats, local, metrics.beats_to_curve(beats)) == pytest.approx(0.0)
    slow = np.arange(40) * 0.5 * 1.1
    assert metrics.local_tempo_mdape(beats, local, metrics.beats_to_curve(slow)) == pytest.approx(100 / 11)
    assert metrics.local_tempo_mdape(beats, local, [[0.0, 126.0], [30.0, 126.0]]) == pytest.approx(5.0)
    assert metrics.local_tempo_mdape(beats, local, [{"time": 3.0, "bpm": 114.0}]) == pytest.approx(5.0)
    assert metrics.local_tempo_mdape(beats, local, None) is None


def test_score_row_scores_the_local_tempo() -> None:
    pytest.importorskip("mir_eval")  # the bench extra (score_row's beat F-measure)
    beats = np.cumsum(np.full(40, 0.5))
    local = np.full(40, 120.0)
    clip = {"tempo": 120.0, "beats": list(beats), "local_tempo": list(local), "downbeats": []}
    clip |= {"key": "C major", "chords": [[0.0, 30.0, "C:maj"]]}
    m = metrics.score_row(clip, {"bpm": 120.0, "beats": list(beats), "key": "C major"})
    assert m["local_tempo_mdape"] is None and m["beat_tempo_mdape"] == pytest.approx(0.0)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs fluidsynth")
def test_a_rendered_clip_plays_on_its_labels(tmp_path: Path) -> None:
    """Render one realistic clip with drums: its kick and snare onsets (MIDI) sit on the label beats within
    the humanisation, and the local tempo labels are 60 / the label beats' intervals."""
    pytest.importorskip("music21")
    from bench.analysis.render import render_clip
    from tonearm.midi import smf

    spec = plan(3)[2]  # a folk tune with drums
    assert spec.piece.drums
    perf = performance.draw(spec)
    labels = render_clip(spec, tmp_path, perf=perf)
    assert json.loads((tmp_path / "labels.json").read_text())["performance"]["seed"] == perf.seed
    midi = smf.read((tmp_path / "clip.mid").read_bytes())
    spt = midi.us_per_quarter / 1e6 / midi.ticks_per_quarter
    hits = np.array([n.start * spt for n in midi.notes if n.channel == 9 and n.pitch in (36, 38)])
    hits = hits[hits < 30.0]
    beats = np.array(labels["beats"])
    err = hits - beats[np.abs(hits[:, None] - beats[None]).argmin(axis=1)]
    sigma = perf.timing_sigma_ms / 1000 / 2  # drums get half the jitter
    assert len(hits) > 30
    assert abs(float(np.median(err))) < 0.004
    assert np.all(np.abs(err) <= 2.5 * sigma + 0.002)
    ibi = np.diff(beats)
    assert np.allclose(np.array(labels["local_tempo"])[:-1], 60.0 / ibi, rtol=1e-4)
    assert math.isclose(labels["tempo"], float(np.median(labels["local_tempo"])))
    assert (tmp_path / labels["files"]["coded"]).suffix == "." + performance.CODECS[perf.codec]["ext"]
