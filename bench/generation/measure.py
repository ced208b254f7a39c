"""What the generation benchmark measures on a generated track, with tonearm's own analyzers.

Every measure reads the WAV bytes ``generate`` returned, decoded as a client would decode them:

* **duration**: the number of frames in the ``data`` chunk over the sample rate;
* **tempo and key**: :func:`tonearm.analysis.analyze.analyze` (the ``tonearm/analyze`` task);
* **onset rate**: peaks of tonearm's onset-strength envelope (:func:`tonearm.analysis.onset.onset_envelope`,
  log-frequency SuperFlux in units of its standard deviation) above 1 standard deviation, per second:
  the definition the audio features use for ``energy`` (``tonearm.analysis.features``), recomputed here
  because that helper is private;
* **spectral centroid**: the magnitude-weighted mean frequency of each frame of tonearm's analysis STFT
  (mono, 22.05 kHz, 2048-point Hann, hop 512), averaged over the frames less than 60 dB below the
  loudest (silence and the fade tail do not pull it down);
* **tags**: the musicnn MTT and MSD models through :func:`tonearm.tagging.tagger.tag_signal`, track-level
  probabilities (the mean over 3 s patches).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.analysis.analyze import analyze
from tonearm.analysis.onset import onset_envelope
from tonearm.analysis.spectral import ANALYSIS_SR, analysis_signal, stft_magnitude

__all__ = [
    "ONSET_THRESHOLD_SD",
    "TEMPO_TOLERANCE",
    "Decoded",
    "TagVocabulary",
    "decode_wav",
    "key_matches",
    "librosa_onset_rate",
    "onset_rate_and_centroid",
    "pitch_class",
    "riff_chunks",
    "tempo_accuracy",
]

#: Tempo tolerance of Acc1 / Acc2 (MIREX): 4 % of the reference.
TEMPO_TOLERANCE = 0.04
#: Onset-envelope peaks above this many standard deviations count as onsets (as in the audio features).
ONSET_THRESHOLD_SD = 1.0
#: Frames this far below the loudest frame [dB] are left out of the centroid.
SILENCE_DB = 60.0

_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Decoded:
    """A decoded WAV: float32 audio ``(channels, n)``, its rate and its format facts."""

    y: npt.NDArray[np.float32]
    sr: int
    frames: int
    channels: int
    subtype: str

    @property
    def seconds(self) -> float:
        """Duration from the frame count [s]."""
        return self.frames / self.sr


def decode_wav(wav: bytes) -> Decoded:
    """Decode WAV bytes with libsndfile (as a client would)."""
    info = sf.info(io.BytesIO(wav))
    y, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return Decoded(
        y=np.ascontiguousarray(y.T), sr=int(sr), frames=int(y.shape[0]), channels=int(y.shape[1]),
        subtype=str(info.subtype),
    )  # fmt: skip


def riff_chunks(wav: bytes) -> list[str]:
    """The chunk ids of a RIFF/WAVE file in order; a ``LIST`` chunk is named with its form (``LIST/INFO``)."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return []
    ids: list[str] = []
    pos = 12
    while pos + 8 <= len(wav):
        cid = wav[pos : pos + 4].decode("latin-1")
        size = int.from_bytes(wav[pos + 4 : pos + 8], "little")
        ids.append(cid + ("/" + wav[pos + 8 : pos + 12].decode("latin-1") if cid == "LIST" else ""))
        pos += 8 + size + (size & 1)
    return ids


def pitch_class(name: str) -> int:
    """Pitch class (C = 0) of a note name with any number of ``#`` / ``b`` (``"D#"``, ``"Eb"``)."""
    pc = _PITCH_CLASS[name[0].upper()]
    pc += name.count("#") - name[1:].count("b")
    return pc % 12


