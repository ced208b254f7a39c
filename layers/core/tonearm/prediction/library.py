"""The library: tonearm's analyses of tracks it holds, found by ISRC or by normalised title + artist.

Every analysed upload or ingest drop that says what it is (job params ``title``/``artist``/``isrc``,
or the file's own tags) is recorded here, so that a later ``/api/features`` or a training run can use
measured audio features for that track when Spotify has none (its audio-features endpoint answers 403
to apps created after 2024-11-27). Entries are JSON objects in the blob store (S3 in AWS), one per
ISRC and one per title + artist, outside the retention rule that expires uploads and results.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from tonearm.audio.tags import normalise_isrc
from tonearm.ports import BlobStore, read_blob
from tonearm.prediction.history import track_key
from tonearm.prediction.schema import AudioFeaturesPart

LIBRARY_PREFIX = "library/"


class LibraryEntry(BaseModel):
    """One analysed track."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    isrc: str | None = None
    duration_ms: int = Field(ge=0)
    audio_features: AudioFeaturesPart
    analysis: dict[str, Any] = Field(description="The full ``tonearm/analyze`` result (AnalysisResult).")
    analysed_at: str
    source: str = Field(description='Where the audio came from: "job:<id>", "upload" or "cli".')

    @property
    def identified(self) -> bool:
        """Whether it can be found again (by ISRC, or by title and artist)."""
        return bool(self.isrc or (self.title and self.artist))


def entry_from_analysis(
    analysis: dict[str, Any],
    *,
    title: str | None,
    artist: str | None,
    album: str | None = None,
    isrc: str | None = None,
    source: str,
) -> LibraryEntry:
    """A library entry from an ``AnalysisResult`` JSON (its ``features`` are Spotify-named)."""
    features = dict(analysis.get("features") or {})
    fields = {k: v for k, v in features.items() if k in AudioFeaturesPart.model_fields}
    return LibraryEntry(
        title=title or None,
        artist=artist or None,
        album=album or None,
        isrc=normalise_isrc(isrc),
        duration_ms=int(features.get("duration_ms") or round(float(analysis.get("duration", 0)) * 1000)),
        audio_features=AudioFeaturesPart(**fields),
        analysis=analysis,
        analysed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
    )


class TrackLibrary:
    """Library entries in a ``BlobStore``."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @staticmethod
    def isrc_key(isrc: str) -> str:
        """Blob key of the entry for ``isrc``."""
        return f"{LIBRARY_PREFIX}isrc/{isrc.upper()}.json"

    @staticmethod
    def title_key(title: str, artist: str) -> str:
        """Blob key of the entry for a title and artist (hashed: titles hold any character)."""
        digest = hashlib.sha256(track_key(title, artist).encode()).hexdigest()[:40]
        return f"{LIBRARY_PREFIX}title/{digest}.json"

    def put(self, entry: LibraryEntry) -> list[str]:
        """Store ``entry`` under each key it can be found by; return the keys (none if unidentified)."""
        keys = []
        if entry.isrc:
            keys.append(self.isrc_key(entry.isrc))
        if entry.title and entry.artist:
            keys.append(self.title_key(entry.title, entry.artist))
        body = entry.model_dump_json().encode()
        for key in keys:
            self.blobs.put_bytes(key, body, content_type="application/json")
        return keys

    def by_isrc(self, isrc: str | None) -> LibraryEntry | None:
        """The entry for ``isrc``, if any."""
        clean = normalise_isrc(isrc)
        return self._get(self.isrc_key(clean)) if clean else None

    def by_title(self, title: str, artist: str) -> LibraryEntry | None:
        """The entry for this title and artist (case, accents and punctuation ignored), if any."""
        return self._get(self.title_key(title, artist))

    def _get(self, key: str) -> LibraryEntry | None:
        data = read_blob(self.blobs, key)
        if data is None:
            return None
        try:
            return LibraryEntry.model_validate(json.loads(data))
        except ValueError:
            return None
