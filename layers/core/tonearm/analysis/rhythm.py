"""Tempo, beats, downbeats and meter from the onset envelope of :mod:`tonearm.analysis.onset`.

Method
------
1. **Periodicity.** The unbiased autocorrelation of the onset envelope is read on a fine log-spaced
   tempo grid (0.25 % steps) through a comb: the salience of a tempo is the mean autocorrelation at
   its first ``COMB_TEETH`` period multiples, so a tempo only scores if the whole metrical grid above
   it agrees. Multiplied by a prior that is flat over the notated-beat range ``BEAT_MIN_BPM`` ..
   ``BEAT_MAX_BPM`` and falls off outside it, its maximum gives the tempo *family* (the pulse train,
   up to an octave).
2. **Octave choice from metrical evidence.** Inside the beat range the only possible confusion is an
   octave pair (S, 2 S) with S in 70..90 BPM (a factor 3 never fits in 70..180). A flat prior cannot
   choose, and the usual log-normal prior around 120 BPM picks 2 S for every slow piece with eighth
   notes. So when the family has an octave partner in range, beats are tracked at the faster level
   and its alternate beats compared: if the notated beat is the faster level every beat carries a note
   and a chord change (on the dev set the median onset strength of the weaker parity was >= 0.64 of
   the stronger one's); if it is the slower one, every other fast beat is a passing eighth note
   (weak or missing) and the chord changes fall on one parity only. The score is the median-onset
   ratio of the two parities minus ``CHROMA_PARITY_WEIGHT`` times their difference in mean harmonic
   change; below ``FAST_THRESHOLD`` the slower level is the beat. A slower level under the beat
   range (a 60 BPM piece whose family came out at 120) needs a much lower score,
   ``SLOW_OUTSIDE_THRESHOLD``.
3. **Local tempo.** A tempogram follows the tempo within a factor ``LOCAL_RANGE`` of the global period
   (so never an octave away from it): the autocorrelation of the envelope in ``LOCAL_WINDOW_S`` windows every
   ``LOCAL_HOP_S``, read through a ``LOCAL_TEETH``-tooth comb on a 1 % log grid of periods, and a
   Viterbi path through it that pays ``LOCAL_SMOOTH * d ** 2`` for a log-period change ``d`` between
   hops, at most ``LOCAL_JUMP`` (a ramp is cheap, a step between sections costs ``LOCAL_JUMP`` once).
   A path that stays within ``STEADY_RANGE`` is a steady tempo: the global period is kept, and the
   beats are exactly those of a constant-tempo tracker.
4. **Beats.** Ellis' (2007) dynamic programme: each beat's score is its onset strength plus the best
   predecessor score, penalised by ``tightness * log(interval / period) ** 2`` where ``period`` is the
   local period at the interval's midpoint (``TIGHTNESS`` for a steady tempo, the looser
   ``TIGHTNESS_VARYING`` when the tempo moves: rubato shifts single beats by 5-10 %). Predecessors lie
   at least ``min(period) / DP_MAX_STRETCH`` frames back, so a block of that many frames depends only
   on frames before it, and each block is one vectorised step (~100 steps for 30 s, not 1300). The
   octave choice (2.) compares alternate beats of a ``TIGHTNESS`` track of the faster level, which
   does not slip onto weak offbeats under rubato. Each beat's local tempo (``beat_tempos``) is the
   inverse slope of a least-squares line through the beat times within ``TEMPO_FIT_BEATS`` beats on
   either side (sub-frame precision; a step shows within about that many beats). The reported global
   tempo is the slope of one line fitted to all the beat times for a steady tempo, and the median of
   the local tempos (the tempo of most of the clip) when it moves.
5. **Meter and downbeats.** Three beat-synchronous accents, each z-scored over the beats: the onset
   strength at the beat, the low-frequency (bass) onset strength at the beat, and the harmonic
   change (cosine distance between the chroma of the beat's segment and the previous one's). For
   each meter in ``METERS`` and each phase, a two-sample t statistic compares the weighted accent on
   the candidate downbeats with that on the other beats; the largest statistic gives the meter and
   the downbeat phase. A 4/4 piece shows no stable accent at period 3 and vice versa, so the two
   meters compete on equal terms. With a steady tempo that phase holds for the whole clip; when the
   tempo moves, a tracker can gain or lose a beat at a change, so a Viterbi over bar positions lets
   the phase change where a few bars of accents (``BAR_SWITCH_COST``) say so.

Cost for a 30 s clip: about 6 ms for the envelope plus about 5 ms for this module on one core. The
local tempo adds about 2 ms to a steady clip (tempogram and Viterbi) and about 5 ms to one whose tempo
moves (a second, loose DP, a wider lag range, the bar-phase Viterbi); a 10-minute track of several
pieces goes from about 75 to 165 ms (measured on a shared 2-core machine).

Compared with ``librosa.beat.beat_track`` (mel flux, log-normal prior around 120 BPM, single DP) the
differences that matter are the quarter-tone flux (legato instruments), the capped envelope (no
single onset dominates the autocorrelation), the metrical octave choice and the local tempo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from tonearm.analysis.onset import onset_envelope
from tonearm.analysis.spectral import Spectrogram
from tonearm.errors import ParameterError

__all__ = ["BEAT_MAX_BPM", "BEAT_MIN_BPM", "RhythmAnalysis", "analyze_rhythm"]

#: Notated-beat tempo range [BPM] (quarter notes in 3/4 and 4/4): the tempo prior is flat inside.
BEAT_MIN_BPM = 70.0
BEAT_MAX_BPM = 180.0
#: Width [octaves] of the half-Gaussian fall-off of the prior outside the beat range: 60 BPM (0.22
#: octave below) keeps 0.3 of the weight, 45 BPM almost none.
PRIOR_EDGE_OCT = 0.15
#: Tempo grid searched by the comb [BPM]: a factor 2 beyond the beat range on both sides, so that a
#: family found near an edge is not cut off.
SEARCH_MIN_BPM = BEAT_MIN_BPM / 2.0
SEARCH_MAX_BPM = BEAT_MAX_BPM * 2.0
#: Tempo grid ratio between neighbours: 0.25 % steps, a tenth of the 2-4 % accuracy asked of tempo.
BPM_GRID_STEP = 1.0025
#: Comb teeth: period multiples that must agree (up to a 4/4 bar above the beat).
COMB_TEETH = 4
#: Relative slack on the beat range when looking for an octave partner, so that a family measured at
#: 90.5 BPM still considers 181 BPM.
PAIR_TOL = 0.03
#: Slowest tempo [BPM] the octave choice may fall back to. It lies below BEAT_MIN_BPM so that a 60 BPM
#: piece, whose family the prior puts at 120 BPM, can still come back down (given strong evidence).
SLOW_MIN_BPM = 55.0
#: Octave choice (see module docstring): the faster level wins at or above this score.
FAST_THRESHOLD = 0.45
#: The same threshold when the slower level lies below the beat range: only nearly empty alternate
#: beats (clicks or chords every other fast beat, nothing between) move the tempo out of the range.
SLOW_OUTSIDE_THRESHOLD = 0.05
#: Width [octaves] of the ramp between the two thresholds, below BEAT_MIN_BPM (70 -> 66.7 BPM).
SLOW_RAMP_OCT = 0.07
#: Weight of the parity difference of harmonic change [in z-score units] in the octave score.
CHROMA_PARITY_WEIGHT = 0.3
#: DP tightness: weight of the squared log ratio between a beat interval and the period. 400 keeps the
#: tempo steady through bars without onsets while still following a few percent of drift.
TIGHTNESS = 400.0
#: Longest and shortest beat interval the DP considers, as factors of the period; the penalty at
#: these bounds (400 * log(1.3) ** 2 = 28 envelope standard deviations) already excludes them.
DP_MAX_STRETCH = 1.3
#: Local tempo (tempogram): window and hop [s] of the sliding autocorrelation. 6 s holds the three
#: comb teeth of a 60 BPM pulse and follows a tempo step within a few beats (dev set: 6 s beat 5, 7
#: and 8 s; 0.5 s hops beat 0.25 s).
LOCAL_WINDOW_S = 6.0
LOCAL_HOP_S = 0.5
#: Local periods searched: within a factor LOCAL_RANGE of the global period (no octave jumps), on a
#: log grid of LOCAL_STEP ratios.
LOCAL_RANGE = 1.35
LOCAL_STEP = 1.01
#: Comb teeth of the local salience. 4 (as COMB_TEETH) against 3: on 96 other performances of the bench's
#: scores (bench/analysis/tempo_confidence.py's renders) tempo Acc1 0.719 -> 0.771 and downbeat F 0.653
#: -> 0.670, beat F unchanged; on the bench's realistic and constant sets beat and downbeat F +0.002 to
#: +0.010 (5 teeth: worse on the realistic set). The tempo-change tests hold with either.
LOCAL_TEETH = 4
#: Viterbi over the local period states: cost of a log-period change of ``d`` between hops is
#: ``min(LOCAL_SMOOTH * d ** 2, LOCAL_JUMP)`` in salience units (a ramp is cheap, a step costs
#: LOCAL_JUMP once).
LOCAL_SMOOTH = 200.0
LOCAL_JUMP = 0.1
#: A local-period path whose extremes differ by less than this ratio counts as a steady tempo: the DP
#: then uses the global period with TIGHTNESS (exactly the constant-tempo tracker); otherwise it
#: follows the path with the looser TIGHTNESS_VARYING (rubato moves single beats by 5-10 %).
STEADY_RANGE = 1.025
TIGHTNESS_VARYING = 150.0
#: Beats on each side of a beat in the least-squares line that gives its local tempo.
TEMPO_FIT_BEATS = 3
#: Offset from a beat's envelope frame to its reported time [frames] (see analyze_rhythm): measured,
#: this puts click onsets 17 ms early and FluidSynth-rendered notes 7 ms late.
BEAT_FRAME_OFFSET = 0.5
#: Clips shorter than this [s] give an empty result: two beats at the slowest beat tempo.
MIN_DURATION_S = 2.0 * 60.0 / BEAT_MIN_BPM
#: Peak magnitude below which the clip counts as silence: -80 dB relative to a full-scale sine, whose
#: Hann-windowed STFT peak is ``n_fft / 4``.
SILENCE_DB = -80.0
#: Candidate meters [beats per bar].
METERS = (3, 4)
#: Weights of the per-beat accents (onset, bass onset, harmonic change) in the bar accent; harmonic
#: change is the most reliable downbeat cue in chorales and classical textures.
FEATURE_WEIGHTS = np.array([1.0, 1.0, 2.0])
#: Floor of the accents' standard deviation in z-scoring: onset strengths are in envelope standard
#: deviations and harmonic change is a cosine distance, so 0.01 is negligible for both.
ACCENT_MIN_STD = 0.01
#: Cost of a change of bar phase [accent units, z-scores weighted by FEATURE_WEIGHTS] when the tempo
#: moves (:func:`_bar_positions`): a few bars of contrary accents. 8-10 was a plateau on the dev set.
BAR_SWITCH_COST = 9.0
#: Meter t-statistic margin that counts as full confidence.
METER_CONFIDENCE_SCALE = 3.0
#: Bass band for the low-frequency onset accent [Hz]: bass fundamentals and kick drum.
BASS_FMIN = 30.0
BASS_FMAX = 200.0
#: Log compression gain of the bass band, as for the onset envelope (60 dB range).
BASS_GAMMA = 1000.0
#: Chroma range [Hz]: below 60 Hz the 10.8 Hz bin spacing is more than two semitones; above 4 kHz
#: there are mostly upper partials and noise.
CHROMA_FMIN = 60.0
CHROMA_FMAX = 4000.0


@dataclass(frozen=True)
class RhythmAnalysis:
    """Result of :func:`analyze_rhythm`.

    Attributes
    ----------
    bpm : float >= 0 [beats per minute]
        Global tempo of the notated beat: the mean beat rate (slope of a line fitted to the beat
        times) for a steady tempo, the median of ``beat_tempos`` when the tempo moves; 0 when no beat
        was found (silence, clip too short).
    bpm_confidence : float in [0, 1]
        Estimated probability that ``bpm`` is within 4 % of the true tempo (MIREX Acc1): a logistic
        function of ``bpm_salience`` fitted on performed renders (:data:`BPM_CONFIDENCE_FIT`); 0 when
        there is no tempo (silence, a clip too short).
    beats : np.ndarray [shape=(n_beats,)], float64 [s]
        Beat times, increasing.
    downbeats : np.ndarray [shape=(n_downbeats,)], float64 [s]
        The beats that start a bar (``beats[beat_numbers == 1]``).
    beat_numbers : np.ndarray [shape=(n_beats,)], int64 in 1..time_signature
        Position of each beat in its bar.
    time_signature : int
        Beats per bar: 3 or 4 (4 when undetermined).
    time_signature_confidence : float in [0, 1]
    beat_tempos : np.ndarray [shape=(n_beats,)], float64 [BPM]
        Local tempo at each beat: the inverse slope of a least-squares line through the beat times
        within ``TEMPO_FIT_BEATS`` beats on either side (fewer at the ends of the clip).
    bpm_salience : float in [-1, 1]
        Mean normalised autocorrelation of the onset envelope at the beat period and its first
        multiples: near 1 for a strictly periodic envelope, near 0 for noise, silence and free timing
        (what ``bpm_confidence`` was before it was calibrated; danceability still reads it).
    """

    bpm: float
    bpm_confidence: float
    beats: np.ndarray
    downbeats: np.ndarray
    beat_numbers: np.ndarray
    time_signature: int
    time_signature_confidence: float
    beat_tempos: np.ndarray
    bpm_salience: float = 0.0


def _empty() -> RhythmAnalysis:
    """The result for clips without a beat."""
    return RhythmAnalysis(
        bpm=0.0,
        bpm_confidence=0.0,
        beats=np.zeros(0),
        downbeats=np.zeros(0),
        beat_numbers=np.zeros(0, dtype=np.int64),
        time_signature=4,
        time_signature_confidence=0.0,
        beat_tempos=np.zeros(0),
    )


def _autocorrelation(env: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased autocorrelation of the mean-removed envelope, normalised to 1 at lag 0.

    Parameters
    ----------
    env : np.ndarray [shape=(n,)]
    max_lag : int >= 0 [frames], < n

    Returns
    -------
    np.ndarray [shape=(max_lag + 1,)], float64
    """
    n = len(env)
    x = env.astype(np.float64) - float(env.mean())
    size = scipy.fft.next_fast_len(2 * n, real=True)
    spectrum = scipy.fft.rfft(x, size)
    acf = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[: max_lag + 1]
    acf /= n - np.arange(max_lag + 1)  # unbiased: a lag-l product is summed over n - l frames only
    return acf / acf[0] if acf[0] > 0 else np.zeros_like(acf)


