"""A folder standing in for the S3 bucket, with HMAC-signed, time-limited URLs served by the local API.

The folder is the owner's alone: the root and every folder this store makes are 0700, every object it
writes 0600, whatever the umask (``tonearm.adapters.local.private_files``).
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tonearm.adapters.local.private_files import DIR_MODE, make_private, open_private, private_dirs
from tonearm.errors import TonearmError
from tonearm.ports import BlobNotFoundError, InputExpiredError, WrongUrlMethodError


class UrlSignatureError(TonearmError):
    """A local signed URL whose signature does not match (tampered or from another server)."""

    code = "invalid_signature"
    status = 403


class InvalidKeyError(TonearmError):
    """An object key that would escape the storage folder."""

    code = "invalid_key"
    status = 400


class FileBlobStore:
    """``BlobStore`` on the local filesystem. Object keys are paths below ``root``."""

    def __init__(self, root: Path, *, base_url: str, secret: bytes) -> None:
        self.root = private_dirs(root.resolve())
        make_private(self.root, DIR_MODE)  # a bucket folder made before this was 0755
        self.base_url = base_url.rstrip("/")
        self._secret = secret

    def path_for(self, key: str) -> Path:
        """The file for ``key``; refuses keys that leave the root."""
        path = (self.root / key).resolve()
        if not key or key.startswith("/") or not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKeyError(f"invalid object key {key!r}")
        return path

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Copy ``path`` to ``key`` atomically (content type is implied by the name locally)."""
        target = self.path_for(key)
        private_dirs(target.parent)
        tmp = target.with_name(target.name + ".part")
        with path.open("rb") as source, open_private(tmp, "wb") as f:
            shutil.copyfileobj(source, f, 1024 * 1024)
        tmp.replace(target)

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write ``data`` to ``key`` atomically."""
        target = self.path_for(key)
        private_dirs(target.parent)
        tmp = target.with_name(target.name + ".part")
        with open_private(tmp, "wb") as f:
            f.write(data)
        tmp.replace(target)

    def download_to(self, key: str, path: Path, *, version_id: str | None = None) -> int:
        """Copy the object to ``path``. Local objects have one version: the current content."""
        source = self.path_for(key)
        if not source.is_file():
            raise BlobNotFoundError(f"no object {key!r}")
        shutil.copyfile(source, path)
        return path.stat().st_size

    def size(self, key: str) -> int | None:
        """Size in bytes, or ``None``."""
        path = self.path_for(key)
        return path.stat().st_size if path.is_file() else None

    def list_keys(self, prefix: str, *, limit: int) -> list[str]:
        """The files under ``prefix`` (a key prefix, as S3 matches it), in S3's key order."""
        keys = [
            key
            for key in (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
            if key.startswith(prefix) and not key.endswith(".part")  # .part: a write in progress
        ]
        return sorted(keys, key=str.encode)[:limit]

    def delete_prefix(self, prefix: str) -> int:
        """Delete every file under ``prefix``."""
        base = self.path_for(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base)
        return count

    # --- signed URLs --------------------------------------------------------------------------
    def _sign(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _url(self, method: str, key: str, ttl_s: int) -> str:
        self.path_for(key)
        expires = int(time.time()) + ttl_s
        sig = self._sign(method, key, expires)
        return f"{self.base_url}/files/{quote(key)}?method={method}&expires={expires}&sig={sig}"

    def presign_get(self, key: str, *, ttl_s: int) -> str:
        """A signed GET URL served by the local API."""
        return self._url("GET", key, ttl_s)

    def presign_put(self, key: str, *, ttl_s: int) -> str:
        """A signed PUT URL served by the local API."""
        return self._url("PUT", key, ttl_s)

    def local_path(self, key: str) -> Path | None:
        """The object's file (it may not exist yet)."""
        return self.path_for(key)

    @property
    def serves_presigned_urls(self) -> bool:
        """Yes: its URLs point at the local API's ``/files`` routes."""
        return True

    def verify_presigned(self, method: str, key: str, *, expires: str, sig: str) -> None:
        """Check a signed request for ``key``; raise ``InputExpiredError`` or ``UrlSignatureError``."""
        try:
            expires_at = int(expires)
        except ValueError:
            raise UrlSignatureError("malformed signed URL") from None
        if not hmac.compare_digest(self._sign(method, key, expires_at), sig):
            raise UrlSignatureError(f"the signature of this {method} URL is not valid")
        if expires_at < time.time():
            raise InputExpiredError("this signed URL has expired; ask GET /v1/upload for a new one")

    def key_for_url(self, url: str, *, method: str | None = None) -> str | None:
        """The key of a URL minted by this store, after checking it (and that it was signed for ``method``,
        when given); ``None`` for other URLs."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.base_url or not parts.path.startswith("/files/"):
            return None
        key = unquote(parts.path[len("/files/") :])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        signed_for = query.get("method", "GET")
        self.verify_presigned(signed_for, key, expires=query.get("expires", ""), sig=query.get("sig", ""))
        if method is not None and signed_for != method:
            raise WrongUrlMethodError(
                f"this URL was signed for {signed_for}, not {method}: a place to write must be an uploadUrl "
                "from GET /v1/upload"
            )
        return key
