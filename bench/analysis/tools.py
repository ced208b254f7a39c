"""The systems under test, behind one small interface: decode a file, analyse the decoded audio.

* ``tonearm``: ``tonearm.audio.decode.decode(path)`` then ``tonearm.analysis.analyze.analyze(y, sr=sr)``
  (``.to_json()``). ``--tonearm-impl stub`` swaps in ``bench/analysis/stub_tonearm.py`` (harness development
  only; never for published numbers).
* ``librosa``: ``librosa.load(path)`` (its defaults: 22 050 Hz, mono, soxr_hq resampling), then
  ``librosa.beat.beat_track(y=y, sr=sr, units="time")`` for tempo and beats, and a Krumhansl-Schmuckler key:
  the time-averaged ``librosa.feature.chroma_cqt(y=y, sr=sr)`` (defaults) correlated (Pearson) with the 24
  rotations of the Krumhansl-Kessler (1982) probe-tone profiles, best correlation wins.
* ``essentia``: ``MonoLoader(filename=..., sampleRate=44100)`` (44.1 kHz is what RhythmExtractor2013
  requires), ``RhythmExtractor2013(method="multifeature")`` for BPM and beat ticks, ``KeyExtractor()`` with
  its defaults for the key. Essentia gives no downbeats; neither does librosa.

Every tool returns ``{"bpm", "beats", "downbeats" (or None), "key" ("C major" / "A minor" / None)}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Krumhansl & Kessler (1982) probe-tone ratings, index 0 = tonic.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_LETTER = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def ks_key(chroma_mean: np.ndarray) -> str:
    """Krumhansl-Schmuckler: the key whose rotated KK profile correlates best with a 12-bin chroma (C=0)."""
    best, best_r = "C major", -np.inf
    for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(chroma_mean, np.roll(prof, tonic))[0, 1]
            if r > best_r:
                best, best_r = f"{NAMES[tonic]} {mode}", r
    return best


def normalize_key(value: Any) -> str | None:
    """Any reasonable key spelling ("A minor", "a:min", "F♯ major", "Bbm") -> "A minor" / "F# major"."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip().replace("♯", "#").replace("♭", "b").replace(":", " ").replace("_", " ")
    m = re.match(r"^\s*([A-Ga-g])\s*([#b-]*)\s*(.*)$", s)
    if not m:
        return None
    pc = _LETTER[m.group(1).lower()] + m.group(2).count("#") - m.group(2).count("b") - m.group(2).count("-")
    rest = m.group(3).strip().lower()
    if rest in ("", "maj", "major", "ionian", "dur"):
        mode = "major"
    elif rest in ("m", "min", "minor", "aeolian", "moll"):
        mode = "minor"
    else:
        return None
    return f"{NAMES[pc % 12]} {mode}"


class Tool:
    """Interface: ``decode(path)`` -> opaque audio; ``analyze(audio)`` -> result dict."""

    name = "tool"
    import_statement = "pass"

    def decode(self, path: Path) -> Any:
        """Decode ``path`` the way the tool's documentation recommends."""
        raise NotImplementedError

    def analyze(self, audio: Any) -> dict[str, Any]:
        """Tempo, beats, downbeats, key from decoded audio."""
        raise NotImplementedError

    def extra_decoders(self) -> dict[str, Callable[[Path], Any]]:
        """Other decoders of the same library, timed for the decode table only."""
        return {}

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """A mono float view of decoded audio (for MP3 offset estimation, untimed)."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Library versions for the report."""
        return {}


class Tonearm(Tool):
    """tonearm's own decoder and analyzer (or the development stand-in)."""

    name = "tonearm"

    def __init__(self, impl: str = "real") -> None:
        self.impl = impl
        if impl == "real":
            from tonearm.analysis.analyze import analyze
            from tonearm.audio.decode import decode

            self.import_statement = "import tonearm.audio.decode, tonearm.analysis.analyze"
        elif impl == "stub":
            from .stub_tonearm import analyze, decode

            self.import_statement = "import bench.analysis.stub_tonearm"
        else:
            raise ValueError(f"unknown tonearm impl {impl!r}")
        self._decode, self._analyze = decode, analyze
        if impl == "real":
            from tonearm.analysis.analyze import analyze_source

            self._analyze_source = analyze_source

    def analyze_path(self, path: Path) -> dict[str, Any]:
        """``analyze_source(path)``: decode and analyse in one streaming pass (the product path)."""
        if self.impl != "real":
            return self.analyze(self.decode(path))
        _, analysis = self._analyze_source(path)
        return self._wire(analysis.to_json())

    def decode(self, path: Path) -> Any:
        """``tonearm.audio.decode.decode(path)``."""
        try:
            return self._decode(path)
        except TypeError:
            return self._decode(str(path))

    def analyze(self, audio: Any) -> dict[str, Any]:
        """``analyze(y, sr=sr).to_json()``."""
        res = self._analyze(audio.y, sr=audio.sr)
        return self._wire(res.to_json() if hasattr(res, "to_json") else dict(res))

    def _wire(self, j: dict[str, Any]) -> dict[str, Any]:
        key = normalize_key(j.get("key"))
        return {
            "bpm": _float(j.get("bpm")),
            "beats": [float(b) for b in (j.get("beats") or [])],
            "downbeats": [float(b) for b in (j.get("downbeats") or [])] if "downbeats" in j else None,
            "key": key,
            "key_raw": j.get("key"),
            "key_confidence": _float(j.get("keyConfidence")),
            "time_signature": j.get("timeSignature"),
            "chords": j.get("chords"),
        }

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """Channel mean."""
        y = np.asarray(audio.y, dtype=np.float64)
        return (y.mean(axis=0) if y.ndim == 2 else y), int(audio.sr)

    def versions(self) -> dict[str, str]:
        """tonearm version and a digest of its analysis/audio sources."""
        import hashlib

        import tonearm

        out = {"tonearm": str(getattr(tonearm, "__version__", "?")), "impl": self.impl}
        root = Path(tonearm.__file__).parent
        h = hashlib.sha256()
        for p in sorted([*root.glob("analysis/*.py"), *root.glob("audio/*.py")]):
            h.update(p.name.encode() + p.read_bytes())
        out["sources_sha256"] = h.hexdigest()[:16]
        return out


