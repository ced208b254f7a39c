"""The Spotify adapter (spotipy) against a local server that speaks Spotify's Web API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.spotify_server import FakeSpotify, album_object, serve_fake_spotify, track_object
from tonearm.adapters.spotify import SpotifyMetadata
from tonearm.prediction.sources import SpotifyAuthError, SpotifyRateLimitedError


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    with serve_fake_spotify() as server:
        album = album_object("alb1", "Currents", "Tame Impala", "2015-07-17")
        server.add(
            track_object(
                "trk1",
                "The Less I Know The Better",
                ["Tame Impala"],
                album,
                popularity=83,
                isrc="AUUM71500303",
            )
        )
        server.add(track_object("trk2", "The Less I Know", ["Other Band"], album, popularity=10))
        yield server


def client(
    fake: FakeSpotify, *, secret: str | None = None, slept: list[float] | None = None
) -> SpotifyMetadata:
    return SpotifyMetadata(
        client_id=fake.client_id,
        client_secret=secret or fake.client_secret,
        api_url=fake.api_url,
        token_url=fake.token_url,
        max_wait_s=2.0,
        sleep=(slept.append if slept is not None else lambda _s: None),
    )


def test_search_track_and_album_return_spotifys_objects(fake: FakeSpotify) -> None:
    spotify = client(fake)
    found = spotify.search_track("the less i know the better", "tame impala")
    assert found is not None and found["id"] == "trk1"
    track = spotify.track("trk1")
    assert track is not None and track["external_ids"]["isrc"] == "AUUM71500303"
    album = spotify.album("alb1")
    assert album is not None and album["release_date"] == "2015-07-17"
    assert spotify.track("nope") is None and spotify.search_track("nothing", "nobody") is None
    assert fake.api_requests("POST /api/token") == ["POST /api/token"]  # the token is reused


def test_audio_features_403_gives_none_and_is_not_asked_again(fake: FakeSpotify) -> None:
    spotify = client(fake)
    assert spotify.audio_features("trk1") is None
    assert spotify.audio_features("trk2") is None
    assert len(fake.api_requests("GET /v1/audio-features")) == 1


def test_audio_features_are_used_when_spotify_still_serves_them(fake: FakeSpotify) -> None:
    fake.audio_features_status = 200
    fake.audio_features["trk1"] = {"id": "trk1", "energy": 0.74, "key": 4, "tempo": 116.879}
    found = client(fake).audio_features("trk1")
    assert found is not None and found["energy"] == 0.74


def test_a_short_retry_after_is_waited_out(fake: FakeSpotify) -> None:
    slept: list[float] = []
    fake.rate_limit([1, 2])
    assert client(fake, slept=slept).track("trk1") is not None
    assert slept == [1.0, 2.0]


def test_a_long_retry_after_fails_at_once_with_its_value(fake: FakeSpotify) -> None:
    slept: list[float] = []
    fake.rate_limit([3600])
    with pytest.raises(SpotifyRateLimitedError) as info:
        client(fake, slept=slept).track("trk1")
    assert info.value.retry_after_s == 3600 and info.value.status == 503 and slept == []


def test_wrong_credentials_are_an_auth_error(fake: FakeSpotify) -> None:
    with pytest.raises(SpotifyAuthError, match="invalid_client") as info:
        client(fake, secret="wrong").track("trk1")
    assert info.value.status == 502
