"""Note, onset and pitch-contour posteriors of basic-pitch's ``nmp.onnx`` over a whole track.

The model (Spotify's basic-pitch, ICASSP 2022; ``models/basic_pitch/MODEL_CARD.md``) takes 2 s windows of
22050 Hz mono audio and returns, per window, 172 frames of note and onset probabilities for the 88 piano
keys and a 3-bins-per-semitone pitch contour. This module reproduces basic-pitch's own inference
(``basic_pitch/inference.py``) exactly, so its outputs equal the original's (the golden test):

1. Mono (channel mean) at :data:`SAMPLE_RATE`, resampled with soxr at high quality and padded or trimmed
   to ``ceil(n * 22050 / sr)`` samples (``librosa.load``'s defaults).
2. :data:`LEAD_PAD` zeros in front (half the overlap), then windows of :data:`WINDOW_SAMPLES` starting
   every :data:`WINDOW_HOP` samples while the start is inside the padded signal; the last window is
   zero-padded at the end.
3. The model on every window; the first and last :data:`EDGE_FRAMES` frames of each window are dropped
   and the rest concatenated.

Memory: windows are cut and run :data:`_CHUNK_WINDOWS` at a time and their kept frames written into
preallocated arrays, so a track costs its 22050 Hz signal plus the unwrapped posteriors (note and onset:
2 x 18 MB for 10 minutes; the contour, 55 MB, only when asked for). :class:`SignalCollector` builds the
signal from :func:`tonearm.audio.decode.decode_stream` blocks without holding the decoded channels.

Frame times. The model's frames are centred every :data:`HOP` samples (86.13 per second) inside a window,
so kept frame ``j`` of window ``k`` is centred on sample ``k * WINDOW_HOP + j * HOP`` of the signal. A
window keeps :data:`KEPT_FRAMES` = 142 frames (36352 samples) but windows start only 36164 samples apart,
so the concatenated frames are not evenly spaced: 142 frames per 1.640 s (86.58 per second on average),
with the seam between two windows 68 samples wide instead of 256. basic-pitch maps frame indices to times
with a per-172-frames correction and a "magic" 1.8 ms (``note_creation.model_frames_to_time``) and keeps
``floor(n * 86 / 22050)`` frames, which cuts the last 0.7 % of the track (4 s of 10 minutes); tonearm
keeps the exact centre time of every frame (:attr:`Posteriors.times`) and every frame centred inside the
signal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from tonearm.audio.mono import MonoResampleStream, fix_length, mono_at_rate, resampled_length
from tonearm.audio.progress import FractionProgress
from tonearm.errors import ParameterError
from tonearm.models.registry import ModelRegistry, default_registry

__all__ = [
    "CONTOUR_BINS",
    "CONTOUR_BINS_PER_SEMITONE",
    "EDGE_FRAMES",
    "HOP",
    "KEPT_FRAMES",
    "LEAD_PAD",
    "LOWEST_PITCH",
    "MODEL_NAME",
    "N_PITCHES",
    "SAMPLE_RATE",
    "WINDOW_FRAMES",
    "WINDOW_HOP",
    "WINDOW_SAMPLES",
    "Posteriors",
    "SignalCollector",
    "frame_count",
    "frame_times",
    "posteriors",
    "posteriors_from_signal",
    "transcription_signal",
    "unwrap",
    "window_count",
    "windows",
]

#: Name of the model in ``models/registry.json``.
MODEL_NAME = "basic_pitch_nmp"
#: The model's sample rate [Hz] (basic-pitch ``AUDIO_SAMPLE_RATE``).
SAMPLE_RATE = 22050
#: Frame hop of the model's CQT [samples] (``FFT_HOP``): 11.61 ms, 86.13 frames per second in a window.
HOP = 256
#: Samples per model input window: 2 s less one hop (``AUDIO_N_SAMPLES``), the model's fixed input length.
WINDOW_SAMPLES = 2 * SAMPLE_RATE - HOP
#: Frames per window: centred frames every HOP samples, ``1 + 43844 // 256`` = 172 (``ANNOT_N_FRAMES``).
WINDOW_FRAMES = 1 + WINDOW_SAMPLES // HOP
#: Frames at each end of a window that are dropped (half of basic-pitch's 30-frame overlap).
EDGE_FRAMES = 15
#: Zeros put in front of the signal, so that the first kept frame is centred on sample 0.
LEAD_PAD = EDGE_FRAMES * HOP
#: Distance between window starts [samples]: the window less the 30 overlapping frames' samples.
WINDOW_HOP = WINDOW_SAMPLES - 2 * EDGE_FRAMES * HOP
#: Frames kept per window.
KEPT_FRAMES = WINDOW_FRAMES - 2 * EDGE_FRAMES
#: Piano keys covered by the note and onset outputs, and the MIDI number of the first (A0).
N_PITCHES = 88
LOWEST_PITCH = 21
#: Pitch-contour resolution: 3 bins per semitone, the centre bin of semitone ``i`` is ``3 * i + 1``.
CONTOUR_BINS_PER_SEMITONE = 3
CONTOUR_BINS = N_PITCHES * CONTOUR_BINS_PER_SEMITONE
#: Model output names (tf2onnx's) of the three posteriors, in the order of ``models/registry.json``.
NOTE_OUTPUT, ONSET_OUTPUT, CONTOUR_OUTPUT = (
    "StatefulPartitionedCall:1",
    "StatefulPartitionedCall:2",
    "StatefulPartitionedCall:0",
)
#: Windows per model call batch handed to the registry (bounds the per-window outputs held at once).
_CHUNK_WINDOWS = 16


@dataclass(frozen=True)
class Posteriors:
    """Model outputs over a track, one row per kept frame.

    Attributes
    ----------
    note : np.ndarray [shape=(t, 88)], float32 in [0, 1]
        Probability that key ``LOWEST_PITCH + i`` sounds in the frame.
    onset : np.ndarray [shape=(t, 88)], float32 in [0, 1]
        Probability that a note of key ``LOWEST_PITCH + i`` starts in the frame.
    contour : np.ndarray [shape=(t, 264)], float32 in [0, 1], or None
        Pitch salience at 1/3-semitone resolution from A0 (bin 1 = 27.5 Hz); None when not asked for.
    times : np.ndarray [shape=(t,)], float64 [s]
        Centre time of each frame in the input signal (increasing, not evenly spaced: module docstring).
    duration_s : float
        Length of the input audio [s].
    """

    note: npt.NDArray[np.float32]
    onset: npt.NDArray[np.float32]
    contour: npt.NDArray[np.float32] | None
    times: npt.NDArray[np.float64]
    duration_s: float


def transcription_signal(y: npt.NDArray[np.floating], *, sr: int) -> npt.NDArray[np.float32]:
    """Mix to mono and resample to :data:`SAMPLE_RATE`, as ``librosa.load(path, sr=22050)`` does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
    sr : int > 0 [Hz]

    Returns
    -------
    np.ndarray [shape=(ceil(n * 22050 / sr),)], float32 at 22050 Hz
    """
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise ParameterError(f"audio must have shape (n,) or (channels, n) with n > 0, got {y.shape}")
    return mono_at_rate(y, sr=sr, target_sr=SAMPLE_RATE)


class SignalCollector(MonoResampleStream):
    """Builds :func:`transcription_signal` from decoded blocks, never holding the full-rate signal.

    Implements :class:`tonearm.audio.decode.BlockConsumer` (give it to
    :func:`tonearm.audio.decode.decode_stream`, then call :meth:`finish`). soxr's streaming resampler
    returns the same samples as its one-shot call, and the channel mean is taken per frame, so the result
    equals ``transcription_signal(decode(source).y, sr=...)``; only the 22050 Hz mono signal is kept
    (53 MB for 10 minutes, against 212 MB for the decoded 44.1 kHz stereo).
    """

    def __init__(self) -> None:
        super().__init__(SAMPLE_RATE, quality="HQ")

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Take the next ``(channels, k)`` block (blocks that are not 2-D or are empty are ignored)."""
        if block.ndim != 2 or block.shape[1] == 0:
            return
        super().feed(block)

    def finish(self) -> npt.NDArray[np.float32]:
        """The 22050 Hz mono signal, ``ceil(frames * 22050 / sr)`` samples; the collector is spent."""
        mono = super().finish()
        return fix_length(mono, resampled_length(self.frames, sr=self.sr, target_sr=SAMPLE_RATE))


