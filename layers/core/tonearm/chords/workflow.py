"""``tonearm/beats-and-chords`` and Music.AI's ``music-ai/generate-chords``: beats, tempo, key, chords."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.jobs.spec import InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec, write_file


def beats_and_chords(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/beats-and-chords`` (and ``music-ai/generate-chords``): beats, tempo, key, chords."""
    from tonearm.chords.export import beat_map_json, chord_map_json, chords_midi, lead_sheet_text
    from tonearm.chords.recognize import beats_and_chords_source

    result = beats_and_chords_source(input_path, size_bytes=input_path.stat().st_size)
    files = {
        "beatMap": write_file(work_dir / "beatMap.json", json.dumps(beat_map_json(result)).encode()),
        "chordMap": write_file(work_dir / "chordMap.json", json.dumps(chord_map_json(result)).encode()),
        "chordsMidi": write_file(work_dir / "chords.mid", chords_midi(result)),
        "chordsText": write_file(work_dir / "chords.txt", lead_sheet_text(result).encode()),
    }
    return TaskOutput(values={"bpm": round(result.bpm, 2), "key": result.key}, files=files)


_BEATS_AND_CHORDS_OUTPUTS = {
    "bpm": OutputSpec("value", "Tempo in beats per minute."),
    "key": OutputSpec("value", 'The key, e.g. "A minor".'),
    "beatMap": OutputSpec("file", 'Every beat: [{"time": seconds, "beatNum": beat number in its bar}].'),
    "chordMap": OutputSpec(
        "file", 'Chords covering the track: [{"start", "end", "label"}], labels like "Cmaj", "Amin7", "N".'
    ),
    "chordsMidi": OutputSpec(
        "file", "The chords as block chords in a standard MIDI file.", "audio/midi", "mid", "chords.mid"
    ),
    "chordsText": OutputSpec(
        "file", "A lead sheet: the chords bar by bar, with key and tempo.", "text/plain", "txt", "chords.txt"
    ),
}
_BEATS_AND_CHORDS_DESCRIPTION = (
    "Beats (with their number in the bar), tempo, key and chords (maj, min, 7, maj7, min7, dim, aug, "
    "sus2, sus4, N) of a track up to 10 minutes, with a lead sheet and a chord MIDI file."
)

BEATS_AND_CHORDS = WorkflowSpec(
    slug="tonearm/beats-and-chords",
    name="Beats and chords",
    description=_BEATS_AND_CHORDS_DESCRIPTION,
    params=InputParams,
    state_machine="BeatsAndChordsStateMachine",
    function="BeatsAndChordsFunction",
    task=beats_and_chords,
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)

#: Music.AI's quick-start workflow slug, answered by the same task.
GENERATE_CHORDS = WorkflowSpec(
    slug="music-ai/generate-chords",
    name="Generate chords (Music.AI)",
    description=_BEATS_AND_CHORDS_DESCRIPTION + " The same as tonearm/beats-and-chords.",
    params=InputParams,
    state_machine="BeatsAndChordsStateMachine",
    function="BeatsAndChordsFunction",
    task=beats_and_chords,
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)
