"""The wire form of an analysis, importable without numpy (the API lists it as workflow outputs)."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


def finite_or_none(value: float, digits: int = 2) -> float | None:
    """``None`` for -inf/nan (JSON cannot carry them), else rounded."""
    return round(value, digits) if math.isfinite(value) else None


class AnalysisResult(BaseModel):
    """The JSON of an analysis: the issue's field names, plus a few more (camelCase: the wire names)."""

    duration: float = Field(description="Duration [s].")
    bpm: float = Field(
        description=(
            "Global tempo [beats per minute]: the mean beat rate for a steady tempo, the median of "
            "beatTempos when the tempo moves; 0 when no pulse was found."
        )
    )
    bpmConfidence: float = Field(
        ge=0,
        le=1,
        description=(
            "Estimated probability that bpm is within 4 % of the performed tempo (calibrated on "
            "performed renders: about 0.36 when the beat is hardly periodic, up to 0.96 when it is "
            "clearly periodic); 0 when no pulse was found."
        ),
    )
    beats: list[float] = Field(description="Beat times [s].")
    downbeats: list[float] = Field(description="Downbeat (bar start) times [s].")
    beatNumbers: list[int] = Field(description="Each beat's position in its bar, 1-based.")
    beatTempos: list[float] = Field(
        description="Local tempo at each beat [beats per minute], from the beat times around it."
    )
    timeSignature: int = Field(description="Beats per bar.")
    key: str = Field(description='Tonic and mode, e.g. "A minor".')
    keyIndex: int = Field(
        ge=-1, le=11, description="Tonic as a pitch class (C=0 ... B=11), as Spotify's key."
    )
    mode: int = Field(ge=0, le=1, description="1 major, 0 minor, as Spotify's mode.")
    keyConfidence: float = Field(ge=0, le=1)
    loudnessLufs: float | None = Field(description="Integrated loudness, ITU-R BS.1770-4 [LUFS].")
    loudnessRangeLu: float | None = Field(description="Loudness range, EBU Tech 3342 [LU].")
    samplePeakDb: float | None = Field(description="Sample peak [dBFS].")
    truePeakDb: float | None = Field(description="True peak, BS.1770-4 Annex 2 [dBTP].")
    features: dict[str, float | int] = Field(
        description="Spotify-style audio features (tonearm's definitions)."
    )
