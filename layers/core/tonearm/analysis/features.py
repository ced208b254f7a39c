"""Spotify-style audio features, with tonearm's own definitions.

The names and ranges follow Spotify's (deprecated) ``audio-features`` endpoint so that clients can
swap one for the other, but **the definitions are tonearm's, not Spotify's**: Spotify never published
its models, so these are transparent signal heuristics, monotone in the obvious directions and
calibrated on synthetic signals (the calibration points below, checked in
``tests/unit/test_features.py``). Expect rankings of tracks to agree with intuition more often than
absolute values agree with Spotify's.

Per-frame quantities come from the shared STFT pooled into 64 linear bands of 172 Hz (one pass over
the magnitudes; everything else runs on 64 rows), over the *active* frames (less than 60 dB below the
loudest). ``ramp(x, a, b) = clip((x - a) / (b - a), 0, 1)`` maps a cue onto [0, 1] between two
calibration points; every ramp below rises with the cue unless written ``1 - ramp``.

================  ============================================  ============================================
feature           formula (inputs)                              calibration points / caveats
================  ============================================  ============================================
energy            0.5 ramp(LUFS, -35, -5)                       pink noise at -8 LUFS ~0.9, a soft sine
                  + 0.2 (1 - exp(-onsets per s / 3))            melody at -30 LUFS ~0.2. Onsets: envelope
                  + 0.15 ramp(spectral flatness, 0, 0.35)       peaks > 1 sd. Loudness dominates (as
                  + 0.15 brightness                             Spotify's), then activity and noisiness.
brightness        ramp(log2(centroid / 400 Hz), 0, 4)           400 Hz -> 0, 6.4 kHz -> 1 (internal cue).
danceability      (0.4 clarity + 0.35 regularity                steady 120 BPM drums ~0.8; rubato melody,
                  + 0.25 bpm_confidence)                        noise, 60 or 200 BPM or 6 % beat jitter
                  x (0.4 + 0.6 tempo preference)                < 0.45. clarity: onset autocorrelation at
                                                                the beat period; regularity: 1 - ramp(CV of
                                                                beat intervals, 0, 0.15); tempo preference:
                                                                Gaussian in log2(bpm / 118), sd 0.45 oct.
valence           0.35 mode + 0.25 ramp(bpm, 60, 180)           C major 140 BPM bright ~0.7 vs A minor
                  + 0.2 brightness + 0.2 consonance             60 BPM muffled ~0.2. mode: 1 major / 0
                                                                minor, pulled to 0.5 below key confidence
                                                                0.3. consonance: interval-class consonance
                                                                of the chroma. HEURISTIC.
acousticness      1 - (0.45 ramp(high-band dB, -40, -15)        decaying additive piano-like tones ~0.9,
                  + 0.35 ramp(flatness, 0.02, 0.3)              overdriven saw chords + noise ~0.05.
                  + 0.2 (1 - decay))                            high band: share of energy above 3 kHz;
                                                                decay: ramp(-median level slope, 0,
                                                                15 dB/s).
speechiness       syllabic x voicing                            vowel-formant babble ~0.85; piano, drums,
                  x (0.5 + 0.5 pitch instability)               noise ~0. syllabic: ramp(share of 3-7 Hz in
                  x (0.8 + 0.2 pauses)                          the 0.5-12 Hz modulation of the voice-band
                                                                (300-3400 Hz) amplitude, 0.3, 0.5); voicing:
                                                                1 - ramp(voice-band flatness, 0.15, 0.45);
                                                                instability: 1 - ramp(chroma similarity
                                                                93 ms apart, 0.75, 0.95); pauses: ramp(share
                                                                of frames 15 dB under the median, 0, 0.3).
instrumentalness  1 - max(speechiness, voicing x instability    instrumental music > 0.8, babble ~0.15.
                  x ramp(voice-band share, 0.3, 0.7))           HEURISTIC without a singing-voice model: a
                                                                steady sung melody reads as instrumental, a
                                                                gliding lead synth may read as vocal.
liveness          presence(floor - loud) x ramp(floor           dry plucks with silence between ~0; over a
                  flatness, 0.05, 0.3); presence = ramp(x,      pink floor 25 dB down ~0.7, 12 dB down ~1.
                  -45, -30) x (1 - ramp(x, -8, -3))             floor / loud: 10th / 95th percentile frame
                                                                level. HEURISTIC: a live take without
                                                                audience noise reads as studio; dense noisy
                                                                percussion (hi-hats) can read as live.
loudness          integrated LUFS, floored at -70               -70 (BS.1770's absolute gate) for silence.
tempo             bpm of the rhythm analysis                    0 when no tempo was found.
key, mode         KeyEstimate tonic and mode                    key -1 ("no key", as Spotify) when the key
                                                                confidence is below 0.005 (noise ~1e-4).
time_signature    from the rhythm analysis
duration_ms       round(duration_s * 1000)
================  ============================================  ============================================

Cost: ~3-5 ms for a 30 s clip when ``chroma`` is passed in (the 64-band pooling is most of it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tonearm.analysis.key import KeyEstimate, chromagram
from tonearm.analysis.spectral import Spectrogram
from tonearm.errors import ParameterError

__all__ = ["NO_KEY_CONFIDENCE", "AudioFeatures", "audio_features"]

#: Below this key confidence the key is reported as -1 (Spotify's "no key detected"): white and pink
#: noise score ~1e-4, every one of the 262 tonal clips of the key dev set scored above 0.009.
NO_KEY_CONFIDENCE = 0.005
#: Quietest loudness reported [LUFS]: BS.1770's absolute gate; silence measures -inf.
_LOUDNESS_FLOOR_LUFS = -70.0

#: Band pooling: 64 bands of 16 bins (172 Hz at 22050 Hz / 2048) cover bins 0..1023, i.e. the whole
#: spectrum but the Nyquist bin; enough resolution for centroid, flatness and band shares.
_N_BANDS = 64
#: Frames this far below the loudest frame [dB] are silence: the 16-bit noise floor of a normalised
#: track sits ~90 dB down, fades and reverb tails above -60 dB still count as sound.
_SILENCE_DB = 60.0
#: Onset-envelope peaks must exceed this many envelope standard deviations to count as onsets (the
#: envelope is already in units of its standard deviation; 1.0 keeps note attacks, drops flutter).
_ONSET_THRESHOLD = 1.0
#: Voice band [Hz]: telephone band, holding the first two formants of every vowel.
_VOICE_BAND_HZ = (300.0, 3400.0)
#: "High" band for acousticness [Hz]: above the 3 kHz presence region, where sawtooth and distortion
#: harmonics keep ~5 % of the energy and decaying acoustic tones far less.
_HIGH_BAND_HZ = 3000.0
#: Syllable rate band [Hz] (4-5 syllables/s in most languages) and the modulation range it is compared
#: with.
_SYLLABIC_HZ = (3.0, 7.0)
_MODULATION_HZ = (0.5, 12.0)
#: Lag for chroma stability [s]: ~93 ms, shorter than a sung or played note, longer than a pitch
#: glide between speech syllables takes to move a semitone.
_STABILITY_LAG_S = 0.093
#: Preferred dance tempo [BPM] and its width [octaves] (Moelants 2002: spontaneous tapping peaks near
#: 120 BPM; most dance genres sit within half an octave of it).
_DANCE_BPM = 118.0
_DANCE_OCTAVES = 0.45
#: Consonance of the interval classes 0..6 (unison, m2, M2, m3, M3, P4, tritone), after the usual
#: ranking of consonance (e.g. Malmberg 1918): perfect > imperfect > seconds > tritone.
_INTERVAL_CONSONANCE = np.array([1.0, 0.0, 0.3, 0.8, 0.85, 0.9, 0.1])
#: The key confidence at which the mode counts fully towards valence.
_MODE_FULL_CONFIDENCE = 0.3


@dataclass(frozen=True)
class AudioFeatures:
    """Spotify-named audio features (tonearm's definitions, not Spotify's; see the module docstring).

    Attributes
    ----------
    danceability, energy, valence, acousticness, instrumentalness, speechiness, liveness : float
        In [0, 1].
    loudness : float [LUFS]
        Integrated loudness, floored at -70.
    tempo : float [BPM]
    key : int
        Tonic pitch class 0..11 (C = 0), or -1 if no key was detected.
    mode : int
        1 major, 0 minor.
    time_signature : int [beats per bar]
    duration_ms : int [ms]
    """

    danceability: float
    energy: float
    valence: float
    acousticness: float
    instrumentalness: float
    speechiness: float
    liveness: float
    loudness: float
    tempo: float
    key: int
    mode: int
    time_signature: int
    duration_ms: int

    def to_dict(self) -> dict[str, float | int]:
        """Spotify's field names (snake_case) and values."""
        return asdict(self)