#: Calibration of the tempo's confidence, ``(floor, top, centre, slope)``: P(Acc1) = floor + (top -
#: floor) / (1 + exp(-slope (salience - centre))). Fitted by maximum likelihood with
#: ``python -m bench.analysis.tempo_confidence`` on 192 analyses of performed renders of the bench's
#: scores with other seeds than the bench's (record: ``bench/analysis/tempo_confidence.json``; the slope
#: is at its bound there, a 10-90 % transition 0.022 wide): about a third of the tempos of music with a
#: hardly periodic beat are right (the floor), and 96 % of those of a clearly periodic one (the top:
#: octave and 3:2 errors remain).
BPM_CONFIDENCE_FIT = (0.3639, 0.9603, 0.0654, 200.0)


def bpm_confidence(salience: float) -> float:
    """Probability that a tempo of comb salience ``salience`` is right within 4 % (see
    :data:`BPM_CONFIDENCE_FIT`). On the fit's analyses, the 124 above 0.85 had the right tempo 95 % of
    the time, the 52 below 0.5 37 %. (Silence and clips without a beat get 0, from :func:`_empty`.)

    Parameters
    ----------
    salience : float in [-1, 1]
        :attr:`RhythmAnalysis.bpm_salience`.

    Returns
    -------
    float in [floor, top] of :data:`BPM_CONFIDENCE_FIT`
    """
    floor, top, centre, slope = BPM_CONFIDENCE_FIT
    return float(floor + (top - floor) / (1.0 + np.exp(-slope * (salience - centre))))


