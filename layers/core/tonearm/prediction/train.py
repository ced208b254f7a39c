"""Fitting the stream-count regressor: targets from the history, features per track, CV, ONNX.

The estimator is scikit-learn's ``HistGradientBoostingRegressor`` on ``log1p(streams)`` (MusicFlow's
target transform: stream counts are heavy-tailed); it handles missing features natively, which
matters here because a track may have Spotify metadata without audio features or the reverse.
Cross-validation is K-fold over tracks (each track is one row), reporting the model's mean absolute
error in streams next to a baseline that predicts the training folds' mean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tonearm.errors import TonearmError
from tonearm.prediction.history import MAX_STREAMS, STREAM_MIN_MS, History, TrackStreams
from tonearm.prediction.model import TrainedModel
from tonearm.prediction.onnx_export import export_hist_gbr
from tonearm.prediction.schema import CrossValidation, Features, ModelCard
from tonearm.prediction.vector import FEATURE_COLUMNS, MODEL_FEATURES, feature_matrix

#: Fewer tracks than this cannot be cross-validated meaningfully.
MIN_TRACKS = 20
FOLDS = 5
#: Small data (a personal history is hundreds to a few thousand tracks): shallow trees, many leaves'
#: worth of regularisation, a fixed number of rounds (early stopping would hold out yet more data).
HYPERPARAMETERS: dict[str, float | int | str] = {
    "loss": "squared_error",
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 5,
    "l2_regularization": 1.0,
}


class NotEnoughDataError(TonearmError):
    """Too few tracks with features to train and cross-validate a model."""

    code = "not_enough_data"
    status = 400


@dataclass(frozen=True)
class Example:
    """One training row: a track's target and its features."""

    target: TrackStreams
    features: Features
    origin: str


def _estimator(seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**HYPERPARAMETERS, random_state=seed)


@dataclass(frozen=True)
class _Fitted:
    model: object
    #: the input columns the estimator saw (columns with no value in any row are left out: they carry
    #: nothing, and scikit-learn 1.9 cannot bin an all-NaN column)
    columns: np.ndarray


def _fit(x: np.ndarray, y: np.ndarray, seed: int) -> _Fitted:
    columns = np.flatnonzero(~np.all(np.isnan(x), axis=0))
    model = _estimator(seed)
    model.fit(x[:, columns], np.log1p(y))  # type: ignore[attr-defined]
    return _Fitted(model, columns)


def _predict(fitted: _Fitted, x: np.ndarray) -> np.ndarray:
    raw = fitted.model.predict(x[:, fitted.columns].astype(np.float32))  # type: ignore[attr-defined]
    return np.clip(np.expm1(raw), 0.0, MAX_STREAMS)


def cross_validate(x: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> CrossValidation:
    """K-fold MAE of the model and of the predict-the-training-mean baseline.

    Parameters
    ----------
    x : np.ndarray [shape=(n, n_features), dtype=float32]
    y : np.ndarray [shape=(n,)]
        Streams per track.
    """
    from sklearn.model_selection import KFold

    model_mae, base_mae = [], []
    for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(x):
        fitted = _fit(x[train], y[train], seed)
        model_mae.append(float(np.mean(np.abs(_predict(fitted, x[test]) - y[test]))))
        base_mae.append(float(np.mean(np.abs(y[train].mean() - y[test]))))
    mae, base = float(np.mean(model_mae)), float(np.mean(base_mae))
    return CrossValidation(
        folds=folds,
        mae=round(mae, 4),
        mae_std=round(float(np.std(model_mae)), 4),
        baseline_mae=round(base, 4),
        baseline_mae_std=round(float(np.std(base_mae)), 4),
        improvement=round(1.0 - mae / base, 4) if base > 0 else 0.0,
    )


def train_model(
    examples: Sequence[Example],
    *,
    history: History,
    tracks_total: int,
    seed: int = 0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TrainedModel:
    """Cross-validate, fit on every example, export to ONNX and write the card.

    Raises ``NotEnoughDataError`` with fewer than ``MIN_TRACKS`` examples.
    """
    if len(examples) < MIN_TRACKS:
        raise NotEnoughDataError(
            f"only {len(examples)} of {tracks_total} tracks in the history have features (at least "
            f"{MIN_TRACKS} are needed): configure Spotify credentials, or analyse more of the tracks' "
            "audio into the library (tonearm/analyze jobs with title and artist)"
        )
    x = feature_matrix([e.features for e in examples])
    y = np.array([e.target.streams for e in examples], dtype=np.float64)
    folds = min(FOLDS, len(examples))
    cv = cross_validate(x, y, folds=folds, seed=seed)
    fitted = _fit(x, y, seed)
    created = now()
    window = history.window
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    onnx = export_hist_gbr(
        fitted.model,
        n_features=len(FEATURE_COLUMNS),
        feature_map=fitted.columns.tolist(),
        cap=MAX_STREAMS,
        metadata={"features": ",".join(FEATURE_COLUMNS), "created_at": created.isoformat(timespec="seconds")},
    )
    digest = hashlib.sha256(onnx).hexdigest()
    coverage = {
        name: round(float(np.mean([name not in e.features.feature_sources.missing for e in examples])), 3)
        for name in MODEL_FEATURES
    }
    origins: dict[str, int] = {}
    for e in examples:
        origins[e.origin] = origins.get(e.origin, 0) + 1
    card = ModelCard(
        version=f"{stamp}-{digest[:8]}",
        created_at=created.isoformat(timespec="seconds"),
        data_window=(window[0].isoformat(), window[1].isoformat()) if window else None,
        history_formats=history.formats,
        plays=len(history.plays),
        tracks=tracks_total,
        tracks_used=len(examples),
        tracks_without_features=tracks_total - len(examples),
        skipped_entries=history.skipped,
        target=f"streams per track (plays of at least {STREAM_MIN_MS // 1000} s), capped at {MAX_STREAMS}",
        target_mean=round(float(y.mean()), 4),
        target_max=int(y.max()),
        features=list(FEATURE_COLUMNS),
        feature_coverage=coverage,
        estimator="sklearn.ensemble.HistGradientBoostingRegressor on log1p(streams)",
        hyperparameters={**HYPERPARAMETERS, "random_state": seed},
        cross_validation=cv,
        onnx_sha256=digest,
        feature_sources=origins,
    )
    return TrainedModel(onnx=onnx, card=card)
