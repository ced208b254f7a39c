"""Joining what Spotify knows about a track with what tonearm measured from its audio.

Precedence per feature: Spotify's value when it has one (looked up), else tonearm's measurement of
audio it holds (measured), else missing. Audio features come whole from one source: Spotify's
endpoint if it answers, else the library entry (found by the ISRC Spotify reports, then by title +
artist) or the uploaded file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tonearm.errors import NotFoundError
from tonearm.prediction.library import LibraryEntry, TrackLibrary
from tonearm.prediction.schema import (
    AlbumPart,
    AudioFeaturesPart,
    Features,
    FeatureSources,
    SongMetadata,
    SourceStatus,
    TrackPart,
)
from tonearm.prediction.sources import MetadataSource, SpotifyObject
from tonearm.prediction.vector import MODEL_FEATURES

_TRACK_METADATA = ("number_of_available_markets", "num_artists", "explicit", "popularity")
_ALBUM_METADATA = ("release_year", "release_month", "release_day", "date_is_complete")
_AUDIO = tuple(f for f in MODEL_FEATURES if f in AudioFeaturesPart.model_fields)


class TrackNotFoundError(NotFoundError):
    """Neither Spotify nor the library knows the track."""

    code = "track_not_found"


@dataclass(frozen=True)
class ResolvedTrack:
    """Everything found for one track."""

    features: Features
    song_metadata: SongMetadata
    spotify_track: SpotifyObject | None
    spotify_album: SpotifyObject | None
    spotify_audio_features: SpotifyObject | None
    library_entry: LibraryEntry | None

    @property
    def origin(self) -> str:
        """``spotify``, ``library`` or ``both``: where the features came from (for the model card)."""
        spotify = self.spotify_track is not None
        measured = self.library_entry is not None
        return "both" if spotify and measured else "spotify" if spotify else "library"


def split_release_date(date: str | None, precision: str | None) -> AlbumPart:
    """Spotify's ``release_date`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) as MusicFlow's parts.

    Parts the precision does not give are missing (``None``), not filled with 1 as MusicFlow did;
    ``date_is_complete`` says whether the day is known.
    """
    if not date:
        return AlbumPart(release_date_precision=precision)
    parts = [int(p) for p in date.split("-")[:3] if p.isdigit()]
    year, month, day = [*parts, None, None, None][:3]
    return AlbumPart(
        release_date_precision=precision or ("day", "month", "year")[3 - len(parts)] if parts else precision,
        release_year=year,
        release_month=month,
        release_day=day,
        date_is_complete=len(parts) == 3,
    )


class FeatureResolver:
    """Finds a track's features in Spotify (when configured) and the library."""

    def __init__(self, *, library: TrackLibrary, metadata: MetadataSource | None) -> None:
        self.library = library
        self.metadata = metadata

    def resolve(
        self,
        song: str,
        artist: str,
        *,
        track_uri: str | None = None,
        measured: LibraryEntry | None = None,
        with_album: bool = True,
    ) -> ResolvedTrack:
        """Features for ``song`` by ``artist``.

        ``track_uri`` (``spotify:track:<id>``) skips the search; ``measured`` is an analysis of the
        caller's own audio, which takes the library's place. Raises ``TrackNotFoundError`` when no
        source knows the track.
        """
        track = album = spotify_features = None
        spotify_status = "not_configured"
        if self.metadata is not None:
            track_id = track_uri.rsplit(":", 1)[-1] if track_uri else None
            track = self.metadata.track(track_id) if track_id else None
            if track is None:
                found = self.metadata.search_track(song, artist)
                track = self.metadata.track(found["id"]) if found and found.get("id") else found
            spotify_status = "not_found"
            if track is not None:
                spotify_status = "found"
                album_id = (track.get("album") or {}).get("id")
                album = self.metadata.album(album_id) if with_album and album_id else None
                spotify_features = self.metadata.audio_features(track["id"]) if track.get("id") else None
                if spotify_features is None:
                    spotify_status = "audio_features_unavailable"

        entry, library_status = measured, "upload" if measured is not None else "not_found"
        if entry is None and spotify_features is None:
            isrc = ((track or {}).get("external_ids") or {}).get("isrc")
            entry = self.library.by_isrc(isrc)
            library_status = "isrc" if entry else "not_found"
            if entry is None:
                names = [(song, artist)]
                if track is not None and track.get("artists"):
                    names.append((str(track.get("name", "")), str(track["artists"][0].get("name", ""))))
                for title, name in names:
                    entry = self.library.by_title(title, name)
                    if entry is not None:
                        library_status = "title_artist"
                        break
        if track is None and entry is None:
            where = "Spotify has no such track and " if self.metadata is not None else ""
            raise TrackNotFoundError(
                f"{where}tonearm's library holds no analysed audio for {song!r} by {artist!r}: upload the "
                "audio with POST /api/prediction (song and artist as form fields), run a tonearm/analyze "
                "job with title and artist params, or drop the file into the ingest bucket"
                + ("" if self.metadata is not None else "; or configure Spotify credentials")
            )
        features = _assemble(
            song, artist, track, album, spotify_features, entry, spotify_status, library_status
        )
        artists = [str(a.get("name", "")) for a in (track or {}).get("artists") or []]
        metadata = SongMetadata(
            song=features.track.track_name,
            artist=artists or [features.track.artist_name],
            album=features.album.album,
        )
        return ResolvedTrack(features, metadata, track, album, spotify_features, entry)


