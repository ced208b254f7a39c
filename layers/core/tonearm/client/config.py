"""Where the client finds its deployment: base URL and API key, from flags, environment or a file.

Precedence, highest first (each of ``url`` and ``api_key`` on its own):

1. arguments (the CLI's ``--url`` / ``--api-key``);
2. the environment: ``TONEARM_URL``, ``TONEARM_API_KEY``;
3. the config file: ``$TONEARM_CONFIG``, else ``$XDG_CONFIG_HOME/tonearm/config.toml`` (default
   ``~/.config/tonearm/config.toml``), a TOML file with ``url`` and ``api_key`` (and optionally
   ``timeout``) at the top level;
4. the local stack: ``http://127.0.0.1:3000``, and for that URL only, the key ``make serve`` keeps in
   ``$TONEARM_DATA_DIR/local-credentials.json`` (default ``.tonearm/``, relative to the working folder).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The local stack's address (``make serve``).
LOCAL_URL = "http://127.0.0.1:3000"
#: The file ``tonearm serve`` keeps its generated key in, inside its data folder
#: (``tonearm.local_stack.runtime.CREDENTIALS_FILE``; a test keeps the two equal).
LOCAL_CREDENTIALS = "local-credentials.json"


class ConfigError(Exception):
    """The configuration cannot be used (a config file that is not TOML, a URL that is not http)."""


@dataclass(frozen=True)
class ClientConfig:
    """A deployment to talk to, and where each setting came from (for messages, never the key)."""

    url: str
    api_key: str | None
    timeout_s: float = 30.0
    url_from: str = "default"
    api_key_from: str = "none"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file's path (it need not exist): ``$TONEARM_CONFIG`` or the XDG default."""
    env = os.environ if env is None else env
    if env.get("TONEARM_CONFIG"):
        return Path(env["TONEARM_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "tonearm" / "config.toml"


def _read_file(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None


def _local_key(env: Mapping[str, str]) -> str | None:
    path = Path(env.get("TONEARM_DATA_DIR") or ".tonearm") / LOCAL_CREDENTIALS
    try:
        key = json.loads(path.read_text()).get("api_key")
    except (OSError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) and key else None


def load_config(
    url: str | None = None,
    api_key: str | None = None,
    *,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """The settings to use: arguments > environment > config file > the local stack (module doc)."""
    env = os.environ if env is None else env
    path = config_path(env)
    file = _read_file(path)
    chosen_url, url_from = LOCAL_URL, "default"
    for value, source in (
        (file.get("url"), str(path)),
        (env.get("TONEARM_URL"), "TONEARM_URL"),
        (url, "flag"),
    ):
        if value:
            chosen_url, url_from = str(value), source
    key, key_from = None, "none"
    for value, source in (
        (file.get("api_key"), str(path)),
        (env.get("TONEARM_API_KEY"), "TONEARM_API_KEY"),
        (api_key, "flag"),
    ):
        if value:
            key, key_from = str(value), source
    chosen_url = chosen_url.rstrip("/")
    if chosen_url.endswith("/v1"):  # the Music.AI SDK's base URL: accept it too
        chosen_url = chosen_url[: -len("/v1")]
    if not chosen_url.startswith(("http://", "https://")):
        raise ConfigError(f"the URL {chosen_url!r} (from {url_from}) must start with http:// or https://")
    if key is None and chosen_url == LOCAL_URL:
        key = _local_key(env)
        key_from = "local credentials" if key else key_from
    file_timeout = file.get("timeout")
    timeout = timeout_s or (float(file_timeout) if isinstance(file_timeout, int | float) else 30.0)
    return ClientConfig(chosen_url, key, timeout, url_from, key_from)
