"""A made-up listener: a catalogue of tracks with known features, and a streaming history whose stream
counts follow a known rule of those features, in both of Spotify's export formats."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tests.fakes.spotify_server import FakeSpotify, album_object, track_object
from tonearm.prediction.library import TrackLibrary, entry_from_analysis


@dataclass(frozen=True)
class CatalogueTrack:
    """One track and the truth about it."""

    track_id: str
    title: str
    artist: str
    isrc: str
    popularity: int
    release_date: str
    features: dict[str, float | int]
    streams: int


def streams_rule(features: dict[str, float | int], popularity: int, noise: float) -> int:
    """The known rule: energetic, danceable, popular tracks get streamed more (0-30)."""
    score = 2.5 * (float(features["energy"]) - 0.5) + 2.0 * (float(features["danceability"]) - 0.5)
    score += 1.5 * (popularity - 50) / 50
    return int(np.clip(np.rint(np.expm1(1.6 + score + noise)), 0, 30))


def make_catalogue(n: int, *, seed: int = 0, offset: int = 0) -> list[CatalogueTrack]:
    """``n`` tracks with random features and their rule-given stream counts."""
    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(offset, offset + n):
        features: dict[str, float | int] = {
            "danceability": round(float(rng.uniform(0.1, 0.95)), 3),
            "energy": round(float(rng.uniform(0.05, 0.98)), 3),
            "valence": round(float(rng.uniform(0, 1)), 3),
            "acousticness": round(float(rng.uniform(0, 1)), 3),
            "instrumentalness": round(float(rng.uniform(0, 1)), 3),
            "speechiness": round(float(rng.uniform(0, 0.3)), 3),
            "liveness": round(float(rng.uniform(0, 0.6)), 3),
            "loudness": round(float(rng.uniform(-25, -5)), 2),
            "tempo": round(float(rng.uniform(70, 170)), 1),
            "key": int(rng.integers(-1, 12)),
            "mode": int(rng.integers(0, 2)),
            "time_signature": 4,
            "duration_ms": int(rng.integers(120_000, 360_000)),
        }
        popularity = int(rng.integers(0, 101))
        year = int(rng.integers(1970, 2025))
        tracks.append(
            CatalogueTrack(
                track_id=f"trk{i:019d}",
                title=f"Song number {i}",
                artist=f"Artist {i % 17}",
                isrc=f"USTA1{year % 100:02d}{i:05d}",
                popularity=popularity,
                release_date=f"{year}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
                features=features,
                streams=streams_rule(features, popularity, float(rng.normal(0, 0.15))),
            )
        )
    return tracks


def history_entries(tracks: list[CatalogueTrack], *, extended: bool, seed: int = 1) -> list[dict[str, Any]]:
    """Plays that give each track exactly its stream count (plus skips under 30 s), oldest first."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    plays: list[tuple[datetime, CatalogueTrack, int]] = []
    for t in tracks:
        skips = int(rng.integers(1 if t.streams == 0 else 0, 4))
        lengths = [int(rng.integers(30_000, 300_000)) for _ in range(t.streams)]
        lengths += [int(rng.integers(1_000, 29_999)) for _ in range(skips)]
        for ms in lengths:
            plays.append((start + timedelta(minutes=int(rng.integers(0, 525_600))), t, ms))
    plays.sort(key=lambda p: p[0])
    out = []
    for when, t, ms in plays:
        if extended:
            out.append(
                {
                    "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "platform": "android",
                    "ms_played": ms,
                    "conn_country": "CH",
                    "master_metadata_track_name": t.title,
                    "master_metadata_album_artist_name": t.artist,
                    "master_metadata_album_album_name": f"Album of {t.artist}",
                    "spotify_track_uri": f"spotify:track:{t.track_id}",
                    "episode_name": None,
                    "spotify_episode_uri": None,
                    "reason_start": "trackdone",
                    "reason_end": "trackdone",
                    "shuffle": False,
                    "skipped": ms < 30_000,
                }
            )
        else:
            out.append(
                {
                    "endTime": when.strftime("%Y-%m-%d %H:%M"),
                    "artistName": t.artist,
                    "trackName": t.title,
                    "msPlayed": ms,
                }
            )
    if extended:  # a podcast episode, as real extended exports hold them
        out.append(
            {
                "ts": "2023-06-01T10:00:00Z",
                "ms_played": 1_200_000,
                "master_metadata_track_name": None,
                "master_metadata_album_artist_name": None,
                "spotify_track_uri": None,
                "episode_name": "A podcast",
                "spotify_episode_uri": "spotify:episode:abc",
            }
        )
    return out


def history_file(tracks: list[CatalogueTrack], *, extended: bool, seed: int = 1) -> bytes:
    """The export file's bytes."""
    return json.dumps(history_entries(tracks, extended=extended, seed=seed)).encode()


def analysis_of(t: CatalogueTrack) -> dict[str, Any]:
    """What tonearm's analysis would have reported for the track (its known features)."""
    return {
        "duration": t.features["duration_ms"] / 1000,
        "bpm": t.features["tempo"],
        "features": dict(t.features),
    }


def fill_library(library: TrackLibrary, tracks: list[CatalogueTrack], *, with_isrc: bool = False) -> None:
    """Record each track's features as if its audio had been analysed."""
    for t in tracks:
        library.put(
            entry_from_analysis(
                analysis_of(t),
                title=t.title,
                artist=t.artist,
                isrc=t.isrc if with_isrc else None,
                source="test",
            )
        )


def fill_spotify(fake: FakeSpotify, tracks: list[CatalogueTrack]) -> None:
    """Put each track in the fake Spotify catalogue (metadata only: audio features answer 403)."""
    for t in tracks:
        album = album_object(f"alb{t.track_id[3:]}", f"Album of {t.artist}", t.artist, t.release_date)
        fake.add(
            track_object(
                t.track_id,
                t.title,
                [t.artist],
                album,
                popularity=t.popularity,
                duration_ms=int(t.features["duration_ms"]),
                isrc=t.isrc,
            )
        )
