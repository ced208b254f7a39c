"""The generation request: Sofy's fields (same names, ranges and defaults) plus an optional ``seed``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

#: Sofy's scale names → (major tonic, relative-minor tonic) as pitch classes (C = 0).
SCALES: dict[str, tuple[int, int]] = {
    "G_MAJOR_E_MINOR": (7, 4),
    "C_MAJOR_A_MINOR": (0, 9),
    "F_MAJOR_D_MINOR": (5, 2),
    "B_FLAT_MAJOR_G_MINOR": (10, 7),
    "E_FLAT_MAJOR_C_MINOR": (3, 0),
    "A_FLAT_MAJOR_F_MINOR": (8, 5),
    "D_FLAT_MAJOR_B_FLAT_MINOR": (1, 10),
    "G_FLAT_MAJOR_E_FLAT_MINOR": (6, 3),
    "B_MAJOR_A_FLAT_MINOR": (11, 8),
    "E_MAJOR_D_FLAT_MINOR": (4, 1),
    "A_MAJOR_G_FLAT_MINOR": (9, 6),
    "D_MAJOR_B_MINOR": (2, 11),
}

ScaleName = Literal[
    "G_MAJOR_E_MINOR",
    "C_MAJOR_A_MINOR",
    "F_MAJOR_D_MINOR",
    "B_FLAT_MAJOR_G_MINOR",
    "E_FLAT_MAJOR_C_MINOR",
    "A_FLAT_MAJOR_F_MINOR",
    "D_FLAT_MAJOR_B_FLAT_MINOR",
    "G_FLAT_MAJOR_E_FLAT_MINOR",
    "B_MAJOR_A_FLAT_MINOR",
    "E_MAJOR_D_FLAT_MINOR",
    "A_MAJOR_G_FLAT_MINOR",
    "D_MAJOR_B_MINOR",
]

MAX_SEED = 2**32 - 1


class GenerationParams(BaseModel):
    """What to generate. Ranges and defaults are Sofy's; ``seed`` is tonearm's.

    The same params with the same seed give the same audio, byte for byte. Without a seed, the service
    picks one and reports it (in the plan and the WAV's INFO chunk), so any track can be made again.

    Numbers are strict: an integer field takes a JSON integer only (``true`` or ``"30"`` is refused, not
    read as 1 or 30), and a float field takes a JSON number (an integer too, as Sofy's clients send
    ``"temperature": 1``), never a boolean or a string.
    """

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(
        min_length=1,
        max_length=500,
        description='Genre, mood and instruments in words, e.g. "Melancholic jazz with soft saxophone".',
    )
    duration_seconds: StrictInt = Field(default=25, ge=1, le=300, description="Length of the track [s].")
    bpm: StrictInt = Field(default=110, ge=60, le=200, description="Tempo in beats per minute.")
    temperature: StrictFloat = Field(
        default=1.2, ge=0.1, le=2.0, description="Variation: low repeats patterns, high varies them."
    )
    density: StrictFloat = Field(
        default=0.8, ge=0.1, le=1.0, description="How busy the arrangement is: notes and layers."
    )
    brightness: StrictFloat = Field(
        default=0.6, ge=0.1, le=1.0, description="Register, voicing, instrument choice and velocity."
    )
    scale: ScaleName = Field(
        default="G_MAJOR_E_MINOR", description="The key: the major scale or its relative minor."
    )
    guidance: StrictFloat = Field(
        default=4.5, ge=1.0, le=10.0, description="Adherence to the style: high follows it strictly."
    )
    seed: StrictInt | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Same seed and params → identical audio (tonearm)."
    )

    @field_validator("prompt")
    @classmethod
    def _printable(cls, prompt: str) -> str:
        # refused up front: a NUL once ran a whole generation and then failed in the WAV's INFO chunk
        if any(not c.isprintable() and c not in "\t\n\r" for c in prompt):
            raise ValueError("the prompt may not contain control characters")
        return prompt


#: Measured end-to-end speed on one core (bench/results/generation.md), for time estimates.
REAL_TIME_FACTOR = 30.0


def estimate_seconds(params: GenerationParams) -> float:
    """Expected wall time of a generation for ``params`` [s] (one core, warm).

    Here rather than in ``service`` so that the API function without the audio stack can use it.
    """
    return 0.3 + params.duration_seconds / REAL_TIME_FACTOR
