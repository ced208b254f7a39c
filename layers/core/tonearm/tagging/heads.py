"""Custom task types: small classification heads trained on the musicnn embeddings.

``tonearm heads train DATA_DIR`` turns a folder of example tracks, one sub-folder per label
(``DATA_DIR/<label>/*.wav``), into a new task type that the SAMI route and the tagging workflow answer
like a builtin one (``task_type: <name>``).

Features
    Every track is decoded and run through both musicnn models (:func:`tonearm.tagging.tagger.tag_signal`);
    a patch (3 s) is described by the concatenation of the two models' 200-d embeddings, MSD_musicnn
    first (400-d in all). At run time a track is described by the mean of its patch rows, a segment by
    its patch's row.
Model
    Multinomial logistic regression on standardised features, L2-regularised, fitted with L-BFGS
    (scipy). Training rows are the patches of every training file and the file's mean row, weighted so
    that every file weighs the same within its label and every label weighs the same (an unbalanced
    folder does not tilt the head towards its biggest label).
Evaluation
    Files, not patches, are held out (patches of one track look alike, so a patch split would measure
    memory): a seeded, stratified ``test_fraction`` of every label's files (at least one, and at least
    one left to train on). The held-out accuracy is file-level, predicted from the file's mean row, as
    the runtime predicts a track. The exported head is the evaluated one, so the accuracy in
    ``head.json`` describes exactly the file that answers requests.
Export
    ONNX (opset 17, IR 8): input ``embedding`` float32 ``[N, D]`` -> ``Sub(mean)`` -> ``Div(std)`` ->
    ``MatMul(W)`` -> ``Add(b)`` -> ``Softmax`` -> output ``probabilities`` float32 ``[N, K]``.
    ``onnx`` is a training-time dependency only (``pip install tonearm[train]``); onnxruntime runs it.

Storage: the heads folder is ``$TONEARM_HEADS_DIR`` if set, else ``heads/`` in the models folder
(:func:`tonearm.models.registry.models_dir`). A head is ``<heads>/<Name>/head.onnx`` and
``<heads>/<Name>/head.json`` (:class:`HeadManifest`); the file's sha256 is checked when the head is
loaded, and a damaged head is refused with :class:`HeadUnavailableError` (HTTP 503, like a damaged
builtin model). Names match ``^[A-Za-z][A-Za-z0-9_]{0,63}$`` and may not clash, ignoring case, with a
builtin task type.

This module imports only the standard library and pydantic at import time: the task-type lookup runs
in functions that carry neither numpy nor the models (the zip API function validates workflow
parameters), and finds no heads there. numpy, scipy, onnxruntime, the decoder and ``onnx`` are
imported where they are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tonearm.errors import ParameterError, TonearmError
from tonearm.tagging.taxonomy import (
    ACOUSTICSENSE_GENRES,
    MODEL_MSD,
    MODEL_MTT,
    TASK_TYPES,
    Label,
    TaskType,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tonearm.models.registry import ModelRegistry

__all__ = [
    "AUDIO_EXTENSIONS",
    "EMBEDDING_MODELS",
    "HEAD_FILE",
    "MANIFEST_FILE",
    "Head",
    "HeadDataError",
    "HeadManifest",
    "HeadNameError",
    "HeadStore",
    "HeadUnavailableError",
    "LabelCounts",
    "LogisticHead",
    "TrainingReport",
    "check_head_name",
    "default_heads",
    "export_onnx",
    "find_training_files",
    "fit_logistic",
    "heads_dir",
    "split_files",
    "train_head",
]

HEAD_FILE = "head.onnx"
MANIFEST_FILE = "head.json"
#: Models whose embeddings a head reads, in concatenation order (sorted by name, as ``answer_task``
#: concatenates a task's embeddings).
EMBEDDING_MODELS: tuple[str, ...] = (MODEL_MSD, MODEL_MTT)
#: File name extensions read as training audio (what :func:`tonearm.audio.decode.decode` detects).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aac", ".m4a", ".mp4", ".mka", ".webm"}
)
#: Default L2 penalty on the weights (features are standardised, the data loss is a weighted mean).
DEFAULT_L2 = 1e-2
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_OPSET = 17
#: IR version 8 (onnx 1.10+): loadable by every onnxruntime the project allows (>= 1.20, and older).
_IR_VERSION = 8
#: A feature whose training spread is below this is constant (a dead ReLU unit): left unscaled.
_MIN_STD = 1e-6


class HeadDataError(TonearmError):
    """The training folder cannot train a head (the message names the label or file at fault)."""

    code = "invalid_training_data"
    status = 400


class HeadNameError(TonearmError):
    """A head name that is malformed or taken by a builtin task type."""

    code = "invalid_head_name"
    status = 400


class HeadUnavailableError(TonearmError):
    """An installed head is missing a file, damaged, or does not match its manifest (a deployment fault).

    Same code and status as :class:`tonearm.models.registry.ModelUnavailableError`, which it is not a
    subclass of only because that module needs numpy.
    """

    code = "model_unavailable"
    status = 503


class LabelCounts(BaseModel):
    """Files of one label: how many trained the head, how many were held out, how many of those it got."""

    model_config = ConfigDict(extra="forbid")

    train: int = Field(ge=1)
    test: int = Field(ge=1)
    correct: int = Field(ge=0, description="Held-out files of this label predicted as this label.")


class HeadManifest(BaseModel):
    """``head.json``: what a head answers, what it reads, and how well it did on held-out files."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["tonearm-head/1"] = "tonearm-head/1"
    name: str = Field(pattern=_NAME.pattern, description="The task type name.")
    description: str
    labels: list[str] = Field(min_length=2, description="Output order of `probabilities`.")
    embedding_models: list[str] = Field(description="Models whose embeddings are concatenated, in order.")
    embedding_dim: int = Field(gt=0, description="Width of the `embedding` input.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Digest of head.onnx.")
    accuracy: float = Field(ge=0.0, le=1.0, description="Held-out file-level accuracy.")
    n_train_files: int = Field(ge=1)
    n_test_files: int = Field(ge=1)
    label_counts: dict[str, LabelCounts]
    trained_at: datetime
    seed: int
    test_fraction: float
    l2: float


