"""From a folder of labelled audio to an evaluated, installed head (``tonearm heads train``).

See :mod:`tonearm.tagging.heads` for the features, the model and the evaluation: the files of every label
are split into a training and a held-out part (:func:`split_files`), embedded with both musicnn models,
fitted (:func:`tonearm.tagging.heads.logistic.fit_logistic`), scored on the held-out files, exported
(:func:`tonearm.tagging.heads.onnx_export.export_onnx`) and installed where
:mod:`tonearm.tagging.heads.lookup` finds it. numpy, scipy, the models and the decoder are imported
where they are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tonearm.errors import ParameterError, TonearmError
from tonearm.tagging.heads.logistic import DEFAULT_L2, LogisticHead, fit_logistic
from tonearm.tagging.heads.lookup import (
    EMBEDDING_MODELS,
    HEAD_FILE,
    MANIFEST_FILE,
    HeadManifest,
    HeadNameError,
    LabelCounts,
    check_head_name,
    heads_dir,
)
from tonearm.tagging.heads.onnx_export import export_onnx, require_onnx

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tonearm.models.registry import ModelRegistry

__all__ = [
    "AUDIO_EXTENSIONS",
    "HeadDataError",
    "TrainingReport",
    "find_training_files",
    "split_files",
    "train_head",
]

#: File name extensions read as training audio (what :func:`tonearm.audio.decode.decode` detects).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aac", ".m4a", ".mp4", ".mka", ".webm"}
)


class HeadDataError(TonearmError):
    """The training folder cannot train a head (the message names the label or file at fault)."""

    code = "invalid_training_data"
    status = 400


def find_training_files(data_dir: Path) -> dict[str, list[Path]]:
    """The labelled audio files of a training folder.

    Parameters
    ----------
    data_dir : Path
        ``data_dir/<label>/<file>`` with an audio extension (:data:`AUDIO_EXTENSIONS`); hidden entries
        and other files are ignored.

    Returns
    -------
    dict of str to list of Path
        Files per label, labels and files sorted by name.

    Raises
    ------
    HeadDataError
        The folder is missing, has fewer than 2 label folders, or a label has fewer than 2 files.
    """
    if not data_dir.is_dir():
        raise HeadDataError(f"training folder {data_dir} does not exist or is not a folder")
    labels = sorted(d for d in data_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = {
        d.name: sorted(
            f
            for f in d.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in AUDIO_EXTENSIONS
        )
        for d in labels
    }
    if len(files) < 2:
        raise HeadDataError(
            f"{data_dir} has {len(files)} label folder(s); a head needs at least 2 "
            "(lay the data out as DATA_DIR/<label>/<audio files>)"
        )
    few = {label: len(paths) for label, paths in files.items() if len(paths) < 2}
    if few:
        detail = ", ".join(f"{label!r} has {n}" for label, n in few.items())
        raise HeadDataError(
            f"every label needs at least 2 audio files (one to train on, one to test on): {detail} "
            f"(audio extensions: {', '.join(sorted(AUDIO_EXTENSIONS))})"
        )
    return files


def split_files(counts: Sequence[int], *, test_fraction: float, seed: int) -> list[npt.NDArray[np.bool_]]:
    """A stratified, seeded held-out split of every label's files.

    Parameters
    ----------
    counts : sequence of int >= 2
        Number of files of every label.
    test_fraction : float in (0, 1)
        Share of each label's files to hold out, rounded half up, at least 1 and at most ``count - 1``.
    seed : int
        Seed of the shuffle (one generator for all labels, in label order).

    Returns
    -------
    list of np.ndarray [shape=(count,)], bool
        Per label, True for held-out files (in the label's file order).
    """
    import numpy as np

    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    masks: list[npt.NDArray[np.bool_]] = []
    for n in counts:
        n_test = min(n - 1, max(1, int(np.floor(test_fraction * n + 0.5))))
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:n_test]] = True
        masks.append(mask)
    return masks


@dataclass(frozen=True)
class TrainingReport:
    """What :func:`train_head` did.

    Attributes
    ----------
    manifest : HeadManifest
        As written to ``head.json``.
    folder : Path
        The head's folder (``<heads>/<name>``).
    model : LogisticHead
        The exported model, in numpy.
    misclassified : list of (Path, str, str)
        Held-out files the head got wrong: file, true label, predicted label.
    """

    manifest: HeadManifest
    folder: Path
    model: LogisticHead
    misclassified: list[tuple[Path, str, str]]


def _embed_file(
    path: Path, registry: ModelRegistry
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-patch concatenated embeddings of one file, shape ``(p, 400)``, and its track row, ``(400,)``.

    The track row is what a request's answer reads: the mean over the track's patches (musicnn's whole
    patches; the tail patch is a training row, but not part of the mean), ``TagScores.track_mean``.
    """
    from tonearm.audio.decode import decode
    from tonearm.tagging.tagger import patch_embeddings, tag_signal

    try:
        audio = decode(path, size_bytes=path.stat().st_size)
    except TonearmError as exc:
        raise HeadDataError(f"cannot use {path}: {exc.code}: {exc.message}") from exc
    except OSError as exc:
        raise HeadDataError(f"cannot read {path}: {exc}") from exc
    scores = tag_signal(audio.y, sr=audio.sr, models=frozenset(EMBEDDING_MODELS), registry=registry)
    rows = patch_embeddings(scores, EMBEDDING_MODELS)
    return rows, scores.track_mean(rows)


def train_head(
    data_dir: Path,
    *,
    name: str,
    heads_root: Path | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    registry: ModelRegistry | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TrainingReport:
    """Train, evaluate, export and install a head from ``data_dir/<label>/<audio files>``.

    Parameters
    ----------
    data_dir : Path
    name : str
        The new task type's name (:func:`check_head_name`).
    heads_root : Path, optional
        Heads folder to install into; default :func:`heads_dir`.
    test_fraction : float in (0, 1)
        Share of every label's files held out for the accuracy (:func:`split_files`).
    seed : int
        Seed of the split; the fit itself is deterministic.
    l2 : float >= 0
        L2 penalty (:func:`fit_logistic`).
    registry : ModelRegistry, optional
        The musicnn models; default: the models folder's.
    overwrite : bool
        Replace an installed head of the same name.
    progress : callable, optional
        Called with a line of text per file embedded.

    Returns
    -------
    TrainingReport

    Raises
    ------
    HeadNameError
        Bad name, or a head of that name exists and ``overwrite`` is false.
    HeadDataError
        Bad folder layout or an undecodable file (named).
    ParameterError
        ``test_fraction`` or ``l2`` out of range.
    TonearmError
        ``onnx`` is not installed (code ``missing_dependency``).
    """
    import numpy as np

    from tonearm.models.registry import ModelRegistry

    check_head_name(name)
    require_onnx()  # before minutes of embedding, not after
    if l2 < 0:
        raise ParameterError(f"l2 must be >= 0, got {l2}")
    root = heads_root if heads_root is not None else heads_dir()
    if root is None:
        raise HeadDataError("no heads folder: set TONEARM_HEADS_DIR")
    if (root / name).exists() and not overwrite:
        raise HeadNameError(f"a head named {name!r} already exists in {root}; replace it explicitly")
    files = find_training_files(data_dir)
    labels = list(files)
    masks = split_files([len(files[label]) for label in labels], test_fraction=test_fraction, seed=seed)
    registry = registry or ModelRegistry()

    total = sum(len(paths) for paths in files.values())
    embedded: list[tuple[int, Path, bool, npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
    for k, label in enumerate(labels):
        for path, held_out in zip(files[label], masks[k], strict=True):
            if progress is not None:
                progress(f"[{len(embedded) + 1}/{total}] {label}/{path.name}")
            embedded.append((k, path, bool(held_out), *_embed_file(path, registry)))

    # training rows: every patch and the file's mean (the runtime's track input); per label, files
    # weigh the same, and labels weigh the same
    train = [(k, rows, track) for k, _, held_out, rows, track in embedded if not held_out]
    files_per_label = np.bincount([k for k, _, _ in train], minlength=len(labels))
    x_parts, y_parts, w_parts = [], [], []
    for k, rows, track in train:
        x_parts.append(np.vstack([rows, track[np.newaxis, :]]))
        n_rows = rows.shape[0] + 1
        y_parts.append(np.full(n_rows, k))
        w_parts.append(np.full(n_rows, 1.0 / (files_per_label[k] * n_rows)))
    model = fit_logistic(
        np.vstack(x_parts),
        np.concatenate(y_parts),
        n_classes=len(labels),
        sample_weight=np.concatenate(w_parts),
        l2=l2,
    )

    test = [(k, path, track) for k, path, held_out, _, track in embedded if held_out]
    predicted = model.predict_proba(np.vstack([x for _, _, x in test])).argmax(axis=1)
    truth = np.array([k for k, _, _ in test])
    correct = predicted == truth
    counts = {
        label: LabelCounts(
            train=int((~masks[k]).sum()),
            test=int(masks[k].sum()),
            correct=int(correct[truth == k].sum()),
        )
        for k, label in enumerate(labels)
    }
    data = export_onnx(model, name=name)
    manifest = HeadManifest(
        name=name,
        description=f"Custom head trained on {data_dir.name}/: {', '.join(labels)}.",
        labels=labels,
        embedding_models=list(EMBEDDING_MODELS),
        embedding_dim=int(model.weights.shape[0]),
        sha256=hashlib.sha256(data).hexdigest(),
        accuracy=float(correct.mean()),
        n_train_files=len(train),
        n_test_files=len(test),
        label_counts=counts,
        trained_at=datetime.now(UTC).replace(microsecond=0),
        seed=seed,
        test_fraction=test_fraction,
        l2=l2,
    )
    folder = _install(root, manifest, data)
    wrong = [
        (path, labels[k], labels[int(p)])
        for (k, path, _), p, ok in zip(test, predicted, correct, strict=True)
        if not ok
    ]
    return TrainingReport(manifest=manifest, folder=folder, model=model, misclassified=wrong)


def _install(root: Path, manifest: HeadManifest, data: bytes) -> Path:
    """Write the head beside its final place, then rename it in.

    A reader sees the previous head, for an instant no head, or the new one; never half of one.
    """
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{manifest.name}.", dir=root))
    try:
        (staging / HEAD_FILE).write_bytes(data)
        (staging / MANIFEST_FILE).write_text(
            json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        )
        staging.chmod(0o755)  # mkdtemp makes it private; a server under another user reads it
        folder = root / manifest.name
        old = None
        if folder.exists():
            old = root / f".{manifest.name}.old-{os.getpid()}"
            folder.rename(old)
        try:
            staging.rename(folder)
        except BaseException:
            if old is not None:  # put the previous head back
                old.rename(folder)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder
