"""The workflow catalogue: every workflow's slug, params schema, outputs and state machine.

A workflow is data here; its steps are a state machine in ``statemachines/`` and its task is a
function in ``tonearm.jobs.tasks``. Adding a workflow means adding an entry, an ASL file, and a task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tonearm.analysis.schema import AnalysisResult
from tonearm.generation.params import GenerationParams
from tonearm.jobs.errors import InvalidParamsError, UnknownWorkflowError


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
    #: the stored file's name (default ``<output name>.<extension>``)
    filename: str | None = None

    def file_name(self, name: str) -> str:
        """The name a file output is stored (and downloaded) under."""
        return self.filename or f"{name}.{self.extension}"


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow as the catalogue and ``GET /v1/workflow`` describe it."""

    slug: str
    name: str
    description: str
    params: type[BaseModel]
    state_machine: str
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    #: whether jobs carry an input file (``params.inputUrl``, or the ingest object itself). Workflows
    #: without one (generation) take only params; their ingest drops are JSON params files.
    takes_input: bool = True
    #: whether a finished job's analysis is recorded in the MusicFlow library (``tonearm.prediction``),
    #: identified by the ``title``/``artist``/``isrc`` params or the file's own tags
    feeds_library: bool = False

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


class AnalyzeParams(InputParams):
    """``tonearm/analyze`` params: the input, and optionally what track it is (for the library)."""

    title: str | None = Field(default=None, max_length=300, description="Track title (else the file's tag).")
    artist: str | None = Field(default=None, max_length=300, description="Artist (else the file's tag).")
    isrc: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?\d{2}-?\d{5}$",
        description="ISRC (else the file's tag).",
    )


ANALYZE = WorkflowSpec(
    slug="tonearm/analyze",
    name="Analyze",
    description=(
        "Decode the input (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC/M4A) and report tempo, beats, downbeats "
        "and time signature, key, loudness (BS.1770 integrated, EBU loudness range, sample and true peak) "
        "and Spotify-style audio features (tonearm's own definitions). A track identified by the title/"
        "artist/isrc params or by its own tags is recorded in the library MusicFlow's /api/features and "
        "/api/prediction look audio features up in."
    ),
    params=AnalyzeParams,
    state_machine="AnalyzeStateMachine",
    outputs={
        **{
            name: OutputSpec("value", field.description or name)
            for name, field in AnalysisResult.model_fields.items()
        },
        "library": OutputSpec(
            "value",
            "How the track was recorded in the library: {title, artist, isrc}, or null when neither "
            "params nor tags identify it.",
        ),
    },
    feeds_library=True,
)


class TaggingParams(InputParams):
    """``tonearm/tagging`` params: which task types to answer and how much to return."""

    taskTypes: list[str] = Field(  # noqa: N815 - wire name
        default=["MusicTaggingMTT"],
        min_length=1,
        max_length=16,
        description=(
            "Task types in answer order: MusicTaggingMTT, MusicTaggingMSD, Genre, Mood, Vocal, Theme, "
            "Instrument, Era, or a custom head trained with `tonearm heads train`."
        ),
    )
    topNum: int | None = Field(  # noqa: N815 - wire name
        default=None, ge=1, le=100, description="Keep each task's most probable labels only."
    )
    embed: bool = Field(default=False, description="Also return each task's track embedding.")
    segments: bool = Field(
        default=False, description="Also write the tags of every 3 s segment (the `segments` file)."
    )

    @field_validator("taskTypes")
    @classmethod
    def _known_task_types(cls, names: list[str]) -> list[str]:
        # Refused before any work starts, naming the supported task types. A function without the
        # models (the light API function in AWS) cannot see custom heads: there, names that are not
        # builtin only have to be valid head names, and the task refuses one that is not installed.
        from tonearm.errors import TonearmError
        from tonearm.tagging.heads import check_head_name, heads_dir
        from tonearm.tagging.taxonomy import TASK_TYPES, is_refused, resolve_task_types

        try:
            if heads_dir() is not None:
                resolve_task_types(names)
                return names
            if len(set(names)) != len(names):
                raise ValueError("a task type is requested twice")
            resolve_task_types([name for name in names if name in TASK_TYPES or is_refused(name)])
            for name in names:
                if name not in TASK_TYPES:
                    try:
                        check_head_name(name)
                    except TonearmError:
                        resolve_task_types([name])  # raises, naming the supported task types
        except TonearmError as exc:
            if exc.status >= 500:
                raise
            raise ValueError(exc.message) from None
        return names


TAGGING = WorkflowSpec(
    slug="tonearm/tagging",
    name="Music tagging",
    description=(
        "Tag a track (up to 10 min) with the musicnn models: per task type (MagnaTagATune tags, "
        "Million Song Dataset tags, genre, mood, vocal, theme, instrument, era, or a custom head) every "
        "label's probability for the whole track (mean over 3 s patches), optionally the embedding and "
        "a per-segment timeline."
    ),
    params=TaggingParams,
    state_machine="TaggingStateMachine",
    outputs={
        "duration": OutputSpec("value", "Decoded duration in seconds."),
        "tasks": OutputSpec(
            "value",
            "Per task type: {taskType, tags: [{label, probability}] most probable first, embedding?}.",
        ),
        "warnings": OutputSpec("value", "Caveats, e.g. audio under 5 s."),
        "segments": OutputSpec(
            "file", "With params.segments: [{start, end, tasks}] for every 3 s segment (JSON)."
        ),
    },
)

