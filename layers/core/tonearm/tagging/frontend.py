"""The musicnn front end in numpy: 16 kHz mono audio to 3 s patches of log-compressed mel spectra.

The musicnn models were trained on exactly this representation (``musicnn/extractor.py``, which uses
librosa), so it is reproduced step for step rather than approximated:

1. Mono (channel mean) at 16 kHz, resampled with soxr at high quality and padded or trimmed to
   ``ceil(n * 16000 / sr)`` samples (librosa.load's defaults).
2. STFT: 512-point periodic Hann window, hop 256, frames centred on ``t * 256`` with the signal padded
   by 256 zeros on each side (librosa >= 0.10 pads with zeros), so there are ``1 + n // 256`` frames.
3. Power spectrum ``|X|^2`` through 96 triangular mel filters on the Slaney mel scale with Slaney
   (area) normalisation between 0 Hz and 8 kHz (``librosa.filters.mel`` defaults).
4. The mel energies are cast to float16 (musicnn's quantisation, kept: the models were trained on it)
   and ``log10(1 + 10000 x)`` is taken in float32.
5. Patches of 187 frames (3 s), without overlap; the frames after the last whole patch are dropped
   (musicnn's batching) unless ``cover_tail`` asks for one more patch ending at the last frame.
   Such a tail patch overlaps the last whole one and is not musicnn's: a track-level answer averages
   only the first :func:`track_patch_count` patches, as musicnn's does (see ``tonearm.tagging.tagger``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from tonearm.audio.mono import mono_at_rate
from tonearm.errors import ParameterError

__all__ = [
    "FFT_HOP",
    "FFT_SIZE",
    "N_MELS",
    "PATCH_FRAMES",
    "TAGGING_SR",
    "log_mel",
    "mel_filterbank",
    "patch_starts",
    "patches",
    "tagging_signal",
    "track_patch_count",
]

#: Sample rate of the tagging front end [Hz].
TAGGING_SR = 16000
#: STFT size and hop [samples].
FFT_SIZE = 512
FFT_HOP = 256
#: Mel bands.
N_MELS = 96
#: Frames per model input patch: librosa.time_to_frames(3 s) + 1, as musicnn computes it.
PATCH_FRAMES = 187
#: Frames per STFT chunk: bounds the chunk's temporaries (float64 frames, complex128 spectrum and their
#: float32/complex64 copies) to ~12 MB, whatever the track's length.
_CHUNK_FRAMES = 1024


def tagging_signal(y: npt.NDArray[np.floating], *, sr: int) -> npt.NDArray[np.float32]:
    """Mix to mono and resample to :data:`TAGGING_SR`.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
    sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(ceil(n * 16000 / sr),)], float32 at 16 kHz
    """
    return mono_at_rate(y, sr=sr, target_sr=TAGGING_SR)


def _hz_to_mel(hz: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    # Slaney's Auditory Toolbox scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    above = hz >= min_log_hz
    return np.where(above, min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep, mel)


def _mel_to_hz(mel: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    hz = mel * f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), hz)


def mel_filterbank(
    *, sr: int = TAGGING_SR, n_fft: int = FFT_SIZE, n_mels: int = N_MELS
) -> npt.NDArray[np.float32]:
    """Slaney-scale, area-normalised triangular mel filters from 0 Hz to ``sr / 2``.

    Parameters
    ----------
    sr : int > 0 [Hz]
    n_fft : int > 0 [samples]
    n_mels : int > 0

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2)], float32
        Row ``m`` weights the power-spectrum bins of band ``m`` (``librosa.filters.mel`` defaults).
    """
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, np.newaxis] - fft_freqs[np.newaxis, :]
    lower = -ramps[:-2] / fdiff[:-1, np.newaxis]
    upper = ramps[2:] / fdiff[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights.astype(np.float32)


_MEL_BASIS = mel_filterbank()
_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(np.float64)


def log_mel(y16k: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """The musicnn input representation of a 16 kHz mono signal.

    Parameters
    ----------
    y16k : np.ndarray [shape=(n,)], float, at :data:`TAGGING_SR`

    Returns
    -------
    np.ndarray [shape=(1 + n // 256, 96)], float32
        ``log10(1 + 10000 * mel_power)`` of the float16-quantised mel power.
    """
    if y16k.ndim != 1:
        raise ParameterError(f"expected a mono signal of shape (n,), got {y16k.shape}")
    n, half = y16k.shape[0], FFT_SIZE // 2
    n_frames = 1 + n // FFT_HOP
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(n_frames, start + _CHUNK_FRAMES)
        # Frame t covers samples t * hop - half .. t * hop + half of the signal padded with zeros on both
        # sides. Only this chunk's stretch is copied and padded, never the whole signal (a second copy of
        # a 10-minute track would be 38 MB).
        lo, hi = start * FFT_HOP - half, (stop - 1) * FFT_HOP + half
        segment = np.zeros(hi - lo, dtype=np.float32)
        inside_lo, inside_hi = max(lo, 0), min(hi, n)
        if inside_hi > inside_lo:
            segment[inside_lo - lo : inside_hi - lo] = y16k[inside_lo:inside_hi]
        chunk = sliding_window_view(segment, FFT_SIZE)[::FFT_HOP]
        spectrum = scipy.fft.rfft(chunk * _WINDOW, axis=1, workers=1).astype(np.complex64)
        power = np.square(spectrum.real) + np.square(spectrum.imag)
        out[start:stop] = power @ _MEL_BASIS.T
    # musicnn casts the mel power to float16 and, under numpy 1.x's value-based casting, takes the log
    # of it in float32. Doing that log in float16 (numpy 2's rules) would overflow above 6.55 to inf.
    # Power above float16's largest value (only from samples far outside [-1, 1], e.g. a float WAV that
    # was never normalised) would become inf, then NaN in the network's output and invalid JSON in a
    # reply: it saturates there instead. Inputs within full scale never reach it, so parity is untouched.
    np.minimum(out, np.float32(np.finfo(np.float16).max), out=out)
    quantised = out.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * quantised + np.float32(1))


def patch_starts(n_frames: int, *, cover_tail: bool = False) -> npt.NDArray[np.int64]:
    """First frame of every :data:`PATCH_FRAMES` patch of a spectrogram.

    Parameters
    ----------
    n_frames : int >= 0
    cover_tail : bool
        Add one more patch that ends at the last frame when frames are left over (so the end of the track
        is heard), and one patch at 0 for a spectrogram shorter than a patch (the caller pads it).

    Returns
    -------
    np.ndarray [shape=(p,)], int64
    """
    whole = n_frames // PATCH_FRAMES
    starts: npt.NDArray[np.int64] = np.arange(whole, dtype=np.int64) * PATCH_FRAMES
    if cover_tail:
        if whole == 0:
            return np.zeros(1, dtype=np.int64)
        if n_frames % PATCH_FRAMES:
            starts = np.append(starts, n_frames - PATCH_FRAMES)
    return starts


def track_patch_count(n_frames: int) -> int:
    """How many of the first ``cover_tail`` patches of a spectrogram are musicnn's own.

    musicnn 0.1.0 (``extractor.batch_data``) cuts whole, non-overlapping patches from frame 0 and drops
    the frames after the last one; a track's tags are the mean over those patches. Of the patches
    :func:`patches` cuts with ``cover_tail``, these come first; the tail patch (if any) comes last.
    A spectrogram shorter than one patch, for which musicnn has no patch at all, counts its one
    looped patch.

    Parameters
    ----------
    n_frames : int >= 0

    Returns
    -------
    int >= 0
        ``max(1, n_frames // PATCH_FRAMES)``, or 0 for an empty spectrogram.
    """
    if n_frames <= 0:
        return 0
    return max(1, n_frames // PATCH_FRAMES)


def patches(spec: npt.NDArray[np.float32], *, cover_tail: bool = False) -> npt.NDArray[np.float32]:
    """Cut a log-mel spectrogram into model inputs.

    Parameters
    ----------
    spec : np.ndarray [shape=(frames, 96)], float32
    cover_tail : bool
        See :func:`patch_starts`. A spectrogram shorter than one patch is repeated to fill it (a loop
        of the clip sounds like the clip; zeros would read as silence).

    Returns
    -------
    np.ndarray [shape=(p, 187, 96)], float32, C-contiguous
    """
    n = spec.shape[0]
    if n < PATCH_FRAMES:
        if not cover_tail or n == 0:
            return np.zeros((0, PATCH_FRAMES, N_MELS), dtype=np.float32)
        spec = np.resize(spec, (PATCH_FRAMES, N_MELS))
        n = PATCH_FRAMES
    starts = patch_starts(n, cover_tail=cover_tail)
    index = starts[:, np.newaxis] + np.arange(PATCH_FRAMES)
    return np.ascontiguousarray(spec[index])
