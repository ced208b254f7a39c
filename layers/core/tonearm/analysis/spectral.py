"""The shared front end of ``analyze``: one mono signal at one rate, one STFT.

Every analysis (rhythm, key, features) reads the same ``Spectrogram`` so the expensive transform is
computed once per track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from tonearm.audio.mono import resample, to_mono
from tonearm.errors import ParameterError

#: Analysis sample rate [Hz]: enough bandwidth for rhythm, pitch and timbre (11 kHz Nyquist).
ANALYSIS_SR = 22050
#: STFT size [samples]: 92.9 ms at 22050 Hz, a 10.8 Hz bin spacing (resolves semitones above ~180 Hz).
N_FFT = 2048
#: Hop [samples]: 23.2 ms at 22050 Hz, i.e. 43.07 frames per second.
HOP = 512
#: Frames per STFT chunk: 1024 frames of 2048 samples keep the temporaries to ~16 MB.
_STFT_CHUNK_FRAMES = 1024


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
    signal = y.astype(np.float32, copy=False)
    n_frames = 1 + len(signal) // hop
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    magnitude = np.empty((1 + n_fft // 2, n_frames), dtype=np.float32)
    # In chunks of frames, each chunk zero-padded on its own: the windowed frames and their spectrum
    # are n_fft/hop times the signal's size (~0.4 GB for a 10-minute track if done in one go), and
    # padding the whole signal for the centred frames would copy it.
    for start in range(0, n_frames, _STFT_CHUNK_FRAMES):
        stop = min(start + _STFT_CHUNK_FRAMES, n_frames)
        lo, hi = start * hop - pad, (stop - 1) * hop + pad  # samples this chunk's frames cover
        chunk = np.zeros(hi - lo, dtype=np.float32)
        src_lo, src_hi = max(lo, 0), min(hi, len(signal))
        if src_hi > src_lo:
            chunk[src_lo - lo : src_hi - lo] = signal[src_lo:src_hi]
        frames = np.lib.stride_tricks.as_strided(
            chunk,
            shape=(stop - start, n_fft),
            strides=(chunk.strides[0] * hop, chunk.strides[0]),
            writeable=False,
        )
        spectrum = scipy.fft.rfft(frames * window, axis=1, workers=1)
        magnitude[:, start:stop] = np.abs(spectrum).T
    return Spectrogram(magnitude=magnitude, sr=sr, n_fft=n_fft, hop=hop)


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
