"""Versioned stream-count models in the blob store, and the current one run with onnxruntime.

Layout (S3 in AWS, the data folder locally)::

    flow/models/<version>/model.onnx    the regressor (input features, output streams)
    flow/models/<version>/card.json     its ModelCard
    flow/models/<version>/README.md     the card, for people
    flow/models/current.json            {"version": ..., "sha256": ...}: the model predictions use

Every process re-reads ``current.json`` at most every ``refresh_s`` seconds, so a model trained by
another process (or Lambda function) is picked up without a restart.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import numpy as np

from tonearm.errors import TonearmError
from tonearm.models.loader import CheckedOnnx, check_onnx
from tonearm.ports import BlobStore, read_blob
from tonearm.prediction.onnx_export import INPUT_NAME
from tonearm.prediction.schema import ModelCard
from tonearm.prediction.vector import FEATURE_COLUMNS

MODELS_PREFIX = "flow/models/"
CURRENT_KEY = f"{MODELS_PREFIX}current.json"


class NoModelError(TonearmError):
    """No stream-count model has been trained yet."""

    code = "no_model"
    status = 409


class ModelIntegrityError(TonearmError):
    """The stored model does not match its recorded checksum or feature list."""

    code = "model_integrity"
    status = 500


@dataclass(frozen=True)
class TrainedModel:
    """A model ready to store: ONNX bytes and its card."""

    onnx: bytes
    card: ModelCard


class StreamModel:
    """One loaded model: ``predict`` maps feature rows to streams."""

    def __init__(self, onnx: CheckedOnnx, card: ModelCard) -> None:
        if list(card.features) != list(FEATURE_COLUMNS):
            raise ModelIntegrityError(
                f"model {card.version} was trained on other features; retrain it with this version"
            )
        self.session = onnx.session()  # one thread, as every tonearm model
        self.card = card

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Streams for each row.

        Parameters
        ----------
        rows : np.ndarray [shape=(n, len(FEATURE_COLUMNS))]
            From ``tonearm.prediction.vector.feature_matrix``; NaN marks a missing feature.

        Returns
        -------
        streams : np.ndarray [shape=(n,), dtype=float32]
            In [0, 30].
        """
        out = self.session.run(None, {INPUT_NAME: np.asarray(rows, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)


class ModelStore:
    """Saves versioned models and loads the current one (cached per process)."""

    def __init__(self, blobs: BlobStore, *, refresh_s: float = 30.0) -> None:
        self.blobs = blobs
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._loaded: StreamModel | None = None
        self._checked_at = -float("inf")
        self._pointer: dict[str, str] | None = None

    def save(self, trained: TrainedModel, *, make_current: bool = True) -> str:
        """Store the model and its card; make it current. Return the version."""
        version = trained.card.version
        base = f"{MODELS_PREFIX}{version}/"
        self.blobs.put_bytes(base + "model.onnx", trained.onnx, content_type="application/octet-stream")
        self.blobs.put_bytes(
            base + "card.json",
            trained.card.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        self.blobs.put_bytes(
            base + "README.md", render_card(trained.card).encode(), content_type="text/markdown"
        )
        if make_current:
            pointer = {"version": version, "sha256": trained.card.onnx_sha256}
            self.blobs.put_bytes(CURRENT_KEY, json.dumps(pointer).encode(), content_type="application/json")
            with self._lock:
                self._loaded = StreamModel(_check(trained.onnx, pointer), trained.card)
                self._pointer, self._checked_at = pointer, time.monotonic()
        return version

    def current_card(self) -> ModelCard | None:
        """The current model's card, or ``None`` if none was trained."""
        model = self.current()
        return model.card if model else None

    def require(self) -> StreamModel:
        """The current model; raises ``NoModelError`` saying how to train one."""
        model = self.current()
        if model is None:
            raise NoModelError(
                "no stream-count model has been trained yet: train one on a Spotify streaming-history "
                "export with `tonearm flow train --history StreamingHistory_music_0.json` (locally) or "
                "POST the export files to /api/model"
            )
        return model

    def current(self) -> StreamModel | None:
        """The current model, re-checking the pointer at most every ``refresh_s`` seconds."""
        with self._lock:
            if time.monotonic() - self._checked_at < self.refresh_s:
                return self._loaded
            pointer = self._read_json(CURRENT_KEY)
            self._checked_at = time.monotonic()
            if pointer is None:
                self._loaded, self._pointer = None, None
                return None
            if self._loaded is not None and self._pointer == pointer:
                return self._loaded
            version = str(pointer["version"])
            onnx_bytes = read_blob(self.blobs, f"{MODELS_PREFIX}{version}/model.onnx")
            card_json = self._read_json(f"{MODELS_PREFIX}{version}/card.json")
            if onnx_bytes is None or card_json is None:
                raise ModelIntegrityError(f"current model {version} is incomplete in the store")
            checked = _check(onnx_bytes, pointer)
            self._loaded = StreamModel(checked, ModelCard.model_validate(card_json))
            self._pointer = pointer
            return self._loaded

    def _read_json(self, key: str) -> dict[str, str] | None:
        data = read_blob(self.blobs, key)
        return None if data is None else dict(json.loads(data))


def _check(onnx_bytes: bytes, pointer: dict[str, str]) -> CheckedOnnx:
    """The model's bytes, checked against the digest ``current.json`` records for them."""
    return check_onnx(
        onnx_bytes,
        pointer.get("sha256", ""),
        name=f"model {pointer['version']}",
        recorded_in=CURRENT_KEY,
        remedy="it was damaged or replaced in the store: retrain it",
        error=ModelIntegrityError,
    )


def render_card(card: ModelCard) -> str:
    """The model card as Markdown."""
    cv = card.cross_validation
    window = f"{card.data_window[0]} to {card.data_window[1]}" if card.data_window else "n/a"
    coverage = "\n".join(f"| {name} | {share:.0%} |" for name, share in card.feature_coverage.items())
    formats = ", ".join(card.history_formats)
    params = ", ".join(f"{k}={v}" for k, v in card.hyperparameters.items())
    return f"""# Stream-count model {card.version}

Predicts how many times the listener will stream a track (0-30), trained on their own Spotify
streaming history with tonearm's `tonearm.prediction` (MusicFlow's features and target).

- **Created:** {card.created_at}
- **Data window:** {window} ({formats} export); {card.plays} plays, {card.tracks} tracks
- **Training set:** {card.tracks_used} tracks with features ({card.tracks_without_features} without any
  were left out); by source: {card.feature_sources}
- **Skipped entries:** {card.skipped_entries or "none"}
- **Target:** {card.target}; mean {card.target_mean:.2f}, max {card.target_max}
- **Estimator:** {card.estimator} ({params})
- **ONNX sha256:** `{card.onnx_sha256}`

## Cross-validated error ({cv.folds}-fold)

| | MAE [streams] |
|---|---|
| model | {cv.mae:.3f} ± {cv.mae_std:.3f} |
| predict-the-mean baseline | {cv.baseline_mae:.3f} ± {cv.baseline_mae_std:.3f} |
| improvement | {cv.improvement:.1%} |

## Feature coverage in the training set

| feature | share with a value |
|---|---|
{coverage}

Missing values are NaN in the model input: the trees learned where they go. Audio features are
tonearm's own measurements when Spotify has none (its audio-features endpoint is closed to new apps),
so this model's audio-feature scale is tonearm's, not Spotify's.
"""
