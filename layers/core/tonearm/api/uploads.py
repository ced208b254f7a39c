"""Uploads to synchronous routes: copied with the size limit checked while they stream, and decoded
with the duration limit such a route can answer within, in a decode slot taken with a short wait.

Every synchronous audio route decodes through :func:`decode_for_sync_route`, or runs its own decode
inside :func:`sync_decode_wait`: when the process's decode slots (:mod:`tonearm.audio.decode_slots`)
stay taken for ``Settings.decode_queue_wait_s``, the request is answered ``503 busy`` with a
``Retry-After`` rather than queued behind the others without bound.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from tonearm.audio.decode import DecodedAudio, PcmFormat
from tonearm.audio.decode_slots import SLOTS, default_capacity, queue_wait
from tonearm.audio.errors import AudioTooLongError, InputTooLargeError
from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.audio.mono import decode_mono
from tonearm.settings import Settings
from tonearm.tagging.frontend import TAGGING_SR

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


@contextlib.contextmanager
def sync_decode_wait(settings: Settings) -> Iterator[None]:
    """Make the decodes a synchronous route runs inside the ``with`` block wait briefly for a slot.

    Each decode holds a slot while it runs (not the analysis after it) and waits at most
    ``Settings.decode_queue_wait_s`` for one, then raises
    :class:`~tonearm.audio.decode_slots.DecoderBusyError` (``503 busy``, with ``retry_after_s`` for the
    ``Retry-After`` header). The slot count is ``Settings.decode_slots`` (0:
    :func:`tonearm.audio.decode_slots.default_capacity`), applied to the process-wide slots on every call
    so that the settings a server runs with are the ones in force.
    """
    SLOTS.resize(settings.decode_slots or default_capacity())
    with queue_wait(settings.decode_queue_wait_s):
        yield


def decode_for_sync_route(
    source: Any,
    *,
    settings: Settings,
    size_bytes: int,
    pcm: PcmFormat | None = None,
    use_instead: str,
    target_sr: int = TAGGING_SR,
) -> DecodedAudio:
    """Decode an upload for a synchronous route to the mono signal its model reads.

    Decodes straight to mono at ``target_sr`` (:func:`tonearm.audio.mono.decode_mono`: the decoded
    channels are never held, and sources peaking above +6 dBFS are scaled down), in a decode slot
    (:func:`sync_decode_wait`), refusing audio longer than the route may analyse:
    ``Settings.sync_max_duration_s`` is what fits the request's time limit (API Gateway: 29 s); the
    refusal names where longer audio goes (``use_instead``) and happens while decoding, before analysis.

    Parameters
    ----------
    source : path, seekable binary stream or bytes
        The upload.
    settings : Settings
    size_bytes : int
        The upload's size.
    pcm : PcmFormat, optional
        For headerless PCM.
    use_instead : str
        Where longer audio goes, for the refusal's message.
    target_sr : int > 0 [Hz]
        The model's rate (default: the tagging front end's 16 kHz, what SAMI and AcousticSense read).

    Returns
    -------
    DecodedAudio
        ``y`` of shape ``(1, n)`` at ``target_sr``; ``info`` describes the upload.

    Raises
    ------
    DecoderBusyError
        No decode slot became free in time (503).
    AudioError
        What :func:`tonearm.audio.decode.decode` raises for the upload.
    """
    limits = replace(
        DEFAULT_LIMITS, max_duration_s=min(DEFAULT_LIMITS.max_duration_s, settings.sync_max_duration_s)
    )
    try:
        with sync_decode_wait(settings):
            return decode_mono(source, target_sr=target_sr, pcm=pcm, size_bytes=size_bytes, limits=limits)
    except AudioTooLongError as exc:
        raise AudioTooLongError(
            f"{exc.message}; this synchronous route takes at most "
            f"{limits.max_duration_s:g} s: for longer audio use {use_instead}"
        ) from None
