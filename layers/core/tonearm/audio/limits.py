"""Resource limits applied to every audio input before (and while) it is decoded.

The defaults bound what one Lambda invocation may be asked to chew through: 100 MiB of encoded input
and ten minutes of audio. Callers that need other values build their own :class:`AudioLimits`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "AudioLimits"]


@dataclass(frozen=True)
class AudioLimits:
    """Upper bounds for one audio input.

    Attributes
    ----------
    max_bytes : int
        Largest accepted encoded input, in bytes (default 100 MiB).
    max_duration_s : float
        Longest accepted audio, in seconds (default 600 s).
    """

    max_bytes: int = 100 * 1024 * 1024
    max_duration_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if not self.max_duration_s > 0:
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s}")


DEFAULT_LIMITS = AudioLimits()
