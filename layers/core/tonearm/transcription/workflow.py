"""``tonearm/transcribe``: the notes of a track (basic-pitch) as MIDI and JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.jobs.spec import InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec, write_file


def transcribe(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/transcribe``: the notes (basic-pitch) as MIDI and JSON."""
    from tonearm.audio.progress import percent
    from tonearm.transcription.service import notes_to_midi, transcribe_source

    result = transcribe_source(input_path, size_bytes=input_path.stat().st_size, progress=percent(progress))
    notes = [
        {"start": round(n.start_s, 4), "end": round(n.end_s, 4), "pitch": n.pitch, "velocity": n.velocity}
        for n in result.notes
    ]
    files = {
        "midi": write_file(work_dir / "notes.mid", notes_to_midi(result.notes, bpm=result.bpm)),
        "notes": write_file(work_dir / "notes.json", json.dumps(notes, separators=(",", ":")).encode()),
    }
    bpm = None if result.bpm is None else round(result.bpm, 2)
    return TaskOutput(values={"noteCount": len(notes), "bpm": bpm}, files=files)


TRANSCRIBE = WorkflowSpec(
    slug="tonearm/transcribe",
    name="Transcribe to MIDI",
    description=(
        "Polyphonic transcription with basic-pitch: the notes of a track up to 10 minutes as a standard "
        "MIDI file (tempo from the beat tracker) and as JSON."
    ),
    params=InputParams,
    state_machine="TranscribeStateMachine",
    function="TranscribeFunction",
    task=transcribe,
    outputs={
        "midi": OutputSpec("file", "The notes as a standard MIDI file.", "audio/midi", "mid", "notes.mid"),
        "notes": OutputSpec("file", '[{"start", "end", "pitch", "velocity"}]: seconds, MIDI numbers.'),
        "noteCount": OutputSpec("value", "How many notes were found."),
        "bpm": OutputSpec("value", "The tempo written into the MIDI file."),
    },
)
