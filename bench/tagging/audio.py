"""The benchmark's audio: a 30 s clip and a 10-minute track rendered with FluidSynth, cached on disk.

Each 30 s section is a small arrangement generated from a seed (a style, a key, a tempo, a chord loop,
a melody walking on the scale, a bass line and, for most styles, a drum pattern), written as a Standard
MIDI File with ``tonearm.midi.smf`` and rendered by ``tonearm.midi.fluidsynth.render_midi`` (44.1 kHz
stereo, FluidR3 GM). Notes run 1.5 s past the cut so the section is music to its last sample; the cut
is peak-normalised to -1 dBFS. The 10-minute track is 20 sections of different styles, seeds, keys and
tempos, concatenated. Everything is stored as 16-bit PCM WAV and as 192 kbit/s CBR MP3 (libmp3lame via
PyAV, as the analysis benchmark encodes), under ``bench/tagging/data/`` (git-ignored), keyed by
:data:`RENDER_VERSION` and the FluidSynth version so a changed renderer re-renders.

Tagging time does not depend on the content (the models see fixed-size patches), but the content
matters for the quantisation experiment, which compares tag probabilities.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from tonearm.midi import smf
from tonearm.midi.fluidsynth import find_soundfont, render_midi

SR = 44100
SECTION_S = 30.0
TAIL_S = 1.5
LONG_SECTIONS = 20  # 20 x 30 s = 10 minutes
PEAK_DBFS = -1.0
MP3_BITRATE = 192_000
RENDER_VERSION = 1
DATA = Path(__file__).resolve().parent / "data"
TICKS_PER_S = smf.TICKS_PER_QUARTER * 2  # the files' tempo is 120 bpm: 960 ticks per second

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
KICK, SNARE, HAT, RIDE, CRASH = 36, 38, 42, 51, 49


@dataclass(frozen=True)
class Style:
    """An arrangement: GM programs (0-based) of lead, harmony and bass, drums, tempo range, feel."""

    name: str
    lead: int
    harmony: int
    bass: int | None
    drums: str | None  # None, "rock", "four", "swing", "march"
    bpm: tuple[int, int]
    minor: bool
    strum: bool = False


STYLES = (
    Style("rock band", lead=29, harmony=30, bass=33, drums="rock", bpm=(110, 140), minor=True),
    Style("piano solo", lead=0, harmony=0, bass=None, drums=None, bpm=(70, 100), minor=False),
    Style("string ensemble", lead=40, harmony=48, bass=42, drums=None, bpm=(60, 84), minor=True),
    Style("electronic", lead=81, harmony=89, bass=38, drums="four", bpm=(124, 132), minor=True),
    Style("jazz organ trio", lead=16, harmony=16, bass=32, drums="swing", bpm=(100, 140), minor=False),
    Style("choir and organ", lead=52, harmony=19, bass=None, drums=None, bpm=(60, 76), minor=False),
    Style(
        "acoustic guitar", lead=24, harmony=25, bass=None, drums=None, bpm=(90, 110), minor=False, strum=True
    ),
    Style("brass band", lead=56, harmony=61, bass=58, drums="march", bpm=(100, 116), minor=False),
    Style("pop", lead=73, harmony=4, bass=34, drums="rock", bpm=(96, 120), minor=False),
    Style("harpsichord", lead=6, harmony=6, bass=None, drums=None, bpm=(90, 120), minor=True),
)

#: The 30 s clip: a dense band arrangement (what a user is most likely to upload).
CLIP_SECTION = (0, 30_001)  # (style index, seed)


def long_sections() -> list[tuple[int, int]]:
    """The 10-minute track: (style index, seed) per 30 s section, every style twice."""
    return [(i % len(STYLES), 40_000 + i) for i in range(LONG_SECTIONS)]


def _t(seconds: float) -> int:
    return round(seconds * TICKS_PER_S)


def song(style_index: int, seed: int) -> tuple[smf.Song, dict[str, Any]]:
    """One section's MIDI (channel 0 lead, 1 harmony, 2 bass, 9 drums) and its description."""
    style = STYLES[style_index]
    rng = random.Random(seed)
    bpm = rng.randint(*style.bpm)
    beat = 60.0 / bpm
    tonic = 48 + rng.randrange(12)  # C3..B3
    scale = MINOR if style.minor else MAJOR
    loops = ([0, 5, 3, 4], [0, 3, 4, 0], [0, 5, 1, 4], [5, 3, 0, 4])
    degrees = rng.choice(loops)
    song = smf.Song(us_per_quarter=500_000, numerator=4, denominator=4)
    song.programs = {0: style.lead, 1: style.harmony}
    song.volumes = {0: 110, 1: 80, 2: 100, 9: 100}
    song.pans = {0: 58, 1: 72, 2: 64}
    if style.bass is not None:
        song.programs[2] = style.bass
    notes: list[smf.Note] = []
    end = SECTION_S + TAIL_S
    n_bars = int(end / (4 * beat)) + 1

    def pitch(degree: int, octave: int = 0) -> int:
        return tonic + scale[degree % 7] + 12 * (degree // 7 + octave)

    walk = 7 + rng.randrange(5)
    for bar in range(n_bars):
        t0 = bar * 4 * beat
        root = degrees[bar % len(degrees)]
        triad = [pitch(root), pitch(root + 2), pitch(root + 4)]
        # harmony: held triad, or strummed on every beat
        if style.strum:
            for b in range(4):
                for k, p in enumerate([*triad, triad[0] + 12]):
                    start = t0 + b * beat + 0.012 * k
                    notes.append(smf.Note(_t(start), _t(beat * 0.9), 1, p, 70 + rng.randint(-6, 6)))
        else:
            for p in triad:
                notes.append(smf.Note(_t(t0), _t(4 * beat) - 8, 1, p + 12, 64 + rng.randint(-5, 5)))
        # bass: root on 1 and 3, fifth on the others for bands
        if style.bass is not None:
            for b in range(4):
                p = pitch(root, -1) if b % 2 == 0 else pitch(root + 4, -1)
                notes.append(smf.Note(_t(t0 + b * beat), _t(beat * 0.85), 2, p, 96 + rng.randint(-5, 5)))
        elif style.lead == style.harmony:  # keyboard solo: left hand
            for b in (0, 2):
                notes.append(smf.Note(_t(t0 + b * beat), _t(2 * beat) - 8, 1, pitch(root, -1), 72))
        # lead: eighths and quarters walking on the scale, chord tones on the downbeats
        t = 0.0
        while t < 4 * beat - 1e-9:
            dur = beat / 2 if rng.random() < 0.6 else beat
            if t == 0.0:
                walk = min((root + 7 + o for o in (0, 2, 4, 7)), key=lambda d: abs(d - walk))
            else:
                walk = max(5, min(16, walk + rng.choice((-2, -1, -1, 1, 1, 2))))
            if rng.random() > 0.1:
                vel = 92 + (8 if t == 0.0 else 0) + rng.randint(-5, 5)
                notes.append(smf.Note(_t(t0 + t), _t(dur * 0.95), 0, pitch(walk), vel))
            t += dur
        # drums
        if style.drums is not None:
            notes += _drum_bar(style.drums, t0, beat, bar, rng)
    song.notes = [n for n in notes if n.start < _t(end)]
    song.end_tick = _t(end)
    return song, {"style": style.name, "seed": seed, "bpm": bpm, "tonic_midi": tonic, "minor": style.minor}


def _drum_bar(kind: str, t0: float, beat: float, bar: int, rng: random.Random) -> list[smf.Note]:
    out: list[smf.Note] = []

    def hit(at: float, key: int, vel: int) -> None:
        out.append(smf.Note(_t(t0 + at), _t(0.1), smf.DRUM_CHANNEL, key, vel + rng.randint(-4, 4)))

    if bar % 8 == 0:
        hit(0, CRASH, 100)
    if kind == "rock":
        for b in range(4):
            hit(b * beat, KICK if b % 2 == 0 else SNARE, 110)
        for e in range(8):
            hit(e * beat / 2, HAT, 80 if e % 2 == 0 else 62)
    elif kind == "four":
        for b in range(4):
            hit(b * beat, KICK, 115)
            hit(b * beat + beat / 2, HAT, 85)
            if b % 2:
                hit(b * beat, 39, 95)  # hand clap
    elif kind == "swing":
        for b in range(4):
            hit(b * beat, RIDE, 80)
            if b % 2:
                hit(b * beat + 2 * beat / 3, RIDE, 60)
                hit(b * beat, 44, 70)  # pedal hi-hat
        hit(0, KICK, 70)
    elif kind == "march":
        for b in range(4):
            hit(b * beat, KICK if b % 2 == 0 else SNARE, 105)
            hit(b * beat + beat / 2, SNARE, 70)
    return out


def _fluidsynth_version() -> str:
    binary = shutil.which("fluidsynth")
    if binary is None:
        return "missing"
    p = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    first = (p.stdout or p.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def render_section(style_index: int, seed: int) -> np.ndarray:
    """One section: stereo float32 (2, 30 s at 44.1 kHz), peak at -1 dBFS."""
    midi, _ = song(style_index, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "section.mid"
        smf.write(midi, path)
        y = render_midi(path, sr=SR)
    n = int(SECTION_S * SR)
    if y.shape[1] < n:
        y = np.pad(y, ((0, 0), (0, n - y.shape[1])))
    y = y[:, :n]
    peak = float(np.abs(y).max())
    if peak > 0:
        y = y * (10 ** (PEAK_DBFS / 20) / peak)
    return y.astype(np.float32)


def encode_mp3(pcm: np.ndarray, path: Path) -> None:
    """Interleaved int16 ``pcm`` (n, 2) -> CBR MP3 (libmp3lame through PyAV, with a LAME/Xing header)."""
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=SR, layout="stereo")
        stream.bit_rate = MP3_BITRATE
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T), format="s16p", layout="stereo")
        frame.sample_rate = SR
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _write(name: str, y: np.ndarray) -> dict[str, Any]:
    pcm = np.round(np.clip(y.T, -1.0, 1.0) * 32767.0).astype(np.int16)
    wav, mp3 = DATA / f"{name}.wav", DATA / f"{name}.mp3"
    sf.write(wav, pcm, SR, subtype="PCM_16")
    encode_mp3(pcm, mp3)
    return {
        "wav": str(wav),
        "mp3": str(mp3),
        "seconds": pcm.shape[0] / SR,
        "bytes": {"wav": wav.stat().st_size, "mp3": mp3.stat().st_size},
    }


