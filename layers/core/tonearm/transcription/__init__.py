"""Polyphonic transcription to MIDI with Spotify's basic-pitch model (``models/basic_pitch``).

``transcribe`` / ``transcribe_source`` give note events (:class:`NoteEvent`) and ``notes_to_midi`` writes
them as a Standard MIDI File. :mod:`~tonearm.transcription.posteriors` runs the model over a track;
:mod:`~tonearm.transcription.notes` decodes its posteriors into notes.
"""

from tonearm.transcription.service import (
    NoteEvent,
    Transcription,
    estimate_bpm,
    notes_to_midi,
    transcribe,
    transcribe_source,
)

__all__ = ["NoteEvent", "Transcription", "estimate_bpm", "notes_to_midi", "transcribe", "transcribe_source"]
