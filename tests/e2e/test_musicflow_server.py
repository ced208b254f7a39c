"""MusicFlow over HTTP on ``tonearm serve``, without Spotify credentials and with them (a local fake)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.test_musicflow_api import song_wav
from tests.conftest import PROJECT_ROOT, wait_for
from tests.e2e.conftest import API_KEY, Server, free_port
from tests.fakes.listener import fill_library, fill_spotify, history_file, make_catalogue
from tests.fakes.spotify_server import FakeSpotify, serve_fake_spotify
from tonearm.adapters.local.files import FileBlobStore
from tonearm.prediction.library import TrackLibrary

pytestmark = pytest.mark.e2e
CATALOGUE = make_catalogue(50, seed=21)


def start_server(data_dir: Path, env_extra: dict[str, str]) -> tuple[Server, object]:
    port = free_port()
    env = {**os.environ, "TONEARM_API_KEY": API_KEY, **env_extra}
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tonearm.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--project-root", str(PROJECT_ROOT)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError((data_dir / "server.log").read_text())
        try:
            return requests.get(base_url + "/api/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(up, timeout_s=60, interval_s=0.1)
    return Server(base_url=base_url, data_dir=data_dir, process=process), log


@pytest.fixture
def spotify() -> Iterator[FakeSpotify]:
    with serve_fake_spotify() as fake:
        fill_spotify(fake, CATALOGUE)
        yield fake


def train_over_http(server: Server, *, extended: bool) -> dict[str, object]:
    reply = requests.post(
        server.base_url + "/api/model",
        files=[("history", ("history.json", history_file(CATALOGUE, extended=extended), "application/json"))],
        headers=server.headers(),
        timeout=120,
    )
    assert reply.status_code == 201, reply.text
    card: dict[str, object] = reply.json()
    return card


def check_endpoints(server: Server) -> None:
    t = CATALOGUE[3]
    query = {"song": t.title, "artist": t.artist}
    for path in ("/api/raw_features/", "/api/features/", "/api/prediction/"):
        reply = requests.get(server.base_url + path, params=query, timeout=30)
        assert reply.status_code == 200, f"{path}: {reply.text}"
    prediction = requests.get(server.base_url + "/api/prediction/", params=query, timeout=30).json()
    assert 0 <= prediction["prediction"] <= 30 and prediction["message"]["text"]
    reply = requests.post(
        server.base_url + "/api/prediction",
        files={"file": ("song.wav", song_wav(title="E2E Song", artist="E2E Artist"), "audio/wav")},
        headers={"Authorization": API_KEY},  # with a key the upload is also kept in the library
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["sources"]["library"] == "upload"
    assert "/api/prediction/" in requests.get(server.base_url + "/openapi.json", timeout=10).json()["paths"]


def test_without_spotify_credentials(server: Server) -> None:
    # no model yet: 409 with how to train
    reply = requests.get(
        server.base_url + "/api/prediction/", params={"song": "a", "artist": "b"}, timeout=10
    )
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "no_model"
    fill_library(
        TrackLibrary(FileBlobStore(server.data_dir / "bucket", base_url="http://x", secret=b"x")), CATALOGUE
    )
    card = train_over_http(server, extended=False)
    assert card["tracks_used"] == 50
    assert requests.get(server.base_url + "/api/health", timeout=10).json()["spotify"] == "not_configured"
    check_endpoints(server)


def test_with_spotify_credentials(tmp_path: Path, spotify: FakeSpotify) -> None:
    env = {
        "SPOTIFY_CLIENT_ID": spotify.client_id,
        "SPOTIFY_CLIENT_SECRET": spotify.client_secret,
        "SPOTIFY_API_URL": spotify.api_url,
        "SPOTIFY_TOKEN_URL": spotify.token_url,
    }
    server, log = start_server(tmp_path, env)
    try:
        assert requests.get(server.base_url + "/api/health", timeout=10).json()["spotify"] == "configured"
        card = train_over_http(server, extended=True)
        assert card["feature_sources"] == {"spotify": 50}
        check_endpoints(server)
        features = requests.get(
            server.base_url + "/api/features/",
            params={"song": "E2E Song", "artist": "E2E Artist"},
            timeout=10,
        ).json()
        assert (
            features["sources"]["library"] == "title_artist"
        )  # Spotify has no such track; the upload is kept
        assert spotify.api_requests("POST /api/token")
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)
        log.close()  # type: ignore[attr-defined]
