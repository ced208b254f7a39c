"""A minimal, dependency-free Standard MIDI File (format 0) writer (the benchmark renderer, the tests).

The benchmark writes its own MIDI instead of ``music21``'s exporter so that every timing decision is
explicit: one tempo event for the whole file (any tempo marks, fermatas or ritardandi in the score are
ignored), integer ticks, note-offs sorted before note-ons on the same tick, and overlapping notes of the
same pitch on the same channel shortened so a late note-off can never cut a re-struck note.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

TICKS_PER_QUARTER = 480
DRUM_CHANNEL = 9  # MIDI channel 10, General MIDI percussion


@dataclass(frozen=True, order=True)
class Note:
    """One note: start and duration in ticks, MIDI channel, key number and velocity."""

    start: int
    duration: int
    channel: int
    pitch: int
    velocity: int


@dataclass
class Song:
    """Everything a format-0 file needs: one tempo, one meter, channel setup and notes."""

    us_per_quarter: int
    numerator: int
    denominator: int
    programs: dict[int, int] = field(default_factory=dict)  # channel -> GM program (0-based)
    volumes: dict[int, int] = field(default_factory=dict)  # channel -> CC7
    pans: dict[int, int] = field(default_factory=dict)  # channel -> CC10
    notes: list[Note] = field(default_factory=list)
    end_tick: int = 0


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity."""
    if value < 0:
        raise ValueError("negative delta time")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _dedupe(notes: list[Note]) -> list[Note]:
    """Shorten notes that overlap a later note of the same pitch on the same channel."""
    by_key: dict[tuple[int, int], list[Note]] = {}
    for n in sorted(notes):
        by_key.setdefault((n.channel, n.pitch), []).append(n)
    out: list[Note] = []
    for seq in by_key.values():
        for i, n in enumerate(seq):
            dur = n.duration
            if i + 1 < len(seq):
                nxt = seq[i + 1].start
                if nxt == n.start:
                    continue  # unison doubling on one channel: keep the later (same) note only
                dur = min(dur, nxt - n.start - 1)
            if dur > 0:
                out.append(Note(n.start, dur, n.channel, n.pitch, n.velocity))
    return out


def write(song: Song, path: Path) -> None:
    """Write ``song`` as a format-0 Standard MIDI File."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, bytes); order: meta 0, setup 1, off 2, on 3
    events.append((0, 0, b"\xff\x51\x03" + song.us_per_quarter.to_bytes(3, "big")))
    dd = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4}[song.denominator]
    events.append((0, 0, bytes([0xFF, 0x58, 0x04, song.numerator, dd, 24, 8])))
    for ch, prog in sorted(song.programs.items()):
        events.append((0, 1, bytes([0xC0 | ch, prog & 0x7F])))
    for ch, vol in sorted(song.volumes.items()):
        events.append((0, 1, bytes([0xB0 | ch, 7, vol & 0x7F])))
    for ch, pan in sorted(song.pans.items()):
        events.append((0, 1, bytes([0xB0 | ch, 10, pan & 0x7F])))
    last = 0
    for n in _dedupe(song.notes):
        events.append((n.start, 3, bytes([0x90 | n.channel, n.pitch, max(1, min(127, n.velocity))])))
        events.append((n.start + n.duration, 2, bytes([0x80 | n.channel, n.pitch, 0])))
        last = max(last, n.start + n.duration)
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    body = bytearray()
    tick = 0
    for t, _, data in events:
        body += _vlq(t - tick) + data
        tick = t
    body += _vlq(max(song.end_tick, last) - tick) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body))