def _assemble(
    song: str,
    artist: str,
    track: SpotifyObject | None,
    album: SpotifyObject | None,
    spotify_features: SpotifyObject | None,
    entry: LibraryEntry | None,
    spotify_status: str,
    library_status: str,
) -> Features:
    origin: dict[str, str] = {}
    t: dict[str, Any] = track or {}
    album_obj: dict[str, Any] = album or t.get("album") or {}
    track_part = TrackPart(
        track_name=str(t.get("name") or (entry.title if entry and entry.title else song)),
        artist_name=str(
            ((t.get("artists") or [{}])[0]).get("name")
            or (entry.artist if entry and entry.artist else artist)
        ),
    )
    if track is not None:
        if "available_markets" in t:
            track_part.number_of_available_markets = len(t["available_markets"] or [])
        track_part.num_artists = len(t.get("artists") or []) or None
        track_part.explicit = t.get("explicit")
        track_part.popularity = t.get("popularity")
        track_part.duration_ms = t.get("duration_ms")
        track_part.isrc = (t.get("external_ids") or {}).get("isrc")
        origin.update(dict.fromkeys((*_TRACK_METADATA, "duration_ms"), "looked_up"))
    if entry is not None:
        if track_part.duration_ms is None:
            track_part.duration_ms = entry.duration_ms
            origin["duration_ms"] = "measured"
        track_part.isrc = track_part.isrc or entry.isrc
    album_part = split_release_date(album_obj.get("release_date"), album_obj.get("release_date_precision"))
    album_part.album = album_obj.get("name") or (entry.album if entry else None)
    if album_obj.get("release_date"):
        origin.update(dict.fromkeys(_ALBUM_METADATA, "looked_up"))
    if spotify_features is not None:
        audio = AudioFeaturesPart(
            **{k: v for k, v in spotify_features.items() if k in AudioFeaturesPart.model_fields}
        )
        origin.update(dict.fromkeys((*_AUDIO, "key"), "looked_up"))
    elif entry is not None:
        audio = entry.audio_features.model_copy()
        origin.update(dict.fromkeys((*_AUDIO, "key"), "measured"))
    else:
        audio = AudioFeaturesPart()
    audio.id = str(t["id"]) if t.get("id") else audio.id
    sources = FeatureSources()
    parts = (track_part, album_part, audio)
    for name in MODEL_FEATURES:
        value = next((getattr(p, name) for p in parts if name in type(p).model_fields), None)
        if value is None:
            sources.missing.append(name)
        elif origin.get(name) == "measured":
            sources.measured.append(name)
        else:
            sources.looked_up.append(name)
    return Features(
        track=track_part,
        album=album_part,
        audio_features=audio,
        feature_sources=sources,
        sources=SourceStatus(spotify=spotify_status, library=library_status),  # type: ignore[arg-type]
    )
