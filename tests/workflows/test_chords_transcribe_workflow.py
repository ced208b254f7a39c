"""tonearm/beats-and-chords (alias music-ai/generate-chords) and tonearm/transcribe end to end.

Through the job API, the ingest folder and the CLI, on a C-Am-F-G7 piano progression rendered with
FluidSynth, so the right chords, tempo and notes are known.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import encode, wait_for, wait_for_terminal
from tests.workflows.helpers import local_app, local_jobs
from tonearm.cli import main
from tonearm.jobs.model import CreateJobRequest, Job, JobStatus
from tonearm.local_stack.runtime import LocalRuntime
from tonearm.midi import smf
from tonearm.midi.fluidsynth import render_midi

BPM = 100
TICKS = smf.TICKS_PER_QUARTER
#: (root MIDI note, intervals, Music.AI labels accepted) per bar
PROGRESSION = [
    (60, (0, 4, 7), {"Cmaj"}),
    (57, (0, 3, 7), {"Amin", "Amin7"}),
    (53, (0, 4, 7), {"Fmaj", "Fmaj7"}),
    (55, (0, 4, 7, 10), {"G7", "Gmaj"}),
]
BARS = 9  # ends on C: the progression resolves, as songs do


def _progression_song() -> smf.Song:
    notes = []
    for bar in range(BARS):
        root, intervals, _ = PROGRESSION[bar % len(PROGRESSION)]
        start = bar * 4 * TICKS
        notes.append(smf.Note(start, 4 * TICKS - 20, 0, root - 12, 90))  # bass
        for beat in range(4):  # the chord on every beat, so the beat is audible
            for interval in intervals:
                notes.append(smf.Note(start + beat * TICKS, TICKS - 20, 0, root + interval, 75))
    song = smf.Song(us_per_quarter=round(60e6 / BPM), numerator=4, denominator=4, notes=notes)
    song.programs[0] = 0
    song.end_tick = BARS * 4 * TICKS
    return song


@pytest.fixture(scope="module")
def progression_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("progression") / "progression.mid"
    smf.write(_progression_song(), path)
    return encode(render_midi(path, sr=44100).T, sr=44100, fmt="MP3")


def _run_job(runtime: LocalRuntime, workflow: str, data: bytes) -> Job:
    services = runtime.services
    upload = services.jobs.create_upload(local_app(runtime))
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(key, data, content_type="audio/mpeg")
    request = CreateJobRequest(name=workflow, workflow=workflow, params={"inputUrl": upload.downloadUrl})
    job_id = services.jobs.create_job(local_app(runtime), request).id
    return wait_for_terminal(lambda: services.store.get(job_id), timeout_s=120)


def _output(runtime: LocalRuntime, job: Job, name: str) -> bytes:
    path = runtime.dead_letters.path.parent / f"copy-of-{name}"
    runtime.services.blobs.download_to(job.outputs[name], path)
    return path.read_bytes()


def _chords_right(chord_map: list[dict[str, object]]) -> float:
    """Share of the progression's duration labelled with an accepted chord."""
    bar_s = 4 * 60.0 / BPM
    right = 0.0
    for segment in chord_map:
        start, end, label = float(segment["start"]), float(segment["end"]), str(segment["label"])  # type: ignore[arg-type]
        for bar in range(BARS):
            lo, hi = max(start, bar * bar_s), min(end, (bar + 1) * bar_s)
            if hi > lo and label in PROGRESSION[bar % len(PROGRESSION)][2]:
                right += hi - lo
    return right / (BARS * bar_s)


