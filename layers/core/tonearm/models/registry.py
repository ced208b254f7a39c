"""Where the ONNX models live, and loading them once per process with onnxruntime.

Every model is declared in ``models/registry.json`` (name -> file, sha256, input and output names,
labels); the file's digest is checked when it is first loaded (:func:`tonearm.models.loader.check_onnx`),
so a corrupt copy, a Git LFS pointer or a model swapped without updating the manifest is refused rather
than run. Sessions run on one thread: a Lambda function has one vCPU per 1769 MB, and the benchmarks
measure single-thread speed.

The models folder is ``$TONEARM_MODELS_DIR`` if set, else ``models/`` at the repository root (a source
checkout) or next to the ``tonearm`` package (the container image copies it there).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tonearm.errors import TonearmError
from tonearm.models.loader import check_onnx
from tonearm.settings import Settings

__all__ = [
    "ModelRegistry",
    "ModelSpec",
    "ModelUnavailableError",
    "OnnxModel",
    "default_registry",
    "models_dir",
]

_MANIFEST = "registry.json"


class ModelUnavailableError(TonearmError):
    """A model file is missing, damaged or does not match its manifest (a deployment fault)."""

    code = "model_unavailable"
    status = 503


@dataclass(frozen=True)
class ModelSpec:
    """One entry of ``models/registry.json``."""

    name: str
    path: str
    sha256: str
    input: str
    outputs: tuple[str, ...]
    labels: tuple[str, ...]
    card: str
    #: the manifest name of this model's opt-in fast variant (``"fast"`` in the manifest), if it has one
    fast: str = ""


class OnnxModel:
    """A loaded model: ``run`` maps a float32 batch to its named outputs."""

    def __init__(self, spec: ModelSpec, session: Any, *, batch: int) -> None:
        self.spec = spec
        self._session = session
        self._batch = batch

    def run(self, x: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        """Run the model over the first axis of ``x`` in batches.

        Parameters
        ----------
        x : np.ndarray [shape=(n, ...)], float32

        Returns
        -------
        dict of str to np.ndarray
            Each output, shape ``(n, ...)``; empty arrays when ``n == 0``.
        """
        parts: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in self.spec.outputs}
        for start in range(0, x.shape[0], self._batch):
            batch = np.ascontiguousarray(x[start : start + self._batch], dtype=np.float32)
            values = self._session.run(list(self.spec.outputs), {self.spec.input: batch})
            for name, value in zip(self.spec.outputs, values, strict=True):
                parts[name].append(np.asarray(value, dtype=np.float32))
        if x.shape[0] == 0:
            return {name: np.zeros((0,), dtype=np.float32) for name in self.spec.outputs}
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def models_dir() -> Path:
    """The models folder (see the module docstring)."""
    configured = Settings.from_env().models_dir
    if configured:
        return Path(configured)
    package = Path(__file__).resolve().parents[1]  # .../tonearm
    for candidate in (package.parents[2] / "models", package.parent / "models"):
        if (candidate / _MANIFEST).is_file():
            return candidate
    return package.parents[2] / "models"


class ModelRegistry:
    """The models of one models folder, loaded lazily and kept for the life of the process."""

    # batch=1: one patch per session.run is as fast as 32 on one thread (measured), while each session's
    # memory arena grows with the batch: peak RSS of tagging a 10-minute track with both models is
    # ~0.5 GB at 1 and ~3.3 GB at 32 (bench/results/tagging.md, speed investigation).
    def __init__(
        self,
        root: Path | None = None,
        *,
        batch: int = 1,
        threads: int = 1,
        variant: Literal["original", "fast"] | None = None,
    ) -> None:
        self.root = root or models_dir()
        #: ``"fast"``: :meth:`get` answers a model that has a fast variant with that variant
        #: (``TONEARM_MODEL_VARIANT``, :attr:`tonearm.settings.Settings.model_variant`, by default)
        self.variant = variant or Settings.from_env().model_variant
        self._batch = batch
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: dict[str, OnnxModel] = {}
        manifest = self.root / _MANIFEST
        try:
            entries = json.loads(manifest.read_text())["models"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(f"cannot read the model manifest {manifest}: {exc}") from exc
        self.specs = {
            e["name"]: ModelSpec(
                name=e["name"],
                path=e["path"],
                sha256=e["sha256"],
                input=e["input"],
                outputs=tuple(e["outputs"]),
                labels=tuple(e.get("labels", ())),
                card=e.get("card", ""),
                fast=e.get("fast", ""),
            )
            for e in entries
        }

    def resolve(self, name: str) -> str:
        """The manifest name :meth:`get` loads for ``name``: its fast variant under ``variant="fast"``."""
        spec = self.specs.get(name)
        if self.variant == "fast" and spec is not None and spec.fast:
            return spec.fast
        return name

    def get(self, name: str) -> OnnxModel:
        """The loaded model ``name`` (or its fast variant, see :meth:`resolve`); loads and verifies it on
        first use."""
        name = self.resolve(name)
        with self._lock:
            model = self._loaded.get(name)
            if model is None:
                model = self._load(name)
                self._loaded[name] = model
            return model

    @property
    def loaded(self) -> list[str]:
        """Names of the models loaded so far."""
        return sorted(self._loaded)

    def _load(self, name: str) -> OnnxModel:
        spec = self.specs.get(name)
        if spec is None:
            raise ModelUnavailableError(f"no model named {name!r} in {self.root / _MANIFEST}")
        path = self.root / spec.path
        model = check_onnx(
            path,
            spec.sha256,
            name=f"model file {path}",
            recorded_in="the manifest",
            remedy="it is damaged, a Git LFS pointer, or was replaced without updating models/registry.json",
            error=ModelUnavailableError,
        )
        return OnnxModel(spec, model.session(threads=self._threads), batch=self._batch)


_default: ModelRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ModelRegistry:
    """The process-wide registry over :func:`models_dir`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ModelRegistry()
        return _default
