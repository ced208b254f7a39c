"""Title, artist, album and ISRC from an audio file's tags (ID3, Vorbis comments, RIFF INFO, MP4).

Read with PyAV (FFmpeg), which normalises most tag systems to ``title``/``artist``/``album``; an
ISRC is ``TSRC`` in ID3 and ``ISRC`` in Vorbis comments. Unreadable files simply have no tags: the
decoder reports what is wrong with them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")


@dataclass(frozen=True)
class TrackTags:
    """The identifying tags of a file (``None`` where absent)."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    isrc: str | None = None


def normalise_isrc(value: str | None) -> str | None:
    """``"us-rc1-76-07839"`` → ``"USRC17607839"``; ``None`` if it is not a well-formed ISRC."""
    if not value:
        return None
    compact = re.sub(r"[\s-]", "", value).upper()
    return compact if _ISRC.match(compact) else None


def read_tags(path: str | os.PathLike[str]) -> TrackTags:
    """The file's identifying tags; empty ``TrackTags`` when it has none or cannot be opened."""
    import av

    try:
        with av.open(os.fspath(path)) as container:
            found: dict[str, str] = {}
            for source in (container.metadata, *(s.metadata for s in container.streams)):
                for key, value in source.items():
                    if value and value.strip():
                        found.setdefault(key.lower(), value.strip())
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return TrackTags()
    return TrackTags(
        title=found.get("title"),
        artist=found.get("artist") or found.get("album_artist"),
        album=found.get("album"),
        isrc=normalise_isrc(found.get("isrc") or found.get("tsrc")),
    )
