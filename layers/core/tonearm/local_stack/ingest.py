"""The watched ingest folder: the local stand-in for S3's ``Object Created`` notifications.

Files appearing under ``<bucket>/ingest/<workflow-slug>/`` are announced on the local default bus
as S3 would announce them to EventBridge, so the template's rule routes them to the same ingest
handler. A file's content hash plays the part of its S3 version id.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from pathlib import Path

from tonearm.adapters.local.bus import LocalBus

logger = logging.getLogger(__name__)


def file_version(path: Path) -> str:
    """SHA-256 of the content: the same bytes are the same version."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class IngestWatcher:
    """Polls the ingest folder and announces each new, settled file version once."""

    def __init__(
        self, *, bucket_root: Path, bucket_name: str, bus: LocalBus, interval_s: float = 0.25
    ) -> None:
        self.bucket_root = bucket_root
        self.folder = bucket_root / "ingest"
        self.bucket_name = bucket_name
        self.bus = bus
        self.interval_s = interval_s
        self._announced: set[tuple[str, str]] = set()
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ingest-watcher", daemon=True)

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.scan()
            except Exception:  # keep watching whatever one file does
                logger.exception("ingest scan failed")

    def scan(self) -> None:
        """Announce files whose size and mtime held still since the last scan (writes finished)."""
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(".part"):
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._sizes.get(path) != signature:
                self._sizes[path] = signature
                continue
            key = path.relative_to(self.bucket_root).as_posix()
            version = file_version(path)
            if (key, version) in self._announced:
                continue
            self._announced.add((key, version))
            self.announce(key, size=stat.st_size, version=version)

    def announce(self, key: str, *, size: int, version: str) -> None:
        """Publish the ``Object Created`` event S3 would send for this object version."""
        self.bus.publish_raw(
            bus="default",
            source="aws.s3",
            detail_type="Object Created",
            resources=[f"arn:aws:s3:::{self.bucket_name}"],
            detail={
                "version": "0",
                "bucket": {"name": self.bucket_name},
                "object": {
                    "key": key,
                    "size": size,
                    "etag": version[:32],
                    "version-id": version,
                    "sequencer": version[:16].upper(),
                },
                "request-id": str(uuid.uuid4()),
                "requester": "local",
                "source-ip-address": "127.0.0.1",
                "reason": "PutObject",
            },
        )
