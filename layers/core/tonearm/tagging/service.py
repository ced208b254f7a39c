"""Tagging use cases shared by the SAMI and AcousticSense APIs and the tagging workflow.

Everything here works on decoded audio and returns plain data; the HTTP shapes live in ``tonearm.api``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tonearm.audio.decode import DecodedAudio
from tonearm.models.registry import ModelRegistry
from tonearm.tagging.frontend import FFT_HOP, PATCH_FRAMES, TAGGING_SR
from tonearm.tagging.tagger import TagScores, TaskAnswer, answer_task, tag_signal
from tonearm.tagging.task_types import RefusedTask, plan_task_types
from tonearm.tagging.taxonomy import ACOUSTICSENSE_GENRES, TaskType

if TYPE_CHECKING:
    from tonearm.tagging.heads.lookup import HeadStore

__all__ = [
    "SHORT_AUDIO_S",
    "GenreResult",
    "SegmentAnswer",
    "TaggingResult",
    "classify_genres",
    "tag_tasks",
]

#: SAMI accepts clips under 5 s but warns that they are too short to tag reliably.
SHORT_AUDIO_S = 5.0
#: Length of one model patch [s].
PATCH_SECONDS = PATCH_FRAMES * FFT_HOP / TAGGING_SR


@dataclass(frozen=True)
class SegmentAnswer:
    """The task answers of one 3 s patch."""

    start_s: float
    end_s: float
    answers: list[TaskAnswer]


@dataclass(frozen=True)
class TaggingResult:
    """Answers per requested task type (request order), and per segment when asked.

    ``answers`` holds the task types answered; ``requested`` every requested one in request order, a
    :class:`~tonearm.tagging.task_types.RefusedTask` in the place of one no model here can estimate
    (which fails alone, with a warning).
    """

    answers: list[TaskAnswer]
    segments: list[SegmentAnswer] | None
    duration_s: float
    warnings: list[str]
    requested: list[TaskAnswer | RefusedTask] = field(default_factory=list)

    @property
    def refused(self) -> list[RefusedTask]:
        """The requested task types no model here can estimate, request order."""
        return [entry for entry in self.requested if isinstance(entry, RefusedTask)]


def tag_tasks(
    audio: DecodedAudio,
    task_names: list[str],
    *,
    registry: ModelRegistry,
    segments: bool = False,
    heads: HeadStore | None = None,
) -> TaggingResult:
    """Tag a decoded track for the named task types.

    Parameters
    ----------
    audio : DecodedAudio
    task_names : list of str
        Task type names (``tonearm.tagging.taxonomy.TASK_TYPES``, or custom heads); validated before any
        model runs. One no model here can estimate (SAMI's ``MusicTaggingLang30``) fails alone: it is
        left out of ``answers``, named in ``requested`` and ``warnings``.
    registry : ModelRegistry
    segments : bool
        Also answer every 3 s patch (a timeline).
    heads : HeadStore, optional
        Where custom heads are looked up; default: the heads folder (``tonearm.tagging.heads``).

    Returns
    -------
    TaggingResult

    Raises
    ------
    UnsupportedTaskTypeError
        For an unknown or repeated task type, or when no requested one can be estimated.
    HeadUnavailableError
        A requested custom head is damaged.
    """
    plan = plan_task_types(task_names, heads=heads)
    tasks = [entry for entry in plan if not isinstance(entry, RefusedTask)]
    models = frozenset().union(*(task.models for task in tasks))
    scores = tag_signal(audio.y, sr=audio.sr, models=models, registry=registry)
    warnings = []
    if scores.duration_s < SHORT_AUDIO_S:
        warnings.append(
            f"audio is {scores.duration_s:.1f} s long; tags of clips under {SHORT_AUDIO_S:g} s are unreliable"
        )
    answered = {task.name: answer_task(task, scores) for task in tasks}
    requested: list[TaskAnswer | RefusedTask] = []
    for entry in plan:
        if isinstance(entry, RefusedTask):
            warnings.append(f"{entry.error.message} (task type not answered)")
            requested.append(entry)
        else:
            requested.append(answered[entry.name])
    return TaggingResult(
        answers=list(answered.values()),
        segments=_segments(tasks, scores) if segments else None,
        duration_s=scores.duration_s,
        warnings=warnings,
        requested=requested,
    )


def _segments(tasks: list[TaskType], scores: TagScores) -> list[SegmentAnswer]:
    out = []
    for i, start in enumerate(scores.patch_times):
        end = min(float(start) + PATCH_SECONDS, scores.duration_s)
        out.append(
            SegmentAnswer(
                start_s=float(start),
                end_s=end,
                answers=[answer_task(task, scores, patch=i) for task in tasks],
            )
        )
    return out


@dataclass(frozen=True)
class GenreResult:
    """AcousticSense-style genres: every supported genre's share in percent, most likely first."""

    genres: list[tuple[str, float]]
    duration_s: float


def classify_genres(audio: DecodedAudio, *, registry: ModelRegistry) -> GenreResult:
    """Rank AcousticSense's genres that the models support.

    Each genre's score is the largest probability among its source tags; the scores are then normalised
    to percentages summing to 100 over the supported genres (AcousticSense reports a distribution).

    Parameters
    ----------
    audio : DecodedAudio
    registry : ModelRegistry

    Returns
    -------
    GenreResult
    """
    task = ACOUSTICSENSE_GENRES
    scores = tag_signal(audio.y, sr=audio.sr, models=task.models, registry=registry)
    answer = answer_task(task, scores)
    raw = np.asarray(answer.probabilities, dtype=np.float64)
    share = 100.0 * raw / raw.sum() if raw.sum() > 0 else np.full(raw.shape, 100.0 / raw.size)
    order = np.argsort(-share, kind="stable")
    return GenreResult(
        genres=[(answer.labels[i], float(share[i])) for i in order], duration_s=scores.duration_s
    )
