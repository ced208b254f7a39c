"""The installed heads at run time: the heads folder, head names, ``head.json`` and loading a head.

See :mod:`tonearm.tagging.heads` for what a head is and how it is stored. A head is looked up by task
type name (:class:`HeadStore`, :func:`default_heads`), verified against its manifest's digest when
loaded (:class:`Head`) and opened by onnxruntime on its first prediction.

This module imports only the standard library and pydantic at import time: the task-type lookup runs
in functions that carry neither numpy nor the models (the zip API function validates workflow
parameters), and finds no heads there. numpy and onnxruntime are imported where they are used.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tonearm.errors import TonearmError
from tonearm.models.loader import CheckedOnnx, check_onnx
from tonearm.settings import Settings
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

__all__ = [
    "EMBEDDING_MODELS",
    "HEAD_FILE",
    "MANIFEST_FILE",
    "Head",
    "HeadManifest",
    "HeadNameError",
    "HeadStore",
    "HeadUnavailableError",
    "LabelCounts",
    "check_head_name",
    "default_heads",
    "heads_dir",
]

HEAD_FILE = "head.onnx"
MANIFEST_FILE = "head.json"
#: Models whose embeddings a head reads, in concatenation order (sorted by name, as ``answer_task``
#: concatenates a task's embeddings).
EMBEDDING_MODELS: tuple[str, ...] = (MODEL_MSD, MODEL_MTT)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


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
    configured = Settings.from_env().heads_dir
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

    def __init__(self, folder: Path, manifest: HeadManifest, onnx: CheckedOnnx) -> None:
        self.folder = folder
        self.manifest = manifest
        self._onnx = onnx
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
        onnx = check_onnx(
            path,
            manifest.sha256,
            name=f"head file {path}",
            recorded_in="its head.json",
            remedy="it is damaged or was replaced: retrain the head",
            error=HeadUnavailableError,
        )
        return cls(folder, manifest, onnx)

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
        try:
            session = self._onnx.session()  # configured as the builtin models
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