#: Frames per block of :func:`_band_power` (1024 bins x 256 frames x 4 bytes = 1 MiB of squares).
_BAND_BLOCK_FRAMES = 256


def _ramp(x: float, lo: float, hi: float) -> float:
    """clip((x - lo) / (hi - lo), 0, 1): a monotone map onto [0, 1] with two calibration points."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _band_power(spec: Spectrogram) -> tuple[np.ndarray, np.ndarray]:
    """Power pooled into _N_BANDS linear bands: (power (_N_BANDS, n_frames), band centres [Hz])."""
    mag = spec.magnitude
    n_bins = (mag.shape[0] - 1) // _N_BANDS * _N_BANDS
    width = n_bins // _N_BANDS
    n_frames = mag.shape[1]
    pooled = np.empty((_N_BANDS, n_frames), dtype=np.float64)
    # In blocks of frames: the squared magnitudes of a block stay in cache (a 10-minute track's whole
    # square is ~100 MB); each value is the same sum over the same bins as in one pass.
    for start in range(0, n_frames, _BAND_BLOCK_FRAMES):
        block = mag[:n_bins, start : start + _BAND_BLOCK_FRAMES]
        squared = np.square(block, dtype=np.float32)
        pooled[:, start : start + block.shape[1]] = squared.reshape(_N_BANDS, width, -1).sum(axis=1)
    centres = (np.arange(_N_BANDS) + 0.5) * width * spec.sr / spec.n_fft
    return pooled, centres


def _onset_rate(onset_env: np.ndarray, seconds: float) -> float:
    """Onsets per second: local maxima of the envelope above _ONSET_THRESHOLD."""
    if onset_env.size < 3 or seconds <= 0:
        return 0.0
    x = onset_env
    peaks = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > _ONSET_THRESHOLD)
    return float(np.count_nonzero(peaks)) / seconds


def _pulse_clarity(onset_env: np.ndarray, period_frames: float) -> float:
    """Normalised autocorrelation of the onset envelope at the beat period (best of +-2 frames)."""
    x = onset_env.astype(np.float64) - float(onset_env.mean())
    energy = float(x @ x)
    lag = round(period_frames)
    if energy <= 0 or lag < 1 or lag + 2 >= x.size:
        return 0.0
    lags = range(max(1, lag - 2), lag + 3)
    # Unbiased: each lag's products are summed over n - lag frames only.
    best = max(float(x[:-k] @ x[k:]) / (x.size - k) for k in lags)
    return float(np.clip(best / (energy / x.size), 0.0, 1.0))


def _beat_regularity(beats: np.ndarray) -> float:
    """1 for perfectly even beats, 0 from a 15 % inter-beat-interval spread (CV) on; 0 for < 4 beats."""
    if beats.size < 4:
        return 0.0
    ibi = np.diff(beats)
    mean = float(ibi.mean())
    if mean <= 0:
        return 0.0
    return 1.0 - _ramp(float(ibi.std()) / mean, 0.0, 0.15)


def _consonance(chroma: np.ndarray, weights: np.ndarray) -> float:
    """Energy-weighted mean interval-class consonance of the chroma frames, in [0, 1]."""
    total = chroma.sum(axis=0)
    keep = total > 0
    if not np.any(keep):
        return 0.5
    c = chroma[:, keep] / total[keep]
    # Circular autocorrelation over pitch classes: a[k, t] = sum_i c[i, t] c[i + k, t], k = 0..11.
    spectrum = np.fft.rfft(c, axis=0)
    auto = np.fft.irfft(np.abs(spectrum) ** 2, n=12, axis=0)
    per_class = np.concatenate([_INTERVAL_CONSONANCE, _INTERVAL_CONSONANCE[-2:0:-1]])  # ic of 0..11
    per_frame = per_class @ auto  # sum of products weighted by consonance; the total mass is 1
    w = weights[keep]
    return float(np.clip((per_frame @ w) / w.sum(), 0.0, 1.0)) if w.sum() > 0 else 0.5


def _chroma_stability(chroma: np.ndarray, lag: int, weights: np.ndarray) -> float:
    """Weighted mean cosine similarity of chroma frames ``lag`` apart (1 = pitch content unchanged)."""
    if chroma.shape[1] <= lag or lag < 1:
        return 1.0
    a, b = chroma[:, :-lag], chroma[:, lag:]
    norm = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    ok = norm > 0
    w = np.minimum(weights[:-lag], weights[lag:])[ok]
    if not np.any(ok) or w.sum() <= 0:
        return 1.0
    cos = (a[:, ok] * b[:, ok]).sum(axis=0) / norm[ok]
    return float((cos @ w) / w.sum())


def _modulation_share(level: np.ndarray, frame_rate: float) -> float:
    """Share of the _SYLLABIC_HZ band in the _MODULATION_HZ modulation spectrum of a level curve."""
    if level.size < 8:
        return 0.0
    x = level - level.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, d=1.0 / frame_rate)
    band = spectrum[(f >= _MODULATION_HZ[0]) & (f <= _MODULATION_HZ[1])].sum()
    syllabic = spectrum[(f >= _SYLLABIC_HZ[0]) & (f <= _SYLLABIC_HZ[1])].sum()
    return float(syllabic / band) if band > 0 else 0.0


def audio_features(
    spec: Spectrogram,
    *,
    onset_env: np.ndarray,
    beats: np.ndarray,
    bpm: float,
    bpm_confidence: float,
    time_signature: int,
    key: KeyEstimate,
    loudness_lufs: float,
    duration_s: float,
    chroma: np.ndarray | None = None,
) -> AudioFeatures:
    """Compute the audio features of one clip (definitions in the module docstring).

    Parameters
    ----------
    spec : Spectrogram
        Shared STFT, ``n_frames`` frames.
    onset_env : np.ndarray [shape=(n_frames,)]
        Onset-strength envelope in units of its standard deviation (``tonearm.analysis.onset``).
    beats : np.ndarray [shape=(n_beats,)] [s]
        Beat times, increasing.
    bpm : float >= 0 [BPM]
    bpm_confidence : float in [0, 1]
    time_signature : int [beats per bar]
    key : KeyEstimate
    loudness_lufs : float [LUFS]
        Integrated loudness (may be -inf for silence).
    duration_s : float >= 0 [s]
    chroma : np.ndarray [shape=(12, n_frames)] or None
        :func:`tonearm.analysis.key.chromagram` of ``spec``; computed here if ``None`` (~30 ms).

    Returns
    -------
    AudioFeatures
    """
    n_frames = spec.magnitude.shape[1]
    if onset_env.shape != (n_frames,):
        raise ParameterError(f"onset_env must have shape ({n_frames},), got {onset_env.shape}")
    if chroma is None:
        chroma = chromagram(spec)
    elif chroma.shape != (12, n_frames):
        raise ParameterError(f"chroma must have shape (12, {n_frames}), got {chroma.shape}")
    if duration_s < 0 or not np.isfinite(duration_s):
        raise ParameterError(f"duration_s must be a finite non-negative number, got {duration_s}")

    loudness = float(loudness_lufs) if np.isfinite(loudness_lufs) else _LOUDNESS_FLOOR_LUFS
    loudness = max(loudness, _LOUDNESS_FLOOR_LUFS)
    bpm = float(bpm) if np.isfinite(bpm) and bpm > 0 else 0.0
    has_key = key.confidence >= NO_KEY_CONFIDENCE
    common: dict[str, Any] = {
        "loudness": loudness,
        "tempo": bpm,
        "key": key.tonic if has_key else -1,
        "mode": key.mode,
        "time_signature": int(time_signature),
        "duration_ms": round(duration_s * 1000.0),
    }

    power, centres = _band_power(spec)
    frame_power = power.sum(axis=0)
    peak = float(frame_power.max()) if n_frames else 0.0
    if peak <= 0.0:
        return AudioFeatures(
            danceability=0.0,
            energy=0.0,
            valence=0.0,
            acousticness=0.0,
            instrumentalness=0.0,
            speechiness=0.0,
            liveness=0.0,
            **common,
        )

    level_db = 10.0 * np.log10(np.maximum(frame_power, peak * 1e-12))
    active = level_db > 10.0 * np.log10(peak) - _SILENCE_DB
    weights = np.where(active, np.sqrt(frame_power / peak), 0.0)  # amplitude weights, 0 for silence
    frame_rate = spec.frame_rate
    seconds_active = float(np.count_nonzero(active)) / frame_rate
    act = power[:, active]
    act_power = frame_power[active]

    # Timbre statistics over the active frames (band 0 holds DC and rumble, left out of flatness).
    centroid = float((centres @ act).sum() / act_power.sum())
    log_bands = np.log(act[1:] + peak * 1e-12)
    flatness_frames = np.exp(log_bands.mean(axis=0)) / np.maximum(act[1:].mean(axis=0), peak * 1e-12)
    flatness = float(np.median(flatness_frames))
    high_share = float(act[centres >= _HIGH_BAND_HZ].sum() / act_power.sum())
    high_db = 10.0 * np.log10(max(high_share, 1e-12))
    voice_rows = (centres >= _VOICE_BAND_HZ[0]) & (centres <= _VOICE_BAND_HZ[1])
    voice_share = float(act[voice_rows].sum() / act_power.sum())
    brightness = _ramp(float(np.log2(max(centroid, 1.0) / 400.0)), 0.0, 4.0)

    # Energy: loudness first, then activity, noisiness and brightness.
    onset_rate = _onset_rate(onset_env, seconds_active)
    energy = (
        0.5 * _ramp(loudness, -35.0, -5.0)
        + 0.2 * (1.0 - np.exp(-onset_rate / 3.0))
        + 0.15 * _ramp(flatness, 0.0, 0.35)
        + 0.15 * brightness
    )

    # Danceability: a clear, steady pulse at a moderate tempo.
    if bpm > 0:
        clarity = _pulse_clarity(onset_env, 60.0 * frame_rate / bpm)
        tempo_pref = float(np.exp(-0.5 * (np.log2(bpm / _DANCE_BPM) / _DANCE_OCTAVES) ** 2))
    else:
        clarity, tempo_pref = 0.0, 0.0
    regularity = _beat_regularity(np.asarray(beats, dtype=np.float64))
    pulse = 0.4 * clarity + 0.35 * regularity + 0.25 * float(np.clip(bpm_confidence, 0.0, 1.0))
    danceability = pulse * (0.4 + 0.6 * tempo_pref)

    # Acousticness: little broadband high end, little noise, notes that decay.
    smoothed = np.convolve(level_db, np.ones(5) / 5.0, mode="same")  # 116 ms: smooths frame jitter
    slope = np.gradient(smoothed) * frame_rate  # dB/s
    decay = _ramp(-float(np.median(slope[active])), 0.0, 15.0)
    acousticness = 1.0 - (
        0.45 * _ramp(high_db, -40.0, -15.0) + 0.35 * _ramp(flatness, 0.02, 0.3) + 0.2 * (1.0 - decay)
    )

    # Speechiness: syllable-rate modulation of a voiced (harmonic) voice band with gliding pitch.
    voice = power[voice_rows]
    voice_amplitude = np.sqrt(voice.sum(axis=0))
    syllabic = _ramp(_modulation_share(voice_amplitude, frame_rate), 0.3, 0.5)
    voice_active = voice[:, active]
    voice_flatness = float(
        np.median(
            np.exp(np.log(voice_active + peak * 1e-12).mean(axis=0))
            / np.maximum(voice_active.mean(axis=0), peak * 1e-12)
        )
    )
    voicing = 1.0 - _ramp(voice_flatness, 0.15, 0.45)
    lag = max(1, round(_STABILITY_LAG_S * frame_rate))
    instability = 1.0 - _ramp(_chroma_stability(chroma, lag, weights), 0.75, 0.95)
    median_db = float(np.median(level_db[active]))
    # Pauses count between the first and last sound (silent frames included), not in lead-in/out.
    sounding = np.flatnonzero(active)
    span = level_db[sounding[0] : sounding[-1] + 1]
    pauses = _ramp(float(np.mean(span < median_db - 15.0)), 0.0, 0.3)
    speechiness = syllabic * voicing * (0.5 + 0.5 * instability) * (0.8 + 0.2 * pauses)

    # Instrumentalness: the inverse of voice-likeness (no singing-voice model; see the docstring).
    sung = voicing * instability * _ramp(voice_share, 0.3, 0.7)
    instrumentalness = 1.0 - max(speechiness, sung)

    # Liveness: a broadband floor (audience, room) that stays up between the notes, below them.
    loud_db, floor_db = np.percentile(level_db[active], [95.0, 10.0])
    floor_rel = float(floor_db - loud_db)
    quiet = level_db[active] <= floor_db
    floor_flatness = float(np.median(flatness_frames[quiet])) if np.any(quiet) else 0.0
    # Present (not silence, > -45 dB), yet below the notes (< -8 dB: no floor to speak of in a
    # stationary sound), and broadband.
    floor_presence = _ramp(floor_rel, -45.0, -30.0) * (1.0 - _ramp(floor_rel, -8.0, -3.0))
    liveness = floor_presence * _ramp(floor_flatness, 0.05, 0.3)

    # Valence: major, fast, bright and consonant sound happier.
    mode_strength = min(1.0, key.confidence / _MODE_FULL_CONFIDENCE)
    mode_term = 0.5 + (0.5 if key.mode == 1 else -0.5) * mode_strength
    consonance = _consonance(chroma, weights)
    valence = 0.35 * mode_term + 0.25 * _ramp(bpm, 60.0, 180.0) + 0.2 * brightness + 0.2 * consonance

    def unit(x: float) -> float:
        return float(np.clip(x, 0.0, 1.0))

    return AudioFeatures(
        danceability=unit(danceability),
        energy=unit(energy),
        valence=unit(valence),
        acousticness=unit(acousticness),
        instrumentalness=unit(instrumentalness),
        speechiness=unit(speechiness),
        liveness=unit(liveness),
        **common,
    )
