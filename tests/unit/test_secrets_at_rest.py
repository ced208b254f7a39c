"""Issue 18, part 9: secrets at rest, private data-folder files, no secret in logs or dead letters, and a
switch to forbid loopback egress locally.

Each test here failed before: webhook and callback secrets were plaintext in ``jobs.sqlite3`` (0644),
``dead-letters.jsonl`` (0644) held the webhook body with its signed download URLs, every ``tonearm serve``
printed the API key and the webhook secret, and the local runtime always allowed loopback egress.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tonearm.adapters.local.dead_letters import FileDeadLetterSink
from tonearm.adapters.local.files import FileBlobStore
from tonearm.adapters.local.sealer import FileKeySealer
from tonearm.bootstrap import local_blob_store, local_job_store, url_signing_key
from tonearm.events.delivery import RetryPolicy
from tonearm.events.sealing import SealingJobStore, open_callback_secret, open_webhook_secret
from tonearm.events.signing import generate_webhook_secret, secret_key_bytes, verify_webhook
from tonearm.events.webhooks import WebhookService, url_without_secrets
from tonearm.jobs.model import Callback, Job, JobStatus
from tonearm.jobs.service import JobService, hash_api_key
from tonearm.net.safe_http import EgressPolicy, SafeHttpClient
from tonearm.ports import Application, SecretSealError
from tonearm.settings import Settings
from tonearm.workflows import CATALOGUE

SECRET_TOKEN = "caller-secret-token-1234"  # AcousticSense's secret_token


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _every_byte_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever is private here is private because tonearm made it so."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- secrets sealed at rest -----------------------------------------------------------------------


def test_webhook_and_callback_secrets_are_sealed_in_the_local_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = local_job_store(data)
    webhook_secret = generate_webhook_secret()
    store.put_application(
        Application(id="acme", name="Acme", key_sha256=hash_api_key("k"), webhook_secret=webhook_secret)
    )
    job = Job(
        id="j1",
        app="acme",
        name="n",
        workflow="tonearm/genre",
        callback=Callback(url="https://hooks.example/x", secret=SECRET_TOKEN),
    )
    assert store.create(job)
    # nowhere in the data folder in plaintext: not the database, its WAL, nor anything else
    everything = _every_byte_under(data)
    assert webhook_secret.encode() not in everything and SECRET_TOKEN.encode() not in everything
    app = store.application_by_id("acme")
    stored = store.get("j1")
    assert app is not None and stored is not None and stored.callback is not None
    assert app.webhook_secret.startswith("sealed:v1:aesgcm:")
    assert stored.callback.secret.startswith("sealed:v1:aesgcm:")
    # what signs a webhook opens them, with the data folder's key (0600)
    sealer = FileKeySealer.from_data_dir(data)
    assert open_webhook_secret(app, sealer) == webhook_secret
    assert open_callback_secret(stored, sealer) == SECRET_TOKEN
    assert _mode(data / ".secrets-key") == 0o600
    # a status change rewrites the job with the secret still sealed (no key needed to move a job)
    assert store.replace(
        stored.model_copy(update={"status": JobStatus.STARTED}), expected_status=JobStatus.QUEUED
    )
    again = store.get("j1")
    assert again is not None and again.callback is not None
    assert again.callback.secret == stored.callback.secret


def test_a_sealed_secret_opens_only_for_its_record_and_key(tmp_path: Path) -> None:
    sealer = FileKeySealer.from_data_dir(tmp_path / "a")
    sealed = sealer.seal("s3cret", context={"application": "acme"})
    assert sealer.open(sealed, context={"application": "acme"}) == "s3cret"
    with pytest.raises(SecretSealError):  # copied into another application's record
        sealer.open(sealed, context={"application": "other"})
    with pytest.raises(SecretSealError):  # another data folder's key
        FileKeySealer.from_data_dir(tmp_path / "b").open(sealed, context={"application": "acme"})
    with pytest.raises(SecretSealError):  # altered
        sealer.open(
            sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), context={"application": "acme"}
        )
    # the key is made once and kept: a restart opens what was sealed before it
    assert (
        FileKeySealer.from_data_dir(tmp_path / "a").open(sealed, context={"application": "acme"}) == "s3cret"
    )


def test_plaintext_rows_from_before_sealing_keep_working(tmp_path: Path) -> None:
    store = local_job_store(tmp_path)
    assert isinstance(store, SealingJobStore)
    legacy = Application(id="old", name="Old", key_sha256=hash_api_key("k"), webhook_secret="whsec_b2xk")
    store.inner.put_application(legacy)  # as the store held it before this change
    app = store.application_by_id("old")
    assert app is not None and app.webhook_secret == "whsec_b2xk"
    assert open_webhook_secret(app, store.sealer) == "whsec_b2xk"
    # a sealed value with no key to open it is an error, never used as a key
    with pytest.raises(SecretSealError):
        open_webhook_secret(app.model_copy(update={"webhook_secret": "sealed:v1:aesgcm:AAAA"}), None)


# --- webhooks: opened to sign, dead letters without URLs --------------------------------------------


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    status = 200
    received: list[tuple[dict[str, str], bytes, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((dict(self.headers), body, self.path))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    srv = _Receiver(("127.0.0.1", 0), _Handler)
    srv.received = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


class _Bus:
    def put(self, **_: Any) -> None:
        pass


class _Orchestrator:
    def start(self, **_: Any) -> None:
        pass


def _webhooks(tmp_path: Path) -> tuple[WebhookService, SealingJobStore, FileBlobStore, FileDeadLetterSink]:
    store = local_job_store(tmp_path / "data")
    assert isinstance(store, SealingJobStore)
    blobs = local_blob_store(tmp_path / "data", base_url="http://127.0.0.1:3999")
    jobs = JobService(
        workflows=CATALOGUE,
        store=store,
        blobs=blobs,
        orchestrator=_Orchestrator(),
        bus=_Bus(),
        http=SafeHttpClient(EgressPolicy(allow_http=True, allow_loopback=True), timeout_s=5),
        settings=Settings(),
    )
    dead = FileDeadLetterSink(tmp_path / "data" / "dead-letters.jsonl")
    service = WebhookService(
        jobs=jobs,
        dead_letters=dead,
        policy=RetryPolicy(max_attempts=2, base_delay_s=0.0),
        sleep=lambda _s: None,
    )
    return service, store, blobs, dead


def _finished(store: SealingJobStore, blobs: FileBlobStore, **kw: Any) -> Job:
    blobs.put_bytes("results/j1/audio.wav", b"RIFF", content_type="audio/wav")
    job = Job(
        id="j1",
        app="acme",
        name="n",
        workflow="tonearm/audio-info",
        status=JobStatus.SUCCEEDED,
        outputs={"wav": "results/j1/audio.wav"},
        **kw,
    )
    assert store.create(job)
    return job


def test_an_application_webhook_is_signed_with_its_sealed_secret(tmp_path: Path, receiver: _Receiver) -> None:
    service, store, blobs, _ = _webhooks(tmp_path)
    secret = generate_webhook_secret()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    store.put_application(
        Application(id="acme", name="A", key_sha256=hash_api_key("k"), webhook_url=url, webhook_secret=secret)
    )
    job = _finished(store, blobs)
    event = {
        "id": "e1",
        "detail-type": "Job Succeeded",
        "detail": service.jobs.view(job).model_dump(mode="json"),
    }
    result = service.handle(event)
    assert result is not None and result.delivered
    headers, body, _ = receiver.received[0]
    verify_webhook(body, headers, secret=secret)  # signed with the plaintext the store never held


def test_a_callback_is_signed_with_its_sealed_secret_token(tmp_path: Path, receiver: _Receiver) -> None:
    import hashlib
    import hmac

    service, store, _, _ = _webhooks(tmp_path)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/cb"
    job = Job(
        id="j2",
        app="acme",
        name="n",
        workflow="tonearm/genre",
        status=JobStatus.SUCCEEDED,
        result={"genres": [{"genre": "Rock", "confidence": 100.0}]},
        callback=Callback(url=url, secret=SECRET_TOKEN, timeout_s=5),
    )
    assert store.create(job)
    result = service.handle(
        {"id": "e2", "detail-type": "Job Succeeded", "detail": {"id": "j2", "app": "acme"}}
    )
    assert result is not None and result.delivered
    headers, body, _ = receiver.received[0]
    expected = hmac.new(secret_key_bytes(SECRET_TOKEN.encode()), body, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == expected


def test_a_dead_letter_is_a_job_reference_without_signed_urls_or_secrets(
    tmp_path: Path, receiver: _Receiver, open_umask: None
) -> None:
    service, store, blobs, dead = _webhooks(tmp_path)
    receiver.status = 500
    secret = generate_webhook_secret()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook?token=receiver-credential#frag"
    store.put_application(
        Application(id="acme", name="A", key_sha256=hash_api_key("k"), webhook_url=url, webhook_secret=secret)
    )
    job = _finished(store, blobs)
    detail = service.jobs.view(job).model_dump(mode="json")
    assert "sig=" in json.dumps(detail)  # the webhook body carries signed URLs...
    result = service.handle({"id": "e3", "detail-type": "Job Succeeded", "detail": detail})
    assert result is not None and not result.delivered and len(receiver.received) == 2
    (letter,) = dead.read_all()
    text = json.dumps(letter)
    assert "sig=" not in text and "/files/" not in text  # ...the dead letter does not
    assert "receiver-credential" not in text and secret not in text and "body" not in letter
    assert (
        letter["jobId"] == "j1" and letter["status"] == "SUCCEEDED" and letter["eventType"] == "Job Succeeded"
    )
    assert letter["url"] == f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    assert [a["status"] for a in letter["attempts"]] == [500, 500] and letter["delivered"] is False
    assert _mode(dead.path) == 0o600


def test_url_without_secrets() -> None:
    assert (
        url_without_secrets("https://u:p@hooks.example:8443/a/b?token=x#f")
        == "https://hooks.example:8443/a/b"
    )
    assert url_without_secrets("https://hooks.example/a") == "https://hooks.example/a"


# --- the data folder is private ---------------------------------------------------------------------


def test_data_folder_files_are_0600_and_folders_0700_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    data = tmp_path / "data"
    store = local_job_store(data)
    store.put_application(
        Application(id="a", name="A", key_sha256=hash_api_key("k"), webhook_secret="whsec_eA")
    )
    store.create(Job(id="j", app="a", name="n", workflow="tonearm/audio-info"))
    blobs = local_blob_store(data, base_url="http://127.0.0.1:3999")
    blobs.put_bytes("results/j/out.json", b"{}", content_type="application/json")
    source = tmp_path / "in.wav"
    source.write_bytes(b"RIFF")
    blobs.put_file("uploads/a/x/in.wav", source, content_type="audio/wav")
    sink = FileDeadLetterSink(data / "dead-letters.jsonl")
    sink.send({"kind": "webhook", "jobId": "j"})
    assert _mode(data) == 0o700
    for folder in (data / "bucket", data / "bucket" / "results", data / "bucket" / "results" / "j"):
        assert _mode(folder) == 0o700, folder
    assert _mode(data / "bucket" / "uploads" / "a" / "x") == 0o700
    files = [
        data / "jobs.sqlite3",
        data / "jobs.sqlite3-wal",  # WAL mode: SQLite gives these the database's mode
        data / "jobs.sqlite3-shm",
        data / ".secrets-key",
        data / ".url-signing-key",
        data / "dead-letters.jsonl",
        data / "bucket" / "results" / "j" / "out.json",
        data / "bucket" / "uploads" / "a" / "x" / "in.wav",
    ]
    assert {str(f.relative_to(data)): oct(_mode(f)) for f in files} == {
        str(f.relative_to(data)): oct(0o600) for f in files
    }


def test_files_from_before_are_made_private(tmp_path: Path) -> None:
    """A data folder written by an older tonearm (0644 files, a 0755 bucket) is tightened on start."""
    data = tmp_path / "data"
    (data / "bucket").mkdir(parents=True)
    (data / "bucket").chmod(0o755)
    for name in ("jobs.sqlite3", "dead-letters.jsonl"):
        (data / name).write_bytes(b"")
        (data / name).chmod(0o644)
    (data / ".url-signing-key").write_bytes(b"k" * 32)
    (data / ".url-signing-key").chmod(0o644)
    local_job_store(data)
    key = url_signing_key(data)
    FileBlobStore(data / "bucket", base_url="http://127.0.0.1:3999", secret=key)
    FileDeadLetterSink(data / "dead-letters.jsonl")
    assert key == b"k" * 32  # kept: URLs handed out before still verify
    assert _mode(data / "bucket") == 0o700
    for name in ("jobs.sqlite3", "dead-letters.jsonl", ".url-signing-key"):
        assert _mode(data / name) == 0o600, name


def test_two_processes_making_the_key_at_once_agree(tmp_path: Path) -> None:
    from tonearm.adapters.local.private_files import key_file

    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(key_file(tmp_path / "k"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left behind


# --- no secret in the start-up output; the loopback switch ---------------------------------------------


def test_serve_prints_where_the_credentials_are_not_what_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from tonearm.cli import main
    from tonearm.local_stack.runtime import CREDENTIALS_FILE

    for name in ("TONEARM_API_KEY", "TONEARM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    data = tmp_path / "data"
    assert main(["serve", "--data-dir", str(data), "--project-root", str(PROJECT_ROOT)]) == 0
    out = capsys.readouterr().out
    stored = json.loads((data / CREDENTIALS_FILE).read_text())
    assert stored["api_key"] not in out and stored["webhook_secret"] not in out
    assert str(data.resolve() / CREDENTIALS_FILE) in out
    assert f"API key:        {stored['api_key'][:4]}..." in out  # enough to tell which key it is


@pytest.mark.parametrize(("value", "allowed"), [(None, True), ("false", False), ("true", True)])
def test_loopback_egress_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, allowed: bool, open_umask: None
) -> None:
    from tonearm.local_stack.runtime import build_local_runtime

    if value is None:
        monkeypatch.delenv("TONEARM_ALLOW_LOOPBACK_EGRESS", raising=False)
    else:
        monkeypatch.setenv("TONEARM_ALLOW_LOOPBACK_EGRESS", value)
    runtime = build_local_runtime(
        project_root=PROJECT_ROOT, data_dir=tmp_path / "data", base_url="http://127.0.0.1:3999", api_key="k"
    )
    try:
        # the stack as `tonearm serve` builds it keeps its data folder private too
        data = tmp_path / "data"
        assert _mode(data) == 0o700 and _mode(data / "bucket") == 0o700
        for name in ("jobs.sqlite3", ".secrets-key", ".url-signing-key"):
            assert _mode(data / name) == 0o600, name
        assert runtime.services.http.policy.allow_loopback is allowed
        if not allowed:
            from tonearm.net.safe_http import UrlForbiddenError

            with pytest.raises(UrlForbiddenError, match="loopback"):
                runtime.services.http.check_url("http://127.0.0.1:9/hook")
    finally:
        runtime.close()
