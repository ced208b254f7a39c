"""Uploads to synchronous routes: copied with the size limit checked while they stream, and decoded
with the duration limit such a route can answer within."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from tonearm.audio.decode import DecodedAudio, PcmFormat, decode
from tonearm.audio.errors import AudioTooLongError, InputTooLargeError
from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.settings import Settings

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


def decode_for_sync_route(
    source: Any, *, settings: Settings, size_bytes: int, pcm: PcmFormat | None = None, use_instead: str
) -> DecodedAudio:
    """Decode an upload for a synchronous route, refusing audio longer than the route may analyse.

    ``Settings.sync_max_duration_s`` is what fits the request's time limit (API Gateway: 29 s); the
    refusal names where longer audio goes (``use_instead``) and happens while decoding, before analysis.
    """
    limits = replace(
        DEFAULT_LIMITS, max_duration_s=min(DEFAULT_LIMITS.max_duration_s, settings.sync_max_duration_s)
    )
    try:
        return decode(source, pcm=pcm, size_bytes=size_bytes, limits=limits)
    except AudioTooLongError as exc:
        raise AudioTooLongError(
            f"{exc.message}; this synchronous route takes at most "
            f"{limits.max_duration_s:g} s: for longer audio use {use_instead}"
        ) from None
