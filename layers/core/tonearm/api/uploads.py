"""Copying a multipart upload to a file, with the input size limit checked while it streams."""

from __future__ import annotations

from typing import Protocol

from tonearm.audio.errors import InputTooLargeError
from tonearm.audio.limits import DEFAULT_LIMITS

_COPY_CHUNK = 1 << 20


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def copy_upload(source: _Readable, target: _Writable, *, max_bytes: int = DEFAULT_LIMITS.max_bytes) -> int:
    """Copy ``source`` into ``target`` in 1 MiB chunks; return the size.

    Raises ``InputTooLargeError`` as soon as more than ``max_bytes`` arrived, before the rest is read.
    ``max_bytes`` is a synchronous route's limit (``Settings.sync_upload_max_bytes``); the message says
    where larger files go.
    """
    size = 0
    while chunk := source.read(_COPY_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise InputTooLargeError(
                f"the upload exceeds {max_bytes:,} bytes, the most this synchronous route takes; for larger "
                "files (up to 100 MB) PUT the file to the uploadUrl of GET /v1/upload and start a job "
                "(POST /v1/job) with its downloadUrl"
            )
        target.write(chunk)
    return size
