"""Spotify streaming-history exports → streams per track (the model's target).

Two export formats exist:

* account data, ``StreamingHistory_music_*.json`` (older: ``StreamingHistory*.json``): a list of
  ``{"endTime": "2023-01-05 21:13", "artistName", "trackName", "msPlayed"}``;
* extended streaming history, ``Streaming_History_Audio_*.json``: a list of ``{"ts":
  "2023-01-05T21:13:44Z", "ms_played", "master_metadata_track_name",
  "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri", ...}``
  where podcast episodes and audiobooks have no track name (they are skipped, and counted).

A *stream* is a play of at least 30 s (Spotify's own royalty rule); a track's target is its number of
streams, capped at 30 (MusicFlow's range). Plays shorter than 30 s still put the track in the data
set, with the streams it did reach (often 0): they are the listener's skips.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tonearm.errors import TonearmError

#: A play counts as a stream from this many milliseconds on.
STREAM_MIN_MS = 30_000
#: Targets are capped here: MusicFlow's training range is 0-30 streams.
MAX_STREAMS = 30


class HistoryFormatError(TonearmError):
    """A history file is not one of Spotify's export formats."""

    code = "invalid_history"
    status = 400


@dataclass(frozen=True)
class Play:
    """One listening event."""

    ended_at: datetime
    track: str
    artist: str
    ms_played: int
    album: str | None = None
    #: ``spotify:track:<id>``, in the extended format only
    track_uri: str | None = None


@dataclass(frozen=True)
class TrackStreams:
    """The target for one track."""

    track: str
    artist: str
    streams: int
    plays: int
    ms_played: int
    album: str | None = None
    track_uri: str | None = None


@dataclass(frozen=True)
class History:
    """Plays read from one or more export files."""

    plays: list[Play]
    #: entries skipped, by reason (podcast episodes, audiobooks, entries without a track name)
    skipped: dict[str, int]
    formats: list[str]

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """First and last play."""
        if not self.plays:
            return None
        times = [p.ended_at for p in self.plays]
        return min(times), max(times)


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a title or artist (the matching key)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


def track_key(track: str, artist: str) -> str:
    """The key that identifies a track by title and artist."""
    return f"{normalise(track)}\x1f{normalise(artist)}"


def parse_history(data: bytes, *, name: str = "history") -> History:
    """Read one export file (either format); raise ``HistoryFormatError`` naming what is wrong."""
    try:
        entries = json.loads(data)
    except ValueError:
        raise HistoryFormatError(f"{name} is not JSON; expected a Spotify streaming-history export") from None
    if not isinstance(entries, list):
        raise HistoryFormatError(f"{name} must be a JSON list of plays (Spotify's export format)")
    plays: list[Play] = []
    skipped: dict[str, int] = {}
    fmt: str | None = None
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise HistoryFormatError(f"{name}[{i}] is not an object")
        entry_format = _format_of(entry)
        if entry_format is None:
            raise HistoryFormatError(
                f"{name}[{i}] is neither account-data format (endTime, artistName, trackName, msPlayed) "
                "nor extended format (ts, ms_played, master_metadata_track_name, ...)"
            )
        fmt = fmt or entry_format
        play = _play(entry, entry_format, f"{name}[{i}]")
        if isinstance(play, str):
            skipped[play] = skipped.get(play, 0) + 1
        else:
            plays.append(play)
    return History(plays=plays, skipped=skipped, formats=[fmt] if fmt else [])


def merge(histories: Iterable[History]) -> History:
    """One history from several files (Spotify splits exports into numbered files)."""
    plays: list[Play] = []
    skipped: dict[str, int] = {}
    formats: list[str] = []
    for h in histories:
        plays.extend(h.plays)
        for reason, n in h.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        formats.extend(f for f in h.formats if f not in formats)
    # the same play exported twice (overlapping files) counts once
    unique = {(p.ended_at, track_key(p.track, p.artist), p.ms_played): p for p in plays}
    return History(plays=sorted(unique.values(), key=lambda p: p.ended_at), skipped=skipped, formats=formats)


def streams_per_track(
    history: History, *, min_ms: int = STREAM_MIN_MS, cap: int = MAX_STREAMS
) -> list[TrackStreams]:
    """Count streams (plays ≥ ``min_ms``) per track, capped at ``cap``; tracks ordered by key."""
    groups: dict[str, list[Play]] = {}
    for play in history.plays:
        groups.setdefault(track_key(play.track, play.artist), []).append(play)
    out: list[TrackStreams] = []
    for key in sorted(groups):
        plays = groups[key]
        first = plays[0]
        uri = next((p.track_uri for p in plays if p.track_uri), None)
        album = next((p.album for p in plays if p.album), None)
        out.append(
            TrackStreams(
                track=first.track,
                artist=first.artist,
                streams=min(cap, sum(1 for p in plays if p.ms_played >= min_ms)),
                plays=len(plays),
                ms_played=sum(p.ms_played for p in plays),
                album=album,
                track_uri=uri,
            )
        )
    return out


def _format_of(entry: Mapping[str, Any]) -> str | None:
    if {"endTime", "msPlayed"} <= entry.keys():
        return "account"
    if {"ts", "ms_played"} <= entry.keys():
        return "extended"
    return None


def _play(entry: Mapping[str, Any], fmt: str, where: str) -> Play | str:
    try:
        if fmt == "account":
            track, artist = entry.get("trackName"), entry.get("artistName")
            if not track or not artist:
                return "no track name"
            ended = datetime.strptime(str(entry["endTime"]), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            return Play(ended, str(track), str(artist), int(entry["msPlayed"]))
        track = entry.get("master_metadata_track_name")
        artist = entry.get("master_metadata_album_artist_name")
        if not track or not artist:
            if entry.get("episode_name") or entry.get("spotify_episode_uri"):
                return "podcast episode"
            if entry.get("audiobook_title") or entry.get("audiobook_uri"):
                return "audiobook"
            return "no track name"
        ended = datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))
        if ended.tzinfo is None:
            ended = ended.replace(tzinfo=UTC)
        uri = entry.get("spotify_track_uri")
        return Play(
            ended,
            str(track),
            str(artist),
            int(entry["ms_played"]),
            album=entry.get("master_metadata_album_album_name") or None,
            track_uri=str(uri) if uri else None,
        )
    except (TypeError, ValueError) as exc:
        raise HistoryFormatError(f"{where}: {exc}") from None
