"""``tonearm/tagging`` (tags per task type, embeddings, a segment timeline) and ``tonearm/genre``
(AcousticSense's genres), both on the musicnn models in TaggingFunction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, StrictInt, field_validator

from tonearm.jobs.spec import DURATION_OUTPUT, InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec


class TaggingParams(InputParams):
    """``tonearm/tagging`` params: which task types to answer and how much to return."""

    taskTypes: list[str] = Field(  # noqa: N815 - wire name
        default=["MusicTaggingMTT"],
        min_length=1,
        max_length=16,
        description=(
            "Task types in answer order: MusicTaggingMTT, MusicTaggingMSD, Genre, Mood, Vocal, Theme, "
            "Instrument, Era; SAMI's MusicTaggingVocal, MusicTaggingMood10, MusicTaggingGenre34, "
            "MusicTaggingGenre17, MusicTaggingTheme24 (the language ones fail alone, named in `warnings`); "
            "or a custom head trained with `tonearm heads train`."
        ),
    )
    # strict: a JSON integer only (true or "5" is refused, not read as 1 or 5)
    topNum: StrictInt | None = Field(  # noqa: N815 - wire name
        default=None, ge=1, le=100, description="Keep each task's most probable labels only."
    )
    embed: bool = Field(default=False, description="Also return each task's track embedding.")
    segments: bool = Field(
        default=False, description="Also write the tags of every 3 s segment (the `segments` file)."
    )

    @field_validator("taskTypes")
    @classmethod
    def _known_task_types(cls, names: list[str]) -> list[str]:
        # Refused before any work starts, naming the supported task types. A task type no model here
        # can estimate (SAMI's MusicTaggingLang30) fails alone, in the job's warnings, unless every
        # requested one does. A function without the models (the light API function in AWS) cannot see
        # custom heads: there, names that are not builtin only have to be valid head names, and the
        # task refuses one that is not installed.
        from tonearm.errors import TonearmError
        from tonearm.tagging.heads.lookup import check_head_name, heads_dir
        from tonearm.tagging.task_types import plan_task_types, resolve_task_types
        from tonearm.tagging.taxonomy import TASK_TYPES, is_refused

        try:
            if heads_dir() is not None:
                plan_task_types(names)
                return names
            if len(set(names)) != len(names):
                raise ValueError("a task type is requested twice")
            if all(is_refused(name) for name in names):
                resolve_task_types(names)  # raises, naming the supported task types
            for name in names:
                if name not in TASK_TYPES and not is_refused(name):
                    try:
                        check_head_name(name)
                    except TonearmError:
                        resolve_task_types([name])  # raises, naming the supported task types
        except TonearmError as exc:
            if exc.status >= 500:
                raise
            raise ValueError(exc.message) from None
        return names


def tag_audio(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/tagging``: tags per task type for the whole track, and optionally per 3 s segment.

    ``tasks`` lists, per requested task type, its labels most probable first (``topNum`` of them when
    given) and, with ``embed``, the track embedding. ``segments`` is a JSON file (a 10-minute track has
    200 segments: too big for a job record) written only when asked for.
    """
    from tonearm.audio.mono import decode_mono
    from tonearm.models.registry import default_registry
    from tonearm.tagging.frontend import TAGGING_SR
    from tonearm.tagging.service import tag_tasks

    # Straight to the 16 kHz mono signal the models read: memory follows it, not the input's channels.
    audio = decode_mono(input_path, target_sr=TAGGING_SR, size_bytes=input_path.stat().st_size)
    tagged = tag_tasks(
        audio,
        list(params.get("taskTypes") or DEFAULT_TASK_TYPES),
        registry=default_registry(),
        segments=bool(params.get("segments")),
    )
    top = params.get("topNum")
    embed = bool(params.get("embed"))
    tasks = [_task_json(answer, top=top, embed=embed) for answer in tagged.answers]
    files: dict[str, Path] = {}
    if tagged.segments is not None:
        path = work_dir / "segments.json"
        timeline = [
            {
                "start": round(segment.start_s, 3),
                "end": round(segment.end_s, 3),
                "tasks": [_task_json(answer, top=top, embed=False) for answer in segment.answers],
            }
            for segment in tagged.segments
        ]
        path.write_text(json.dumps(timeline, separators=(",", ":")))
        files["segments"] = path
    return TaskOutput(
        values={"duration": round(tagged.duration_s, 3), "tasks": tasks, "warnings": tagged.warnings},
        files=files,
    )


#: Task types ``tonearm/tagging`` answers when the params name none.
DEFAULT_TASK_TYPES = ("MusicTaggingMTT",)


def _task_json(answer: Any, *, top: int | None, embed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskType": answer.task.name,
        "tags": [
            {"label": label, "probability": round(float(p), 6)} for label, p in answer.most_probable(top)
        ],
    }
    if embed:
        out["embedding"] = [round(float(v), 6) for v in answer.embedding]
    return out


def classify_genre(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/genre``: AcousticSense's genres the models support, as percentages, most likely first."""
    from tonearm.audio.mono import decode_mono
    from tonearm.models.registry import default_registry
    from tonearm.tagging.frontend import TAGGING_SR
    from tonearm.tagging.service import classify_genres
    from tonearm.tagging.taxonomy import ACOUSTICSENSE_UNSUPPORTED

    audio = decode_mono(input_path, target_sr=TAGGING_SR, size_bytes=input_path.stat().st_size)
    result = classify_genres(audio, registry=default_registry())
    genres = [{"genre": genre, "confidence": round(share, 2)} for genre, share in result.genres]
    return TaskOutput(
        values={
            "genres": genres,
            "topGenre": genres[0]["genre"],
            "topConfidence": genres[0]["confidence"],
            "unsupportedGenres": list(ACOUSTICSENSE_UNSUPPORTED),
            "duration": round(result.duration_s, 3),
        }
    )


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
    function="TaggingFunction",
    task=tag_audio,
    outputs={
        "duration": DURATION_OUTPUT,
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
    function="TaggingFunction",
    task=classify_genre,
    outputs={
        "genres": OutputSpec("value", "[{genre, confidence}] with confidence in percent, most likely first."),
        "topGenre": OutputSpec("value", "The most likely genre."),
        "topConfidence": OutputSpec("value", "Its confidence in percent."),
        "unsupportedGenres": OutputSpec("value", "AcousticSense genres no model here can estimate."),
        "duration": DURATION_OUTPUT,
    },
)
