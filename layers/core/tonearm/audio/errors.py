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
    "AudioTooShortError",
    "EmptyAudioError",
    "InputTooLargeError",
    "InvalidPcmParametersError",
    "SilentAudioError",
    "UndecodableAudioError",
    "UnsupportedFormatError",
]


class AudioError(TonearmError):
    """Base class of the audio input errors (catch this to handle any of them)."""

    code = "audio_error"
    status = 400


class UnsupportedFormatError(AudioError):
    """The input is not audio in a format tonearm accepts.

    :func:`tonearm.audio.probe.probe` accepts WAV, FLAC, OGG Vorbis/Opus and MP3 (what libsndfile reads);
    :func:`tonearm.audio.decode.decode`, and :func:`tonearm.audio.summary.summarize_audio` and the analyses
    that decode through it, also AAC (ADTS), M4A/MP4 (AAC, ALAC) and Matroska/WebM.
    """

    code = "unsupported_format"
    status = 415


class UndecodableAudioError(AudioError):
    """The format is recognised but the data is corrupt, truncated or holds non-finite samples."""

    code = "audio_undecodable"
    status = 400


class InputTooLargeError(AudioError):
    """The input is larger than ``AudioLimits.max_bytes``, or too large once decoded.

    :func:`tonearm.audio.decode.decode` also raises it when the decoded float32 signal would exceed
    ``AudioLimits.max_decoded_bytes``.
    """

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


class AudioTooShortError(AudioError):
    """The audio is shorter than ``AudioLimits.min_duration_s`` (but not empty)."""

    code = "audio_too_short"
    status = 400


class SilentAudioError(AudioError):
    """The audio's sample peak lies below ``AudioLimits.silence_threshold_dbfs`` (-90 dBFS by default)."""

    code = "audio_silent"
    status = 400


class InvalidPcmParametersError(AudioError):
    """Raw PCM parameters are impossible, or the byte length is not a whole number of frames.

    Raised for a sample rate outside 8000-384000 Hz, a channel count outside 1-32 or an unknown sample
    format (see :class:`tonearm.audio.decode.PcmFormat`).
    """

    code = "invalid_pcm_parameters"
    status = 400
