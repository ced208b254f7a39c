"""Onset-strength envelope: log-frequency spectral flux, the one novelty curve all rhythm analysis reads.

Method
------
1. **Log-frequency bands.** The magnitude spectrogram is pooled into triangular bands spaced
   ``BANDS_PER_OCTAVE`` per octave between ``FMIN`` and ``FMAX`` (a sparse filterbank built from the
   spectrogram's bin frequencies and cached). Quarter-tone bands are the point: a legato melody
   (strings, flute, choir) has no energy attack, only partials that move to a new pitch, and a
   semitone step must move them into *another* band. Mel bands (~100 Hz wide at 1 kHz) would keep
   them in the same band and hide the onset (on rendered chorales and folk tunes, 48 mel bands instead
   gave a beat F-measure of 0.82 instead of 0.90).
2. **Log compression.** ``log(1 + GAMMA * band / ref)`` with ``ref`` the clip's loudest band value, so
   the envelope does not depend on playback gain and a soft attack counts about as much as a loud
   one: the flux measures *relative* energy increases.
3. **SuperFlux** (Böck & Widmer 2013). The increase of each band between frames ``t - 1`` and
   ``t + 1`` (a centred difference, so the curve peaks on the onset frame and needs no alignment
   offset), half-wave rectified, against a reference that is max-filtered over ``MAX_FILTER_BANDS``
   neighbouring bands so that vibrato (a partial wobbling into the next band) is not an onset.
4. **Band mean, detrend, cap, scale.** The mean over bands, minus its moving average over
   ``DETREND_S`` (removes slow swells, which would otherwise add to the autocorrelation at every lag),
   half-wave rectified, capped at its ``CAP_QUANTILE`` quantile (a note entering after silence jumps
   the whole log range and would dwarf every other onset), divided by its standard deviation.

The flux responds to an onset between frames ``t`` and ``t + 1``; :mod:`tonearm.analysis.rhythm` reports
beat times half a frame after the envelope frame for that reason.

Cost for a 30 s clip (1292 frames): about 6 ms on one core, mostly the sparse band product.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from tonearm.analysis.spectral import Spectrogram

__all__ = ["BANDS_PER_OCTAVE", "FMAX", "FMIN", "log_filterbank", "onset_envelope"]

#: Filterbank resolution: quarter tones, so a semitone step moves a partial by two bands, past the
#: +-1 band SuperFlux maximum filter (which exists to absorb vibrato, i.e. moves of under one band).
BANDS_PER_OCTAVE = 24
#: Lowest band centre [Hz]: below the lowest bass fundamental (E1 = 41 Hz) the STFT only sees rumble.
FMIN = 30.0
#: Highest band centre [Hz]: hi-hat and consonant attacks reach up to here, above is mostly noise.
FMAX = 11000.0
#: Log compression gain relative to the loudest band value: maps a 60 dB range onto the logarithmic
#: part of ``log1p``; anything quieter counts as silence.
GAMMA = 1000.0
#: Half-width of the centred flux difference [frames]: frames t - 1 and t + 1 are 46 ms apart at the
#: default hop, long enough for a bowed or blown attack to build up, shorter than a sixteenth note at
#: 180 BPM (83 ms).
HALF_LAG = 1
#: SuperFlux reference maximum filter width [bands]: the band itself and one neighbour each side.
MAX_FILTER_BANDS = 3
#: Detrending window [s]: shorter than the shortest beat period of interest (0.33 s at 180 BPM), so it
#: removes loudness swells but not the beat pulse.
DETREND_S = 0.3
#: Quantile at which the envelope is capped: isolated giant onsets after silence are rarer than 1 % of
#: frames, while beats are more frequent (at 60 BPM and 43 frames/s, 2.3 % of frames are beats).
CAP_QUANTILE = 0.99


@lru_cache(maxsize=8)
def log_filterbank(
    sr: int, n_fft: int, *, bands_per_octave: int = BANDS_PER_OCTAVE, fmin: float = FMIN, fmax: float = FMAX
) -> scipy.sparse.csr_array:
    """Triangular filterbank with logarithmically spaced centres (unit peak), as a sparse matrix.

    Centres are ``fmin * 2 ** (k / bands_per_octave)`` snapped to FFT bins; duplicates are dropped, so
    at low frequencies, where the bands would be narrower than the bin spacing, each bin is one band.
    Each triangle rises from its lower neighbour's centre and falls to its upper neighbour's.

    Parameters
    ----------
    sr : int > 0 [Hz]
    n_fft : int > 0 [samples]
    bands_per_octave : int > 0
    fmin, fmax : float [Hz], 0 < fmin < fmax
        Lowest and highest band centre; ``fmax`` is clipped below the Nyquist frequency.

    Returns
    -------
    scipy.sparse.csr_array [shape=(n_bands, 1 + n_fft // 2)], float32
        Cached: do not modify.
    """
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    fmax = min(fmax, float(freqs[-2]))
    n_centres = int(np.floor(bands_per_octave * np.log2(fmax / fmin))) + 1
    centres = fmin * 2.0 ** (np.arange(n_centres) / bands_per_octave)
    bins = np.unique(np.round(centres / freqs[1]).astype(np.int64))
    bins = bins[bins > 0]
    lower, centre, upper = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    k = np.arange(len(freqs))[None, :]
    rising = (k - lower) / (centre - lower)
    falling = (upper - k) / (upper - centre)
    return scipy.sparse.csr_array(np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32))


def onset_envelope(spec: Spectrogram) -> np.ndarray:
    """Onset-strength envelope of a spectrogram (log-frequency SuperFlux; see the module docstring).

    Parameters
    ----------
    spec : Spectrogram
        Magnitude STFT with ``n_frames`` frames at ``spec.frame_rate`` frames per second.

    Returns
    -------
    np.ndarray [shape=(n_frames,)], float32, >= 0
        Onset strength per frame in units of its standard deviation; all zeros for silence or fewer
        than three frames. Frame ``t`` is time ``t * spec.hop / spec.sr`` [s], as in the spectrogram.
    """
    mag = spec.magnitude
    n_frames = mag.shape[1]
    env = np.zeros(n_frames, dtype=np.float32)
    bands = log_filterbank(spec.sr, spec.n_fft) @ mag
    ref = float(bands.max()) if bands.size else 0.0
    if n_frames <= 2 * HALF_LAG or ref <= 0.0:
        return env
    # log(1 + x) rather than np.log1p: same values here (x is not tiny where it matters) and several
    # times faster, numpy has no vectorised float32 log1p.
    log_bands = np.log(1.0 + bands * np.float32(GAMMA / ref))
    reference = maximum_filter1d(log_bands, MAX_FILTER_BANDS, axis=0)
    lag = 2 * HALF_LAG
    increase = np.maximum(log_bands[:, lag:] - reference[:, :-lag], 0.0)
    env[HALF_LAG : n_frames - HALF_LAG] = increase.mean(axis=0)
    window = max(1, round(DETREND_S * spec.frame_rate))
    env = np.maximum(env - uniform_filter1d(env, window, mode="nearest"), 0.0)
    env = np.minimum(env, np.quantile(env, CAP_QUANTILE))
    scale = float(env.std())
    if scale <= 1e-6:
        return np.zeros(n_frames, dtype=np.float32)
    return (env / scale).astype(np.float32)
