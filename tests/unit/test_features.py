"""Audio features (tonearm.analysis.features) on synthetic signals whose ordering is obvious.

Every check is a monotonicity or range check: the features are heuristics with documented
definitions, so the tests pin down directions (pink noise is more energetic than a soft sine melody),
not absolute values. The onset envelope and beat arrays are built here, so these tests do not depend
on the rhythm module.
"""

from __future__ import annotations

import functools
import itertools
import time

import numpy as np
import pytest
from scipy import signal

from tonearm.analysis.features import NO_KEY_CONFIDENCE, AudioFeatures, audio_features
from tonearm.analysis.key import KeyEstimate, chromagram
from tonearm.analysis.spectral import ANALYSIS_SR, Spectrogram, stft_magnitude
from tonearm.audio.loudness import integrated_loudness

SR = ANALYSIS_SR
#: Clip length [s]: several bars at 60-120 BPM, short enough to keep the suite fast.
SECONDS = 8.0
SPOTIFY_KEYS = {
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "time_signature",
}
UNIT_FEATURES = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
)
C_MAJOR = KeyEstimate(tonic=0, mode=1, confidence=0.6)
A_MINOR = KeyEstimate(tonic=9, mode=0, confidence=0.6)
NO_KEY = KeyEstimate(tonic=0, mode=1, confidence=0.0)


# --- synthesis ------------------------------------------------------------------------------------


def n_samples(seconds: float = SECONDS) -> int:
    return round(seconds * SR)


