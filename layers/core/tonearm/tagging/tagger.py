"""Tagging a track: the musicnn front end, the models a request needs, and the answers per task type.

Tags of a whole track are the mean of the per-patch (3 s) probabilities over musicnn's own patches
(whole, non-overlapping 3 s patches from the start), as musicnn's ``extractor`` and ``top_tags`` compute
them; the embedding of a model is the mean of its per-patch penultimate layer over the same patches.
The patches that are run also cover the rest of the track: musicnn drops the frames after its last
whole patch, tonearm adds one more patch ending at the last frame (the last segment of a timeline),
and repeats a clip shorter than one patch to fill it (its only patch, where musicnn gives none).

The tail patch is left out of the track-level mean on purpose (issue 21): it overlaps the last whole
patch by up to 3 s, so averaging it in counts that stretch of the track twice. On 30 s clips that moved
MTT tags by 0.012-0.027 (0.017-0.047 on 10 s clips) from the original's and swapped neighbouring tags
in the top 5; without it the route matches the original musicnn within 3e-6 per tag
(``models/musicnn/README.md``, "Parity of the tagging route").

A custom task type (a trained head, ``tonearm.tagging.heads``) is answered from embeddings instead of
tags: its head runs on the concatenated embeddings of its models, averaged over the same patches for
the track (the same input its held-out accuracy was measured on) or of one patch for a segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tonearm.models.registry import ModelRegistry
from tonearm.tagging.frontend import (
    FFT_HOP,
    TAGGING_SR,
    log_mel,
    patch_starts,
    patches,
    tagging_signal,
    track_patch_count,
)
from tonearm.tagging.taxonomy import MODEL_MSD, MODEL_MTT, TaskType

__all__ = ["ModelOutputs", "TagScores", "TaskAnswer", "answer_task", "patch_embeddings", "tag_signal"]

_PREFIX_MODEL = {"mtt": MODEL_MTT, "msd": MODEL_MSD}


@dataclass(frozen=True)
class ModelOutputs:
    """One model's outputs over the patches of a track.

    Attributes
    ----------
    taggram : np.ndarray [shape=(p, n_tags)], float32
        Per-patch tag probabilities.
    embeddings : np.ndarray [shape=(p, d)], float32
        Per-patch penultimate-layer activations.
    labels : tuple of str
        Tag names in column order.
    track_patches : int, optional
        How many of the first patches the track-level values average (musicnn's whole patches: the
        tail patch, last, is only a segment); default: all of them.
    """

    taggram: npt.NDArray[np.float32]
    embeddings: npt.NDArray[np.float32]
    labels: tuple[str, ...]
    track_patches: int | None = None

    @property
    def tags(self) -> npt.NDArray[np.float32]:
        """Track-level tag probabilities: the mean over the track's patches, shape ``(n_tags,)``."""
        return self.taggram[: self.track_patches].mean(axis=0)

    @property
    def embedding(self) -> npt.NDArray[np.float32]:
        """Track-level embedding: the mean over the track's patches, shape ``(d,)``."""
        return self.embeddings[: self.track_patches].mean(axis=0)


