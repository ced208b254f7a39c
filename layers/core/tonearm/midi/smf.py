"""A minimal, dependency-free Standard MIDI File writer (format 0) and reader (formats 0 and 1).

Written by the benchmark renderer, the tests, the chord export and the transcription; read by the tests
and the transcription benchmark (which score against the notes they rendered).

The benchmark writes its own MIDI instead of ``music21``'s exporter so that every timing decision is
explicit: one tempo event for the whole file (any tempo marks, fermatas or ritardandi in the score are
ignored), integer ticks, note-offs sorted before note-ons on the same tick, and overlapping notes of the
same pitch on the same channel shortened so a late note-off can never cut a re-struck note.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from tonearm.errors import ParameterError

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
        # Kept a ValueError: events are sorted by tick before encoding, so a negative delta means a note
        # starting before tick 0, i.e. a bug in the code that built the Song (tonearm's composer, chord
        # export or transcription), never anything a request can carry.
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
    path.write_bytes(encode(song))


def encode(song: Song) -> bytes:
    """``song`` as the bytes of a format-0 Standard MIDI File."""
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
    return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


@dataclass(frozen=True)
class ParsedMidi:
    """What :func:`read` found in a Standard MIDI File.

    Attributes
    ----------
    format, tracks : int
        The header's format (0 or 1) and number of tracks.
    ticks_per_quarter : int
    us_per_quarter : int
        The last tempo event (500000, i.e. 120 BPM, when there is none): files with one tempo only.
    notes : list of Note
        Every note with its note-on velocity, sorted; a note-off closes the earliest open note of
        its channel and key.
    unclosed : int
        Note-ons never closed by a note-off.
    """

    format: int
    tracks: int
    ticks_per_quarter: int
    us_per_quarter: int
    notes: list[Note]
    unclosed: int

    @property
    def seconds_per_tick(self) -> float:
        """Length of one tick [s] at the file's tempo."""
        return self.us_per_quarter / 1e6 / self.ticks_per_quarter


def read(data: bytes) -> ParsedMidi:
    """Parse a format-0/1 Standard MIDI File with metrical time division.

    Raises
    ------
    ParameterError
        Not a Standard MIDI File, SMPTE time division, or a malformed track header.
    """
    if data[:4] != b"MThd":
        raise ParameterError("not a Standard MIDI File")
    _, fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise ParameterError("SMPTE time division is not supported")
    pos, tempo = 14, 500_000
    notes: list[Note] = []
    unclosed = 0
    for _ in range(n_tracks):
        if data[pos : pos + 4] != b"MTrk":
            raise ParameterError(f"bad track header at byte {pos}")
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + size], pos + 8 + size
        i, tick, status = 0, 0, 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (channel, key) -> [(tick, velocity)]
        while i < len(body):
            delta = 0
            while True:
                byte = body[i]
                i += 1
                delta = (delta << 7) | (byte & 0x7F)
                if byte < 0x80:
                    break
            tick += delta
            if body[i] & 0x80:  # otherwise running status
                status = body[i]
                i += 1
            if status == 0xFF:
                kind, length = body[i], body[i + 1]
                if kind == 0x51:
                    tempo = int.from_bytes(body[i + 2 : i + 5], "big")
                i += 2 + length
            elif status in (0xF0, 0xF7):
                i += 1 + body[i]
            else:
                kind, channel = status & 0xF0, status & 0x0F
                if kind in (0x80, 0x90):
                    pitch, velocity = body[i], body[i + 1]
                    if kind == 0x90 and velocity > 0:
                        sounding.setdefault((channel, pitch), []).append((tick, velocity))
                    elif sounding.get((channel, pitch)):
                        start, on_velocity = sounding[(channel, pitch)].pop(0)
                        notes.append(Note(start, tick - start, channel, pitch, on_velocity))
                i += 1 if kind in (0xC0, 0xD0) else 2
        unclosed += sum(len(open_notes) for open_notes in sounding.values())
    return ParsedMidi(fmt, n_tracks, division, tempo, sorted(notes), unclosed)
