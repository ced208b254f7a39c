"""The ports: what the services need from storage, job records, orchestration and eventing.

Adapters implement them for AWS (``adapters.aws``) and for the local runtime (``adapters.local``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from tonearm.errors import TonearmError


class Application(BaseModel):
    """A caller of the API, identified by the SHA-256 of its API key."""

    id: str
    name: str
    key_sha256: str
    webhook_url: str | None = None
    webhook_secret: str = ""


class BlobStore(Protocol):
    """Object storage for uploads, ingest drops and job outputs (S3, or a folder locally)."""

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Store the file at ``path`` under ``key``."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` under ``key``."""

    def download_to(self, key: str, path: Path, *, version_id: str | None = None) -> int:
        """Copy the object to ``path``; return its size. Raises ``BlobNotFoundError``."""

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or ``None`` if it does not exist."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; return how many were deleted."""

    def list_keys(self, prefix: str, *, limit: int) -> list[str]:
        """The keys under ``prefix`` in key order, at most ``limit`` of them (batches list their input)."""

    def presign_get(self, key: str, *, ttl_s: int) -> str:
        """A time-limited GET URL for ``key``."""

    def presign_put(self, key: str, *, ttl_s: int) -> str:
        """A time-limited PUT URL for ``key``."""

    def key_for_url(self, url: str, *, method: str | None = None) -> str | None:
        """The key if ``url`` points into this store (``None`` otherwise).

        ``method``: the URL must have been signed for it (``"PUT"`` for a write target) where the URL says
        (local store); S3's presigned URLs do not show their method, so S3 checks only the bucket.
        Raises ``InputExpiredError`` when it is one of ours but its signature has expired, and
        ``WrongUrlMethodError`` when it was signed for another method.
        """

    def local_path(self, key: str) -> Path | None:
        """The file holding the object when the store is a local folder; ``None`` where it is not (S3).

        Lets the API stream a local object itself instead of redirecting to a presigned URL.
        """

    @property
    def serves_presigned_urls(self) -> bool:
        """Whether this store's presigned URLs point at the API's own ``/files`` routes (a local folder),
        which must then serve them with :meth:`verify_presigned`; S3 serves its own."""

    def verify_presigned(self, method: str, key: str, *, expires: str, sig: str) -> None:
        """Check a presigned request for ``key`` (stores that serve their own URLs only).

        Raises ``InputExpiredError`` or ``UrlSignatureError``.
        """


class Orchestrator(Protocol):
    """Starts workflow executions (Step Functions, or the local ASL runner)."""

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        """Start an execution; a second start with the same name is a no-op."""

    def execution_status(self, *, state_machine: str, execution_name: str) -> str | None:
        """Step Functions' status of that execution (``RUNNING``, ``SUCCEEDED``, ``FAILED``,
        ``TIMED_OUT``, ``ABORTED``), or ``None`` when it was never started."""


class EventBus(Protocol):
    """Publishes events (EventBridge, or the local bus)."""

    def put(self, *, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish one event."""


class DeadLetterSink(Protocol):
    """Where undeliverable things go, with their attempt log (SQS, or a folder locally)."""

    def send(self, message: Mapping[str, Any]) -> None:
        """Record one dead letter."""


def read_blob(blobs: BlobStore, key: str) -> bytes | None:
    """The object's bytes, or ``None`` if it does not exist (for small JSON/model objects)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tonearm-blob-") as tmp:
        path = Path(tmp) / "blob"
        try:
            blobs.download_to(key, path)
        except BlobNotFoundError:
            return None
        return path.read_bytes()


class BlobNotFoundError(TonearmError):
    """The object does not exist (never uploaded, deleted, or expired by the lifecycle rule)."""

    code = "input_not_found"
    status = 400


class WrongUrlMethodError(TonearmError):
    """A signed URL of this store used for another method than it was signed for (a download URL given as
    a place to write)."""

    code = "wrong_url_method"
    status = 400


class InputExpiredError(TonearmError):
    """A signed URL of ours whose time limit has passed."""

    code = "input_expired"
    status = 400


#: What a sealed secret starts with: ``sealed:v1:<scheme>:<ciphertext>``. A stored secret without it is
#: a plaintext one written before secrets were sealed at rest, and is used as it is.
SEALED_PREFIX = "sealed:v1:"


def is_sealed(value: str) -> bool:
    """Whether ``value`` is a sealed secret (rather than a plaintext one from before sealing)."""
    return value.startswith(SEALED_PREFIX)


class SecretSealError(TonearmError):
    """A sealed secret that cannot be opened (another key, another record, altered), or no key to open it."""

    code = "secret_unavailable"
    status = 500


class SecretSealer(Protocol):
    """Encrypts secrets kept at rest (applications' webhook secrets, jobs' callback secrets): KMS in AWS,
    AES-GCM under a key file in the data folder locally.

    ``context`` names the record the secret belongs to (``{"application": <id>}``, ``{"job": <id>}``) and
    is bound to the ciphertext (KMS's encryption context, AES-GCM's associated data): a sealed value
    copied into another record does not open.
    """

    def seal(self, plaintext: str, *, context: Mapping[str, str]) -> str:
        """``SEALED_PREFIX``, the scheme, and the ciphertext of ``plaintext``."""

    def open(self, sealed: str, *, context: Mapping[str, str]) -> str:
        """The plaintext of what :meth:`seal` made with the same ``context``; raises ``SecretSealError``."""


class RateCounter(Protocol):
    """Request counts per client and fixed window, shared by every process of a deployment (DynamoDB in
    AWS, so a limit holds across Lambda instances); locally the limiter counts in process."""

    def add(self, client: str, *, window_s: int, window_start: int, limit: int) -> int | None:
        """Count one request in the window; its new count, or ``None`` (nothing counted) when it is full."""