# --- names and folders -----------------------------------------------------------------------------


def _reserved() -> dict[str, str]:
    """Builtin task type names by their lower-case form (heads may not shadow them, in any case)."""
    return {name.lower(): name for name in (*TASK_TYPES, ACOUSTICSENSE_GENRES.name)}


def check_head_name(name: str) -> str:
    """Validate a head name.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    HeadNameError
        Malformed, or equal (ignoring case) to a builtin task type.
    """
    if not _NAME.match(name):
        raise HeadNameError(
            f"head name {name!r} is not allowed: use a letter then up to 63 letters, digits or underscores"
        )
    builtin = _reserved().get(name.lower())
    if builtin is not None:
        raise HeadNameError(
            f"head name {name!r} clashes with the builtin task type {builtin!r}; choose another"
        )
    return name


def heads_dir() -> Path | None:
    """The heads folder: ``$TONEARM_HEADS_DIR``, else ``heads/`` in the models folder.

    Returns
    -------
    Path or None
        None where this function carries no models (no numpy: a zip function), so no heads either.
    """
    configured = os.environ.get("TONEARM_HEADS_DIR")
    if configured:
        return Path(configured)
    try:
        from tonearm.models.registry import models_dir
    except ImportError:  # numpy is missing: the models are not deployed with this function
        return None
    return models_dir() / "heads"


# --- runtime ---------------------------------------------------------------------------------------