class Librosa(Tool):
    """librosa 0.11 beat tracker and a chroma + Krumhansl-Schmuckler key."""

    name = "librosa"
    import_statement = "import librosa, librosa.beat, librosa.feature"

    def __init__(self) -> None:
        import librosa
        import librosa.beat
        import librosa.feature

        self.librosa = librosa

    def decode(self, path: Path) -> Any:
        """``librosa.load(path)``: 22 050 Hz mono (the library default)."""
        return self.librosa.load(str(path))

    def analyze(self, audio: Any) -> dict[str, Any]:
        """beat_track + chroma_cqt/KS."""
        y, sr = audio
        tempo, beats = self.librosa.beat.beat_track(y=y, sr=sr, units="time")
        chroma = self.librosa.feature.chroma_cqt(y=y, sr=sr)
        return {
            "bpm": float(np.atleast_1d(tempo)[0]),
            "beats": [float(b) for b in beats],
            "downbeats": None,
            "key": ks_key(chroma.mean(axis=1)),
        }

    def extra_decoders(self) -> dict[str, Callable[[Path], Any]]:
        """Native-rate stereo load (no resampling)."""
        return {"librosa.load(sr=None, mono=False)": lambda p: self.librosa.load(str(p), sr=None, mono=False)}

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """Already mono."""
        return np.asarray(audio[0], dtype=np.float64), int(audio[1])

    def versions(self) -> dict[str, str]:
        """librosa, numba, soundfile."""
        import numba
        import soundfile

        return {
            "librosa": self.librosa.__version__,
            "numba": numba.__version__,
            "soundfile": soundfile.__version__,
        }


class Essentia(Tool):
    """Essentia's RhythmExtractor2013 (multifeature) and KeyExtractor."""

    name = "essentia"
    import_statement = "import essentia.standard"

    def __init__(self) -> None:
        import essentia
        import essentia.standard as es

        essentia.log.infoActive = False
        essentia.log.warningActive = False
        self.essentia, self.es = essentia, es
        self.rhythm = es.RhythmExtractor2013(method="multifeature")
        self.key = es.KeyExtractor()

    def decode(self, path: Path) -> Any:
        """``MonoLoader(filename=path, sampleRate=44100)()``."""
        return self.es.MonoLoader(filename=str(path), sampleRate=44100)()

    def analyze(self, audio: Any) -> dict[str, Any]:
        """RhythmExtractor2013 + KeyExtractor."""
        bpm, ticks, _conf, _est, _intervals = self.rhythm(audio)
        key, scale, strength = self.key(audio)
        return {
            "bpm": float(bpm),
            "beats": [float(t) for t in ticks],
            "downbeats": None,
            "key": normalize_key(f"{key} {scale}"),
            "key_confidence": float(strength),
        }

    def extra_decoders(self) -> dict[str, Callable[[Path], Any]]:
        """AudioLoader: native rate, all channels."""
        return {"essentia AudioLoader": lambda p: self.es.AudioLoader(filename=str(p))()}

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """MonoLoader output is mono at 44.1 kHz."""
        return np.asarray(audio, dtype=np.float64), 44100

    def versions(self) -> dict[str, str]:
        """essentia."""
        return {"essentia": str(self.essentia.__version__)}


IMPORT_STATEMENTS = {
    "tonearm": "import tonearm.audio.decode, tonearm.analysis.analyze",
    "tonearm-stub": "import bench.analysis.stub_tonearm",
    "librosa": Librosa.import_statement,
    "essentia": Essentia.import_statement,
}


def make(name: str, tonearm_impl: str = "real") -> Tool:
    """Instantiate a tool by name."""
    if name == "tonearm":
        return Tonearm(tonearm_impl)
    if name == "librosa":
        return Librosa()
    if name == "essentia":
        return Essentia()
    raise ValueError(f"unknown tool {name!r}")


def _float(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None
