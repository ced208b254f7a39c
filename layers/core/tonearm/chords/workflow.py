"""``tonearm/beats-and-chords`` and Music.AI's ``music-ai/generate-chords``: beats, tempo, key, chords."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from tonearm.analysis.spelling import Spelling
from tonearm.jobs.spec import InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec, write_file

_SPELLING_DESCRIPTION = (
    "How chord roots and the key are spelled: 'key' as the track's key writes them (Bb, Eb, F in G minor; "
    "G#min, C#min in E major), 'sharps' (C#, D#, F#, G#, A#) or 'flats' (Db, Eb, Gb, Ab, Bb)."
)


class BeatsAndChordsParams(InputParams):
    """``tonearm/beats-and-chords``: the input, and the spelling (in the key by default)."""

    spelling: Spelling = Field(default="key", description=_SPELLING_DESCRIPTION)


class GenerateChordsParams(InputParams):
    """``music-ai/generate-chords``: the input, and the spelling (Music.AI's sharps by default)."""

    spelling: Spelling = Field(default="sharps", description=_SPELLING_DESCRIPTION)


def beats_and_chords(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/beats-and-chords``: beats, tempo, key, chords, spelled in the key unless ``spelling``
    says otherwise."""
    return _beats_and_chords(input_path, work_dir, params.get("spelling", "key"), progress)


def generate_chords(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``music-ai/generate-chords``: the same, spelled with sharps (Music.AI's) unless ``spelling`` says
    otherwise."""
    return _beats_and_chords(input_path, work_dir, params.get("spelling", "sharps"), progress)


def _beats_and_chords(input_path: Path, work_dir: Path, spelling: Spelling, progress: Progress) -> TaskOutput:
    from tonearm.audio.progress import percent
    from tonearm.chords.export import beat_map_json, chord_map_json, chords_midi, key_label, lead_sheet_text
    from tonearm.chords.recognize import beats_and_chords_source

    result = beats_and_chords_source(
        input_path, size_bytes=input_path.stat().st_size, progress=percent(progress)
    )
    files = {
        "beatMap": write_file(work_dir / "beatMap.json", json.dumps(beat_map_json(result)).encode()),
        "chordMap": write_file(
            work_dir / "chordMap.json", json.dumps(chord_map_json(result, spelling)).encode()
        ),
        "chordsMidi": write_file(work_dir / "chords.mid", chords_midi(result)),
        "chordsText": write_file(work_dir / "chords.txt", lead_sheet_text(result, spelling).encode()),
    }
    return TaskOutput(values={"bpm": round(result.bpm, 2), "key": key_label(result, spelling)}, files=files)


_BEATS_AND_CHORDS_OUTPUTS = {
    "bpm": OutputSpec("value", "Tempo in beats per minute."),
    "key": OutputSpec("value", 'The key, e.g. "A minor", "Bb major" (as the spelling param says).'),
    "beatMap": OutputSpec("file", 'Every beat: [{"time": seconds, "beatNum": beat number in its bar}].'),
    "chordMap": OutputSpec(
        "file",
        'Chords covering the track: [{"start", "end", "label"}], labels like "Cmaj", "Amin7", "Bbmaj", "N".',
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
    description=_BEATS_AND_CHORDS_DESCRIPTION + " Chords and key are spelled in the key (Bbmaj in G minor).",
    params=BeatsAndChordsParams,
    state_machine="BeatsAndChordsStateMachine",
    function="BeatsAndChordsFunction",
    task=beats_and_chords,
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)

#: Music.AI's quick-start workflow slug, answered by the same task.
GENERATE_CHORDS = WorkflowSpec(
    slug="music-ai/generate-chords",
    name="Generate chords (Music.AI)",
    description=_BEATS_AND_CHORDS_DESCRIPTION
    + " The same as tonearm/beats-and-chords, but spelled with sharps (A#maj) by default, as this slug has"
    + " always answered; spelling='key' spells in the key.",
    params=GenerateChordsParams,
    state_machine="BeatsAndChordsStateMachine",
    function="BeatsAndChordsFunction",
    task=generate_chords,
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)