def build(*, jobs: int = 2, rerender: bool = False) -> dict[str, Any]:
    """Render (or reuse) the clip and the 10-minute track; returns the manifest."""
    DATA.mkdir(parents=True, exist_ok=True)
    ignore = DATA / ".gitignore"
    if not ignore.is_file():
        ignore.write_text("*\n")
    sections = [CLIP_SECTION, *long_sections()]
    key_src = {
        "v": RENDER_VERSION,
        "fluidsynth": _fluidsynth_version(),
        "soundfont": str(find_soundfont()),
        "sections": sections,
        "styles": [s.__dict__ for s in STYLES],
    }
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
    manifest_path = DATA / "manifest.json"
    if not rerender and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        files = [manifest["clip"][k] for k in ("wav", "mp3")] + [manifest["long"][k] for k in ("wav", "mp3")]
        if manifest.get("key") == key and all(Path(f).is_file() for f in files):
            manifest["reused"] = True
            return manifest
    import time

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # FluidSynth runs as a subprocess
        rendered = list(pool.map(lambda s: render_section(*s), sections))
    clip = _write("clip_30s", rendered[0])
    long = _write("track_10min", np.concatenate(rendered[1:], axis=1))
    manifest = {
        "key": key,
        "fluidsynth": key_src["fluidsynth"],
        "soundfont": key_src["soundfont"],
        "render_s": time.perf_counter() - t0,
        "clip": {**clip, "section": song(*CLIP_SECTION)[1]},
        "long": {**long, "sections": [song(*s)[1] for s in long_sections()]},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    manifest["reused"] = False
    return manifest


if __name__ == "__main__":  # pragma: no cover - manual use: python -m bench.tagging.audio
    print(json.dumps(build(), indent=1))
