"""``tonearm/analyze``: tempo, beats, key, loudness and audio features of a track, in one streaming pass."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from tonearm.analysis.schema import AnalysisResult
from tonearm.jobs.spec import InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec


class AnalyzeParams(InputParams):
    """``tonearm/analyze`` params: the input, and optionally what track it is (for the library)."""

    title: str | None = Field(default=None, max_length=300, description="Track title (else the file's tag).")
    artist: str | None = Field(default=None, max_length=300, description="Artist (else the file's tag).")
    isrc: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?\d{2}-?\d{5}$",
        description="ISRC (else the file's tag).",
    )


def analyze_audio(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/analyze``: decode every supported format and analyse it in one streaming pass."""
    from tonearm.analysis.analyze import analyze_source
    from tonearm.audio.progress import percent

    _, analysis = analyze_source(input_path, size_bytes=input_path.stat().st_size, progress=percent(progress))
    return TaskOutput(values=analysis.to_json())


ANALYZE = WorkflowSpec(
    slug="tonearm/analyze",
    name="Analyze",
    description=(
        "Decode the input (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC/M4A) and report tempo, beats, downbeats "
        "and time signature, key, loudness (BS.1770 integrated, EBU loudness range, sample and true peak) "
        "and Spotify-style audio features (tonearm's own definitions)."
    ),
    params=AnalyzeParams,
    state_machine="AnalyzeStateMachine",
    function="AnalyzeFunction",
    task=analyze_audio,
    outputs={
        name: OutputSpec("value", field.description or name)
        for name, field in AnalysisResult.model_fields.items()
    },
)
