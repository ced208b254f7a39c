"""``BlobStore`` on S3 with presigned URLs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.exceptions import ClientError

from tonearm.ports import BlobNotFoundError, InputExpiredError


class S3BlobStore:
    """Objects in one bucket; URLs are SigV4 presigned (their expiry is checked by S3 itself)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Upload (multipart for big files, handled by boto3's transfer manager)."""
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Put a small object."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def download_to(self, key: str, path: Path, *, version_id: str | None = None) -> int:
        """Download one object (or one version of it) to ``path``."""
        extra = {"VersionId": version_id} if version_id else None
        try:
            self.client.download_file(self.bucket, key, str(path), ExtraArgs=extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NoSuchVersion"}:
                raise BlobNotFoundError(f"no object {key!r} (it may have expired)") from None
            raise
        return path.stat().st_size

    def size(self, key: str) -> int | None:
        """HEAD the object."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return int(head["ContentLength"])

    def list_keys(self, prefix: str, *, limit: int) -> list[str]:
        """ListObjectsV2 under ``prefix``, page by page, up to ``limit`` keys."""
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [entry["Key"] for entry in page.get("Contents", [])]
            if len(keys) >= limit:
                break
        return keys[:limit]

    def delete_prefix(self, prefix: str) -> int:
        """Delete every version of every object under ``prefix`` (the bucket is versioned)."""
        deleted = 0
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            entries = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(entries), 1000):
                batch = entries[start : start + 1000]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
        return deleted

    def presign_get(self, key: str, *, ttl_s: int) -> str:
        """Presigned GET."""
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s
            )
        )

    def presign_put(self, key: str, *, ttl_s: int) -> str:
        """Presigned PUT (no content type is signed, so any client can PUT raw bytes)."""
        return str(
            self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s
            )
        )

    def key_for_url(self, url: str, *, method: str | None = None) -> str | None:
        """The key if ``url`` addresses this bucket (virtual-hosted or path style). A presigned URL does not
        show the method it was signed for, so ``method`` cannot be checked here: callers that write limit
        the keys they accept instead (``tonearm.jobs.service``: a caller's own ``uploads/<app>/``)."""
        parts = urlsplit(url)
        host = parts.netloc.lower()
        path = unquote(parts.path)
        if host.startswith(f"{self.bucket}.s3.") or host == f"{self.bucket}.s3.amazonaws.com":
            key = path.lstrip("/")
        elif host.startswith("s3.") and path.startswith(f"/{self.bucket}/"):
            key = path[len(self.bucket) + 2 :]
        else:
            return None
        query = parse_qs(parts.query)
        # S3 checks signatures itself; the expiry is checked here so the job is refused before it starts
        if _expired(query):
            raise InputExpiredError("this download URL has expired; upload again via GET /v1/upload")
        return key or None

    def local_path(self, key: str) -> Path | None:
        """None: objects live in S3, reached through presigned URLs."""
        return None

    @property
    def serves_presigned_urls(self) -> bool:
        """No: S3 serves (and checks) its own presigned URLs."""
        return False

    def verify_presigned(self, method: str, key: str, *, expires: str, sig: str) -> None:
        """Never called: S3 checks its own signatures (``serves_presigned_urls`` is False)."""
        raise NotImplementedError("S3 checks the signatures of its presigned URLs itself")


def _expired(query: dict[str, list[str]]) -> bool:
    """Whether a presigned URL's query (SigV4 or SigV2) says it has expired."""
    if "X-Amz-Date" in query and "X-Amz-Expires" in query:
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return (datetime.now(UTC) - signed_at).total_seconds() > int(query["X-Amz-Expires"][0])
    if "Expires" in query:
        return int(query["Expires"][0]) < time.time()
    return False
