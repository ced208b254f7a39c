"""The wire forms of the MusicFlow API (``/api/features``, ``/api/prediction``) and of a model card.

Field names and nesting are MusicFlow's. Where MusicFlow always had a value (every feature came from
Spotify) tonearm may not: a value it could neither look up nor measure is ``null``, and
``feature_sources`` says which features were measured from audio, looked up at Spotify, or missing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FeatureSource = Literal["measured", "looked_up", "missing"]


class TrackPart(BaseModel):
    """``features.track``."""

    track_name: str
    artist_name: str
    number_of_available_markets: int | None = None
    num_artists: int | None = None
    duration_ms: int | None = None
    explicit: bool | None = None
    popularity: int | None = Field(default=None, ge=0, le=100)
    isrc: str | None = None


class AlbumPart(BaseModel):
    """``features.album``: the release date split as MusicFlow splits it."""

    release_date_precision: str | None = None
    release_year: int | None = None
    release_month: int | None = None
    release_day: int | None = None
    date_is_complete: bool | None = None
    album: str | None = None


class AudioFeaturesPart(BaseModel):
    """``features.audio_features``: Spotify's names; tonearm's measurements when Spotify has none."""

    danceability: float | None = None
    energy: float | None = None
    key: int | None = Field(default=None, ge=-1, le=11)
    loudness: float | None = None
    mode: int | None = Field(default=None, ge=0, le=1)
    speechiness: float | None = None
    acousticness: float | None = None
    instrumentalness: float | None = None
    liveness: float | None = None
    valence: float | None = None
    tempo: float | None = None
    id: str | None = None
    time_signature: int | None = None


class FeatureSources(BaseModel):
    """Which model features were measured (tonearm's analysis), looked up (Spotify) or missing."""

    measured: list[str] = Field(default_factory=list)
    looked_up: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class SourceStatus(BaseModel):
    """What each data source answered for this track."""

    spotify: Literal["found", "not_found", "not_configured", "audio_features_unavailable", "not_queried"] = (
        Field(description="`audio_features_unavailable`: found, but Spotify gave no audio features (403).")
    )
    library: Literal["isrc", "title_artist", "upload", "not_found"] = Field(
        description="How tonearm's analysis of the audio was found: by ISRC, by title and artist, from "
        "the uploaded file, or not at all."
    )


class Features(BaseModel):
    """``GET /api/features/``."""

    track: TrackPart
    album: AlbumPart
    audio_features: AudioFeaturesPart
    feature_sources: FeatureSources
    sources: SourceStatus


class SongMetadata(BaseModel):
    """``prediction.song_metadata``."""

    song: str
    artist: list[str]
    album: str | None = None


class Message(BaseModel):
    """``prediction.message``: a band of the prediction, as MusicFlow words it."""

    emoji: str
    text: str


class Prediction(BaseModel):
    """``GET /api/prediction/`` and ``POST /api/prediction``."""

    song: str
    artist: str
    prediction: float = Field(ge=0, le=30, description="Predicted number of streams (0-30).")
    description: str
    song_metadata: SongMetadata
    message: Message
    feature_sources: FeatureSources
    sources: SourceStatus
    model_version: str


class CrossValidation(BaseModel):
    """Cross-validated error of the model and of the predict-the-mean baseline."""

    folds: int
    mae: float = Field(description="Model's mean absolute error over the held-out folds [streams].")
    mae_std: float = Field(description="Standard deviation of the per-fold MAE [streams].")
    baseline_mae: float = Field(description="MAE of predicting the training folds' mean [streams].")
    baseline_mae_std: float
    improvement: float = Field(description="1 - mae / baseline_mae.")


class ModelCard(BaseModel):
    """What a trained model is: data, features, estimator, measured error."""

    version: str
    created_at: str
    data_window: tuple[str, str] | None = Field(description="First and last play in the history (UTC).")
    history_formats: list[str]
    plays: int
    tracks: int = Field(description="Distinct tracks in the history.")
    tracks_used: int = Field(description="Tracks with at least one feature (the training set).")
    tracks_without_features: int
    skipped_entries: dict[str, int]
    target: str
    target_mean: float
    target_max: int
    features: list[str]
    feature_coverage: dict[str, float] = Field(description="Share of training tracks with each feature.")
    estimator: str
    hyperparameters: dict[str, float | int | str]
    cross_validation: CrossValidation
    onnx_sha256: str
    feature_sources: dict[str, int] = Field(
        description="Training tracks by where their features came from (spotify, library, both)."
    )