GENRE = WorkflowSpec(
    slug="tonearm/genre",
    name="Genre (AcousticSense)",
    description=(
        "AcousticSense's genres that the musicnn models support (12 of its 16: not Disco, Latin, Rap, "
        "Reggae), each as a percentage of the whole, most likely first. POST /analyze-with-webhook "
        "runs this workflow."
    ),
    params=InputParams,
    state_machine="GenreStateMachine",
    outputs={
        "genres": OutputSpec("value", "[{genre, confidence}] with confidence in percent, most likely first."),
        "topGenre": OutputSpec("value", "The most likely genre."),
        "topConfidence": OutputSpec("value", "Its confidence in percent."),
        "unsupportedGenres": OutputSpec("value", "AcousticSense genres no model here can estimate."),
        "duration": OutputSpec("value", "Decoded duration in seconds."),
    },
)

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
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)

#: Music.AI's quick-start workflow slug, answered by the same task.
GENERATE_CHORDS = WorkflowSpec(
    slug="music-ai/generate-chords",
    name="Generate chords (Music.AI)",
    description=_BEATS_AND_CHORDS_DESCRIPTION + " The same as tonearm/beats-and-chords.",
    params=InputParams,
    state_machine="BeatsAndChordsStateMachine",
    outputs=_BEATS_AND_CHORDS_OUTPUTS,
)

TRANSCRIBE = WorkflowSpec(
    slug="tonearm/transcribe",
    name="Transcribe to MIDI",
    description=(
        "Polyphonic transcription with basic-pitch: the notes of a track up to 10 minutes as a standard "
        "MIDI file (tempo from the beat tracker) and as JSON."
    ),
    params=InputParams,
    state_machine="TranscribeStateMachine",
    outputs={
        "midi": OutputSpec("file", "The notes as a standard MIDI file.", "audio/midi", "mid", "notes.mid"),
        "notes": OutputSpec("file", '[{"start", "end", "pitch", "velocity"}]: seconds, MIDI numbers.'),
        "noteCount": OutputSpec("value", "How many notes were found."),
        "bpm": OutputSpec("value", "The tempo written into the MIDI file."),
    },
)

GENERATE = WorkflowSpec(
    slug="tonearm/generate",
    name="Generate music (text to music)",
    description=(
        "Generate an instrumental track from a text prompt (Sofy's parameters: duration, bpm, "
        "temperature, density, brightness, scale, guidance, plus an optional seed that makes the "
        "result reproducible byte for byte): a 48 kHz 16-bit stereo WAV, its score as MIDI and the "
        "plan that explains it. Takes no input file; POST /generate-music runs this workflow."
    ),
    params=GenerationParams,
    state_machine="GenerateStateMachine",
    outputs={
        "wav": OutputSpec(
            "file", "The track: 16-bit PCM, 48 kHz, stereo.", "audio/wav", "wav", "generated.wav"
        ),
        "midi": OutputSpec(
            "file", "The score as a standard MIDI file.", "audio/midi", "mid", "generated.mid"
        ),
        "plan": OutputSpec(
            "file", "The plan: how the prompt was read (style, key, tempo, form, arrangement, seed)."
        ),
        "duration": OutputSpec("value", "Duration of the track in seconds."),
        "seed": OutputSpec("value", "The seed: the same params with this seed give the same bytes."),
        "bpm": OutputSpec("value", "Tempo in beats per minute."),
        "key": OutputSpec("value", 'The key, e.g. "E minor".'),
        "style": OutputSpec("value", "The style the prompt was read as."),
        "genre": OutputSpec("value", "That style's genre."),
        "loudnessLufs": OutputSpec("value", "Integrated loudness (ITU-R BS.1770) in LUFS."),
        "truePeakDbtp": OutputSpec("value", "True peak in dBTP."),
        "generationSeconds": OutputSpec("value", "Wall time the generation took, in seconds."),
    },
    takes_input=False,
)

CATALOGUE: dict[str, WorkflowSpec] = {
    spec.slug: spec
    for spec in (
        AUDIO_INFO,
        ANALYZE,
        TAGGING,
        GENRE,
        BEATS_AND_CHORDS,
        GENERATE_CHORDS,
        TRANSCRIBE,
        GENERATE,
    )
}


#: The largest params file an ingest drop of a workflow without input (``tonearm/generate``) may be.
MAX_PARAMS_FILE_BYTES = 64 * 1024


def validate_params(
    spec: WorkflowSpec, params: Mapping[str, Any], *, where: str = "params"
) -> dict[str, Any]:
    """``params`` validated by the workflow's model, as stored; ``InvalidParamsError`` names each problem."""
    from pydantic import ValidationError

    try:
        return spec.params.model_validate(dict(params)).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidParamsError(f"invalid params for {spec.slug}: {problems}") from None


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
