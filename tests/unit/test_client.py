"""``tonearm.client`` without a server: configuration precedence, error bodies, ``-p`` parsing, bars."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tonearm.cli import _params, _UsageError
from tonearm.client import ApiError, Client, ConfigError, config_path, load_config
from tonearm.client.api import _error_from
from tonearm.client.config import LOCAL_CREDENTIALS, LOCAL_URL
from tonearm.client.progress import ProgressBar, bars_wanted


def _config_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"TONEARM_CONFIG": str(path), "TONEARM_DATA_DIR": str(tmp_path / "none")}


def test_flags_beat_the_environment_which_beats_the_config_file(tmp_path: Path) -> None:
    env = _config_file(tmp_path, 'url = "https://file.example/Prod"\napi_key = "file-key"\ntimeout = 12\n')
    from_file = load_config(env=env)
    assert (from_file.url, from_file.api_key, from_file.timeout_s) == (
        "https://file.example/Prod",
        "file-key",
        12,
    )
    assert from_file.url_from == from_file.api_key_from == env["TONEARM_CONFIG"]
    env |= {"TONEARM_URL": "https://env.example/", "TONEARM_API_KEY": "env-key"}
    from_env = load_config(env=env)
    assert (from_env.url, from_env.api_key, from_env.url_from) == (
        "https://env.example",
        "env-key",
        "TONEARM_URL",
    )
    flags = load_config("http://flag.example/v1", "flag-key", timeout_s=3, env=env)
    # the Music.AI SDK's base URL (with /v1) is taken as the deployment's
    assert (flags.url, flags.api_key, flags.timeout_s, flags.api_key_from) == (
        "http://flag.example",
        "flag-key",
        3,
        "flag",
    )
    # each setting on its own: a flag URL keeps the environment's key
    assert load_config("http://other.example", env=env).api_key == "env-key"


def test_config_path_follows_tonearm_config_then_xdg(tmp_path: Path) -> None:
    assert config_path({"TONEARM_CONFIG": str(tmp_path / "c.toml")}) == tmp_path / "c.toml"
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "tonearm" / "config.toml"
    assert config_path({}).parts[-3:] == (".config", "tonearm", "config.toml")


def test_the_local_stack_is_the_default_with_its_kept_key(tmp_path: Path) -> None:
    from tonearm.local_stack.runtime import CREDENTIALS_FILE

    assert LOCAL_CREDENTIALS == CREDENTIALS_FILE
    (tmp_path / LOCAL_CREDENTIALS).write_text(json.dumps({"api_key": "kept-key", "webhook_secret": "x"}))
    env = {"TONEARM_CONFIG": str(tmp_path / "missing.toml"), "TONEARM_DATA_DIR": str(tmp_path)}
    config = load_config(env=env)
    assert (config.url, config.api_key, config.api_key_from) == (LOCAL_URL, "kept-key", "local credentials")
    # another deployment never gets the local key
    assert load_config("https://api.example", env=env).api_key is None


def test_bad_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(env=_config_file(tmp_path, "url = [unterminated"))
    with pytest.raises(ConfigError, match="http:// or https://"):
        load_config("ftp://example", env=_config_file(tmp_path, ""))


def test_server_error_bodies_become_api_errors() -> None:
    tonearm = _error_from(404, b'{"error": {"code": "job_not_found", "message": "no job"}}')
    assert (tonearm.status, tonearm.code, tonearm.message) == (404, "job_not_found", "no job")
    sami = _error_from(
        400, b'{"status_code": 40000007, "status_text": "too long", "error_code": "audio_too_long"}'
    )
    assert (sami.code, sami.message) == ("audio_too_long", "too long")
    assert _error_from(502, b"<html>Bad gateway</html>").code == "http_502"
    assert ApiError(401, "unauthorized", "invalid API key").to_json() == {
        "error": {"code": "unauthorized", "message": "invalid API key", "status": 401}
    }


def test_the_client_never_shows_its_key() -> None:
    assert "secret-key" not in repr(Client("http://127.0.0.1:3000", "secret-key"))


def test_params_are_json_when_they_parse_else_strings() -> None:
    assert _params(["stems=drums", 'taskTypes=["Genre"]', "segments=true", "n=3", "eq=a=b"]) == {
        "stems": "drums",
        "taskTypes": ["Genre"],
        "segments": True,
        "n": 3,
        "eq": "a=b",
    }
    with pytest.raises(_UsageError):
        _params(["novalue"])


def test_the_bar_draws_on_a_terminal_and_never_for_json() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with ProgressBar("analyze song.mp3", console=console) as bar:
        for percent in range(0, 101, 5):
            bar.percent(percent)
    drawn = out.getvalue()
    assert "analyze song.mp3" in drawn and "100%" in drawn and "\x1b[" in drawn
    assert not bars_wanted(json_output=True, stream=io.StringIO())
    assert not bars_wanted(json_output=False, stream=io.StringIO())  # not a terminal
    with ProgressBar("nothing", enabled=False) as quiet:  # a no-op: callers report unconditionally
        quiet.percent(50)


def test_the_key_never_follows_a_redirect_to_another_host(tmp_path: Path) -> None:
    """Sofy's download answers 307 to a presigned S3 URL in AWS: S3 refuses a second authentication,
    and the key is not its to see."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    seen: list[str | None] = []

    class Storage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"RIFF")

        def log_message(self, *args: Any) -> None:
            pass

    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{storage.server_address[1]}/object?sig=x")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    for server in (storage, api):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{api.server_address[1]}", "secret-key")
        target = client.download(f"{client.url}/download-music/x", tmp_path / "x.wav")
        assert target.read_bytes() == b"RIFF"
        assert seen == [None, None]  # download URLs are signed: no key to either
        with client._open("GET", f"{client.url}/download-music/x", headers=client._headers(True)) as r:
            assert r.read() == b"RIFF"
        assert seen[2:] == ["secret-key", None]
    finally:
        api.shutdown()
        storage.shutdown()