@functools.cache  # pure and deterministic: synthesise once per test session
def pink_noise(seconds: float = SECONDS, *, seed: int = 0) -> np.ndarray:
    """1/f-power noise, by shaping white noise in the frequency domain."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n_samples(seconds)))
    f = np.fft.rfftfreq(n_samples(seconds), 1.0 / SR)
    spectrum /= np.sqrt(np.maximum(f, 20.0))
    y = np.fft.irfft(spectrum, n=n_samples(seconds))
    return y / np.abs(y).max()


def at_lufs(y: np.ndarray, lufs: float) -> np.ndarray:
    """Scale ``y`` to an integrated loudness of ``lufs``."""
    return y * 10.0 ** ((lufs - integrated_loudness(y, sr=SR)) / 20.0)


def note(freq: float, seconds: float, *, partials: np.ndarray, decay_s: float | None) -> np.ndarray:
    """Additive tone: ``partials[h-1]`` is the amplitude of harmonic h; exponential decay if given."""
    t = np.arange(n_samples(seconds)) / SR
    h = np.arange(1, len(partials) + 1)[:, np.newaxis]
    ok = (h[:, 0] * freq) < SR / 2 - 500  # no aliasing
    y = (partials[ok, np.newaxis] * np.sin(2 * np.pi * freq * h[ok] * t)).sum(axis=0)
    env = np.minimum(1.0, t / 0.005)  # 5 ms attack, no click
    if decay_s is not None:
        env = env * np.exp(-t / decay_s)
    return y * env


def sequence(freqs: list[float], durations: list[float], **kw: object) -> np.ndarray:
    """Concatenate notes (``freq <= 0`` is a rest) and pad or cut to SECONDS."""
    parts = [
        note(f, d, **kw) if f > 0 else np.zeros(n_samples(d))  # type: ignore[arg-type]
        for f, d in zip(freqs, durations, strict=True)
    ]
    y = np.concatenate(parts)[: n_samples()]
    return np.pad(y, (0, n_samples() - len(y)))


def midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12)


PIANO = 1.0 / np.arange(1, 13) ** 2  # amplitudes fall 12 dB/octave, like a struck string


@functools.cache  # pure and deterministic: synthesise once per test session
def soft_sine_melody() -> np.ndarray:
    """A slow, pure sine melody (C major), every note decaying."""
    pitches = [72, 74, 76, 77, 79, 77, 76, 74, 72, 76, 79, 84]
    durations = [SECONDS / len(pitches)] * len(pitches)
    return sequence([midi_hz(p) for p in pitches], durations, partials=np.array([1.0]), decay_s=0.4)


@functools.cache  # pure and deterministic: synthesise once per test session
def piano_chords(bpm: float, *, minor: bool) -> np.ndarray:
    """Decaying piano-like triads, one per beat: I-IV-V-I in C major or i-iv-V-i in A minor."""
    roots = [57, 62, 64, 57] if minor else [60, 65, 67, 60]
    thirds = [3, 3, 4, 3] if minor else [4, 4, 4, 4]
    beat = 60.0 / bpm
    y = np.zeros(n_samples())
    for i, start in enumerate(np.arange(0.0, SECONDS - beat, beat)):
        r, third = roots[i % 4], thirds[i % 4]
        chord = np.sum(
            [note(midi_hz(m), beat, partials=PIANO, decay_s=0.5) for m in (r - 12, r, r + third, r + 7)],
            axis=0,
        )
        y[round(start * SR) : round(start * SR) + len(chord)] += chord
    return y / np.abs(y).max()


@functools.cache  # pure and deterministic: synthesise once per test session
def saw_synth() -> np.ndarray:
    """Sustained, overdriven sawtooth chords with a noise layer: the opposite of acoustic."""
    t = np.arange(n_samples()) / SR
    y = sum(signal.sawtooth(2 * np.pi * midi_hz(m) * t) for m in (48, 55, 60, 64))
    y = np.tanh(2.5 * y)  # hard overdrive adds dense high harmonics
    y = y + 0.3 * np.random.default_rng(1).standard_normal(len(t))
    return y / np.abs(y).max()


@functools.cache  # pure and deterministic: synthesise once per test session
def drum_pattern(bpm: float, *, jitter_s: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Kick on beats 1 and 3, snare on 2 and 4, hi-hat on eighths. Returns (audio, beat times [s])."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    beats = np.arange(0.1, SECONDS - 0.3, beat) + rng.uniform(-jitter_s, jitter_s, size=1)
    if jitter_s:
        beats = np.sort(np.arange(0.1, SECONDS - 0.3, beat) + rng.uniform(-jitter_s, jitter_s, len(beats)))
    y = np.zeros(n_samples())
    t = np.arange(round(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 * t + 60 * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.12)
    noise = rng.standard_normal(len(t))
    snare = 0.6 * noise * np.exp(-t / 0.06) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
    hat = signal.lfilter(*signal.butter(2, 7000, "highpass", fs=SR), noise) * np.exp(-t / 0.015) * 0.3
    for i, b in enumerate(beats):
        s = round(b * SR)
        y[s : s + len(t)] += (kick if i % 2 == 0 else snare)[: len(y) - s]
        for half in (0.0, beat / 2):
            h = round((b + half) * SR)
            y[h : h + len(t)] += hat[: max(0, len(y) - h)]
    return y / np.abs(y).max(), beats


@functools.cache  # pure and deterministic: synthesise once per test session
def vowel_babble(*, seed: int = 0) -> np.ndarray:
    """Crude speech: a gliding glottal pulse train through moving vowel formants, ~4.5 syllables/s,
    with short pauses between 'words'."""
    rng = np.random.default_rng(seed)
    n = n_samples()
    t = np.arange(n) / SR
    # Intonation: a slow random walk around 130 Hz plus a fall within each syllable.
    f0 = 130.0 * 2 ** (0.25 * np.sin(2 * np.pi * 0.7 * t) + 0.15 * np.sin(2 * np.pi * 4.5 * t + 1.0))
    phase = np.cumsum(f0) / SR
    glottal = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)  # one pulse per period
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
    syllable = 1.0 / 4.5
    y = np.zeros(n)
    for i, start in enumerate(np.arange(0.0, SECONDS, syllable)):
        s, e = round(start * SR), min(n, round((start + syllable) * SR))
        if i % 5 == 4:  # a pause every fifth syllable: word boundaries
            continue
        seg = glottal[s:e].copy()
        out = np.zeros(e - s)
        for f, bw in zip(vowels[rng.integers(len(vowels))], (80, 100, 120), strict=True):
            r = np.exp(-np.pi * bw / SR)
            a = [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r]
            out += signal.lfilter([1.0 - r], a, seg)
        env = np.sin(np.pi * np.arange(e - s) / (e - s)) ** 2  # syllabic amplitude arc
        y[s:e] = out * env
    return y / np.abs(y).max()


@functools.cache  # pure and deterministic: synthesise once per test session
def plucks(*, floor_db: float | None) -> np.ndarray:
    """Sparse decaying notes with silence between them; optionally over a pink-noise 'crowd' floor."""
    y = np.zeros(n_samples())
    for i, start in enumerate(np.arange(0.2, SECONDS - 1.0, 1.0)):
        tone = note(midi_hz([60, 64, 67, 72][i % 4]), 0.8, partials=PIANO, decay_s=0.12)
        y[round(start * SR) : round(start * SR) + len(tone)] += tone
    y /= np.abs(y).max()
    if floor_db is not None:
        noise = pink_noise(seed=3)
        y = y + noise / np.sqrt(np.mean(noise**2)) * np.sqrt(np.mean(y**2)) * 10 ** (floor_db / 20)
    return y


# --- analysis glue --------------------------------------------------------------------------------


def spectrogram(y: np.ndarray) -> Spectrogram:
    return stft_magnitude(y.astype(np.float32), sr=SR)


def simple_onset_envelope(spec: Spectrogram) -> np.ndarray:
    """Log spectral flux in units of its standard deviation (a stand-in for the rhythm module's)."""
    log_mag = np.log1p(1000.0 * spec.magnitude / max(float(spec.magnitude.max()), 1e-12))
    flux = np.maximum(np.diff(log_mag, axis=1, prepend=log_mag[:, :1]), 0.0).mean(axis=0)
    sd = float(flux.std())
    return (flux / sd if sd > 0 else flux).astype(np.float32)


def features_of(
    y: np.ndarray,
    *,
    bpm: float = 100.0,
    beats: np.ndarray | None = None,
    bpm_confidence: float = 0.5,
    key: KeyEstimate = C_MAJOR,
    lufs: float | None = None,
) -> AudioFeatures:
    spec = spectrogram(y)
    if beats is None:
        beats = np.arange(0.1, SECONDS, 60.0 / bpm) if bpm > 0 else np.zeros(0)
    return audio_features(
        spec,
        onset_env=simple_onset_envelope(spec),
        beats=beats,
        bpm=bpm,
        bpm_confidence=bpm_confidence,
        time_signature=4,
        key=key,
        loudness_lufs=integrated_loudness(y, sr=SR) if lufs is None else lufs,
        duration_s=len(y) / SR,
        chroma=chromagram(spec),
    )


@functools.cache  # pure and deterministic: synthesise once per test session
def rubato_melody(*, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A legato melody with freely varying note lengths (0.25-1.2 s) and its irregular 'beats'."""
    rng = np.random.default_rng(seed)
    durations = list(rng.uniform(0.25, 1.2, size=20))
    pitches = list(rng.choice([60, 62, 64, 65, 67, 69, 71, 72], size=20))
    y = sequence([midi_hz(p) for p in pitches], durations, partials=PIANO[:6], decay_s=1.5)
    return y / np.abs(y).max(), np.cumsum([0.0, *durations])[:-1]


# --- tests ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drums_120() -> AudioFeatures:
    y, beats = drum_pattern(120.0)
    return features_of(at_lufs(y, -9.0), bpm=120.0, beats=beats, bpm_confidence=0.9)


def test_to_dict_has_exactly_spotifys_keys(drums_120: AudioFeatures) -> None:
    d = drums_120.to_dict()
    assert set(d) == SPOTIFY_KEYS
    assert isinstance(d["key"], int) and isinstance(d["mode"], int) and isinstance(d["duration_ms"], int)
    assert d["duration_ms"] == round(SECONDS * 1000)
    assert d["tempo"] == 120.0 and d["time_signature"] == 4


@pytest.mark.parametrize(
    "y",
    [
        pytest.param(lambda: pink_noise(), id="pink"),
        pytest.param(soft_sine_melody, id="sine-melody"),
        pytest.param(lambda: piano_chords(100.0, minor=False), id="piano"),
        pytest.param(saw_synth, id="saw"),
        pytest.param(vowel_babble, id="babble"),
        pytest.param(lambda: plucks(floor_db=-15.0), id="live"),
        pytest.param(lambda: np.zeros(n_samples()), id="silence"),
    ],
)
def test_every_unit_feature_is_in_0_1(y: object) -> None:
    audio = y()  # type: ignore[operator]
    f = features_of(audio, lufs=integrated_loudness(audio, sr=SR) if np.any(audio) else -np.inf)
    for name in UNIT_FEATURES:
        value = getattr(f, name)
        assert 0.0 <= value <= 1.0 and np.isfinite(value), (name, value)
    assert np.isfinite(f.loudness)


def test_energy_pink_noise_far_above_soft_sine_melody() -> None:
    loud_noise = features_of(at_lufs(pink_noise(), -8.0), key=NO_KEY)
    soft_melody = features_of(at_lufs(soft_sine_melody(), -30.0))
    assert loud_noise.energy > 0.75
    assert soft_melody.energy < 0.3
    assert loud_noise.energy - soft_melody.energy > 0.5


def test_energy_rises_with_loudness_alone() -> None:
    y = piano_chords(100.0, minor=False)
    values = [features_of(at_lufs(y, lufs), lufs=lufs).energy for lufs in (-35.0, -25.0, -15.0, -6.0)]
    assert all(a < b for a, b in itertools.pairwise(values)), values


def test_danceability_steady_drums_far_above_rubato_and_noise(drums_120: AudioFeatures) -> None:
    melody, irregular = rubato_melody()
    rubato = features_of(melody, bpm=75.0, beats=irregular, bpm_confidence=0.2)
    noise = features_of(pink_noise(), bpm=97.0, beats=np.sort(np.random.default_rng(0).uniform(0, 8, 12)),
                        bpm_confidence=0.05, key=NO_KEY)  # fmt: skip
    assert drums_120.danceability > 0.7
    assert rubato.danceability < 0.4 and noise.danceability < 0.4
    assert drums_120.danceability - max(rubato.danceability, noise.danceability) > 0.35


def test_danceability_prefers_moderate_tempo_and_steady_beats() -> None:
    def dance(bpm: float, jitter_s: float = 0.0) -> float:
        y, beats = drum_pattern(bpm, jitter_s=jitter_s)
        return features_of(y, bpm=bpm, beats=beats, bpm_confidence=0.9).danceability

    assert dance(120.0) > dance(60.0)
    assert dance(120.0) > dance(200.0)
    assert dance(120.0) > dance(120.0, jitter_s=0.06)


def test_acousticness_piano_like_above_saw_synth() -> None:
    piano = features_of(piano_chords(100.0, minor=False))
    saw = features_of(saw_synth())
    assert piano.acousticness > 0.7
    assert saw.acousticness < 0.3


def test_speechiness_babble_above_music_and_instrumentalness_the_other_way() -> None:
    babble = features_of(vowel_babble(), key=NO_KEY)
    piano = features_of(piano_chords(100.0, minor=False))
    drums = features_of(drum_pattern(120.0)[0], bpm=120.0)
    assert babble.speechiness > 0.5
    assert piano.speechiness < 0.2 and drums.speechiness < 0.3
    assert piano.instrumentalness > 0.7
    assert babble.instrumentalness < 0.4


def test_liveness_rises_with_a_broadband_floor_between_notes() -> None:
    dry = features_of(plucks(floor_db=None)).liveness
    roomy = features_of(plucks(floor_db=-25.0)).liveness
    crowd = features_of(plucks(floor_db=-12.0)).liveness
    assert dry < 0.1
    assert dry < roomy < crowd
    assert crowd > 0.5


def test_valence_major_fast_bright_above_minor_slow_dark() -> None:
    happy = features_of(piano_chords(140.0, minor=False), bpm=140.0, key=C_MAJOR)
    dark = piano_chords(60.0, minor=True)
    dark = signal.lfilter(*signal.butter(2, 800, fs=SR), dark)  # muffled
    sad = features_of(dark, bpm=60.0, key=A_MINOR)
    assert happy.valence - sad.valence > 0.3


def test_key_is_minus_one_without_a_confident_key() -> None:
    f = features_of(pink_noise(), key=KeyEstimate(tonic=5, mode=0, confidence=NO_KEY_CONFIDENCE / 2))
    assert f.key == -1
    g = features_of(pink_noise(), key=KeyEstimate(tonic=5, mode=0, confidence=0.5))
    assert g.key == 5 and g.mode == 0


def test_fast_and_deterministic() -> None:
    y, _ = drum_pattern(120.0)
    y30 = np.tile(y, 4)[: 30 * SR]
    spec = spectrogram(y30)
    env = simple_onset_envelope(spec)
    chroma = chromagram(spec)
    beats = np.arange(0.1, 30.0, 0.5)

    def run() -> AudioFeatures:
        return audio_features(
            spec,
            onset_env=env,
            beats=beats,
            bpm=120.0,
            bpm_confidence=0.9,
            time_signature=4,
            key=C_MAJOR,
            loudness_lufs=-10.0,
            duration_s=30.0,
            chroma=chroma,
        )

    first = run()
    start = time.perf_counter()
    for _ in range(5):
        again = run()
    per_call = (time.perf_counter() - start) / 5
    assert again == first
    assert per_call < 0.02  # budget 10 ms on a dev machine; 2x headroom for loaded CI runners
