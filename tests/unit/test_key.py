"""Key detection (tonearm.analysis.key) on cadences and scales rendered with additive synthesis.

The tones carry eight harmonics at 1/h amplitude (brighter than most instruments), so every note also
sounds its fifth and major third: a chroma that ignored overtones would drift towards the dominant.
"""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.analysis.key import PITCH_CLASSES, KeyEstimate, chromagram, estimate_key
from tonearm.analysis.spectral import ANALYSIS_SR, Spectrogram, stft_magnitude
from tonearm.errors import ParameterError

SR = ANALYSIS_SR
#: Harmonic amplitudes 1/h, h = 1..8: a bright, string-like tone.
PARTIALS = 1.0 / np.arange(1, 9)
#: Chord length [s]: a half-note at 120 BPM.
CHORD_S = 0.4
#: Scale-note length [s]: eighth notes at 150 BPM.
SCALE_NOTE_S = 0.2
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11, 12)
HARMONIC_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11, 12)
# Cadences as (bass, upper voices) in semitones above the tonic: I-IV-V7-I and i-iv-V7-i (harmonic
# minor: the dominant has the raised leading tone).
MAJOR_CADENCE = ((0, (12, 16, 19)), (5, (12, 17, 21)), (7, (11, 14, 17, 19)), (0, (12, 16, 19)))
MINOR_CADENCE = ((0, (12, 15, 19)), (5, (12, 17, 20)), (7, (11, 14, 17, 19)), (0, (12, 15, 19)))


def tone(freq: float, seconds: float) -> np.ndarray:
    """Additive tone with a 5 ms attack and an exponential decay (time constant 0.6 s)."""
    t = np.arange(round(seconds * SR)) / SR
    h = np.arange(1, len(PARTIALS) + 1)[:, np.newaxis]
    y = (PARTIALS[:, np.newaxis] * np.sin(2 * np.pi * freq * h * t)).sum(axis=0)
    return y * np.minimum(1.0, t / 0.005) * np.exp(-t / 0.6)


def midi_hz(m: float, *, cents: float = 0.0) -> float:
    return 440.0 * 2.0 ** ((m - 69 + cents / 100.0) / 12.0)


def render_key(tonic: int, mode: int, *, cents: float = 0.0) -> np.ndarray:
    """A scale over the tonic, then the cadence twice; tonic pitch class ``tonic`` around C3-B3."""
    base = 48 + tonic  # C3 + tonic: bass in octave 3, upper voices in octave 4
    scale = MAJOR_SCALE if mode == 1 else HARMONIC_MINOR_SCALE
    cadence = MAJOR_CADENCE if mode == 1 else MINOR_CADENCE
    parts = [tone(midi_hz(base + 12 + s, cents=cents), SCALE_NOTE_S) + 0.5 * tone(midi_hz(base, cents=cents),
             SCALE_NOTE_S) for s in scale]  # fmt: skip
    for _ in range(2):
        for bass, upper in cadence:
            chord = tone(midi_hz(base + bass - 12 * (bass > 6), cents=cents), CHORD_S)
            for u in upper:
                chord = chord + tone(midi_hz(base + u, cents=cents), CHORD_S)
            parts.append(chord)
    y = np.concatenate(parts)
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def spectrogram(y: np.ndarray) -> Spectrogram:
    return stft_magnitude(y, sr=SR)


@pytest.mark.parametrize("mode", [1, 0], ids=["major", "minor"])
@pytest.mark.parametrize("tonic", range(12), ids=PITCH_CLASSES)
def test_all_24_keys(tonic: int, mode: int) -> None:
    est = estimate_key(spectrogram(render_key(tonic, mode)))
    assert (est.tonic, est.mode) == (tonic, mode), est.name
    assert 0.0 <= est.confidence <= 1.0


def test_names() -> None:
    assert KeyEstimate(tonic=9, mode=0, confidence=0.5).name == "A minor"
    # spelled as the key is written: the name with the fewer accidentals (Gb major and Eb minor by
    # convention where both have six)
    assert KeyEstimate(tonic=1, mode=1, confidence=0.5).name == "Db major"
    assert KeyEstimate(tonic=1, mode=0, confidence=0.5).name == "C# minor"
    assert KeyEstimate(tonic=10, mode=1, confidence=0.5).name == "Bb major"
    assert KeyEstimate(tonic=7, mode=0, confidence=0.5).name == "G minor"
    assert KeyEstimate(tonic=3, mode=0, confidence=0.5).name == "Eb minor"
    assert KeyEstimate(tonic=6, mode=1, confidence=0.5).name == "Gb major"
    assert KeyEstimate(tonic=8, mode=0, confidence=0.5).name == "G# minor"
    assert KeyEstimate(tonic=10, mode=1, confidence=0.5).spelled("sharps") == "A# major"
    assert KeyEstimate(tonic=1, mode=0, confidence=0.5).spelled("flats") == "Db minor"
    assert PITCH_CLASSES[0] == "C" and PITCH_CLASSES[11] == "B" and len(PITCH_CLASSES) == 12


def test_confidence_cadence_above_noise() -> None:
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(6 * SR)).astype(np.float32)
    cadence = estimate_key(spectrogram(render_key(7, 1)))
    noisy = estimate_key(spectrogram(noise))
    assert cadence.confidence > 0.3
    assert noisy.confidence < 0.1
    assert cadence.confidence > 3 * noisy.confidence


def test_silence_has_zero_confidence() -> None:
    est = estimate_key(spectrogram(np.zeros(3 * SR, dtype=np.float32)))
    assert est.confidence == 0.0


@pytest.mark.parametrize(("tonic", "mode"), [(2, 1), (9, 0), (11, 1), (4, 0)])
def test_tuning_offset_of_30_cents(tonic: int, mode: int) -> None:
    spec = spectrogram(render_key(tonic, mode, cents=30.0))
    est = estimate_key(spec)
    assert (est.tonic, est.mode) == (tonic, mode), est.name
    # Given the tuning, the chroma's strongest pitch class over the clip is the tonic or its fifth.
    chroma = chromagram(spec, tuning_hz=440.0 * 2 ** (30 / 1200))
    assert int(np.argmax(chroma.sum(axis=1))) in {tonic, (tonic + 7) % 12}


def test_precomputed_chroma_gives_the_same_key() -> None:
    spec = spectrogram(render_key(5, 0))
    assert estimate_key(spec, chroma=chromagram(spec)) == estimate_key(spec)


def test_chromagram_shape_and_bad_arguments() -> None:
    spec = spectrogram(render_key(0, 1))
    chroma = chromagram(spec)
    assert chroma.shape == (12, spec.magnitude.shape[1])
    assert np.all(chroma >= 0)
    with pytest.raises(ParameterError):
        estimate_key(spec, chroma=chroma[:, :-1])
    with pytest.raises(ParameterError):
        chromagram(spec, tuning_hz=-440.0)
