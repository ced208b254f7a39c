"""A local server that speaks the parts of Spotify's Web API tonearm uses, for spotipy to talk to.

Token (client credentials, Basic auth), search, tracks, albums, and audio-features (403 by default:
the endpoint is closed to new apps). Failure modes on demand: ``rate_limit([1, 5])`` makes the next
two API requests answer 429 with those ``Retry-After`` values; wrong credentials get ``invalid_client``;
a wrong bearer token gets 401. Every request is logged in ``requests``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tonearm.prediction.history import normalise


def album_object(
    album_id: str, name: str, artist: str, release_date: str, *, markets: int = 3
) -> dict[str, Any]:
    """A simplified album object as Spotify nests it in a track (and, with tracks, returns it)."""
    precision = {1: "year", 2: "month", 3: "day"}[len(release_date.split("-"))]
    return {
        "album_type": "album",
        "artists": [_artist(artist)],
        "available_markets": ["US", "GB", "DE", "FR", "JP"][:markets],
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "href": f"https://api.spotify.com/v1/albums/{album_id}",
        "id": album_id,
        "images": [],
        "name": name,
        "release_date": release_date,
        "release_date_precision": precision,
        "total_tracks": 10,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
    }


def track_object(
    track_id: str,
    name: str,
    artists: list[str],
    album: dict[str, Any],
    *,
    popularity: int = 50,
    duration_ms: int = 200_000,
    explicit: bool = False,
    markets: int = 5,
    isrc: str | None = None,
) -> dict[str, Any]:
    """A full track object (``GET /v1/tracks/{id}``)."""
    return {
        "album": album,
        "artists": [_artist(a) for a in artists],
        "available_markets": ["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU"][:markets],
        "disc_number": 1,
        "duration_ms": duration_ms,
        "explicit": explicit,
        "external_ids": {"isrc": isrc} if isrc else {},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"https://api.spotify.com/v1/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": name,
        "popularity": popularity,
        "preview_url": None,
        "track_number": 1,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


def _artist(name: str) -> dict[str, Any]:
    artist_id = base64.b32encode(name.encode()).decode().strip("=")[:22].lower()
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"https://api.spotify.com/v1/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


@dataclass
class FakeSpotify:
    """The server's state: catalogue, credentials, failure switches, request log."""

    client_id: str = "test-client"
    client_secret: str = "test-secret"
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)
    albums: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per track id; served only when ``audio_features_status`` is 200
    audio_features: dict[str, dict[str, Any]] = field(default_factory=dict)
    audio_features_status: int = 403
    requests: list[str] = field(default_factory=list)
    url: str = ""
    _tokens: set[str] = field(default_factory=set)
    _rate_limits: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        """What ``SPOTIFY_API_URL`` is set to."""
        return f"{self.url}/v1/"

    @property
    def token_url(self) -> str:
        """What ``SPOTIFY_TOKEN_URL`` is set to."""
        return f"{self.url}/api/token"

    def add(self, track: dict[str, Any]) -> None:
        """Put a track (and its album, with the track listed) in the catalogue."""
        self.tracks[track["id"]] = track
        album = dict(track["album"])
        album.setdefault("tracks", {"items": []})
        self.albums[album["id"]] = album

    def rate_limit(self, retry_after: list[int]) -> None:
        """The next ``len(retry_after)`` API requests answer 429 with these Retry-After values."""
        with self._lock:
            self._rate_limits.extend(retry_after)

    def api_requests(self, prefix: str) -> list[str]:
        """Logged request paths starting with ``prefix``."""
        return [r for r in self.requests if r.startswith(prefix)]

    # -- request handling -------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        self.requests.append(f"{method} {path}")
        url = urlparse(path)
        if url.path == "/api/token":
            return self._token(headers, body)
        if not url.path.startswith("/v1/"):
            return 404, {}, _error(404, "Service not found")
        with self._lock:
            if self._rate_limits:
                return (
                    429,
                    {"Retry-After": str(self._rate_limits.pop(0))},
                    _error(429, "API rate limit exceeded"),
                )
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return 401, {}, _error(401, "Invalid access token")
        query = parse_qs(url.query)
        parts = url.path[len("/v1/") :].strip("/").split("/")
        if parts[0] == "search":
            return 200, {}, self._search(query)
        if parts[0] == "tracks" and len(parts) == 2:
            track = self.tracks.get(parts[1])
            return (200, {}, track) if track else (404, {}, _error(404, "Resource not found"))
        if parts[0] == "tracks":
            ids = (query.get("ids") or [""])[0].split(",")
            return 200, {}, {"tracks": [self.tracks.get(i) for i in ids]}
        if parts[0] == "albums" and len(parts) == 2:
            album = self.albums.get(parts[1])
            return (200, {}, album) if album else (404, {}, _error(404, "Resource not found"))
        if parts[0] == "audio-features":
            if self.audio_features_status != 200:
                return self.audio_features_status, {}, _error(self.audio_features_status, "Forbidden")
            ids = parts[1:] or (query.get("ids") or [""])[0].split(",")
            return 200, {}, {"audio_features": [self.audio_features.get(i) for i in ids]}
        return 404, {}, _error(404, "Service not found")

    def _token(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = parse_qs(body.decode())
        if headers.get("Authorization") != f"Basic {expected}":
            return 400, {}, {"error": "invalid_client", "error_description": "Invalid client"}
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {}, {"error": "unsupported_grant_type", "error_description": "grant_type"}
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        return 200, {}, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def _search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        q = (query.get("q") or [""])[0]
        limit = int((query.get("limit") or ["10"])[0])
        title, artist = _field(q, "track"), _field(q, "artist")
        items = [
            t
            for t in self.tracks.values()
            if (not title or title in normalise(t["name"]))
            and (not artist or any(artist in normalise(a["name"]) for a in t["artists"]))
        ]
        return {
            "tracks": {
                "href": "",
                "items": items[:limit],
                "limit": limit,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": len(items),
            }
        }


def _field(q: str, name: str) -> str:
    """The value of ``name:`` in a Spotify search query (up to the next ``field:``)."""
    marker = f"{name}:"
    if marker not in q:
        return ""
    rest = q.split(marker, 1)[1]
    for other in ("track:", "artist:", "album:", "isrc:", "year:"):
        rest = rest.split(other, 1)[0]
    return normalise(rest)


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


@contextmanager
def serve_fake_spotify(fake: FakeSpotify | None = None) -> Iterator[FakeSpotify]:
    """Run ``fake`` (or a new one) on a free loopback port for the duration of the block."""
    fake = fake or FakeSpotify()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = fake.handle(method, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