def _comb_salience(acf: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Mean autocorrelation at the first ``COMB_TEETH`` multiples of each period.

    Parameters
    ----------
    acf : np.ndarray [shape=(n_lags,)]
        Normalised autocorrelation (:func:`_autocorrelation`).
    periods : np.ndarray [shape=(n,)] [frames]

    Returns
    -------
    np.ndarray [shape=(n,)], in [-1, 1]
    """
    teeth = periods[:, None] * np.arange(1, COMB_TEETH + 1)[None, :]
    # Teeth beyond the clip read 0, i.e. count against the tempo (too few repetitions to judge).
    return np.asarray(np.interp(teeth, np.arange(len(acf)), acf, right=0.0).mean(axis=1))


def _tempo_family(acf: np.ndarray, frame_rate: float) -> float:
    """Most salient tempo [BPM] under the beat-range prior.

    Parameters
    ----------
    acf : np.ndarray [shape=(n_lags,)]
        Normalised autocorrelation (:func:`_autocorrelation`).
    frame_rate : float > 0 [frames/s]

    Returns
    -------
    float [BPM]
    """
    n_steps = int(np.log(SEARCH_MAX_BPM / SEARCH_MIN_BPM) / np.log(BPM_GRID_STEP)) + 1
    bpms = SEARCH_MIN_BPM * BPM_GRID_STEP ** np.arange(n_steps)
    salience = _comb_salience(acf, 60.0 * frame_rate / bpms)
    outside = np.maximum(np.log2(BEAT_MIN_BPM / bpms), 0.0) + np.maximum(np.log2(bpms / BEAT_MAX_BPM), 0.0)
    prior = np.exp(-0.5 * (outside / PRIOR_EDGE_OCT) ** 2)
    k = int(np.argmax(np.maximum(salience, 0.0) * prior))
    return float(bpms[k])


def _local_periods(env: np.ndarray, period: float, frame_rate: float) -> np.ndarray:
    """Beat period at every frame, following the tempo within a factor ``LOCAL_RANGE`` of ``period``.

    Parameters
    ----------
    env : np.ndarray [shape=(n,)]
        Onset envelope.
    period : float > 0 [frames]
        Global period of the faster pulse level of the tempo family.
    frame_rate : float > 0 [frames/s]

    Returns
    -------
    np.ndarray [shape=(n,)], float64 [frames]
        Constant ``period`` when the clip is shorter than one window; otherwise the Viterbi path
        through the tempogram (comb salience of windowed autocorrelations on a log grid of periods),
        interpolated linearly (in log period) between window centres.
    """
    n = len(env)
    win = round(LOCAL_WINDOW_S * frame_rate)
    hop = max(1, round(LOCAL_HOP_S * frame_rate))
    if n <= win:
        return np.full(n, period)
    n_half = int(np.floor(np.log(LOCAL_RANGE) / np.log(LOCAL_STEP)))
    periods = period * LOCAL_STEP ** np.arange(-n_half, n_half + 1)
    max_lag = min(win - 1, int(np.ceil(periods[-1] * LOCAL_TEETH)) + 1)
    centres = np.arange(0, n, hop)
    starts = np.clip(centres - win // 2, 0, n - win)
    frames = np.lib.stride_tricks.sliding_window_view(env.astype(np.float64), win)[starts]
    x = frames - frames.mean(axis=1, keepdims=True)
    size = scipy.fft.next_fast_len(2 * win, real=True)
    spectrum = scipy.fft.rfft(x, size, axis=1)
    acf = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, size, axis=1)[:, : max_lag + 1]
    acf /= win - np.arange(max_lag + 1)
    acf /= np.maximum(acf[:, :1], 1e-12)
    # Comb salience of every state in every window: linear interpolation of the acf at the teeth.
    teeth = np.minimum(periods[:, None] * np.arange(1, LOCAL_TEETH + 1)[None, :], max_lag - 1e-9).ravel()
    lo = teeth.astype(np.int64)
    frac = teeth - lo
    salience = (acf[:, lo] * (1.0 - frac) + acf[:, lo + 1] * frac).reshape(len(starts), len(periods), -1)
    salience = salience.mean(axis=2)
    # Viterbi over states: smooth changes are cheap, a step costs LOCAL_JUMP once.
    logp = np.log(periods)
    trans = np.minimum(LOCAL_SMOOTH * (logp[:, None] - logp[None, :]) ** 2, LOCAL_JUMP)  # from i to j
    score = salience[0].copy()
    back = np.zeros((len(starts), len(periods)), dtype=np.int64)
    for k in range(1, len(starts)):
        cand = score[:, None] - trans
        back[k] = cand.argmax(axis=0)
        score = cand[back[k], np.arange(len(periods))] + salience[k]
    path = np.empty(len(starts), dtype=np.int64)
    path[-1] = int(score.argmax())
    for k in range(len(starts) - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    return np.exp(np.interp(np.arange(n), centres, logp[path]))


def _track_beats(
    local: np.ndarray, period: float | np.ndarray, *, tightness: float = TIGHTNESS
) -> np.ndarray:
    """Dynamic-programming beat tracker (Ellis 2007) with a time-varying period, vectorised in blocks.

    Parameters
    ----------
    local : np.ndarray [shape=(n,)], >= 0
        Onset strength per frame.
    period : float > 0 or np.ndarray [shape=(n,)], > 0 [frames]
        Expected beat interval, constant or per frame (:func:`_local_periods`). An interval from frame
        ``s`` to frame ``t`` is compared with the period at its midpoint.
    tightness : float >= 0
        Weight of the squared log deviation of each interval from the period.

    Returns
    -------
    np.ndarray [shape=(n_beats,)], int64
        Beat frames, increasing; empty if ``n`` is 0.
    """
    n = len(local)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    periods = np.broadcast_to(np.asarray(period, dtype=np.float64), (n,))
    log_period = np.log(periods)
    p_min, p_max = float(periods.min()), float(periods.max())
    lag_min = max(1, int(np.floor(p_min / DP_MAX_STRETCH)))
    lag_max = max(lag_min, int(np.ceil(p_max * DP_MAX_STRETCH)))
    lags = np.arange(lag_min, lag_max + 1)
    log_lags = np.log(lags)
    if p_min == p_max:
        penalty = np.broadcast_to(-tightness * np.log(lags / p_min) ** 2, (n, len(lags)))
    else:
        # Period at each interval's midpoint; lags beyond DP_MAX_STRETCH of it are excluded.
        mid = np.maximum(np.arange(n)[:, None] - lags[None, :] // 2, 0)
        dev = log_lags[None, :] - log_period[mid]
        penalty = np.where(np.abs(dev) <= np.log(DP_MAX_STRETCH), -tightness * dev**2, -np.inf)
    score = local.astype(np.float64)  # a copy: becomes the cumulative score
    back = np.full(n, -1, dtype=np.int64)
    # Every predecessor is >= lag_min frames back, so the lag_min frames of a block only read scores
    # of earlier blocks: one vectorised step per block.
    offsets = np.arange(lag_min)[:, None] - lags[None, :]  # predecessor of block frame i at lag j
    rows = np.arange(lag_min)
    for start in range(lag_min, n, lag_min):
        size = min(lag_min, n - start)
        prev = start + offsets[:size]
        # Frames near the start have predecessors before frame 0: they cannot be chosen.
        cand = np.where(prev >= 0, score[np.maximum(prev, 0)] + penalty[start : start + size], -np.inf)
        best = cand.argmax(axis=1)
        value = cand[rows[:size], best]
        if start < lag_max:
            # Near the start a frame may have no admissible predecessor: it starts a chain. (Later
            # on every frame has one: the lags span DP_MAX_STRETCH around every period.)
            found = np.isfinite(value)
            score[start : start + size] += np.where(found, value, 0.0)
            back[start : start + size] = np.where(found, prev[rows[:size], best], -1)
        else:
            score[start : start + size] += value
            back[start : start + size] = prev[rows[:size], best]
    # The chain ends at the best cumulative score within the last period (all such chains have about
    # the same number of beats, so their scores compare fairly).
    tail = max(0, n - int(np.ceil(periods[-1])))
    beats = [tail + int(np.argmax(score[tail:]))]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    return np.array(beats[::-1], dtype=np.int64)


def _beat_tempos(beats: np.ndarray) -> np.ndarray:
    """Local tempo [BPM] at each beat: inverse slope of the beat times within ``TEMPO_FIT_BEATS``.

    Parameters
    ----------
    beats : np.ndarray [shape=(n,)], float [s], increasing, n >= 2

    Returns
    -------
    np.ndarray [shape=(n,)], float64 [BPM]
    """
    n = len(beats)
    idx = np.arange(n)[:, None] + np.arange(-TEMPO_FIT_BEATS, TEMPO_FIT_BEATS + 1)[None, :]
    valid = (idx >= 0) & (idx < n)
    x = np.where(valid, idx, 0).astype(np.float64)
    y = np.where(valid, beats[np.clip(idx, 0, n - 1)], 0.0)
    count = valid.sum(axis=1)
    xm = x.sum(axis=1) / count
    ym = y.sum(axis=1) / count
    dx = np.where(valid, x - xm[:, None], 0.0)
    slope = (dx * (y - ym[:, None])).sum(axis=1) / (dx**2).sum(axis=1)
    return 60.0 / slope


@dataclass(frozen=True)
class _FrameFeatures:
    """Frame-level inputs of the beat accents, computed once per clip."""

    onset: np.ndarray  # (n_frames,): onset envelope
    bass: np.ndarray  # (n_frames,): low-band log flux
    chroma: np.ndarray  # (12, n_frames): pitch-class energy


def _chroma_filterbank(sr: int, n_fft: int) -> np.ndarray:
    """Pitch-class filterbank over the FFT bins below ``CHROMA_FMAX``.

    Returns
    -------
    np.ndarray [shape=(12, n_bins)], float32
        Row ``c`` weights each bin by a triangle of +-1 semitone around pitch class ``c`` (0 = C).
    """
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    n_bins = int(np.searchsorted(freqs, CHROMA_FMAX))
    midi = 12.0 * np.log2(np.maximum(freqs[:n_bins], 1e-3) / 440.0) + 69.0
    # Signed distance of each bin's pitch to each pitch class, folded into [-6, 6) semitones.
    dist = (midi[None, :] - np.arange(12)[:, None] + 6.0) % 12.0 - 6.0
    fb = np.maximum(0.0, 1.0 - np.abs(dist))
    fb[:, freqs[:n_bins] < CHROMA_FMIN] = 0.0
    return fb.astype(np.float32)


def _frame_features(spec: Spectrogram, env: np.ndarray) -> _FrameFeatures:
    """Bass flux and chroma per frame (see :class:`_FrameFeatures`)."""
    mag = spec.magnitude
    lo = max(1, int(np.ceil(BASS_FMIN * spec.n_fft / spec.sr)))
    hi = int(np.ceil(BASS_FMAX * spec.n_fft / spec.sr))
    low = mag[lo:hi]
    ref = max(float(low.max()), 1e-12)
    log_low = np.log(1.0 + low * np.float32(BASS_GAMMA / ref))
    bass = np.zeros(len(env), dtype=np.float32)
    # Centred difference over frames t - 1 .. t + 1, as for the onset envelope.
    bass[1:-1] = np.maximum(log_low[:, 2:] - log_low[:, :-2], 0.0).sum(axis=0)
    fb = _chroma_filterbank(spec.sr, spec.n_fft)
    # sqrt: compresses loud bass partials so that they do not outweigh the harmony.
    chroma = fb @ np.sqrt(mag[: fb.shape[1]])
    return _FrameFeatures(onset=env, bass=bass, chroma=chroma)


def _beat_accents(frames: _FrameFeatures, beat_frames: np.ndarray) -> np.ndarray:
    """Per-beat accents, each z-scored over the beats (scale floored at ``ACCENT_MIN_STD``).

    Parameters
    ----------
    frames : _FrameFeatures
    beat_frames : np.ndarray [shape=(n_beats,)], int, increasing, n_beats >= 2

    Returns
    -------
    np.ndarray [shape=(3, n_beats)], float64
        Rows: onset strength at the beat (max over +-1 frame, the beat grid's jitter), bass onset
        strength at the beat, harmonic change into the beat's segment (cosine distance between the
        mean chroma from this beat to the next and from the previous beat to this one; the first beat
        gets the mean).
    """
    n_frames = len(frames.onset)
    near = np.clip(beat_frames[:, None] + np.arange(-1, 2)[None, :], 0, n_frames - 1)
    onset = frames.onset[near].max(axis=1)
    bass = frames.bass[near].max(axis=1)
    # Segment i runs from beat i to beat i + 1 (the first one from frame 0, the last one to the end).
    edges = np.concatenate([[0], beat_frames[1:]])
    chroma = np.add.reduceat(frames.chroma, edges, axis=1)
    chroma /= np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    change = np.empty(len(beat_frames))
    change[1:] = 1.0 - (chroma[:, 1:] * chroma[:, :-1]).sum(axis=0)
    change[0] = change[1:].mean()  # no previous segment: neutral
    accents = np.vstack([onset, bass, change]).astype(np.float64)
    accents -= accents.mean(axis=1, keepdims=True)
    # A feature that hardly varies (no chord changes, no bass) must stay near 0 rather than have its
    # rounding noise blown up to unit variance: floor the scale.
    accents /= np.maximum(accents.std(axis=1, keepdims=True), ACCENT_MIN_STD)
    return accents


def _faster_score(frames: _FrameFeatures, fast_beats: np.ndarray) -> float:
    """Evidence that the faster of an octave pair of pulse levels is the notated beat.

    Parameters
    ----------
    frames : _FrameFeatures
    fast_beats : np.ndarray [shape=(n_beats,)], int
        Beat frames tracked at the faster level.

    Returns
    -------
    float
        Median onset strength of the weaker parity of beats over that of the stronger one (1: all beats
        alike; 0: every other beat empty) minus ``CHROMA_PARITY_WEIGHT`` times the difference of the
        parities' mean harmonic change. Compare with ``FAST_THRESHOLD``.
    """
    if len(fast_beats) < 2 * max(METERS):
        return FAST_THRESHOLD  # too few beats to judge: keep the faster level
    n_frames = len(frames.onset)
    near = np.clip(fast_beats[:, None] + np.arange(-1, 2)[None, :], 0, n_frames - 1)
    onset = frames.onset[near].max(axis=1)
    parity = np.arange(len(onset)) % 2
    medians = np.array([np.median(onset[parity == 0]), np.median(onset[parity == 1])])
    ratio = float(medians.min() / max(float(medians.max()), 1e-9))
    change = _beat_accents(frames, fast_beats)[2]
    chroma_diff = abs(float(change[parity == 0].mean() - change[parity == 1].mean()))
    return ratio - CHROMA_PARITY_WEIGHT * chroma_diff


def _meter(accents: np.ndarray) -> tuple[int, int, float]:
    """Beats per bar and downbeat phase from per-beat accents.

    Parameters
    ----------
    accents : np.ndarray [shape=(n_features, n_beats)]
        z-scored accents (:func:`_beat_accents`), n_beats >= 2 * max(METERS).

    Returns
    -------
    time_signature : int, one of METERS
    phase : int in [0, time_signature)
        Index of the first downbeat.
    confidence : float in [0, 1]
    """
    accent = FEATURE_WEIGHTS @ accents
    n = len(accent)
    stats = {}
    for meter in METERS:
        # on[p]: accents of the beats at bar position p; one row per phase, one t statistic each.
        position = np.arange(n) % meter
        t = np.zeros(meter)
        for phase in range(meter):
            on, off = accent[position == phase], accent[position != phase]
            pooled = np.sqrt((on.var() * len(on) + off.var() * len(off)) / n)
            t[phase] = (on.mean() - off.mean()) / max(pooled, 1e-9) * np.sqrt(len(on) * len(off) / n)
        stats[meter] = t
    best = max(METERS, key=lambda m: stats[m].max())
    runner_up = max(stats[m].max() for m in METERS if m != best)
    confidence = float(np.clip((stats[best].max() - runner_up) / METER_CONFIDENCE_SCALE, 0.0, 1.0))
    return best, int(np.argmax(stats[best])), confidence


def _bar_positions(accent: np.ndarray, meter: int, phase: int) -> np.ndarray:
    """Bar position of each beat when the tempo moves: the bar phase may change, at a cost.

    A beat tracker that follows a changing tempo can gain or lose a beat at a tempo change, which
    shifts every later bar line of a single-phase grid. Viterbi over the bar positions: each beat
    advances the position by one (free) or jumps to any position (``BAR_SWITCH_COST``); a beat in
    position 1 earns its accent above the mean. The start favours ``phase`` (the clip-wide choice of
    :func:`_meter`) by the same cost.

    Parameters
    ----------
    accent : np.ndarray [shape=(n_beats,)]
        Weighted accent per beat (``FEATURE_WEIGHTS @`` :func:`_beat_accents`).
    meter : int >= 2
    phase : int in [0, meter)
        Index of the first downbeat of the single-phase grid.

    Returns
    -------
    np.ndarray [shape=(n_beats,)], int64 in 1..meter
    """
    n = len(accent)
    gain = accent - accent.mean()
    positions = np.arange(meter)
    previous = (positions - 1) % meter  # the regular predecessor of each position
    score: np.ndarray = np.full(meter, -BAR_SWITCH_COST)
    score[(0 - phase) % meter] = 0.0
    score[0] += gain[0]
    back = np.zeros((n, meter), dtype=np.int64)
    for i in range(1, n):  # a loop over beats (~60 for 30 s) on arrays of `meter` values
        regular = score[previous]
        jump_from = int(score.argmax())
        jump = score[jump_from] - BAR_SWITCH_COST
        stay = regular >= jump
        back[i] = np.where(stay, previous, jump_from)
        score = np.where(stay, regular, jump)
        score[0] += gain[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path + 1


def analyze_rhythm(spec: Spectrogram, *, envelope: np.ndarray | None = None) -> RhythmAnalysis:
    """Tempo, beats, downbeats and meter of a clip (method in the module docstring).

    Parameters
    ----------
    spec : Spectrogram
        Magnitude STFT of the mono analysis signal (:func:`tonearm.analysis.spectral.stft_magnitude`).
    envelope : np.ndarray [shape=(n_frames,)] or None
        :func:`~tonearm.analysis.onset.onset_envelope` of ``spec`` if the caller already has it;
        computed otherwise.

    Returns
    -------
    RhythmAnalysis
        Empty (bpm 0, confidence 0, no beats, 4 beats per bar) for silence (peak below ``SILENCE_DB``)
        and clips shorter than ``MIN_DURATION_S``.

    Raises
    ------
    ParameterError
        If ``envelope`` does not have one value per frame of ``spec``.
    """
    n_frames = spec.magnitude.shape[1]
    if envelope is not None and np.shape(envelope) != (n_frames,):
        raise ParameterError(f"envelope must have shape ({n_frames},), got {np.shape(envelope)}")
    fr = spec.frame_rate
    full_scale = spec.n_fft / 4.0
    if n_frames < MIN_DURATION_S * fr or not spec.magnitude.max() > full_scale * 10.0 ** (SILENCE_DB / 20.0):
        return _empty()
    env = onset_envelope(spec) if envelope is None else np.asarray(envelope, dtype=np.float32)
    if not np.any(env > 0):
        return _empty()

    max_lag = min(n_frames - 1, int(np.ceil(COMB_TEETH * 60.0 * fr / SEARCH_MIN_BPM)))
    acf = _autocorrelation(env, max_lag)
    family = _tempo_family(acf, fr)
    if 2.0 * family <= BEAT_MAX_BPM * (1.0 + PAIR_TOL):
        slow, fast = family, 2.0 * family
    elif family / 2.0 >= SLOW_MIN_BPM:
        slow, fast = family / 2.0, family
    else:
        slow = fast = family

    frames = _frame_features(spec, env)
    fast_periods = _local_periods(env, 60.0 * fr / fast, fr)
    tightness = TIGHTNESS_VARYING
    if fast_periods.max() <= fast_periods.min() * STEADY_RANGE:
        fast_periods, tightness = np.full(n_frames, 60.0 * fr / fast), TIGHTNESS
    bpm = fast
    # Below the beat range the slower level needs stronger evidence; the threshold moves there
    # gradually over SLOW_RAMP_OCT so that a tempo measured just under BEAT_MIN_BPM is not treated
    # very differently from one just above it.
    ramp = [np.log2(BEAT_MIN_BPM) - SLOW_RAMP_OCT, np.log2(BEAT_MIN_BPM)]
    threshold = float(np.interp(np.log2(slow), ramp, [SLOW_OUTSIDE_THRESHOLD, FAST_THRESHOLD]))
    # The octave choice compares alternate beats of a tight fast-level track (TIGHTNESS); a loose one
    # (rubato) slips onto the offbeats where the pulse is weak and blurs the parity contrast.
    beat_frames = _track_beats(env, fast_periods, tightness=TIGHTNESS if slow != fast else tightness)
    if slow != fast and _faster_score(frames, beat_frames) < threshold:
        bpm = slow
        steady = tightness == TIGHTNESS
        slow_periods = np.full(n_frames, 60.0 * fr / slow) if steady else fast_periods * (fast / slow)
        beat_frames = _track_beats(env, slow_periods, tightness=tightness)
    elif slow != fast and tightness != TIGHTNESS:
        beat_frames = _track_beats(env, fast_periods, tightness=tightness)
    # The centred flux at frame t sees an onset that lies between frames t and t + 1 (it is in frame
    # t + 1's window and not in frame t - 1's): the midpoint is the unbiased time estimate.
    beats = (beat_frames + BEAT_FRAME_OFFSET) * (spec.hop / spec.sr)
    beat_tempos = np.full(len(beats), float(bpm))
    if len(beats) >= 2:
        beat_tempos = _beat_tempos(beats)
        if tightness == TIGHTNESS:
            # A steady tempo: the least-squares slope of beat time against beat index, the mean
            # period to sub-frame precision.
            index = np.arange(len(beats)) - (len(beats) - 1) / 2.0
            bpm = 60.0 / float(index @ (beats - beats.mean()) / (index @ index))
        else:
            # A moving tempo: the median local tempo, the tempo of most of the clip.
            bpm = float(np.median(beat_tempos))

    numbers: np.ndarray | None = None
    if len(beat_frames) >= 2 * max(METERS):
        accents = _beat_accents(frames, beat_frames)
        meter, phase, meter_confidence = _meter(accents)
        if tightness != TIGHTNESS:  # the tempo moves: the bar phase may change with it
            numbers = _bar_positions(FEATURE_WEIGHTS @ accents, meter, phase)
    else:
        meter, phase, meter_confidence = 4, 0, 0.0
    if numbers is None:
        numbers = ((np.arange(len(beats)) - phase) % meter + 1).astype(np.int64)
    salience = float(_comb_salience(acf, np.array([60.0 * fr / bpm]))[0])
    return RhythmAnalysis(
        bpm=float(bpm),
        bpm_confidence=bpm_confidence(salience),
        bpm_salience=salience,
        beats=beats,
        downbeats=beats[numbers == 1],
        beat_numbers=numbers,
        time_signature=meter,
        time_signature_confidence=meter_confidence,
        beat_tempos=beat_tempos,
    )
