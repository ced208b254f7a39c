"""Spotify's Web API through spotipy (client credentials): the ``MetadataSource`` adapter.

Behaviour a caller can rely on:

* **429**: a ``Retry-After`` of at most ``max_wait_s`` is waited out (twice at most); a longer one
  becomes ``SpotifyRateLimitedError`` (503 with ``Retry-After``) at once, never a hung request.
  urllib3's own retries are limited to 5xx and ignore Retry-After: spotipy's default session would
  sleep through any Retry-After, however long.
* **403 on audio features** (the endpoint is closed to apps created after 2024-11-27): ``None``, and
  the endpoint is not asked again for ``forbidden_ttl_s``: a training run would otherwise spend one
  refused request per track.
* **Bad credentials** (token endpoint 400/401, API 401): ``SpotifyAuthError`` (502).
* **404 / no search hit**: ``None``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import requests.adapters
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOauthError
from urllib3.util.retry import Retry

from tonearm.prediction.history import normalise
from tonearm.prediction.sources import (
    SpotifyAuthError,
    SpotifyObject,
    SpotifyRateLimitedError,
    SpotifyUnavailableError,
)

logger = logging.getLogger(__name__)
# spotipy logs every non-2xx answer at ERROR, including the expected 403 of audio-features and the 429s
# handled below; the errors raised here say what happened instead
logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)

T = TypeVar("T")


class SpotifyMetadata:
    """``MetadataSource`` on Spotify's Web API."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        api_url: str = "https://api.spotify.com/v1/",
        token_url: str = "https://accounts.spotify.com/api/token",
        timeout_s: float = 10.0,
        max_wait_s: float = 2.0,
        forbidden_ttl_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        session = _session()
        auth = SpotifyClientCredentials(
            client_id=client_id,
            client_secret=client_secret,
            cache_handler=MemoryCacheHandler(),
            requests_timeout=timeout_s,
            requests_session=session,
        )
        auth.OAUTH_TOKEN_URL = token_url
        self.client = spotipy.Spotify(auth_manager=auth, requests_timeout=timeout_s, requests_session=session)
        self.client.prefix = api_url if api_url.endswith("/") else api_url + "/"
        self.max_wait_s = max_wait_s
        self.forbidden_ttl_s = forbidden_ttl_s
        self.sleep = sleep
        self._features_forbidden_until = 0.0

    def search_track(self, song: str, artist: str) -> SpotifyObject | None:
        """The search hit whose title and artist match best (exact normalised match first)."""
        query = f"track:{song} artist:{artist}"
        result = self._call(lambda: self.client.search(q=query, type="track", limit=5))
        items = [i for i in ((result or {}).get("tracks") or {}).get("items") or [] if i]
        if not items:
            return None
        want_title, want_artist = normalise(song), normalise(artist)

        def score(item: dict[str, Any]) -> int:
            names = {normalise(a.get("name", "")) for a in item.get("artists") or []}
            return 2 * (normalise(item.get("name", "")) == want_title) + (want_artist in names)

        best: SpotifyObject = max(items, key=score)
        return best

    def track(self, track_id: str) -> SpotifyObject | None:
        """``GET /v1/tracks/{id}``."""
        return self._call(lambda: self.client.track(track_id), missing_ok=True)

    def album(self, album_id: str) -> SpotifyObject | None:
        """``GET /v1/albums/{id}``."""
        return self._call(lambda: self.client.album(album_id), missing_ok=True)

    def audio_features(self, track_id: str) -> SpotifyObject | None:
        """``GET /v1/audio-features``, or ``None`` (403: closed to this app; 404: none)."""
        if time.monotonic() < self._features_forbidden_until:
            return None

        def call() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # spotipy marks the endpoint deprecated
                return self.client.audio_features([track_id])

        try:
            found = self._call(call, missing_ok=True)
        except _Forbidden:
            self._features_forbidden_until = time.monotonic() + self.forbidden_ttl_s
            return None
        if isinstance(found, list):
            found = found[0] if found else None
        return dict(found) if found else None

    def _call(self, fn: Callable[[], T], *, missing_ok: bool = False) -> T | None:
        for _attempt in range(3):
            try:
                return fn()
            except SpotifyOauthError as exc:
                raise SpotifyAuthError(
                    f"Spotify refused the client credentials ({exc.error or 'error'}: "
                    f"{exc.error_description or exc}); fix SPOTIFY_CLIENT_ID/SPOTIFY_CLIENT_SECRET (or the "
                    "Spotify secret), or remove them to run on tonearm's library alone"
                ) from None
            except spotipy.SpotifyException as exc:
                status = exc.http_status
                if status == 429:
                    wait = _retry_after(exc.headers)
                    if wait is not None and wait <= self.max_wait_s:
                        self.sleep(wait)
                        continue
                    after = int(wait if wait is not None else 30)
                    raise SpotifyRateLimitedError(
                        f"Spotify is rate-limiting tonearm's client; retry after {after} s",
                        retry_after_s=after,
                    ) from None
                if status == 401:
                    raise SpotifyAuthError(f"Spotify answered 401: {exc.msg}") from None
                if status == 403:
                    raise _Forbidden() from None
                if status in (400, 404) and missing_ok:
                    return None
                raise SpotifyUnavailableError(f"Spotify answered HTTP {status}: {exc.msg}") from None
            except requests.RequestException as exc:
                raise SpotifyUnavailableError(f"Spotify could not be reached: {exc}") from None
        raise SpotifyRateLimitedError(
            "Spotify kept rate-limiting tonearm's client", retry_after_s=int(max(1.0, self.max_wait_s))
        )


def _session() -> requests.Session:
    """A session that retries 5xx with backoff and never sleeps through a Retry-After by itself.

    spotipy's default session retries 429 too, and urllib3 then sleeps for whatever Retry-After says
    (Spotify sends hours when an app is throttled); ``_call`` decides about 429s instead.
    """
    retry = Retry(
        total=2,
        connect=2,
        read=False,
        status=2,
        backoff_factor=0.2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=False,
        raise_on_status=False,  # the last 5xx answer reaches spotipy, which reports its status
    )
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _Forbidden(Exception):
    """Spotify answered 403."""


def _retry_after(headers: Any) -> float | None:
    try:
        value = (headers or {}).get("Retry-After")
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None
