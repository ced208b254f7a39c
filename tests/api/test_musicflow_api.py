"""MusicFlow's API on the local stack, with and without Spotify credentials (a local fake Spotify)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tests.fakes.listener import fill_library, fill_spotify, history_file, make_catalogue
from tests.fakes.spotify_server import FakeSpotify, serve_fake_spotify
from tonearm.local_stack.runtime import LocalRuntime

KEY = "test-key"
CATALOGUE = make_catalogue(60, seed=11)


def make_client(runtime: LocalRuntime, spotify: FakeSpotify | None = None) -> TestClient:
    from tonearm.api.app import create_app

    settings = runtime.services.settings
    if spotify is not None:
        settings.spotify_client_id, settings.spotify_client_secret = spotify.client_id, spotify.client_secret
        settings.spotify_api_url, settings.spotify_token_url = spotify.api_url, spotify.token_url
    return TestClient(create_app(runtime.services))


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    with serve_fake_spotify() as server:
        fill_spotify(server, CATALOGUE)
        yield server


def train(client: TestClient, *, extended: bool = False) -> dict[str, Any]:
    name = "Streaming_History_Audio_2023.json" if extended else "StreamingHistory_music_0.json"
    reply = client.post(
        "/api/model",
        files=[("history", (name, history_file(CATALOGUE, extended=extended), "application/json"))],
        headers={"Authorization": KEY},
    )
    assert reply.status_code == 201, reply.text
    card: dict[str, Any] = reply.json()
    return card


def song_wav(seconds: float = 6.0, title: str | None = None, artist: str | None = None) -> bytes:
    """A bright, busy C-major loop (chords + clicks at 120 BPM), optionally tagged."""
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0)) / 3
    clicks = np.zeros_like(t)
    clicks[(np.arange(0, seconds, 0.5) * sr).astype(int)] = 1.0
    y = (0.4 * chord + np.convolve(clicks, np.exp(-np.arange(400) / 60), mode="same")).astype(np.float32)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=1, format="WAV", subtype="PCM_16") as f:
        if title:
            f.title = title
        if artist:
            f.artist = artist
        f.write(y * 0.5)
    return buf.getvalue()


def test_health_reports_versions_and_spotify(local_runtime: LocalRuntime) -> None:
    reply = make_client(local_runtime).get("/api/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["model_version"] is None and body["spotify"] == "not_configured" and body["api_version"]


def test_prediction_without_a_model_is_a_409_that_says_how_to_train(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    for reply in (
        client.get("/api/prediction/", params={"song": "x", "artist": "y"}),
        client.post("/api/prediction", files={"file": ("a.wav", song_wav(1.0), "audio/wav")}),
    ):
        assert reply.status_code == 409, reply.text
        body = reply.json()
        assert body["error"]["code"] == "no_model" and "tonearm flow train" in body["error"]["message"]
        assert body["detail"]["failure_type"] == "no_model"


def test_library_only_train_features_and_predict(local_runtime: LocalRuntime) -> None:
    # GIVEN no Spotify credentials, and the catalogue's audio analysed into the library
    client = make_client(local_runtime)
    fill_library(local_runtime.services.musicflow.library, CATALOGUE)
    # WHEN the listener trains on their history over the API
    card = train(client)
    assert card["tracks_used"] == 60 and card["cross_validation"]["baseline_mae"] > 0
    assert client.get("/api/model").json()["version"] == card["version"]
    assert client.get("/api/health").json()["model_version"] == card["version"]
    # THEN features are measured ones, metadata is missing, and predictions come with MusicFlow's shape
    t = CATALOGUE[0]
    features = client.get("/api/features/", params={"song": t.title.upper(), "artist": t.artist}).json()
    assert features["audio_features"]["energy"] == t.features["energy"]
    assert features["track"]["popularity"] is None and "popularity" in features["feature_sources"]["missing"]
    assert "energy" in features["feature_sources"]["measured"]
    assert features["sources"] == {"spotify": "not_configured", "library": "title_artist"}
    reply = client.get("/api/prediction/", params={"song": t.title, "artist": t.artist})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (
        0 <= body["prediction"] <= 30
        and body["message"]["emoji"]
        and body["model_version"] == card["version"]
    )
    assert body["song_metadata"] == {"song": t.title, "artist": [t.artist], "album": None}
    # AND the slashless spelling works too
    assert client.get("/api/prediction", params={"song": t.title, "artist": t.artist}).status_code == 200
    # AND an unknown track is a 404 that says what would help
    reply = client.get("/api/prediction/", params={"song": "Unknown", "artist": "Nobody"})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "track_not_found"
    assert "Spotify credentials" in reply.json()["error"]["message"]


def test_with_spotify_metadata_is_looked_up_and_audio_features_fall_back(
    local_runtime: LocalRuntime, fake: FakeSpotify
) -> None:
    client = make_client(local_runtime, fake)
    fill_library(local_runtime.services.musicflow.library, CATALOGUE[:30], with_isrc=True)
    card = train(client, extended=True)
    assert card["feature_sources"] == {"both": 30, "spotify": 30} and card["skipped_entries"]
    t = CATALOGUE[0]
    raw = client.get("/api/raw_features/", params={"song": t.title, "artist": t.artist}).json()
    assert raw["track"]["id"] == t.track_id and raw["album"]["release_date"] == t.release_date
    assert raw["audio_features"] is None and raw["analysis"]["features"]["energy"] == t.features["energy"]
    features = client.get("/api/features/", params={"song": t.title, "artist": t.artist}).json()
    assert features["track"]["popularity"] == t.popularity and features["track"]["isrc"] == t.isrc
    assert features["album"]["release_year"] == int(t.release_date[:4])
    assert features["sources"] == {"spotify": "audio_features_unavailable", "library": "isrc"}
    assert "popularity" in features["feature_sources"]["looked_up"]
    assert (
        "energy" in features["feature_sources"]["measured"] and features["feature_sources"]["missing"] == []
    )
    # a track Spotify knows but tonearm never heard: metadata only, audio features reported missing
    other = CATALOGUE[45]
    body = client.get("/api/prediction/", params={"song": other.title, "artist": other.artist}).json()
    assert "energy" in body["feature_sources"]["missing"] and body["sources"]["library"] == "not_found"
    assert client.get("/api/health").json()["spotify"] == "configured"


def test_spotify_rate_limit_and_bad_credentials_are_clear_errors(
    local_runtime: LocalRuntime, fake: FakeSpotify
) -> None:
    client = make_client(local_runtime, fake)
    t = CATALOGUE[0]
    fake.rate_limit([120])
    reply = client.get("/api/features/", params={"song": t.title, "artist": t.artist})
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "120"
    assert reply.json()["error"]["code"] == "spotify_rate_limited"
    local_runtime.services.settings.spotify_client_secret = "wrong"
    local_runtime.services.__dict__.pop("spotify", None)
    local_runtime.services.__dict__.pop("musicflow", None)
    reply = make_client(local_runtime).get("/api/features/", params={"song": t.title, "artist": t.artist})
    assert reply.status_code == 502 and reply.json()["error"]["code"] == "spotify_auth_failed"


def test_post_prediction_measures_the_audio_and_remembers_it(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    fill_library(local_runtime.services.musicflow.library, CATALOGUE)
    train(client)
    # anonymous: a prediction, but the library is not written (nobody replaces another track's entry)
    tagged = ("loop.wav", song_wav(title="My Loop", artist="Me"), "audio/wav")
    reply = client.post("/api/prediction", files={"file": tagged})
    assert reply.status_code == 200 and reply.json()["song"] == "My Loop", reply.text
    assert client.get("/api/features/", params={"song": "my loop", "artist": "me"}).status_code == 404
    # with a key, the file's own tags identify it and it is remembered
    reply = client.post("/api/prediction", files={"file": tagged}, headers={"Authorization": KEY})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["song"] == "My Loop" and body["artist"] == "Me" and body["sources"]["library"] == "upload"
    assert "tempo" in body["feature_sources"]["measured"]
    # and it is in the library now: GET finds the measured features by title and artist
    features = client.get("/api/features/", params={"song": "my loop", "artist": "me"}).json()
    assert 110 <= features["audio_features"]["tempo"] <= 130
    assert features["sources"]["library"] == "title_artist"
    # form fields win over tags; an untagged file without fields still gets a prediction (not remembered)
    reply = client.post(
        "/api/prediction",
        files={"file": ("x.wav", song_wav(), "audio/wav")},
        data={"song": "Named", "artist": "By Form"},
        headers={"Authorization": KEY},
    )
    assert reply.json()["song"] == "Named"
    reply = client.post("/api/prediction", files={"file": ("untitled.wav", song_wav(), "audio/wav")})
    assert reply.status_code == 200 and reply.json()["song"] == "untitled"


def test_bad_input_is_4xx_never_500(local_runtime: LocalRuntime) -> None:
    client = make_client(local_runtime)
    fill_library(local_runtime.services.musicflow.library, CATALOGUE)
    reply = client.get("/api/prediction/", params={"song": "x"})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_request"
    assert isinstance(reply.json()["detail"], list)
    files = [("history", ("h.json", b"[1, 2]", "application/json"))]
    assert client.post("/api/model", files=files).status_code == 401
    reply = client.post("/api/model", files=files, headers={"Authorization": KEY})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_history"
    train(client)
    reply = client.post("/api/prediction", files={"file": ("a.wav", b"not audio at all", "audio/wav")})
    assert 400 <= reply.status_code < 500, reply.text


def test_analyze_jobs_feed_the_library(local_runtime: LocalRuntime) -> None:
    from tests.conftest import wait_for_terminal
    from tests.workflows.helpers import local_app
    from tonearm.jobs.model import CreateJobRequest, JobStatus

    services = local_runtime.services
    app = local_app(local_runtime)
    upload = services.jobs.create_upload(app)
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(
        key, song_wav(title="Tagged Song", artist="Tag Artist"), content_type="audio/wav"
    )
    request = CreateJobRequest(
        name="analyze",
        workflow="tonearm/analyze",
        params={"inputUrl": upload.downloadUrl, "isrc": "GB-AAA-24-00001"},
    )
    job = services.jobs.create_job(app, request)
    done = wait_for_terminal(lambda: services.store.get(job.id))
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result["library"] == {"title": "Tagged Song", "artist": "Tag Artist", "isrc": "GBAAA2400001"}
    assert services.musicflow.library.by_isrc("GBAAA2400001") is not None
