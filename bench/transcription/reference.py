"""Reference notes of a rendered clip (its own ``clip.mid``) and the clip's instrumentation category."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRUM_CHANNEL = 9  # General MIDI percussion (channel 10)
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
    data = path.read_bytes()
    if data[:4] != b"MThd":
        raise ValueError(f"{path}: not a Standard MIDI File")
    _, _, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise ValueError(f"{path}: SMPTE time division is not supported")
    pos, tempo = 14, 500_000
    raw: list[tuple[int, int, int, int]] = []  # (start tick, end tick, pitch, channel)
    for _ in range(n_tracks):
        if data[pos : pos + 4] != b"MTrk":
            raise ValueError(f"{path}: bad track header at byte {pos}")
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + size], pos + 8 + size
        i, tick, status = 0, 0, 0
        sounding: dict[tuple[int, int], list[int]] = {}
        while i < len(body):
            delta = 0
            while True:
                byte = body[i]
                i += 1
                delta = (delta << 7) | (byte & 0x7F)
                if byte < 0x80:
                    break
            tick += delta
            if body[i] & 0x80:
                status = body[i]
                i += 1
            if status == 0xFF:
                kind, length = body[i], body[i + 1]
                if kind == 0x51:
                    tempo = int.from_bytes(body[i + 2 : i + 5], "big")
                i += 2 + length
            elif status in (0xF0, 0xF7):
                length = body[i]
                i += 1 + length
            else:
                kind, channel = status & 0xF0, status & 0x0F
                if kind in (0x80, 0x90):
                    pitch, velocity = body[i], body[i + 1]
                    if kind == 0x90 and velocity > 0:
                        sounding.setdefault((channel, pitch), []).append(tick)
                    elif sounding.get((channel, pitch)):
                        raw.append((sounding[(channel, pitch)].pop(0), tick, pitch, channel))
                i += 1 if kind in (0xC0, 0xD0) else 2
    seconds = tempo / 1e6 / division
    return sorted(MidiNote(s * seconds, e * seconds, p, c) for s, e, p, c in raw)


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
