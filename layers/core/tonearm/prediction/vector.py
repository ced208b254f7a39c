"""The model's feature pipeline: MusicFlow's columns, from a ``Features`` record to a float32 row.

Columns are MusicFlow's table, in its order: track metadata, release date parts, audio features,
then the key one-hot (MusicFlow's column names, alphabetical as pandas' ``get_dummies`` made them)
with ``Unknown`` for no key. Missing values are explicit: a feature nobody could look up or measure is
NaN, and the gradient-boosted trees learn on which side of each split a missing value belongs
(scikit-learn's native missing-value support; the ONNX export keeps that routing). A missing key is
``Unknown = 1``, as Spotify's ``key = -1``. Tree models need no scaling, so MusicFlow's ``log1p`` of
four features is not repeated.
"""

from __future__ import annotations

import numpy as np

from tonearm.prediction.schema import Features

#: Numeric columns, in MusicFlow's order, with the ``Features`` part each comes from.
NUMERIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("number_of_available_markets", "track"),
    ("release_year", "album"),
    ("release_month", "album"),
    ("release_day", "album"),
    ("date_is_complete", "album"),
    ("num_artists", "track"),
    ("duration_ms", "track"),
    ("explicit", "track"),
    ("popularity", "track"),
    ("danceability", "audio_features"),
    ("energy", "audio_features"),
    ("loudness", "audio_features"),
    ("mode", "audio_features"),
    ("speechiness", "audio_features"),
    ("acousticness", "audio_features"),
    ("instrumentalness", "audio_features"),
    ("liveness", "audio_features"),
    ("valence", "audio_features"),
    ("tempo", "audio_features"),
    ("time_signature", "audio_features"),
)
#: Pitch class (Spotify's ``key``, C = 0) → MusicFlow's column name.
KEY_NAMES = ("C", "C#/Db", "D", "D#/Eb", "E", "F", "F#/Gb", "G", "G#/Ab", "A", "A#/Bb", "B")
KEY_COLUMNS: tuple[str, ...] = (*sorted(KEY_NAMES), "Unknown")
FEATURE_COLUMNS: tuple[str, ...] = (*(name for name, _ in NUMERIC_COLUMNS), *KEY_COLUMNS)
#: The features a caller sees in ``feature_sources`` (the key counts once).
MODEL_FEATURES: tuple[str, ...] = (*(name for name, _ in NUMERIC_COLUMNS), "key")

_KEY_INDEX = {name: i for i, name in enumerate(KEY_COLUMNS)}
_N_NUMERIC = len(NUMERIC_COLUMNS)


def feature_row(features: Features) -> np.ndarray:
    """One model input row.

    Returns
    -------
    row : np.ndarray [shape=(len(FEATURE_COLUMNS),), dtype=float32]
        NaN where a numeric feature is missing; the key one-hot has exactly one 1.
    """
    row = np.full(len(FEATURE_COLUMNS), np.nan, dtype=np.float32)
    parts = {"track": features.track, "album": features.album, "audio_features": features.audio_features}
    for i, (name, part) in enumerate(NUMERIC_COLUMNS):
        value = getattr(parts[part], name)
        if value is not None:
            row[i] = float(value)
    row[_N_NUMERIC:] = 0.0
    key = features.audio_features.key
    column = KEY_NAMES[key] if key is not None and 0 <= key <= 11 else "Unknown"
    row[_N_NUMERIC + _KEY_INDEX[column]] = 1.0
    return row


def feature_matrix(records: list[Features]) -> np.ndarray:
    """Rows for several tracks: ``np.ndarray [shape=(n, len(FEATURE_COLUMNS)), dtype=float32]``."""
    if not records:
        return np.empty((0, len(FEATURE_COLUMNS)), dtype=np.float32)
    return np.stack([feature_row(r) for r in records])