class Head:
    """An installed head: its manifest, and its ONNX file verified against the manifest's digest.

    The onnxruntime session is created on the first :meth:`predict` (one thread, like the builtin
    models), so listing and validating task types needs neither onnxruntime nor numpy.
    """

    def __init__(self, folder: Path, manifest: HeadManifest, data: bytes) -> None:
        self.folder = folder
        self.manifest = manifest
        self._data = data
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The task type name."""
        return self.manifest.name

    @property
    def models(self) -> tuple[str, ...]:
        """Models whose per-patch embeddings are concatenated into the input, in order."""
        return tuple(self.manifest.embedding_models)

    @classmethod
    def load(cls, folder: Path) -> Head:
        """Read and verify the head in ``folder``.

        Raises
        ------
        HeadUnavailableError
            A file is missing or unreadable, the manifest is invalid or names another head, or the
            ONNX file's sha256 differs from the manifest's.
        """
        try:
            manifest = HeadManifest.model_validate_json((folder / MANIFEST_FILE).read_bytes())
        except OSError as exc:
            raise HeadUnavailableError(
                f"head manifest {folder / MANIFEST_FILE} cannot be read: {exc}"
            ) from exc
        except ValidationError as exc:
            raise HeadUnavailableError(f"head manifest {folder / MANIFEST_FILE} is invalid: {exc}") from exc
        if manifest.name != folder.name:
            raise HeadUnavailableError(
                f"{folder / MANIFEST_FILE} describes head {manifest.name!r}, not {folder.name!r}: "
                "rename the folder back or retrain"
            )
        unknown = set(manifest.embedding_models) - set(EMBEDDING_MODELS)
        if unknown or not manifest.embedding_models:
            raise HeadUnavailableError(f"head {manifest.name!r} reads unknown models: {sorted(unknown)}")
        if set(manifest.label_counts) != set(manifest.labels) or len(set(manifest.labels)) < len(
            manifest.labels
        ):
            raise HeadUnavailableError(f"head {manifest.name!r}: labels repeat or do not match label_counts")
        path = folder / HEAD_FILE
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise HeadUnavailableError(f"head file {path} cannot be read: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest.sha256:
            raise HeadUnavailableError(
                f"head file {path} has sha256 {digest[:12]}..., its head.json says "
                f"{manifest.sha256[:12]}...; it is damaged or was replaced: retrain the head"
            )
        return cls(folder, manifest, data)

    def task_type(self) -> TaskType:
        """The task type this head answers."""
        m = self.manifest
        description = (
            f"Custom head over {' + '.join(m.embedding_models)} embeddings; held-out accuracy "
            f"{m.accuracy:.2f} on {m.n_test_files} files."
        )
        return TaskType(m.name, description, tuple(Label(label, ()) for label in m.labels), head=self)

    def predict(self, embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Label probabilities of embedding rows.

        Parameters
        ----------
        embeddings : np.ndarray [shape=(n, embedding_dim)], float
            Concatenated embeddings of :attr:`models` (a track's patch mean, or single patches).

        Returns
        -------
        np.ndarray [shape=(n, n_labels)], float32
            Rows sum to 1, columns in ``manifest.labels`` order.
        """
        import numpy as np

        x = np.ascontiguousarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.manifest.embedding_dim:
            raise ValueError(f"head {self.name!r} takes (n, {self.manifest.embedding_dim}), got {x.shape}")
        (out,) = self._get_session().run(["probabilities"], {"embedding": x})
        return np.asarray(out, dtype=np.float32)

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._open()
            return self._session

    def _open(self) -> Any:
        from tonearm.models.registry import onnx_session  # needs numpy: image functions only

        try:
            session = onnx_session(self._data)  # configured as the builtin models
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad graph
            raise HeadUnavailableError(f"head {self.name!r} cannot be loaded by onnxruntime: {exc}") from exc
        # the graph must be the one head.json describes: (N, D) "embedding" in, (N, K) "probabilities" out
        inputs, outputs = session.get_inputs(), session.get_outputs()
        want = ([("embedding", self.manifest.embedding_dim)], [("probabilities", len(self.manifest.labels))])
        got = ([(i.name, i.shape[-1]) for i in inputs], [(o.name, o.shape[-1]) for o in outputs])
        if got != want:
            raise HeadUnavailableError(
                f"head {self.name!r}: the graph has inputs/outputs {got}, its head.json implies {want}"
            )
        return session


