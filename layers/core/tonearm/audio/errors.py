"""Errors raised while probing and decoding uploaded audio.

Each error is a caller error (the upload is at fault), carries a stable ``code`` and maps to one HTTP
status. Messages are meant for humans and name both the limit and the measured value, so a client can
tell *why* the file was refused without reading logs.
"""

from __future__ import annotations

from tonearm.errors import TonearmError

__all__ = [
    "AudioError",
    "AudioTooLongError",
    "EmptyAudioError",
    "InputTooLargeError",
    "UndecodableAudioError",
    "UnsupportedFormatError",
]


class AudioError(TonearmError):
    """Base class of the audio input errors (catch this to handle any of them)."""

    code = "audio_error"
    status = 400


class UnsupportedFormatError(AudioError):
    """The input is not audio in a format tonearm accepts (WAV, FLAC, OGG Vorbis/Opus, MP3)."""

    code = "unsupported_format"
    status = 415


class UndecodableAudioError(AudioError):
    """The format is recognised but the data is corrupt, truncated or holds non-finite samples."""

    code = "audio_undecodable"
    status = 400


class InputTooLargeError(AudioError):
    """The input is larger than ``AudioLimits.max_bytes``."""

    code = "input_too_large"
    status = 413


class AudioTooLongError(AudioError):
    """The audio (declared by the header or found while decoding) exceeds ``AudioLimits.max_duration_s``."""

    code = "audio_too_long"
    status = 400


class EmptyAudioError(AudioError):
    """The input has zero bytes or holds zero audio frames."""

    code = "audio_empty"
    status = 400
