"""The workflow catalogue: every workflow's slug, params schema, outputs and state machine.

A workflow is data here; its steps are a state machine in ``statemachines/`` and its task is a
function in ``tonearm.jobs.tasks``. Adding a workflow means adding an entry, an ASL file, and a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tonearm.analysis.schema import AnalysisResult
from tonearm.jobs.errors import UnknownWorkflowError


class InputParams(BaseModel):
    """Params shared by every audio workflow."""

    model_config = ConfigDict(extra="forbid")

    inputUrl: str = Field(  # noqa: N815 - wire name
        min_length=1,
        max_length=8192,
        description="A downloadUrl from GET /v1/upload, or an https URL tonearm can fetch.",
    )


@dataclass(frozen=True)
class OutputSpec:
    """One named output of a workflow."""

    kind: Literal["value", "file"]
    description: str
    content_type: str = "application/json"
    extension: str = "json"


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow as the catalogue and ``GET /v1/workflow`` describe it."""

    slug: str
    name: str
    description: str
    params: type[BaseModel]
    state_machine: str
    outputs: dict[str, OutputSpec] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The ``GET /v1/workflow`` item: slug, name, description, params JSON schema, outputs."""
        return {
            "id": self.slug,
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "params": self.params.model_json_schema(),
            "outputs": {
                name: {"type": spec.kind, "description": spec.description, "contentType": spec.content_type}
                for name, spec in self.outputs.items()
            },
        }


AUDIO_INFO = WorkflowSpec(
    slug="tonearm/audio-info",
    name="Audio info",
    description=(
        "Decode the input (WAV, FLAC, OGG, MP3), check the limits (100 MB, 10 min), and report its "
        "duration, sample rate, channels, format, integrated loudness (ITU-R BS.1770) and sample "
        "peak, with the audio as a 16-bit PCM WAV file."
    ),
    params=InputParams,
    state_machine="AudioInfoStateMachine",
    outputs={
        "duration": OutputSpec("value", "Decoded duration in seconds."),
        "sampleRate": OutputSpec("value", "Sample rate in Hz."),
        "channels": OutputSpec("value", "Number of channels."),
        "format": OutputSpec("value", "Container format: wav, flac, ogg or mp3."),
        "loudnessLufs": OutputSpec("value", "Integrated loudness in LUFS (null if all gated out)."),
        "peakDb": OutputSpec("value", "Sample peak in dBFS (null for digital silence)."),
        "wav": OutputSpec("file", "The audio as 16-bit PCM WAV.", "audio/wav", "wav"),
    },
)

ANALYZE = WorkflowSpec(
    slug="tonearm/analyze",
    name="Analyze",
    description=(
        "Decode the input (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC/M4A) and report tempo, beats, downbeats "
        "and time signature, key, loudness (BS.1770 integrated, EBU loudness range, sample and true peak) "
        "and Spotify-style audio features (tonearm's own definitions)."
    ),
    params=InputParams,
    state_machine="AnalyzeStateMachine",
    outputs={
        name: OutputSpec("value", field.description or name)
        for name, field in AnalysisResult.model_fields.items()
    },
)

CATALOGUE: dict[str, WorkflowSpec] = {spec.slug: spec for spec in (AUDIO_INFO, ANALYZE)}


def get_workflow(slug: str) -> WorkflowSpec:
    """The workflow named ``slug``; raises ``UnknownWorkflowError`` listing the known ones."""
    try:
        return CATALOGUE[slug]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownWorkflowError(f"unknown workflow {slug!r}; known workflows: {known}") from None


def workflow_for_ingest_key(key: str, *, prefix: str = "ingest/") -> WorkflowSpec | None:
    """The workflow an ingest object key belongs to (``ingest/<slug>/<name>``), longest slug first."""
    rest = key[len(prefix) :] if key.startswith(prefix) else ""
    for slug in sorted(CATALOGUE, key=len, reverse=True):
        if rest.startswith(slug + "/") and len(rest) > len(slug) + 1:
            return CATALOGUE[slug]
    return None
