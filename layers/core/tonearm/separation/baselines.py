"""DSP source-separation baselines: what a trained separation model must beat on the same clips (issue 19).

Every separator takes ``mix``, a ``(channels, n)`` float signal at ``sr`` Hz (any channel count, values in
the usual [-1, 1] full-scale range though nothing depends on it), and returns a dict of stems, each a
``(channels, n)`` float32 array at the same ``sr``, whose sum is the mix within float32 rounding:

- :func:`hpss`: harmonic/percussive separation by median filtering (Fitzgerald 2010) ->
  ``{"drums", "other"}``;
- :func:`kick_snare_bands`: the percussive part split by frequency band -> ``{"kick", "snare", "other"}``
  (Music.AI's ``isolate-drums``: ``Kick drum``, ``Snare drum``, ``Other``);
- :func:`repet_sim`: a local REPET-SIM (Rafii & Pardo 2012) repeating background ->
  ``{"vocals", "accompaniment"}``;
- :func:`mid_side`: the centre (mid) channel as the vocals -> ``{"vocals", "accompaniment"}``.

How the stems partition the mix. The STFT separators compute soft masks in [0, 1] that sum to one in
every time-frequency bin: one stem per mask but the last, which is the mix minus the others. With the
STFT used here (periodic Hann analysis and synthesis windows, hop a quarter of the window, frames
covering every sample) the inverse of the masked spectra is exact, so the residual stem *is* the last
mask's stem, and defining it as the residual makes the partition hold to float32 rounding whatever the
masks. One mask is computed per time-frequency bin from the mean magnitude over the channels and applied
to every channel, which keeps a stem's stereo image that of the mix.

Frames. The window is 2048 samples at 44.1 kHz (46 ms; 21.5 Hz bins) and the power of two nearest that
duration at other rates; the hop is a quarter of it. Frame ``k`` is centred on sample ``k * hop``, counted
from the start of the signal, and the signal is taken to be zero outside ``[0, n)``.

Chunks. Long inputs are processed ``chunk_seconds`` of output at a time. Each chunk is computed from
the signal around it with a margin at least as wide as everything an output sample depends on (the
STFT frames around it, the median filter's or the repetition search's reach), and chunk edges fall on
the hop grid, so the STFT frames of a chunk are those of the whole signal: a chunked result equals the
one-shot result to float32 rounding (REPET-SIM's nearest-neighbour choice can flip between two equally
similar frames on that rounding, which changes its output by about as much as the two frames differ).
Working memory therefore depends on ``chunk_seconds``, not on the input's length; the returned stems are
``len(stems)`` arrays the size of the input. :func:`iter_chunks` yields the stems one chunk at a time
for a caller that streams them (to WAV writers, for instance) and holds none of them whole; its ``mix``
may be anything sliceable as ``mix[:, a:b]`` (a ``numpy.memmap`` of a decoded file, say).

Everything is numpy/scipy (no librosa in the core) and single-threaded apart from what BLAS does in
:func:`repet_sim`'s similarity products.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from tonearm.errors import ParameterError

__all__ = [
    "BASELINES",
    "DEFAULT_CHUNK_SECONDS",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "hpss",
    "iter_chunks",
    "kick_snare_bands",
    "mid_side",
    "repet_sim",
    "stft_geometry",
]

FloatArray = npt.NDArray[np.float32]
_Spectrum = npt.NDArray[np.complex64]

#: Seconds of output computed at a time (plus the margins each side). 20 s of stereo at 44.1 kHz keeps
#: every separator's working memory under ~250 MB.
DEFAULT_CHUNK_SECONDS = 20.0
#: Sample rates accepted, Hz.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
#: More rows than this (and more rows than columns) looks like a transposed ``(n, channels)`` array.
MAX_CHANNELS = 32

#: Window length at 44.1 kHz; other rates get the power of two nearest the same duration.
_REFERENCE_RATE = 44_100
_REFERENCE_WINDOW = 2048
#: Frames per window: the hop is a quarter of the window (75 % overlap).
_OVERLAP = 4
#: Sum over the overlapping frames of the squared periodic Hann window: 3/8 per frame.
_WINDOW_SQUARE_SUM = 3.0 * _OVERLAP / 8.0
#: Added to mask denominators (squared STFT magnitudes of a full-scale signal are ~1e6).
_TINY = 1e-12
#: Frames of REPET-SIM's background estimated at a time (bounds the (frames, neighbours, bins) gather).
_REPET_BLOCK = 256
#: REPET-SIM compares frames by the cosine similarity of their magnitudes pooled into this many
#: log-spaced bands (cheaper than the full spectra and less dominated by the loud low bins).
_REPET_BANDS = 64


class _Core(Protocol):
    def __call__(self, segment: FloatArray, sr: int) -> dict[str, FloatArray]: ...


# --- STFT -------------------------------------------------------------------------------------------


def stft_geometry(sr: int) -> tuple[int, int]:
    """Return the STFT window length and hop the separators use at ``sr`` Hz, in samples.

    Parameters
    ----------
    sr : int
        Sample rate, Hz.

    Returns
    -------
    tuple of int
        ``(window, hop)``: 2048 and 512 at 44.1 and 48 kHz; the window is the power of two nearest
        46.4 ms and the hop a quarter of it.
    """
    window = 2 ** round(math.log2(_REFERENCE_WINDOW * sr / _REFERENCE_RATE))
    return window, window // _OVERLAP


@functools.lru_cache(maxsize=8)
def _hann(window: int) -> FloatArray:
    n = np.arange(window)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / window)).astype(np.float32)


def _frame_range(n: int, window: int, hop: int) -> tuple[int, int]:
    """First and one-past-last index of the frames whose (periodic Hann) window weighs a sample of [0, n)."""
    half = window // 2
    return -((half - 1) // hop), (n - 2 + half) // hop + 1


def _stft(x: FloatArray, window: int, hop: int) -> _Spectrum:
    """STFT of ``x`` ``(channels, n)``: ``(channels, frames, window // 2 + 1)`` complex64."""
    channels, n = x.shape
    k0, k1 = _frame_range(n, window, hop)
    frames = k1 - k0
    left = window // 2 - k0 * hop
    padded = np.zeros((channels, (frames - 1) * hop + window), dtype=np.float32)
    padded[:, left : left + n] = x
    view = sliding_window_view(padded, window, axis=-1)[:, ::hop][:, :frames]
    spectrum: _Spectrum = scipy.fft.rfft(view * _hann(window), axis=-1)
    return spectrum


def _istft(spectrum: _Spectrum, n: int, window: int, hop: int) -> FloatArray:
    """Inverse of :func:`_stft` (weighted overlap-add), cropped to ``n`` samples."""
    channels, frames, _ = spectrum.shape
    k0, _ = _frame_range(n, window, hop)
    segments = scipy.fft.irfft(spectrum, n=window, axis=-1).astype(np.float32, copy=False)
    segments *= _hann(window)
    parts = segments.reshape(channels, frames, _OVERLAP, hop)
    out = np.zeros((channels, (frames - 1 + _OVERLAP) * hop), dtype=np.float32)
    for r in range(_OVERLAP):
        out[:, r * hop : r * hop + frames * hop] += parts[:, :, r, :].reshape(channels, frames * hop)
    left = window // 2 - k0 * hop
    result: FloatArray = out[:, left : left + n] / np.float32(_WINDOW_SQUARE_SUM)
    return result


def _magnitude(spectrum: _Spectrum) -> FloatArray:
    """Mean magnitude over the channels, ``(frames, bins)`` float32."""
    magnitude: FloatArray = np.abs(spectrum).mean(axis=0, dtype=np.float32)
    return magnitude


def _odd(value: float) -> int:
    return max(1, 2 * round((value - 1) / 2) + 1)


# --- chunking -------------------------------------------------------------------------------------


def _check(mix: Any, sr: int, chunk_seconds: float) -> tuple[int, int]:
    shape = getattr(mix, "shape", None)
    if shape is None or len(shape) != 2:
        raise ParameterError(f"mix must be a (channels, n) array, got shape {shape}")
    channels, n = int(shape[0]), int(shape[1])
    if channels < 1 or (channels > MAX_CHANNELS and channels > n):
        raise ParameterError(f"mix must be (channels, n); shape {tuple(shape)} looks transposed or empty")
    _check_rate(sr)
    if not chunk_seconds > 0:
        raise ParameterError(f"chunk_seconds must be positive, got {chunk_seconds}")
    return channels, n


def _check_rate(sr: int) -> None:
    if not isinstance(sr, int | np.integer) or not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise ParameterError(f"sr must be an integer in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, got {sr}")


def _iterate(
    core: _Core, margin_frames: int, mix: Any, sr: int, chunk_seconds: float
) -> Iterator[tuple[int, int, dict[str, FloatArray]]]:
    """Run ``core`` over hop-aligned chunks of ``mix`` with ``margin_frames`` of context each side."""
    _, n = _check(mix, sr, chunk_seconds)
    _, hop = stft_geometry(sr)
    chunk = max(1, round(chunk_seconds * sr / hop)) * hop
    margin = margin_frames * hop
    for start in range(0, max(n, 1), chunk):
        stop = min(n, start + chunk)
        lo, hi = max(0, start - margin), min(n, stop + margin)
        segment = np.asarray(mix[:, lo:hi], dtype=np.float32)
        if not np.isfinite(segment).all():
            raise ParameterError("mix holds NaN or infinite samples")
        stems = core(segment, sr)
        yield start, stop, {name: stem[:, start - lo : stop - lo] for name, stem in stems.items()}


def _run(core: _Core, margin_frames: int, mix: Any, sr: int, chunk_seconds: float) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    for start, stop, stems in _iterate(core, margin_frames, mix, sr, chunk_seconds):
        for name, stem in stems.items():
            if name not in out:
                out[name] = np.empty((stem.shape[0], mix.shape[1]), dtype=np.float32)
            out[name][:, start:stop] = stem
    return out


# --- HPSS and the kick/snare bands ----------------------------------------------------------------


def _hpss_params(sr: int, harmonic_seconds: float, percussive_hz: float) -> tuple[int, int]:
    if not harmonic_seconds > 0 or not percussive_hz > 0:
        raise ParameterError("harmonic_seconds and percussive_hz must be positive")
    window, hop = stft_geometry(sr)
    return _odd(harmonic_seconds * sr / hop), _odd(percussive_hz * window / sr)


def _percussive_mask(magnitude: FloatArray, time_kernel: int, freq_kernel: int, power: float) -> FloatArray:
    """Fitzgerald's soft percussive mask ``P^p / (H^p + P^p)`` on a ``(frames, bins)`` magnitude."""
    harmonic = ndimage.median_filter(magnitude, size=(time_kernel, 1), mode="nearest")
    percussive = ndimage.median_filter(magnitude, size=(1, freq_kernel), mode="nearest")
    harmonic **= power
    percussive **= power
    mask: FloatArray = percussive / (harmonic + percussive + np.float32(_TINY))
    return mask


def _hpss_core(
    segment: FloatArray, sr: int, *, time_kernel: int, freq_kernel: int, power: float
) -> dict[str, FloatArray]:
    window, hop = stft_geometry(sr)
    spectrum = _stft(segment, window, hop)
    mask = _percussive_mask(_magnitude(spectrum), time_kernel, freq_kernel, power)
    drums = _istft(spectrum * mask, segment.shape[1], window, hop)
    return {"drums": drums, "other": segment - drums}


def hpss(
    mix: Any,
    sr: int,
    *,
    harmonic_seconds: float = 0.2,
    percussive_hz: float = 400.0,
    power: float = 2.0,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> dict[str, FloatArray]:
    """Split ``mix`` into its percussive ("drums") and harmonic ("other") parts (Fitzgerald 2010).

    The STFT magnitude (mean over channels) is median-filtered along time (a horizontal, harmonic
    estimate ``H``) and along frequency (a vertical, percussive estimate ``P``); the percussive stem is
    the mix through the soft mask ``P^p / (H^p + P^p)``, the harmonic stem the rest.

    Parameters
    ----------
    mix : array_like, shape (channels, n)
        The input, float, at ``sr`` Hz.
    sr : int
        Sample rate, Hz (8 kHz to 384 kHz).
    harmonic_seconds : float
        Length of the time median filter, seconds (0.2 s: 17 frames at 44.1 kHz).
    percussive_hz : float
        Length of the frequency median filter, Hz (400 Hz: 19 bins at 44.1 kHz).
    power : float
        Exponent ``p`` of the soft mask (2: Wiener-like; larger is harder).
    chunk_seconds : float
        Seconds of output computed at a time; bounds the working memory (see the module docstring).

    Returns
    -------
    dict of str to ndarray
        ``{"drums": percussive, "other": harmonic}``, each ``(channels, n)`` float32 at ``sr`` Hz;
        ``drums + other == mix`` to float32 rounding.
    """
    core, margin = _prepare_hpss(
        sr, harmonic_seconds=harmonic_seconds, percussive_hz=percussive_hz, power=power
    )
    return _run(core, margin, mix, sr, chunk_seconds)


def _prepare_hpss(
    sr: int, *, harmonic_seconds: float = 0.2, percussive_hz: float = 400.0, power: float = 2.0
) -> tuple[_Core, int]:
    _check_rate(sr)
    time_kernel, freq_kernel = _hpss_params(sr, harmonic_seconds, percussive_hz)
    core = functools.partial(_hpss_core, time_kernel=time_kernel, freq_kernel=freq_kernel, power=power)
    return core, time_kernel // 2 + _OVERLAP + 2


def _band_weights(sr: int, kick_hz: float, snare_hz: float, octaves: float) -> tuple[FloatArray, FloatArray]:
    """Kick (low-pass) and snare (band-pass) weights per STFT bin; raised-cosine crossovers in log freq."""
    window, _ = stft_geometry(sr)
    freqs = np.fft.rfftfreq(window, 1.0 / sr)
    octave = np.log2(np.maximum(freqs, 1e-3))

    def low_pass(cutoff: float) -> npt.NDArray[np.float64]:
        x = np.clip((octave - math.log2(cutoff)) / octaves + 0.5, 0.0, 1.0)
        return np.where(x < 1.0, np.cos(0.5 * np.pi * x) ** 2, 0.0)

    kick = low_pass(kick_hz)
    snare = low_pass(snare_hz) - kick
    return kick.astype(np.float32), np.clip(snare, 0.0, 1.0).astype(np.float32)


def _kick_snare_core(
    segment: FloatArray,
    sr: int,
    *,
    time_kernel: int,
    freq_kernel: int,
    power: float,
    kick_band: FloatArray,
    snare_band: FloatArray,
) -> dict[str, FloatArray]:
    window, hop = stft_geometry(sr)
    n = segment.shape[1]
    spectrum = _stft(segment, window, hop)
    percussive = _percussive_mask(_magnitude(spectrum), time_kernel, freq_kernel, power)
    kick = _istft(spectrum * (percussive * kick_band), n, window, hop)
    snare = _istft(spectrum * (percussive * snare_band), n, window, hop)
    return {"kick": kick, "snare": snare, "other": segment - kick - snare}


def kick_snare_bands(
    mix: Any,
    sr: int,
    *,
    kick_hz: float = 150.0,
    snare_hz: float = 5000.0,
    crossover_octaves: float = 0.5,
    harmonic_seconds: float = 0.2,
    percussive_hz: float = 400.0,
    power: float = 2.0,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> dict[str, FloatArray]:
    """Split ``mix`` into kick, snare and other by frequency bands of its percussive part.

    The percussive mask of :func:`hpss` is multiplied by a low band below ``kick_hz`` (the kick) and a
    band from ``kick_hz`` to ``snare_hz`` (the snare's body and rattle); everything else (the harmonic
    part, the percussive part above ``snare_hz``: hi-hats and cymbals) is "other". The bands cross over
    with raised-cosine slopes ``crossover_octaves`` wide, centred on the cut-offs, so kick + snare band
    weights never exceed one.

    Parameters
    ----------
    mix : array_like, shape (channels, n)
        The input, float, at ``sr`` Hz.
    sr : int
        Sample rate, Hz (8 kHz to 384 kHz).
    kick_hz, snare_hz : float
        Crossover frequencies, Hz (``kick_hz < snare_hz < sr / 2``).
    crossover_octaves : float
        Width of each crossover slope, octaves.
    harmonic_seconds, percussive_hz, power : float
        The percussive mask's parameters, as in :func:`hpss`.
    chunk_seconds : float
        Seconds of output computed at a time.

    Returns
    -------
    dict of str to ndarray
        ``{"kick", "snare", "other"}``, each ``(channels, n)`` float32 at ``sr`` Hz, summing to ``mix``
        to float32 rounding.
    """
    core, margin = _prepare_kick_snare(
        sr,
        kick_hz=kick_hz,
        snare_hz=snare_hz,
        crossover_octaves=crossover_octaves,
        harmonic_seconds=harmonic_seconds,
        percussive_hz=percussive_hz,
        power=power,
    )
    return _run(core, margin, mix, sr, chunk_seconds)


def _prepare_kick_snare(
    sr: int,
    *,
    kick_hz: float = 150.0,
    snare_hz: float = 5000.0,
    crossover_octaves: float = 0.5,
    harmonic_seconds: float = 0.2,
    percussive_hz: float = 400.0,
    power: float = 2.0,
) -> tuple[_Core, int]:
    _check_rate(sr)
    if not 0 < kick_hz < snare_hz < sr / 2 or not crossover_octaves > 0:
        raise ParameterError(
            f"need 0 < kick_hz < snare_hz < sr / 2 and crossover_octaves > 0, got {kick_hz}, {snare_hz}, "
            f"{crossover_octaves}"
        )
    time_kernel, freq_kernel = _hpss_params(sr, harmonic_seconds, percussive_hz)
    kick_band, snare_band = _band_weights(sr, kick_hz, snare_hz, crossover_octaves)
    core = functools.partial(
        _kick_snare_core,
        time_kernel=time_kernel,
        freq_kernel=freq_kernel,
        power=power,
        kick_band=kick_band,
        snare_band=snare_band,
    )
    return core, time_kernel // 2 + _OVERLAP + 2


# --- REPET-SIM ------------------------------------------------------------------------------------


def _band_edges(bins: int) -> npt.NDArray[np.intp]:
    edges: npt.NDArray[np.intp] = np.unique(
        np.round(np.geomspace(1, bins, _REPET_BANDS + 1)[:-1]).astype(np.intp)
    )
    return edges


def _repeating_background(
    magnitude: FloatArray, *, window: int, min_lag: int, peak_spacing: int, neighbours: int
) -> FloatArray:
    """REPET-SIM's background: per frame, the median magnitude of its most similar frames nearby.

    For frame ``t`` the candidates are the frames ``u`` with ``min_lag <= |t - u| <= window`` whose
    similarity to ``t`` is a local maximum over ``peak_spacing`` frames either side (standing for the
    original's minimum distance between repeating frames); the ``neighbours`` most similar are kept
    (fewer where there are fewer). A frame with no candidate at all (a clip shorter than ``min_lag``)
    is its own background: it all goes to the accompaniment.
    """
    frames, bins = magnitude.shape
    features = np.add.reduceat(magnitude, _band_edges(bins), axis=1)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    features = features / np.maximum(norms, np.float32(_TINY))
    background = np.empty_like(magnitude)
    for b0 in range(0, frames, _REPET_BLOCK):
        b1 = min(frames, b0 + _REPET_BLOCK)
        c0, c1 = max(0, b0 - window), min(frames, b1 + window)
        similarity = features[b0:b1] @ features[c0:c1].T
        lag = np.abs(np.arange(b0, b1)[:, None] - np.arange(c0, c1)[None, :])
        similarity[(lag < min_lag) | (lag > window)] = -np.inf
        peaks = ndimage.maximum_filter1d(
            similarity, 2 * peak_spacing + 1, axis=1, mode="constant", cval=-np.inf
        )
        similarity[(similarity < peaks) | ~np.isfinite(similarity)] = -np.inf
        k = min(neighbours, similarity.shape[1])
        picks = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        valid = np.isfinite(np.take_along_axis(similarity, picks, axis=1))
        count = valid.sum(axis=1)
        # The median over the valid picks only: invalid ones sort last as +inf.
        gathered = magnitude[picks + c0]
        gathered[~valid] = np.inf
        gathered.sort(axis=1)
        low = np.take_along_axis(gathered, np.maximum(count - 1, 0)[:, None, None] // 2, axis=1)[:, 0]
        high = np.take_along_axis(gathered, (count // 2)[:, None, None], axis=1)[:, 0]
        median = 0.5 * (low + high)
        background[b0:b1] = np.where(count[:, None] > 0, median, magnitude[b0:b1])
    return background


def _repet_core(
    segment: FloatArray, sr: int, *, window: int, min_lag: int, peak_spacing: int, neighbours: int
) -> dict[str, FloatArray]:
    size, hop = stft_geometry(sr)
    spectrum = _stft(segment, size, hop)
    magnitude = _magnitude(spectrum)
    background = _repeating_background(
        magnitude, window=window, min_lag=min_lag, peak_spacing=peak_spacing, neighbours=neighbours
    )
    mask = np.minimum(background, magnitude) / (magnitude + np.float32(_TINY))
    accompaniment = _istft(spectrum * mask, segment.shape[1], size, hop)
    return {"vocals": segment - accompaniment, "accompaniment": accompaniment}


def repet_sim(
    mix: Any,
    sr: int,
    *,
    window_seconds: float = 6.0,
    min_lag_seconds: float = 1.0,
    neighbours: int = 12,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> dict[str, FloatArray]:
    """Split ``mix`` into a repeating background ("accompaniment") and the rest ("vocals"): REPET-SIM.

    After Rafii & Pardo (2012): every frame's background is the element-wise median of the magnitude
    spectra of the frames most similar to it (cosine similarity of band-pooled magnitudes), capped by
    its own magnitude; the accompaniment is the mix through the mask ``min(B, V) / V``, the vocals the
    rest. Unlike the original, which searches the whole track, the search is local (``window_seconds``
    either side), so the cost is linear in the length and the result does not depend on the chunking.

    Parameters
    ----------
    mix : array_like, shape (channels, n)
        The input, float, at ``sr`` Hz.
    sr : int
        Sample rate, Hz (8 kHz to 384 kHz).
    window_seconds : float
        How far either side of a frame to look for repetitions, seconds.
    min_lag_seconds : float
        Closest a repeating frame may be to the frame it stands for, seconds: keeps a sustained vocal
        note from explaining itself. A repeating frame must also be the most similar one within half of
        this either side, which spreads the repeating frames apart as the original's minimum distance does.
    neighbours : int
        Repeating frames whose median is the background.
    chunk_seconds : float
        Seconds of output computed at a time.

    Returns
    -------
    dict of str to ndarray
        ``{"vocals", "accompaniment"}``, each ``(channels, n)`` float32 at ``sr`` Hz, summing to ``mix``
        to float32 rounding.
    """
    core, margin = _prepare_repet(
        sr, window_seconds=window_seconds, min_lag_seconds=min_lag_seconds, neighbours=neighbours
    )
    return _run(core, margin, mix, sr, chunk_seconds)


def _prepare_repet(
    sr: int, *, window_seconds: float = 6.0, min_lag_seconds: float = 1.0, neighbours: int = 12
) -> tuple[_Core, int]:
    _check_rate(sr)
    if not window_seconds > min_lag_seconds > 0 or neighbours < 1:
        raise ParameterError("need window_seconds > min_lag_seconds > 0 and neighbours >= 1")
    _, hop = stft_geometry(sr)
    window = max(1, round(window_seconds * sr / hop))
    min_lag = max(1, round(min_lag_seconds * sr / hop))
    core = functools.partial(
        _repet_core,
        window=window,
        min_lag=min_lag,
        peak_spacing=max(1, min_lag // 2),
        neighbours=int(neighbours),
    )
    return core, window + _OVERLAP + 2


# --- mid/side -------------------------------------------------------------------------------------


def _mid_side_core(segment: FloatArray, sr: int) -> dict[str, FloatArray]:
    mid = np.broadcast_to(segment.mean(axis=0, dtype=np.float32), segment.shape)
    return {"vocals": np.array(mid), "accompaniment": segment - mid}


def mid_side(mix: Any, sr: int, *, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> dict[str, FloatArray]:
    """Take the centre (mid) signal as the vocals and the side signal as the accompaniment.

    In stereo the vocals are ``M = (L + R) / 2`` in both channels and the accompaniment is
    ``(S, -S)`` with ``S = (L - R) / 2``: everything panned to the centre (lead vocals, but also the kick,
    snare and bass of most mixes) is "vocals". With any other channel count the mid signal is the mean of
    the channels; a mono input is all "vocals".

    Parameters
    ----------
    mix : array_like, shape (channels, n)
        The input, float, at ``sr`` Hz.
    sr : int
        Sample rate, Hz (only checked; the split is per sample).
    chunk_seconds : float
        Seconds of output computed at a time.

    Returns
    -------
    dict of str to ndarray
        ``{"vocals", "accompaniment"}``, each ``(channels, n)`` float32 at ``sr`` Hz, summing to ``mix``
        to float32 rounding.
    """
    return _run(*_prepare_mid_side(sr), mix, sr, chunk_seconds)


def _prepare_mid_side(sr: int) -> tuple[_Core, int]:
    return _mid_side_core, 0


# --- registry and streaming -----------------------------------------------------------------------

#: The baselines by name: the function and the stems it returns, in order.
BASELINES: Mapping[str, tuple[Callable[..., dict[str, FloatArray]], tuple[str, ...]]] = {
    "hpss": (hpss, ("drums", "other")),
    "kick_snare_bands": (kick_snare_bands, ("kick", "snare", "other")),
    "repet_sim": (repet_sim, ("vocals", "accompaniment")),
    "mid_side": (mid_side, ("vocals", "accompaniment")),
}

_PREPARE: Mapping[str, Callable[..., tuple[_Core, int]]] = {
    "hpss": _prepare_hpss,
    "kick_snare_bands": _prepare_kick_snare,
    "repet_sim": _prepare_repet,
    "mid_side": _prepare_mid_side,
}


def iter_chunks(
    name: str, mix: Any, sr: int, *, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, **params: Any
) -> Iterator[tuple[int, int, dict[str, FloatArray]]]:
    """Run the baseline ``name`` on ``mix`` one chunk at a time, yielding the stems of each chunk.

    The concatenation of the yielded chunks equals what ``BASELINES[name][0](mix, sr, **params)``
    returns; only one chunk (and its context) is held at a time.

    Parameters
    ----------
    name : str
        A key of :data:`BASELINES`.
    mix : array_like, shape (channels, n)
        The input at ``sr`` Hz; anything sliceable as ``mix[:, a:b]`` (an ndarray, a ``numpy.memmap``).
    sr : int
        Sample rate, Hz.
    chunk_seconds : float
        Seconds of output per chunk (rounded to whole STFT hops; the last chunk may be shorter).
    **params
        The baseline's keyword parameters.

    Yields
    ------
    tuple
        ``(start, stop, stems)``: the chunk's sample range ``[start, stop)`` and its stems, each
        ``(channels, stop - start)`` float32.
    """
    if name not in BASELINES:
        raise ParameterError(f"unknown baseline {name!r}; one of {sorted(BASELINES)}")
    core, margin = _PREPARE[name](sr, **params)
    yield from _iterate(core, margin, mix, sr, chunk_seconds)
