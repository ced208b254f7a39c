"""Polyphonic transcription to MIDI with Spotify's basic-pitch model (``models/basic_pitch``).

:mod:`~tonearm.transcription.service`: ``transcribe`` / ``transcribe_source`` give note events
(:class:`~tonearm.transcription.service.NoteEvent`) and ``notes_to_midi`` writes them as a Standard MIDI
File. :mod:`~tonearm.transcription.posteriors` runs the model over a track;
:mod:`~tonearm.transcription.notes` decodes its posteriors into notes. (Nothing is imported here, so the
light API function can read the workflow declaration without numpy.)
"""
