"""Text-to-music generation: prompt → plan → score → audio (Sofy's API runs on this).

- ``params``: the request (Sofy's fields plus ``seed``) and the 12 scales.
- ``prompt``: free text → style, mood, instruments, tempo words.
- ``styles``: the style models (instruments, grooves, progressions) the composer draws on.
- ``plan``: the interpretation, form and arrangement of one track, fitted to its duration.
- ``compose``: plan → MIDI score.
- ``render``: score → 48 kHz stereo with FluidSynth.
- ``master``: loudness normalisation, true-peak limiting, fades, the labelled 16-bit WAV.
- ``service``: the whole chain with progress.
"""
