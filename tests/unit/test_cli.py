"""The ``tonearm`` command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tonearm.adapters.local.sqlite_jobs import SqliteJobStore
from tonearm.cli import main
from tonearm.jobs.service import hash_api_key


def test_app_create_stores_a_hashed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TONEARM_RUNTIME", raising=False)
    assert (
        main(
            [
                "app",
                "create",
                "--name",
                "Acme Records",
                "--webhook-url",
                "https://acme.example/hook",
                "--data-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    key = re.search(r"API key:\s+(\S+)", out)
    assert key is not None
    app = SqliteJobStore(tmp_path / "jobs.sqlite3").application_by_key_hash(hash_api_key(key.group(1)))
    assert app is not None and app.id == "acme-records" and app.webhook_url == "https://acme.example/hook"
    assert app.webhook_secret.startswith("whsec_") and key.group(1) not in (
        tmp_path / "jobs.sqlite3"
    ).read_bytes().decode("latin-1")