@pytest.mark.parametrize("workflow", ["music-ai/generate-chords", "tonearm/beats-and-chords"])
def test_beats_and_chords_job(local_runtime: LocalRuntime, progression_mp3: bytes, workflow: str) -> None:
    job = _run_job(local_runtime, workflow, progression_mp3)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.workflow == workflow
    assert abs(job.result["bpm"] - BPM) < 3 and job.result["key"].endswith(("major", "minor"))
    assert set(job.outputs) == {"beatMap", "chordMap", "chordsMidi", "chordsText"}
    chord_map = json.loads(_output(local_runtime, job, "chordMap"))
    assert _chords_right(chord_map) >= 0.8, chord_map
    assert all(a["end"] == pytest.approx(b["start"]) for a, b in itertools.pairwise(chord_map))
    beat_map = json.loads(_output(local_runtime, job, "beatMap"))
    assert len(beat_map) >= 4 * BARS - 3
    assert {b["beatNum"] for b in beat_map} == {1, 2, 3, 4}
    assert _output(local_runtime, job, "chordsMidi")[:4] == b"MThd"
    text = _output(local_runtime, job, "chordsText").decode()
    assert "Cmaj" in text and "Fmaj" in text
    assert job.outputs["chordsMidi"].endswith("/chords.mid")


@pytest.mark.xfail(
    strict=True,
    reason="known weakness of tonearm.analysis.key: this plain I-vi-IV-V7-I in C is called F major "
    "(confidence 0.47); the chords are right. Kept as a failing check until the key estimator is fixed.",
)
def test_key_of_a_plain_progression(progression_mp3: bytes) -> None:
    from tonearm.audio.decode import decode
    from tonearm.chords.recognize import beats_and_chords

    audio = decode(progression_mp3)
    assert beats_and_chords(audio.y, audio.sr).key == "C major"


def test_transcribe_job(local_runtime: LocalRuntime, progression_mp3: bytes) -> None:
    job = _run_job(local_runtime, "tonearm/transcribe", progression_mp3)
    assert job.status is JobStatus.SUCCEEDED, job.error
    notes = json.loads(_output(local_runtime, job, "notes"))
    assert job.result["noteCount"] == len(notes) > 0
    played = {root + i for root, intervals, _ in PROGRESSION for i in intervals}
    found = {n["pitch"] for n in notes}
    assert len(played & found) >= 0.8 * len(played), sorted(found)
    assert all(0 <= n["start"] < n["end"] and 1 <= n["velocity"] <= 127 for n in notes)
    assert _output(local_runtime, job, "midi")[:4] == b"MThd"


def test_generate_chords_ingest_drop(
    local_runtime: LocalRuntime, progression_mp3: bytes, tmp_path: Path
) -> None:
    folder = local_runtime.watcher.folder / "music-ai" / "generate-chords"
    folder.mkdir(parents=True, exist_ok=True)
    staged = tmp_path / "progression.mp3"
    staged.write_bytes(progression_mp3)
    shutil.move(staged, folder / "progression.mp3")

    def finished() -> bool:
        jobs = local_jobs(local_runtime, "music-ai/generate-chords", [JobStatus.SUCCEEDED])
        return any(j.name == "progression.mp3" and "chordMap" in j.outputs for j in jobs)

    wait_for(finished, timeout_s=120)


def test_cli_chords_and_transcribe(
    progression_mp3: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "progression.mp3"
    song.write_bytes(progression_mp3)
    assert main(["chords", str(song), "-o", str(tmp_path / "out")]) == 0
    assert "Cmaj" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "beatMap.json",
        "chordMap.json",
        "chords.mid",
        "chords.txt",
    }
    assert main(["chords", str(song), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"bpm", "key", "beatMap", "chordMap"} <= set(document)
    midi = tmp_path / "notes.mid"
    assert main(["transcribe", str(song), "-o", str(midi), "--notes", str(tmp_path / "notes.json")]) == 0
    assert midi.read_bytes()[:4] == b"MThd" and json.loads((tmp_path / "notes.json").read_text())
    capsys.readouterr()
    assert main(["transcribe", str(song), "-o", str(midi), "--json"]) == 0  # like analyze and chords
    transcribed = json.loads(capsys.readouterr().out)
    assert transcribed["noteCount"] == len(transcribed["notes"]) > 0 and transcribed["midi"] == str(midi)
    assert {"start", "end", "pitch", "velocity"} <= set(transcribed["notes"][0])
    assert main(["chords", str(tmp_path / "missing.mp3")]) == 2
    (tmp_path / "noise.mp3").write_bytes(b"not audio" * 50)
    assert main(["transcribe", str(tmp_path / "noise.mp3")]) == 1
    # a text file renamed .mp3 is called what it is, not a decoder's complaint
    assert "text" in capsys.readouterr().err.lower()
