"""Chord recognition: beats, tempo, key and a chord map (Music.AI's generate-chords)."""
