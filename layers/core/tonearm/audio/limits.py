"""Resource limits applied to every audio input before (and while) it is decoded.

The defaults bound what one Lambda invocation may be asked to chew through: 100 MiB of encoded input,
ten minutes of audio and 2 GiB of decoded samples, and they refuse inputs too short or too quiet to
analyse (under half a second, or peaking below -90 dBFS). Callers that need other values build their
own :class:`AudioLimits`.

The decoded-size budget bounds *work*, not what a request holds: every request-serving path decodes as
a stream (``tonearm.audio.decode.decode_stream``, ``tonearm.audio.mono.decode_mono``) and keeps only what
its analysis reads (the mono signal at the model's rate), so its memory follows the duration limit, not
this budget. It stays at 2 GiB so that everything accepted before is accepted still (ten minutes of
8-channel 96 kHz audio is 1.84 GB): lowering it would refuse hi-res surround masters to save memory
they no longer cost. Only :func:`tonearm.audio.decode.decode`, which returns every channel at the source
rate (training custom heads from the command line), can hold that much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tonearm.errors import ParameterError

__all__ = ["DEFAULT_LIMITS", "AudioLimits"]


@dataclass(frozen=True)
class AudioLimits:
    """Bounds for one audio input.

    Attributes
    ----------
    max_bytes : int
        Largest accepted encoded input, in bytes (default 100 MiB).
    max_duration_s : float
        Longest accepted audio, in seconds (default 600 s).
    min_duration_s : float
        Shortest accepted audio, in seconds (default 0.5 s; 0 disables the check). Half a second is
        barely more than one 400 ms BS.1770 gating block, the least any analysis can say anything about.
    silence_threshold_dbfs : float
        Audio whose sample peak, over the whole input, lies *below* this level (dBFS, full scale = 1.0)
        is refused as silent (default -90 dBFS, i.e. a linear peak below ``10**(-90/20)`` = 3.16e-5).
        That is digital silence and anything within about one 16-bit LSB of it (1 LSB = -90.3 dBFS):
        dither or noise-floor hiss on an otherwise empty track. ``-inf`` disables the check.
    max_decoded_bytes : int
        The decoded-size budget: channels x frames x 4 bytes of float32 samples (default 2 GiB). A few
        kilobytes of compressed silence can claim hours of 32-channel 384 kHz audio; this bounds what the
        duration limit alone does not (ten minutes of 8-channel 96 kHz audio is 1.7 GiB). It is checked
        from the header (a declared length exactly, an estimated one with slack) and again while decoding
        against the running total, so an input of unknown length is refused at the first block past it.
        :func:`tonearm.audio.decode.decode` holds that much at most; the streaming readers
        (:func:`tonearm.audio.decode.decode_stream` and what uses it) hold one block but enforce it all the
        same, so that every path accepts exactly the same inputs.

    Raises
    ------
    ParameterError
        On a limit out of range (non-positive sizes or maximum duration, a minimum duration outside
        ``[0, max_duration_s]``, a silence threshold above 0 dBFS or NaN).
    """

    max_bytes: int = 100 * 1024 * 1024
    max_duration_s: float = 600.0
    min_duration_s: float = 0.5
    silence_threshold_dbfs: float = -90.0
    max_decoded_bytes: int = 2 * 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ParameterError(f"max_bytes must be positive, got {self.max_bytes}")
        if not self.max_duration_s > 0:
            raise ParameterError(f"max_duration_s must be positive, got {self.max_duration_s}")
        if not 0.0 <= self.min_duration_s <= self.max_duration_s:
            raise ParameterError(
                f"min_duration_s must lie in [0, max_duration_s={self.max_duration_s:g}], "
                f"got {self.min_duration_s}"
            )
        if math.isnan(self.silence_threshold_dbfs) or self.silence_threshold_dbfs > 0.0:
            raise ParameterError(
                f"silence_threshold_dbfs must be <= 0 dBFS, got {self.silence_threshold_dbfs}"
            )
        if self.max_decoded_bytes <= 0:
            raise ParameterError(f"max_decoded_bytes must be positive, got {self.max_decoded_bytes}")

    @property
    def silence_threshold(self) -> float:
        """:attr:`silence_threshold_dbfs` as a linear sample magnitude (full scale = 1.0)."""
        return 10.0 ** (self.silence_threshold_dbfs / 20.0)


DEFAULT_LIMITS = AudioLimits()