@dataclass(frozen=True)
class TagScores:
    """Everything the models said about one track.

    Attributes
    ----------
    outputs : dict of str to ModelOutputs
        Per model name.
    patch_times : np.ndarray [shape=(p,)], float64 [s]
        Start time of every patch.
    duration_s : float
    track_patches : int
        How many of the first patches the track-level answers average: musicnn's whole patches
        (:func:`tonearm.tagging.frontend.track_patch_count`); the tail patch, last, only answers its
        segment.
    """

    outputs: dict[str, ModelOutputs]
    patch_times: npt.NDArray[np.float64]
    duration_s: float
    track_patches: int

    def track_mean(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Mean of per-patch ``rows`` (shape ``(p, d)``) over the track's patches, shape ``(d,)``."""
        return rows[: self.track_patches].mean(axis=0)

    def tag_probability(self, source: str, *, patch: int | None = None) -> float:
        """Probability of a source tag ``"mtt:<tag>"`` / ``"msd:<tag>"`` (track level, or one patch)."""
        prefix, tag = source.split(":", 1)
        out = self.outputs[_PREFIX_MODEL[prefix]]
        column = out.labels.index(tag)
        if patch is None:
            return float(out.tags[column])
        return float(out.taggram[patch, column])


def patch_embeddings(scores: TagScores, models: Iterable[str]) -> npt.NDArray[np.float32]:
    """Per-patch embeddings of several models side by side (what a custom head reads).

    Parameters
    ----------
    scores : TagScores
        Must hold every model named.
    models : iterable of str
        Model names, in concatenation order.

    Returns
    -------
    np.ndarray [shape=(p, sum of d)], float32
    """
    parts = [scores.outputs[name].embeddings for name in models]
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


def tag_signal(
    y: npt.NDArray[np.floating], *, sr: int, models: frozenset[str], registry: ModelRegistry
) -> TagScores:
    """Run the musicnn front end and the named models over a track.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
        Decoded audio, any rate (resampled to 16 kHz mono here).
    sr : int > 0 [Hz]
    models : frozenset of str
        Model names from the registry (``mtt_musicnn``, ``msd_musicnn``).
    registry : ModelRegistry

    Returns
    -------
    TagScores
    """
    mono = tagging_signal(y, sr=sr)
    spec = log_mel(mono)
    inputs = patches(spec, cover_tail=True)
    starts = patch_starts(spec.shape[0], cover_tail=True)
    track = track_patch_count(spec.shape[0])
    outputs = {}
    for name in sorted(models):
        model = registry.get(name)
        result = model.run(inputs)
        outputs[name] = ModelOutputs(
            taggram=result["taggram"],
            embeddings=result["embedding"],
            labels=model.spec.labels,
            track_patches=track,
        )
    return TagScores(
        outputs=outputs,
        patch_times=starts.astype(np.float64) * FFT_HOP / TAGGING_SR,
        duration_s=y.shape[-1] / sr,
        track_patches=track,
    )


@dataclass(frozen=True)
class TaskAnswer:
    """One task type's answer: every label with its probability (label order), and the embedding."""

    task: TaskType
    labels: list[str]
    probabilities: list[float]
    embedding: npt.NDArray[np.float32]

    def most_probable(self, top: int | None = None) -> list[tuple[str, float]]:
        """``(label, probability)`` pairs, most probable first (ties keep label order); ``top`` of them."""
        ranked = sorted(zip(self.labels, self.probabilities, strict=True), key=lambda pair: -pair[1])
        return ranked[:top]


def answer_task(task: TaskType, scores: TagScores, *, patch: int | None = None) -> TaskAnswer:
    """Probabilities of a task type's labels and its embedding.

    A builtin label's probability is the largest of its source tags' probabilities. A custom task
    type's probabilities are its head's output on the mean over the track's patches of the concatenated
    embeddings (or on one patch's, with ``patch``).

    Parameters
    ----------
    task : TaskType
    scores : TagScores
        Must hold every model the task type reads.
    patch : int, optional
        Answer for one patch instead of the whole track.

    Returns
    -------
    TaskAnswer
        The embedding is the concatenation of the track embeddings of the task's models (MSD first,
        then MTT: sorted by model name), shape ``(sum of d,)``.
    """
    if task.head is not None:
        rows = patch_embeddings(scores, task.head.models)
        x = scores.track_mean(rows) if patch is None else rows[patch]
        probabilities = [float(p) for p in task.head.predict(x[None, :])[0]]
    else:
        probabilities = [
            max(scores.tag_probability(source, patch=patch) for source in label.sources)
            for label in task.labels
        ]
    embedding = np.concatenate([scores.outputs[name].embedding for name in sorted(task.models)])
    return TaskAnswer(
        task=task,
        labels=[label.name for label in task.labels],
        probabilities=probabilities,
        embedding=embedding.astype(np.float32),
    )