def window_count(n_samples: int) -> int:
    """Model windows of a signal of ``n_samples`` samples: ``ceil((n + LEAD_PAD) / WINDOW_HOP)``."""
    return -(-(n_samples + LEAD_PAD) // WINDOW_HOP)


def windows(
    signal: npt.NDArray[np.float32], *, first: int = 0, count: int | None = None
) -> npt.NDArray[np.float32]:
    """The model's input windows of a :data:`SAMPLE_RATE` mono signal.

    Parameters
    ----------
    signal : np.ndarray [shape=(n,)], float32 at 22050 Hz, n > 0
    first : int >= 0
        First window wanted.
    count : int >= 1, optional
        Windows wanted (default: all from ``first``); fewer are returned at the end of the signal.

    Returns
    -------
    np.ndarray [shape=(k, WINDOW_SAMPLES, 1)], float32
        Window ``first + i`` holds samples ``(first + i) * WINDOW_HOP - LEAD_PAD`` onwards (zeros outside
        the signal); there are :func:`window_count` windows in all. A read-only view of one zero-padded
        copy of the samples they cover (windows overlap by 7680 samples).
    """
    if signal.ndim != 1 or signal.shape[0] == 0:
        raise ParameterError(f"signal must have shape (n,) with n > 0, got {signal.shape}")
    stop = (
        window_count(signal.shape[0]) if count is None else min(window_count(signal.shape[0]), first + count)
    )
    if first < 0 or stop <= first:
        raise ParameterError(
            f"no windows from {first} (count {count}) in a signal of {signal.shape[0]} samples"
        )
    begin = first * WINDOW_HOP - LEAD_PAD  # signal index of the first window's first sample
    padded = np.zeros((stop - first - 1) * WINDOW_HOP + WINDOW_SAMPLES, dtype=np.float32)
    src = signal[max(begin, 0) : begin + padded.shape[0]]
    padded[max(-begin, 0) : max(-begin, 0) + src.shape[0]] = src
    step = padded.strides[0]
    return as_strided(
        padded,
        shape=(stop - first, WINDOW_SAMPLES, 1),
        strides=(WINDOW_HOP * step, step, step),
        writeable=False,
    )


def frame_times(n_frames: int) -> npt.NDArray[np.float64]:
    """Centre times of the first ``n_frames`` unwrapped frames.

    Parameters
    ----------
    n_frames : int >= 0

    Returns
    -------
    np.ndarray [shape=(n_frames,)], float64 [s]
        ``((i // KEPT_FRAMES) * WINDOW_HOP + (i % KEPT_FRAMES) * HOP) / SAMPLE_RATE`` for frame ``i``.
    """
    i = np.arange(n_frames)
    return ((i // KEPT_FRAMES) * WINDOW_HOP + (i % KEPT_FRAMES) * HOP) / SAMPLE_RATE


def frame_count(n_samples: int) -> int:
    """Unwrapped frames of a signal: those centred inside it (see :func:`frame_times`).

    Parameters
    ----------
    n_samples : int >= 0
        Length of the 22050 Hz signal [samples].

    Returns
    -------
    int
    """
    return int(np.searchsorted(frame_times(window_count(n_samples) * KEPT_FRAMES) * SAMPLE_RATE, n_samples))


def unwrap(output: npt.NDArray[np.float32], *, n_samples: int) -> npt.NDArray[np.float32]:
    """Join per-window outputs into one matrix over the track.

    Parameters
    ----------
    output : np.ndarray [shape=(n_windows, WINDOW_FRAMES, bins)], float32
    n_samples : int >= 0
        Length of the 22050 Hz signal the windows were cut from [samples].

    Returns
    -------
    np.ndarray [shape=(t, bins)], float32
        The windows without their first and last :data:`EDGE_FRAMES` frames, concatenated, and cut after
        the last frame centred inside the signal (``t = frame_count(n_samples)`` frames at most).
    """
    if output.ndim != 3 or output.shape[1] != WINDOW_FRAMES:
        raise ParameterError(f"output must have shape (n, {WINDOW_FRAMES}, bins), got {output.shape}")
    kept = output[:, EDGE_FRAMES : WINDOW_FRAMES - EDGE_FRAMES, :].reshape(-1, output.shape[2])
    return np.ascontiguousarray(kept[: frame_count(n_samples)])


def posteriors_from_signal(
    signal: npt.NDArray[np.float32],
    *,
    registry: ModelRegistry | None = None,
    contour: bool = True,
    progress: FractionProgress | None = None,
) -> Posteriors:
    """Run the model over a :data:`SAMPLE_RATE` mono signal.

    Parameters
    ----------
    signal : np.ndarray [shape=(n,)], float32 at 22050 Hz, n > 0
        From :func:`transcription_signal` or :class:`SignalCollector`.
    registry : ModelRegistry, optional
        Where ``basic_pitch_nmp`` is loaded from; default: :func:`tonearm.models.registry.default_registry`.
    contour : bool
        Keep the pitch contour (3x the memory of the note posterior; note decoding does not need it).
    progress : callable, optional
        ``progress(fraction)`` (0-1) after each chunk of windows the model ran.

    Returns
    -------
    Posteriors
        The windows are run :data:`_CHUNK_WINDOWS` at a time and unwrapped into preallocated arrays
        (same values as :func:`unwrap` of all outputs at once).
    """
    model = (registry or default_registry()).get(MODEL_NAME)
    n_frames = frame_count(signal.shape[0])
    targets = {
        NOTE_OUTPUT: np.empty((n_frames, N_PITCHES), dtype=np.float32),
        ONSET_OUTPUT: np.empty((n_frames, N_PITCHES), dtype=np.float32),
    }
    if contour:
        targets[CONTOUR_OUTPUT] = np.empty((n_frames, CONTOUR_BINS), dtype=np.float32)
    n_windows = window_count(signal.shape[0])
    for first in range(0, n_windows, _CHUNK_WINDOWS):
        out = model.run(windows(signal, first=first, count=_CHUNK_WINDOWS))
        if progress is not None:
            progress(min(1.0, (first + _CHUNK_WINDOWS) / n_windows))
        lo = first * KEPT_FRAMES
        for name, dest in targets.items():
            kept = out[name][:, EDGE_FRAMES : WINDOW_FRAMES - EDGE_FRAMES, :].reshape(-1, dest.shape[1])
            hi = min(n_frames, lo + kept.shape[0])
            dest[lo:hi] = kept[: hi - lo]
    return Posteriors(
        note=targets[NOTE_OUTPUT],
        onset=targets[ONSET_OUTPUT],
        contour=targets.get(CONTOUR_OUTPUT),
        times=frame_times(n_frames),
        duration_s=signal.shape[0] / SAMPLE_RATE,
    )


def posteriors(y: npt.NDArray[np.floating], *, sr: int, registry: ModelRegistry | None = None) -> Posteriors:
    """Note, onset and contour posteriors of a track.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
        Audio at any sample rate, full scale = 1.0.
    sr : int > 0 [Hz]
    registry : ModelRegistry, optional
        Default: :func:`tonearm.models.registry.default_registry`.

    Returns
    -------
    Posteriors
        ``t`` is about ``86.58 * n / sr`` frames (module docstring).
    """
    if sr <= 0:
        raise ParameterError(f"sr must be positive, got {sr}")
    result = posteriors_from_signal(transcription_signal(y, sr=sr), registry=registry)
    return replace(result, duration_s=y.shape[-1] / sr)
