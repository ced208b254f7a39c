"""Deterministic synthetic clips for the basic-pitch golden-output test (numpy only).

``fixture_clips()`` returns the clips as ``(name, y, sr, notes)``: ``y`` float32 of shape ``(n,)`` or
``(channels, n)``, ``notes`` the ``(start_s, end_s, midi_pitch)`` that were synthesised. Only ``sin``,
``exp`` and arithmetic on float64 are used, so the samples are the same on every platform to far below
the test's tolerance. ``models/basic_pitch/fetch.py --record-golden`` writes each clip to a 32-bit float
WAV, runs the ORIGINAL basic-pitch inference on it and stores the results in ``golden/<name>.npz``;
``tests/unit/test_transcription.py`` builds the same clips and runs tonearm's pipeline on them.

* ``arpeggio``: 5 s at 44.1 kHz mono: a C major arpeggio (C4 E4 G4 C5, 0.4 s each), a held C major
  triad with a C3 bass, then G3-B3-D4 and a last C4; harmonic tones (8 partials, 1/k amplitudes) with
  an attack/decay/release envelope. Three model windows, so two window seams.
* ``dyad_48k_stereo``: 0.9 s at 48 kHz stereo: A3 on the left, E4 on the right (one window, partial),
  exercising the channel mix and a 48 kHz -> 22.05 kHz resampling.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fixture_clips"]


def _midi_hz(pitch: int) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def _tone(pitch: int, seconds: float, sr: int, *, amp: float = 0.2) -> np.ndarray:
    """A harmonic tone: 8 partials at 1/k amplitude, 10 ms attack, exponential decay, 30 ms release."""
    n = round(seconds * sr)
    t = np.arange(n) / sr
    f0 = _midi_hz(pitch)
    partials = np.arange(1, 9)
    partials = partials[partials * f0 < 0.45 * sr]
    wave = (np.sin(2.0 * np.pi * f0 * partials[:, None] * t[None, :]) / partials[:, None]).sum(axis=0)
    attack = np.minimum(1.0, t / 0.010)
    release = np.minimum(1.0, (seconds - t) / 0.030)
    envelope = attack * np.clip(release, 0.0, 1.0) * (0.35 + 0.65 * np.exp(-t / 0.6))
    return amp * wave * envelope


def _render(
    notes: list[tuple[float, float, int]], seconds: float, sr: int, *, amp: float = 0.2
) -> np.ndarray:
    out = np.zeros(round(seconds * sr))
    for start, end, pitch in notes:
        i = round(start * sr)
        tone = _tone(pitch, end - start, sr, amp=amp)
        out[i : i + len(tone)] += tone[: len(out) - i]
    return out


def _arpeggio() -> tuple[np.ndarray, int, list[tuple[float, float, int]]]:
    sr = 44100
    notes = [(0.1 + 0.4 * k, 0.1 + 0.4 * (k + 1) - 0.02, p) for k, p in enumerate((60, 64, 67, 72))]
    notes += [(1.8, 3.1, p) for p in (48, 60, 64, 67)]  # held triad across the first window seam (1.64 s)
    notes += [(3.2 + 0.35 * k, 3.2 + 0.35 * (k + 1) - 0.03, p) for k, p in enumerate((55, 59, 62))]
    notes += [(4.3, 4.9, 60)]
    return _render(notes, 5.0, sr).astype(np.float32), sr, notes


def _dyad() -> tuple[np.ndarray, int, list[tuple[float, float, int]]]:
    sr = 48000
    left = _render([(0.05, 0.85, 57)], 0.9, sr, amp=0.3)
    right = _render([(0.05, 0.85, 64)], 0.9, sr, amp=0.3)
    return np.stack([left, right]).astype(np.float32), sr, [(0.05, 0.85, 57), (0.05, 0.85, 64)]


def fixture_clips() -> list[tuple[str, np.ndarray, int, list[tuple[float, float, int]]]]:
    """The golden-test clips: ``(name, y, sr, notes)`` (see the module docstring)."""
    return [("arpeggio", *_arpeggio()), ("dyad_48k_stereo", *_dyad())]