class HeadStore:
    """The heads of one heads folder, loaded once and kept for the life of the process.

    Every lookup stats the head's two files, so a head trained (or retrained) while the process runs is
    found (or reloaded) on its next request, without a restart.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[tuple[int, ...], TaskType]] = {}

    def names(self) -> list[str]:
        """Names of the installed heads (folders holding a head.json), sorted; not verified."""
        if self.root is None:
            return []
        try:
            folders = list(self.root.iterdir())
        except OSError:  # no heads folder: no heads
            return []
        reserved = _reserved()
        return sorted(
            f.name
            for f in folders
            if _NAME.match(f.name) and f.name.lower() not in reserved and (f / MANIFEST_FILE).is_file()
        )

    def get(self, name: str) -> TaskType | None:
        """The task type of head ``name``, or None when no such head is installed.

        Raises
        ------
        HeadUnavailableError
            The head is installed but damaged (see :meth:`Head.load`).
        """
        if self.root is None or not _NAME.match(name) or name.lower() in _reserved():
            return None
        folder = self.root / name
        try:
            manifest_stat = (folder / MANIFEST_FILE).stat()
        except OSError:
            with self._lock:
                self._loaded.pop(name, None)
            return None
        try:
            onnx_stat = (folder / HEAD_FILE).stat()
        except OSError as exc:
            raise HeadUnavailableError(
                f"head {name!r} has a {MANIFEST_FILE} but no {HEAD_FILE}: {exc}"
            ) from exc
        stamp = tuple(
            int(v) for s in (manifest_stat, onnx_stat) for v in (s.st_mtime_ns, s.st_size, s.st_ino)
        )
        with self._lock:
            cached = self._loaded.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            task = Head.load(folder).task_type()
            self._loaded[name] = (stamp, task)
            return task


_stores: dict[Path | None, HeadStore] = {}
_stores_lock = threading.Lock()


def default_heads() -> HeadStore:
    """The process-wide store over :func:`heads_dir` (one per folder, should the setting change)."""
    root = heads_dir()
    key = root.resolve() if root is not None else None
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = HeadStore(key)
        return store


# --- training --------------------------------------------------------------------------------------


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
class LogisticHead:
    """A fitted head in numpy: ``softmax(((x - mean) / std) @ weights + bias)``.

    Attributes
    ----------
    mean, std : np.ndarray [shape=(d,)], float32
        Standardisation of the input (folded into the ONNX graph).
    weights : np.ndarray [shape=(d, k)], float32
    bias : np.ndarray [shape=(k,)], float32
    """

    mean: npt.NDArray[np.float32]
    std: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]

    def predict_proba(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Label probabilities of rows ``x`` (shape ``(n, d)``), shape ``(n, k)``, computed in float64."""
        import numpy as np

        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.std) @ self.weights + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_logistic(
    x: npt.NDArray[np.floating],
    y: npt.NDArray[np.integer],
    *,
    n_classes: int,
    sample_weight: npt.NDArray[np.floating] | None = None,
    l2: float = DEFAULT_L2,
) -> LogisticHead:
    """Fit an L2-regularised multinomial logistic regression on standardised features.

    Minimises ``sum_i w_i * crossentropy_i + l2 / 2 * ||W||^2`` with the weights ``w`` normalised to sum
    to 1 (the bias is not penalised), by L-BFGS from zero: deterministic for given data.

    Parameters
    ----------
    x : np.ndarray [shape=(n, d)], float
    y : np.ndarray [shape=(n,)], int in [0, n_classes)
    n_classes : int >= 2
    sample_weight : np.ndarray [shape=(n,)], float >= 0, optional
        Default: equal weights.
    l2 : float >= 0

    Returns
    -------
    LogisticHead
    """
    import numpy as np
    import scipy.optimize

    x64 = np.asarray(x, dtype=np.float64)
    n, d = x64.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    mean = x64.mean(axis=0)
    std = x64.std(axis=0)
    std[std < _MIN_STD] = 1.0
    # the fit sees the float32 standardisation the exported graph will apply
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    xs = (x64 - mean32) / std32
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0

    def loss_and_grad(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        weights = theta[: d * n_classes].reshape(d, n_classes)
        bias = theta[d * n_classes :]
        z = xs @ weights + bias
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        log_p = z - log_norm
        loss = -float((w * (onehot * log_p).sum(axis=1)).sum()) + 0.5 * l2 * float((weights**2).sum())
        dz = w[:, None] * (np.exp(log_p) - onehot)
        grad = np.concatenate([(xs.T @ dz + l2 * weights).ravel(), dz.sum(axis=0)])
        return loss, grad

    result = scipy.optimize.minimize(
        loss_and_grad,
        np.zeros(d * n_classes + n_classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000},
    )
    theta = result.x
    return LogisticHead(
        mean=mean32,
        std=std32,
        weights=theta[: d * n_classes].reshape(d, n_classes).astype(np.float32),
        bias=theta[d * n_classes :].astype(np.float32),
    )


def _require_onnx() -> None:
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise TonearmError(
            "exporting a head needs the `onnx` package: pip install 'tonearm[train]'",
            code="missing_dependency",
        )


def export_onnx(head: LogisticHead, *, name: str = "head") -> bytes:
    """The head as a serialised ONNX model (see the module docstring for the graph).

    Parameters
    ----------
    head : LogisticHead
    name : str
        The graph's name.

    Returns
    -------
    bytes
        Deterministic for a given head (no timestamps or random names).

    Raises
    ------
    TonearmError
        ``onnx`` is not installed (``pip install 'tonearm[train]'``).
    """
    _require_onnx()
    import onnx  # a training-time dependency only
    from onnx import TensorProto, helper, numpy_helper

    d, k = head.weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["embedding", "mean"], ["centred"]),
            helper.make_node("Div", ["centred", "std"], ["standardised"]),
            helper.make_node("MatMul", ["standardised", "weights"], ["projected"]),
            helper.make_node("Add", ["projected", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        name,
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])],
        initializer=[
            numpy_helper.from_array(head.mean, "mean"),
            numpy_helper.from_array(head.std, "std"),
            numpy_helper.from_array(head.weights, "weights"),
            numpy_helper.from_array(head.bias, "bias"),
        ],
    )
    model = helper.make_model(graph, producer_name="tonearm", opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


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


def _embed_file(path: Path, registry: ModelRegistry) -> npt.NDArray[np.float32]:
    """Per-patch concatenated embeddings of one file, shape ``(p, 400)``."""
    from tonearm.audio.decode import decode
    from tonearm.tagging.tagger import patch_embeddings, tag_signal

    try:
        audio = decode(path, size_bytes=path.stat().st_size)
    except TonearmError as exc:
        raise HeadDataError(f"cannot use {path}: {exc.code}: {exc.message}") from exc
    except OSError as exc:
        raise HeadDataError(f"cannot read {path}: {exc}") from exc
    scores = tag_signal(audio.y, sr=audio.sr, models=frozenset(EMBEDDING_MODELS), registry=registry)
    return patch_embeddings(scores, EMBEDDING_MODELS)


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
    _require_onnx()  # before minutes of embedding, not after
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
    embedded: list[tuple[int, Path, bool, npt.NDArray[np.float32]]] = []
    for k, label in enumerate(labels):
        for path, held_out in zip(files[label], masks[k], strict=True):
            if progress is not None:
                progress(f"[{len(embedded) + 1}/{total}] {label}/{path.name}")
            embedded.append((k, path, bool(held_out), _embed_file(path, registry)))

    # training rows: every patch and the file's mean (the runtime's track input); per label, files
    # weigh the same, and labels weigh the same
    train = [(k, rows) for k, _, held_out, rows in embedded if not held_out]
    files_per_label = np.bincount([k for k, _ in train], minlength=len(labels))
    x_parts, y_parts, w_parts = [], [], []
    for k, rows in train:
        x_parts.append(np.vstack([rows, rows.mean(axis=0, keepdims=True)]))
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

    test = [(k, path, rows.mean(axis=0)) for k, path, held_out, rows in embedded if held_out]
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
