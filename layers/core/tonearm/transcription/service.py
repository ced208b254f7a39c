"""Polyphonic transcription use cases: audio in, note events and a Standard MIDI File out.

``transcribe`` runs basic-pitch's model (:mod:`tonearm.transcription.posteriors`) and its note decoding
(:mod:`tonearm.transcription.notes`) on decoded audio; ``transcribe_source`` decodes an input first and
also estimates the tempo with tonearm's beat tracker, so that ``notes_to_midi`` can write the notes on
the track's own beat grid. Everything returns plain data; the wire shapes live with the callers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from tonearm.analysis.rhythm import analyze_rhythm
from tonearm.analysis.spectral import ANALYSIS_SR, stft_magnitude
from tonearm.audio.decode import decode_stream
from tonearm.audio.progress import FractionProgress, span
from tonearm.errors import ParameterError
from tonearm.midi import smf
from tonearm.models.registry import ModelRegistry
from tonearm.transcription.notes import extract_notes
from tonearm.transcription.posteriors import (
    MODEL_NAME,
    SignalCollector,
    posteriors_from_signal,
    transcription_signal,
)

__all__ = [
    "DEFAULT_BPM",
    "NoteEvent",
    "Transcription",
    "estimate_bpm",
    "notes_to_midi",
    "transcribe",
    "transcribe_source",
]

#: Tempo written to a MIDI file when none is known [beats per minute] (the MIDI default).
DEFAULT_BPM = 120.0
#: Tempi ``notes_to_midi`` accepts [beats per minute]; a format-0 tempo is a 24-bit microseconds count.
MIN_BPM, MAX_BPM = 4.0, 1000.0
#: MIDI channel and General MIDI program of the written notes (channel 1, Acoustic Grand Piano).
MIDI_CHANNEL = 0
MIDI_PROGRAM = 0


@dataclass(frozen=True, order=True)
class NoteEvent:
    """One transcribed note: onset and offset [s] from the start of the audio, MIDI key and velocity."""

    start_s: float
    end_s: float
    pitch: int
    velocity: int

    def to_json(self) -> dict[str, float | int]:
        """``{"start", "end", "pitch", "velocity"}``, times rounded to 0.1 ms."""
        return {
            "start": round(self.start_s, 4),
            "end": round(self.end_s, 4),
            "pitch": self.pitch,
            "velocity": self.velocity,
        }


@dataclass(frozen=True)
class Transcription:
    """The notes of a track, sorted by onset (then offset, key), with its length and tempo.

    ``bpm`` is the beat tracker's tempo when it was estimated (``transcribe_source``) and a beat was
    found; ``None`` otherwise (``notes_to_midi`` then writes :data:`DEFAULT_BPM`).
    """

    notes: list[NoteEvent]
    duration_s: float
    bpm: float | None = None
    model: str = MODEL_NAME

    def to_json(self) -> dict[str, object]:
        """The JSON-ready form: duration, bpm, model and the notes."""
        return {
            "duration": round(self.duration_s, 3),
            "bpm": None if self.bpm is None else round(self.bpm, 2),
            "model": self.model,
            "notes": [n.to_json() for n in self.notes],
        }


def estimate_bpm(signal: npt.NDArray[np.float32]) -> float | None:
    """Tempo of a 22050 Hz mono signal from tonearm's beat tracker.

    Parameters
    ----------
    signal : np.ndarray [shape=(n,)], float32 at 22050 Hz

    Returns
    -------
    float > 0 [beats per minute] or None
        ``None`` when the tracker finds no beat (silence, clips under its minimum length).
    """
    rhythm = analyze_rhythm(stft_magnitude(signal, sr=ANALYSIS_SR))
    return float(rhythm.bpm) if rhythm.bpm > 0 and math.isfinite(rhythm.bpm) else None


def transcribe(
    y: npt.NDArray[np.floating],
    sr: int,
    *,
    registry: ModelRegistry | None = None,
    tempo: bool = False,
) -> Transcription:
    """Transcribe polyphonic audio to note events.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
        Audio at any sample rate, full scale = 1.0 (channels are averaged).
    sr : int > 0 [Hz]
    registry : ModelRegistry, optional
        Where ``basic_pitch_nmp`` is loaded from; default: the process-wide registry.
    tempo : bool
        Also estimate the tempo (:func:`estimate_bpm`, about 3 % of the transcription's time).

    Returns
    -------
    Transcription
        Notes with times in seconds (frame centres: about 11.6 ms resolution), MIDI keys 21..108 and
        velocities ``round(127 * amplitude)`` clipped to 1..127.
    """
    if sr <= 0:
        raise ParameterError(f"sr must be positive, got {sr}")
    signal = transcription_signal(y, sr=sr)
    return _transcribe_signal(signal, duration_s=y.shape[-1] / sr, registry=registry, tempo=tempo)


def _transcribe_signal(
    signal: npt.NDArray[np.float32],
    *,
    duration_s: float,
    registry: ModelRegistry | None,
    tempo: bool,
    progress: FractionProgress | None = None,
) -> Transcription:
    """``transcribe`` from the 22050 Hz mono signal."""
    post = posteriors_from_signal(
        signal, registry=registry, contour=False, progress=span(progress, 0.0, 0.85)
    )
    found = extract_notes(post.note, post.onset)
    if progress is not None:
        progress(0.9)
    times = post.times
    del post  # the posteriors are not needed for the tempo
    velocity = np.clip(np.round(127.0 * found.amplitude), 1, 127).astype(np.int64)
    rows = sorted(
        zip(
            times[found.start].tolist(),
            times[found.end].tolist(),
            found.pitch.tolist(),
            velocity.tolist(),
            strict=True,
        )
    )
    notes = [NoteEvent(start_s=s, end_s=e, pitch=p, velocity=v) for s, e, p, v in rows]
    bpm = estimate_bpm(signal) if tempo else None
    if progress is not None:
        progress(1.0)
    return Transcription(notes=notes, duration_s=duration_s, bpm=bpm)


def transcribe_source(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    size_bytes: int | None = None,
    registry: ModelRegistry | None = None,
    progress: FractionProgress | None = None,
) -> Transcription:
    """Decode an audio input and transcribe it, with its tempo.

    Decodes with :func:`tonearm.audio.decode.decode_stream` (the checks and errors of
    :func:`tonearm.audio.decode.decode`) into a :class:`~tonearm.transcription.posteriors.SignalCollector`,
    so only the 22050 Hz mono signal is held, never the decoded full-rate channels. Same notes as
    ``transcribe(decode(source).y, decode(source).sr)``.

    Parameters
    ----------
    source : str, os.PathLike, seekable binary stream or bytes
        As for :func:`tonearm.audio.decode.decode` (format detected, limits enforced).
    size_bytes : int, optional
        The input's size if already known (an S3 object's ``ContentLength``).
    registry : ModelRegistry, optional
    progress : callable, optional
        ``progress(fraction)`` (0-1) per decoded block, then per chunk of model windows.

    Returns
    -------
    Transcription
        With ``bpm`` from :func:`estimate_bpm` (``None`` if no beat was found).

    Raises
    ------
    TonearmError
        Every error :func:`tonearm.audio.decode.decode` raises, in the same cases.
    """
    collector = SignalCollector()
    info = decode_stream(source, collector, size_bytes=size_bytes, progress=span(progress, 0.0, 0.15))
    return _transcribe_signal(
        collector.finish(),
        duration_s=info.duration_s,
        registry=registry,
        tempo=True,
        progress=span(progress, 0.15, 1.0),
    )


def notes_to_midi(notes: Iterable[NoteEvent], *, bpm: float | None) -> bytes:
    """A format-0 Standard MIDI File of the notes.

    Parameters
    ----------
    notes : iterable of NoteEvent
        Times in seconds from the start; pitches 0..127.
    bpm : float in [4, 1000] or None [beats per minute]
        Tempo of the file (one tempo event, 4/4); ``None``: :data:`DEFAULT_BPM`. The notes keep their
        times in seconds whatever the tempo (within half a tick: 480 ticks per quarter note).

    Returns
    -------
    bytes
        The file: one track, channel 1, program 0 (Acoustic Grand Piano), velocities clipped to 1..127.
        Overlapping notes of one key are shortened so that each re-strike is heard (``tonearm.midi.smf``).
    """
    tempo = DEFAULT_BPM if bpm is None else float(bpm)
    if not (math.isfinite(tempo) and MIN_BPM <= tempo <= MAX_BPM):
        raise ParameterError(f"bpm must lie between {MIN_BPM:g} and {MAX_BPM:g}, got {bpm}")
    us_per_quarter = round(60e6 / tempo)
    ticks_per_s = smf.TICKS_PER_QUARTER * 1e6 / us_per_quarter
    song = smf.Song(us_per_quarter=us_per_quarter, numerator=4, denominator=4)
    song.programs[MIDI_CHANNEL] = MIDI_PROGRAM
    for n in notes:
        if not (0 <= n.pitch <= 127):
            raise ParameterError(f"MIDI pitches lie in 0..127, got {n.pitch}")
        if not (math.isfinite(n.start_s) and math.isfinite(n.end_s) and 0 <= n.start_s <= n.end_s):
            raise ParameterError(f"a note needs 0 <= start_s <= end_s, got {n.start_s}, {n.end_s}")
        start = round(n.start_s * ticks_per_s)
        duration = max(1, round(n.end_s * ticks_per_s) - start)
        velocity = min(127, max(1, int(n.velocity)))
        song.notes.append(smf.Note(start, duration, MIDI_CHANNEL, int(n.pitch), velocity))
    return smf.encode(song)
