"""Reference notes of a rendered clip (its own ``clip.mid``) and the clip's instrumentation category."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonearm.midi import smf

DRUM_CHANNEL = smf.DRUM_CHANNEL
CLIP_SECONDS = 30.0

#: Categories reported, in report order, with what they hold (derived from each clip's instrumentation).
CATEGORIES = {
    "piano": "solo keyboard: piano or harpsichord, no drums",
    "strings": "string quartet or string ensemble, no drums",
    "band_with_drums": "any ensemble with the drum kit (kick, snare, hi-hat; drums not scored)",
    "other": "organ, choir + cello, brass, woodwinds, folk melody + guitar/piano/accordion, no drums",
}


def category(labels: dict[str, Any]) -> str:
    """The report category of a clip from its ``labels.json`` (``ensemble``, ``drums``)."""
    if labels["drums"]:
        return "band_with_drums"
    if labels["ensemble"] in ("piano", "harpsichord"):
        return "piano"
    if labels["ensemble"] in ("strings", "string_ensemble"):
        return "strings"
    return "other"


@dataclass(frozen=True, order=True)
class MidiNote:
    """A note of a Standard MIDI File, in seconds."""

    start_s: float
    end_s: float
    pitch: int
    channel: int


def read_notes(path: Path) -> list[MidiNote]:
    """Every note of a format-0/1 Standard MIDI File with one tempo (what ``tonearm.midi.smf`` writes)."""
    try:
        parsed = smf.read(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    seconds = parsed.seconds_per_tick
    return sorted(
        MidiNote(n.start * seconds, (n.start + n.duration) * seconds, n.pitch, n.channel)
        for n in parsed.notes
    )


def reference_notes(path: Path, *, seconds: float = CLIP_SECONDS) -> list[tuple[float, float, int]]:
    """The pitched notes heard in the clip: ``(onset, offset, pitch)``, onsets in ``[0, seconds)``.

    Drums (channel 10) are left out; offsets are cut at ``seconds`` (the clip is cut there); a note
    doubled at the unison on another channel (same key, same onset) is counted once, with the longer
    offset, since no transcription can report it twice.
    """
    merged: dict[tuple[int, int], float] = {}
    for n in read_notes(path):
        if n.channel == DRUM_CHANNEL or n.start_s >= seconds:
            continue
        key = (round(n.start_s * 1e6), n.pitch)
        merged[key] = max(merged.get(key, 0.0), min(n.end_s, seconds))
    return sorted((start_us / 1e6, end, pitch) for (start_us, pitch), end in merged.items())