def key_matches(detected: str, major_pc: int, minor_pc: int) -> tuple[bool, bool]:
    """Whether a detected key (``"D# major"``) is the scale's major or its relative minor.

    Returns
    -------
    tuple of (bool, bool)
        (key matches: major tonic with major mode, or minor tonic with minor mode;
        same scale: the detected tonic is either tonic, whatever the mode).
    """
    parts = detected.split()
    if len(parts) != 2:
        return False, False
    pc, mode = pitch_class(parts[0]), parts[1]
    match = (mode == "major" and pc == major_pc) or (mode == "minor" and pc == minor_pc)
    return match, pc in (major_pc, minor_pc)


def tempo_accuracy(detected: float, requested: float) -> tuple[bool, bool]:
    """(Acc1, Acc2): within :data:`TEMPO_TOLERANCE` of the request; Acc2 also at x2, x3, x1/2, x1/3."""
    if detected <= 0:
        return False, False
    acc1 = abs(detected - requested) <= TEMPO_TOLERANCE * requested
    acc2 = any(
        abs(detected - f * requested) <= TEMPO_TOLERANCE * f * requested for f in (1, 2, 3, 1 / 2, 1 / 3)
    )
    return acc1, acc2


def onset_rate_and_centroid(y: npt.NDArray[np.floating], *, sr: int) -> tuple[float, float]:
    """(onsets per second, mean spectral centroid [Hz]) of a track; see the module docstring."""
    mono = analysis_signal(y, sr=sr)
    spec = stft_magnitude(mono, sr=ANALYSIS_SR)
    env = onset_envelope(spec)
    seconds = mono.size / ANALYSIS_SR
    peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > ONSET_THRESHOLD_SD)
    rate = float(np.count_nonzero(peaks)) / seconds if seconds > 0 else 0.0
    mag = spec.magnitude.astype(np.float64)
    freqs = np.arange(mag.shape[0]) * spec.sr / spec.n_fft
    total = mag.sum(axis=0)
    power = np.square(mag).sum(axis=0)
    if not np.any(power > 0):
        return rate, 0.0
    active = (power > power.max() * 10.0 ** (-SILENCE_DB / 10.0)) & (total > 0)
    centroid = (freqs @ mag[:, active]) / total[active]
    return rate, float(centroid.mean())


def librosa_onset_rate(y: npt.NDArray[np.floating], *, sr: int) -> float | None:
    """Onsets per second by librosa's ``onset_detect`` (adaptive peak picking) on the analysis signal.

    A second opinion on :func:`onset_rate_and_centroid`'s rate, whose fixed 1-sd threshold on an envelope
    normalised per track saturates on busy tracks. None where librosa (the ``bench`` extra) is missing.
    """
    try:
        import librosa
    except ImportError:
        return None
    mono = analysis_signal(y, sr=sr)
    onsets = librosa.onset.onset_detect(y=mono, sr=ANALYSIS_SR, units="time")
    return float(len(onsets)) / (mono.size / ANALYSIS_SR) if mono.size else 0.0


def analysis_json(y: npt.NDArray[np.floating], *, sr: int) -> dict[str, Any]:
    """tonearm's ``analyze`` result, wire form (``bpm``, ``key``, ``features``, ...)."""
    return analyze(y, sr=sr).to_json()


class TagVocabulary:
    """Where a MagnaTagATune-style tag name is found among the two musicnn models' labels.

    A tag is looked up case- and hyphen-insensitively (``"hip hop"`` is MSD's ``"Hip-Hop"``); a tag
    both models know is scored as the larger of its two probabilities, as tonearm's task types do.
    """

    def __init__(self, labels: dict[str, tuple[str, ...]]) -> None:
        self.labels = labels
        self._index = {
            model: {self.norm(name): i for i, name in enumerate(names)} for model, names in labels.items()
        }

    @staticmethod
    def norm(tag: str) -> str:
        """Case- and hyphen-insensitive form of a tag name."""
        return tag.lower().replace("-", " ").strip()

    def sources(self, tag: str) -> list[tuple[str, int]]:
        """(model, column) of every model label matching ``tag``."""
        key = self.norm(tag)
        return [(m, idx[key]) for m, idx in self._index.items() if key in idx]

    def first_known(self, tags: list[str]) -> str | None:
        """The first of ``tags`` some model knows."""
        return next((t for t in tags if self.sources(t)), None)
