"""Development stand-in for tonearm's analysis API, used ONLY to develop the harness.

It mimics the contract of ``tonearm.audio.decode.decode`` and ``tonearm.analysis.analyze.analyze`` with
librosa underneath (beat_track, chroma_cqt + Krumhansl-Schmuckler, downbeats = every 4th beat from the
first). Its numbers say nothing about tonearm: ``run.py`` labels them ``tonearm (STUB)`` in every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class DecodedAudio:
    """(channels, n) float32 samples at ``sr``."""

    y: np.ndarray
    sr: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """The subset of tonearm's Analysis that the benchmark reads."""

    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Same keys as tonearm's Analysis.to_json()."""
        return dict(self.data)


def decode(path: str | Path) -> DecodedAudio:
    """WAV/FLAC through soundfile, anything else through PyAV; native rate, all channels."""
    path = Path(path)
    if path.suffix.lower() in (".wav", ".flac"):
        import soundfile as sf

        y, sr = sf.read(path, dtype="float32", always_2d=True)
        return DecodedAudio(np.ascontiguousarray(y.T), int(sr), {"decoder": "soundfile"})
    import av

    with av.open(str(path)) as c:
        st = c.streams.audio[0]
        chunks = [f.to_ndarray() for f in c.decode(st)]
        sr = st.codec_context.sample_rate
    y = np.concatenate(chunks, axis=1).astype(np.float32)
    return DecodedAudio(y, int(sr), {"decoder": "pyav"})


def analyze(y: np.ndarray, sr: int) -> Analysis:
    """librosa beats + KS key on a 22.05 kHz mono mix."""
    import librosa
    import soxr

    from .tools import ks_key

    mono = np.asarray(y, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    if sr != 22050:
        mono = soxr.resample(mono, sr, 22050)
        sr = 22050
    tempo, beats = librosa.beat.beat_track(y=mono, sr=sr, units="time")
    key = ks_key(librosa.feature.chroma_cqt(y=mono, sr=sr).mean(axis=1))
    tonic, mode = key.split()
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    return Analysis(
        {
            "bpm": float(np.atleast_1d(tempo)[0]),
            "beats": [float(b) for b in beats],
            "downbeats": [float(b) for b in beats[::4]],
            "timeSignature": 4,
            "key": key,
            "keyConfidence": 0.0,
            "keyIndex": names.index(tonic),
            "mode": 1 if mode == "major" else 0,
            "loudnessLufs": None,
            "features": {},
        }
    )
