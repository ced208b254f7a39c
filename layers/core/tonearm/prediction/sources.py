"""The metadata port (Spotify's Web API, through ``tonearm.adapters.spotify``) and its errors."""

from __future__ import annotations

from typing import Any, Protocol

from tonearm.errors import TonearmError

SpotifyObject = dict[str, Any]


class MetadataSource(Protocol):
    """Track metadata by search or id, as Spotify's Web API returns it."""

    def search_track(self, song: str, artist: str) -> SpotifyObject | None:
        """The best-matching track object, or ``None``."""

    def track(self, track_id: str) -> SpotifyObject | None:
        """The track object (``GET /v1/tracks/{id}``), or ``None`` if there is none."""

    def album(self, album_id: str) -> SpotifyObject | None:
        """The album object (``GET /v1/albums/{id}``), or ``None``."""

    def audio_features(self, track_id: str) -> SpotifyObject | None:
        """The audio-features object, or ``None`` when Spotify has none or refuses (403)."""


class SpotifyRateLimitedError(TonearmError):
    """Spotify answered 429 for longer than tonearm waits; try again after ``retry_after_s``."""

    code = "spotify_rate_limited"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SpotifyAuthError(TonearmError):
    """Spotify refused the configured client credentials."""

    code = "spotify_auth_failed"
    status = 502


class SpotifyUnavailableError(TonearmError):
    """Spotify could not be reached or answered with an error tonearm cannot work around."""

    code = "spotify_unavailable"
    status = 502
