"""What the MusicFlow API and ``tonearm flow`` call: features, predictions, training.

Checks that need no lookups come first (a model exists, the history parses, the audio is within
limits), so a request that cannot succeed fails before it costs Spotify calls or analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.errors import TonearmError
from tonearm.ports import BlobStore
from tonearm.prediction.history import merge, parse_history, streams_per_track
from tonearm.prediction.library import LibraryEntry, TrackLibrary, entry_from_analysis
from tonearm.prediction.messages import message_for
from tonearm.prediction.model import ModelStore, StreamModel
from tonearm.prediction.resolve import FeatureResolver, ResolvedTrack, TrackNotFoundError
from tonearm.prediction.schema import Features, ModelCard, Prediction
from tonearm.prediction.sources import MetadataSource
from tonearm.prediction.train import Example, train_model
from tonearm.prediction.vector import feature_row

logger = logging.getLogger(__name__)

PREDICTION_DESCRIPTION = (
    "The predicted number of streams (0-30) of the song by this listener, from a model trained on "
    "their own Spotify streaming history, with Spotify's track metadata and tonearm's audio features."
)
#: Tracks a training run resolves at most (each may cost up to three Spotify requests).
MAX_TRAINING_TRACKS = 5000


class ModelNotBetterError(TonearmError):
    """The new model's cross-validated error is no better than predicting the mean: it is stored, but
    not made current (``force`` makes it current anyway)."""

    code = "model_not_better_than_baseline"
    status = 422


class HistoryTooLargeError(TonearmError):
    """More distinct tracks than one training run resolves."""

    code = "history_too_large"
    status = 413


#: ``progress(done, total)`` while resolving training tracks.
TrainProgress = Callable[[int, int], None]


class MusicFlowService:
    """The MusicFlow engine over a blob store and an optional metadata source (Spotify)."""

    def __init__(
        self, *, blobs: BlobStore, metadata: MetadataSource | None, models: ModelStore | None = None
    ) -> None:
        self.library = TrackLibrary(blobs)
        self.models = models or ModelStore(blobs)
        self.metadata = metadata
        self.resolver = FeatureResolver(library=self.library, metadata=metadata)

    def features(self, song: str, artist: str) -> Features:
        """``GET /api/features/``."""
        return self.resolver.resolve(song, artist).features

    def raw_features(self, song: str, artist: str) -> dict[str, Any]:
        """``GET /api/raw_features/``: Spotify's objects as returned, and tonearm's analysis."""
        resolved = self.resolver.resolve(song, artist)
        track = resolved.spotify_track
        entry = resolved.library_entry
        return {
            "track_name": song,
            "artist_name": artist,
            "status": "success",
            "failure_type": None,
            "description": "Raw metadata from Spotify and tonearm's analysis of the audio, where available.",
            "metadata": resolved.song_metadata.model_dump(),
            "track_id": track.get("id") if track else None,
            "track": track,
            "album": resolved.spotify_album,
            "audio_features": resolved.spotify_audio_features,
            "analysis": entry.analysis if entry else None,
            "library_entry": entry.model_dump(exclude={"analysis"}) if entry else None,
            "sources": resolved.features.sources.model_dump(),
        }

    def predict(self, song: str, artist: str) -> Prediction:
        """``GET /api/prediction/``; ``NoModelError`` (409) before any lookup when there is no model."""
        model = self.models.require()
        return self._prediction(model, song, artist, self.resolver.resolve(song, artist))

    def predict_audio(
        self,
        path: Path,
        *,
        song: str | None,
        artist: str | None,
        filename: str | None = None,
        size_bytes: int | None = None,
        remember: bool = True,
    ) -> Prediction:
        """``POST /api/prediction``: analyse the file, record it in the library (``remember``), predict.

        Spotify is asked for metadata only when the title and artist are known (from the request or
        the file's tags); the audio features are always the file's own.
        """
        model = self.models.require()
        entry = self.analyse_file(
            path, title=song, artist=artist, source="upload", size_bytes=size_bytes, remember=remember
        )
        title = entry.title or Path(filename or path.name).stem
        name = entry.artist or "unknown artist"
        identified = bool(entry.title and entry.artist)
        resolver = self.resolver if identified else FeatureResolver(library=self.library, metadata=None)
        return self._prediction(model, title, name, resolver.resolve(title, name, measured=entry))

    def analyse_file(
        self,
        path: Path,
        *,
        title: str | None,
        artist: str | None,
        source: str,
        isrc: str | None = None,
        size_bytes: int | None = None,
        remember: bool = True,
    ) -> LibraryEntry:
        """Analyse an audio file and record it in the library when it can be identified (and ``remember``).

        Parameters given here win over the file's tags.
        """
        from tonearm.analysis.analyze import analyze_source
        from tonearm.audio.tags import read_tags

        _, analysis = analyze_source(path, size_bytes=size_bytes)
        tags = read_tags(path)
        entry = entry_from_analysis(
            analysis.to_json(),
            title=title or tags.title,
            artist=artist or tags.artist,
            album=tags.album,
            isrc=isrc or tags.isrc,
            source=source,
        )
        if remember:
            self.library.put(entry)
        return entry

    def _prediction(self, model: StreamModel, song: str, artist: str, resolved: ResolvedTrack) -> Prediction:
        value = float(model.predict(feature_row(resolved.features)[np.newaxis, :])[0])
        value = round(min(max(value, 0.0), 30.0), 2)
        return Prediction(
            song=resolved.song_metadata.song if resolved.spotify_track else song,
            artist=artist,
            prediction=value,
            description=PREDICTION_DESCRIPTION,
            song_metadata=resolved.song_metadata,
            message=message_for(value),
            feature_sources=resolved.features.feature_sources,
            sources=resolved.features.sources,
            model_version=model.card.version,
        )

    def train(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        progress: TrainProgress | None = None,
        make_current: bool = True,
        force: bool = False,
    ) -> ModelCard:
        """Train on Spotify export files (``(name, content)`` pairs), store the model, make it current.

        A model whose cross-validated error does not beat predicting the mean is stored but not made
        current (``ModelNotBetterError`` says so, naming its version), unless ``force``: predictions keep
        the model they had rather than silently getting worse.
        """
        history = merge(parse_history(data, name=name) for name, data in files)
        targets = streams_per_track(history)
        if len(targets) > MAX_TRAINING_TRACKS:
            raise HistoryTooLargeError(
                f"the history has {len(targets)} distinct tracks; one training run takes at most "
                f"{MAX_TRAINING_TRACKS} (train on the most recent export files only)"
            )
        examples: list[Example] = []
        for i, target in enumerate(targets):
            try:
                resolved = self.resolver.resolve(
                    target.track, target.artist, track_uri=target.track_uri, with_album=False
                )
            except TrackNotFoundError:
                resolved = None
            if resolved is not None and (
                resolved.features.feature_sources.looked_up or resolved.features.feature_sources.measured
            ):
                examples.append(Example(target=target, features=resolved.features, origin=resolved.origin))
            if progress is not None:
                progress(i + 1, len(targets))
        trained = train_model(examples, history=history, tracks_total=len(targets))
        cv = trained.card.cross_validation
        worse = cv.improvement <= 0.0
        self.models.save(trained, make_current=make_current and (force or not worse))
        logger.info("trained stream-count model %s on %d tracks", trained.card.version, len(examples))
        if make_current and worse and not force:
            raise ModelNotBetterError(
                f"model {trained.card.version} was stored but not made current: its {cv.folds}-fold CV MAE "
                f"{cv.mae:.3f} streams is not better than predicting the mean ({cv.baseline_mae:.3f}); "
                "more history, or Spotify credentials for more features, may help; force it to use it anyway"
            )
        return trained.card
