"""The shared front end of ``analyze``: one mono signal at one rate, one STFT.

Every analysis (rhythm, key, features) reads the same ``Spectrogram`` so the expensive transform is
computed once per track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import soxr

from tonearm.errors import ParameterError

#: Analysis sample rate [Hz]: enough bandwidth for rhythm, pitch and timbre (11 kHz Nyquist).
ANALYSIS_SR = 22050
#: STFT size [samples]: 92.9 ms at 22050 Hz, a 10.8 Hz bin spacing (resolves semitones above ~180 Hz).
N_FFT = 2048
#: Hop [samples]: 23.2 ms at 22050 Hz, i.e. 43.07 frames per second.
HOP = 512


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Audio, float.

    Returns
    -------
    np.ndarray [shape=(n,)], float32
    """
    if y.ndim == 1:
        return y.astype(np.float32, copy=False)
    if y.ndim != 2:
        raise ParameterError(f"audio must have shape (n,) or (channels, n), got {y.shape}")
    return y.mean(axis=0, dtype=np.float32)


def resample(y: np.ndarray, *, sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr (high quality, vectorised C).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
    sr : int > 0 [Hz]
    target_sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(round(n * target_sr / sr),)], float32
    """
    if sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be positive, got {sr} and {target_sr}")
    if sr == target_sr:
        return y.astype(np.float32, copy=False)
    return np.asarray(soxr.resample(y.astype(np.float32, copy=False), sr, target_sr, quality="HQ"))


@dataclass(frozen=True)
class Spectrogram:
    """Magnitude STFT of the mono analysis signal.

    Attributes
    ----------
    magnitude : np.ndarray [shape=(1 + n_fft // 2, n_frames)], float32
        |STFT| with a Hann window; frame ``t`` is centred on sample ``t * hop``.
    sr : int [Hz]
    n_fft : int [samples]
    hop : int [samples]
    """

    magnitude: np.ndarray
    sr: int
    n_fft: int
    hop: int

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sr / self.hop

    @property
    def freqs(self) -> np.ndarray:
        """Bin centre frequencies [Hz], shape (1 + n_fft // 2,)."""
        return np.fft.rfftfreq(self.n_fft, d=1.0 / self.sr)

    def frame_times(self) -> np.ndarray:
        """Frame centre times [s], shape (n_frames,)."""
        return np.arange(self.magnitude.shape[1]) * (self.hop / self.sr)


def stft_magnitude(y: np.ndarray, *, sr: int, n_fft: int = N_FFT, hop: int = HOP) -> Spectrogram:
    """Centred, Hann-windowed magnitude STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono audio.
    sr : int > 0 [Hz]
    n_fft : int > 0 [samples]
    hop : int > 0 [samples]

    Returns
    -------
    Spectrogram
        ``1 + n // hop`` frames.
    """
    if y.ndim != 1:
        raise ParameterError(f"stft_magnitude takes mono audio of shape (n,), got {y.shape}")
    if n_fft <= 0 or hop <= 0:
        raise ParameterError(f"n_fft and hop must be positive, got {n_fft} and {hop}")
    pad = n_fft // 2
    padded = np.pad(y.astype(np.float32, copy=False), (pad, pad), mode="constant")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, n_fft), strides=(padded.strides[0] * hop, padded.strides[0]), writeable=False
    )
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    spectrum = scipy.fft.rfft(frames * window, axis=1, workers=1)
    return Spectrogram(magnitude=np.abs(spectrum).T.astype(np.float32), sr=sr, n_fft=n_fft, hop=hop)


def analysis_signal(y: np.ndarray, *, sr: int) -> np.ndarray:
    """The mono ``ANALYSIS_SR`` signal every analysis starts from.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
    sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(m,)], float32 at ``ANALYSIS_SR``
    """
    return resample(to_mono(y), sr=sr, target_sr=ANALYSIS_SR)
