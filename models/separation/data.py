#!/usr/bin/env python3
"""Training and evaluation data for source separation (issue 19): multitrack renders of MIDI.

Run from the repository root:

    python -m models.separation.data --out DIR --songs N --seed S [--seconds 30] [--soundfont NAME]...
        [--scores N]  (examples from music21's corpus scores: models/separation/score_source.py)

Each example is one song of tonearm's own generator (``tonearm.generation``: a random style, tempo,
key, density and seed, then random General MIDI programs per part), rendered with FluidSynth one stem
at a time through the project's renderer (``tonearm.generation.render.render_song``), so that the mix
is exactly the sum of the stems:

========  =====================================================================================
stem      notes
========  =====================================================================================
kick      channel 10 (drums), GM keys 35, 36
snare     channel 10, GM keys 37-40 (side stick, snares, hand clap)
drums_o.  ``drums_other``: the rest of channel 10 (hats, toms, cymbals, percussion)
bass      GM programs 32-39 (0-based: acoustic to synth bass)
vocals    voice-like GM programs 52-54 (choir aahs, voice oohs, synth voice) and 85 (lead 6
          "voice"), whatever part plays them (lead lines included)
other     everything else
========  =====================================================================================

Augmentations (``models.separation.augment``) act on the stems and the mix is summed again after them:
per-stem gain, two-band shelf EQ, stereo placement, an MP3 round trip and cross-song remixes
(``--remix``). Output, one folder per example: ``mix.wav`` and ``<stem>.wav`` (float32 WAV, 44.1 kHz,
stereo, every stem present even when silent) and ``meta.json`` (SoundFont, programs, seeds, the
augmentations and their parameters). Only the three SoundFonts of :data:`SOUNDFONTS` are accepted:
held-out evaluations rely on no other being used for training. See ``models/separation/README.md``.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from models.separation import augment
from tonearm.generation.compose import compose
from tonearm.generation.params import SCALES, GenerationParams
from tonearm.generation.plan import make_plan
from tonearm.generation.render import render_song
from tonearm.generation.styles import STYLES
from tonearm.midi.smf import DRUM_CHANNEL, Song, encode

__all__ = [
    "BASS_PROGRAMS",
    "KICK_KEYS",
    "SAMPLE_RATE",
    "SNARE_KEYS",
    "SOUNDFONTS",
    "STEMS",
    "VOCAL_PROGRAMS",
    "Example",
    "SoundFontKit",
    "SoundFontNotAllowedError",
    "augment_random",
    "generate_song",
    "main",
    "make_example",
    "make_remix",
    "render_stems",
    "resolve_soundfont",
    "sf2_presets",
    "stem_of_notes",
    "write_example",
]

SAMPLE_RATE = 44_100
STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")
KICK_KEYS = frozenset({35, 36})
SNARE_KEYS = frozenset({37, 38, 39, 40})
BASS_PROGRAMS = frozenset(range(32, 40))  # 0-based GM programs
VOCAL_PROGRAMS = frozenset({52, 53, 54, 85})
#: Melodic programs for the ``other`` stem: not bass, not voice, not sound effects (112-127).
OTHER_PROGRAMS = tuple(p for p in range(112) if p not in BASS_PROGRAMS and p not in VOCAL_PROGRAMS)
#: GM drum kits (programs on bank 128) the generator may use.
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40, 48)

#: Where the Debian packages put the SoundFonts.
SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
#: The only SoundFonts training data may use: kit name -> files loaded, bottom first. FluidR3_GS.sf2
#: (Debian ``fluid-soundfont-gs``) holds only the GS variation and SFX banks, so it is layered on the GM
#: set; ``FluidR3_GS`` therefore sounds like ``FluidR3_GM`` for plain GM programs.
SOUNDFONTS: dict[str, tuple[str, ...]] = {
    "FluidR3_GM": ("FluidR3_GM.sf2",),
    "FluidR3_GS": ("FluidR3_GM.sf2", "FluidR3_GS.sf2"),
    "TimGM6mb": ("TimGM6mb.sf2",),
}
#: The bank name (SF2 INFO/INAM) each allowed file must carry: a renamed other SoundFont is refused.
_BANK_NAMES = {
    "FluidR3_GM.sf2": "Fluid R3 GM",
    "FluidR3_GS.sf2": "Fluid R3 GS+SFX Portion",
    "TimGM6mb.sf2": "TimGM6mb1.sf2",
}

#: Probabilities of the random program choices.
P_BASS_IS_BASS = 0.9
P_VOICE = {"melody": 0.4, "pad": 0.15}  # lead lines and choir pads

Stems = augment.Stems


class SoundFontNotAllowedError(ValueError):
    """A SoundFont other than FluidR3_GM, FluidR3_GS or TimGM6mb was asked for (or is not installed)."""


@dataclass(frozen=True)
class SoundFontKit:
    """One of :data:`SOUNDFONTS`, resolved to files.

    Attributes
    ----------
    name : str
        A key of :data:`SOUNDFONTS`.
    paths : tuple of Path
        The files FluidSynth loads, bottom first (a later file's presets win).
    """

    name: str
    paths: tuple[Path, ...]

    def presets(self) -> set[tuple[int, int]]:
        """(bank, program) of every preset the kit offers."""
        out: set[tuple[int, int]] = set()
        for path in self.paths:
            out |= sf2_presets(path)
        return out


@dataclass
class Example:
    """One rendered, augmented example.

    Attributes
    ----------
    stems : np.ndarray [shape=(len(STEMS), 2, n)], float32
        In :data:`STEMS` order, 44.1 kHz stereo.
    meta : dict
        JSON-serialisable: what ``meta.json`` holds.
    """

    stems: Stems
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mix(self) -> npt.NDArray[np.float32]:
        """The mix [shape=(2, n)], float32: the sum of the stems."""
        return augment.mix_of(self.stems)


def _riff_chunks(f: Any, end: int) -> list[tuple[bytes, int, int]]:
    """(id, data offset, size) of the chunks between the file position and ``end``."""
    chunks = []
    while f.tell() + 8 <= end:
        cid, size = struct.unpack("<4sI", f.read(8))
        chunks.append((cid, f.tell(), size))
        f.seek(size + (size & 1), 1)
    return chunks


def _sf2_lists(path: Path) -> dict[bytes, dict[bytes, bytes]]:
    """The INFO and pdta sub-chunks of a SoundFont 2 file (the sample data is never read)."""
    out: dict[bytes, dict[bytes, bytes]] = {}
    with path.open("rb") as f:
        riff, size, form = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise SoundFontNotAllowedError(f"{path} is not a SoundFont 2 file")
        for cid, offset, length in _riff_chunks(f, 8 + size):
            if cid != b"LIST":
                continue
            f.seek(offset)
            kind = f.read(4)
            if kind not in (b"INFO", b"pdta"):
                continue
            subs = _riff_chunks(f, offset + length)
            out[kind] = {}
            for sid, soff, slen in subs:
                f.seek(soff)
                out[kind][sid] = f.read(slen)
    return out


def sf2_presets(path: Path) -> set[tuple[int, int]]:
    """(bank, program) of the presets in a SoundFont 2 file (its ``phdr`` records, 38 bytes each)."""
    phdr = _sf2_lists(path).get(b"pdta", {}).get(b"phdr", b"")
    records = [phdr[k : k + 38] for k in range(0, len(phdr) - 38, 38)]  # the last is the EOP terminal
    return {(bank, program) for program, bank in (struct.unpack("<HH", r[20:24]) for r in records)}


def _bank_name(path: Path) -> str:
    raw = _sf2_lists(path).get(b"INFO", {}).get(b"INAM", b"")
    return raw.split(b"\x00")[0].decode("latin-1")


def resolve_soundfont(spec: str | Path, *, directory: Path = SOUNDFONT_DIR) -> SoundFontKit:
    """The kit named or pointed to by ``spec``, refusing every SoundFont but the allowed three.

    Parameters
    ----------
    spec : str or Path
        A kit name (``FluidR3_GM``, ``FluidR3_GS``, ``TimGM6mb``, case-insensitive), looked for in
        ``directory``, or the path of one of their files (symbolic links are followed: Debian's
        ``default-GM.sf2`` is accepted when it points at ``FluidR3_GM.sf2``). A path to
        ``FluidR3_GS.sf2`` loads ``FluidR3_GM.sf2`` from the same folder under it.
    directory : Path
        Where kit names are looked for.

    Returns
    -------
    SoundFontKit

    Raises
    ------
    SoundFontNotAllowedError
        Any other name, file name or bank name (INFO/INAM), or a file that is missing.
    """
    names = {name.lower(): name for name in SOUNDFONTS}
    text = str(spec)
    if isinstance(spec, str) and text.lower() in names:
        name = names[text.lower()]
        folder = directory
    else:
        path = Path(spec).expanduser().resolve()
        by_file = {files[-1]: kit for kit, files in SOUNDFONTS.items()}
        if path.name not in by_file:
            raise SoundFontNotAllowedError(
                f"SoundFont {spec} is not allowed: only {', '.join(SOUNDFONTS)} may render training data"
            )
        name, folder = by_file[path.name], path.parent
    paths = tuple(folder / file for file in SOUNDFONTS[name])
    for path in paths:
        if not path.is_file():
            raise SoundFontNotAllowedError(f"{path} is missing (Debian packages: see models/separation)")
        if _bank_name(path) != _BANK_NAMES[path.name]:
            raise SoundFontNotAllowedError(f"{path} is not the {path.name} of the allowed SoundFonts")
    return SoundFontKit(name, paths)


def available_soundfonts(directory: Path = SOUNDFONT_DIR) -> list[SoundFontKit]:
    """The allowed kits installed in ``directory``."""
    kits = []
    for name in SOUNDFONTS:
        try:
            kits.append(resolve_soundfont(name, directory=directory))
        except SoundFontNotAllowedError:
            continue
    return kits


def stem_of_notes(song: Song) -> npt.NDArray[np.int64]:
    """The stem of every note of ``song``.

    Parameters
    ----------
    song : Song
        ``song.programs`` maps channels to 0-based GM programs (0 when absent).

    Returns
    -------
    np.ndarray [shape=(len(song.notes),)], int64
        Indices into :data:`STEMS`.
    """
    if not song.notes:
        return np.zeros(0, dtype=np.int64)
    channels = np.array([n.channel for n in song.notes])
    pitches = np.array([n.pitch for n in song.notes])
    programs = np.array([song.programs.get(int(c), 0) for c in channels])
    drum = channels == DRUM_CHANNEL
    conditions = [
        drum & np.isin(pitches, sorted(KICK_KEYS)),
        drum & np.isin(pitches, sorted(SNARE_KEYS)),
        drum,
        np.isin(programs, sorted(BASS_PROGRAMS)),
        np.isin(programs, sorted(VOCAL_PROGRAMS)),
    ]
    return np.select(conditions, [0, 1, 2, 3, 4], default=5).astype(np.int64)


def _render(midi: bytes, kit: SoundFontKit, *, sr: int, frames: int) -> npt.NDArray[np.float32]:
    """One FluidSynth render [shape=(2, frames)], float32, zero-padded when the synth stops early."""
    if len(kit.paths) == 1:
        audio = render_song(midi, sr=sr, soundfont=kit.paths[0], frames=frames)
    else:
        audio = _render_layered(midi, kit.paths, sr=sr, frames=frames)
    out = np.zeros((2, frames), dtype=np.float32)
    out[:, : min(frames, audio.shape[1])] = audio[:, :frames]
    return out


def _render_layered(midi: bytes, paths: Sequence[Path], *, sr: int, frames: int) -> npt.NDArray[np.float32]:
    """``render_song``'s command line with several SoundFonts stacked (the last loaded wins)."""
    import shutil
    import subprocess
    import tempfile

    from tonearm.generation.render import GAIN, POLYPHONY
    from tonearm.midi.fluidsynth import FluidSynthUnavailableError

    binary = shutil.which("fluidsynth")
    if binary is None:
        raise FluidSynthUnavailableError(
            "the fluidsynth program is not installed (Debian package fluidsynth)"
        )
    with tempfile.TemporaryDirectory(prefix="tonearm-sep-") as tmp:
        midi_path, out = Path(tmp) / "song.mid", Path(tmp) / "song.raw"
        midi_path.write_bytes(midi)
        cmd = [binary, "-ni", "-q", "-g", str(GAIN), "-r", str(sr), "-T", "raw", "-O", "float", "-z", "4096"]
        cmd += ["-o", "synth.dynamic-sample-loading=1", "-o", f"synth.polyphony={POLYPHONY}"]
        cmd += ["-F", str(out), *map(str, paths), str(midi_path)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        interleaved = np.fromfile(out, dtype="<f4")
    stereo = interleaved[: interleaved.size // 2 * 2].reshape(-1, 2).T
    return np.ascontiguousarray(stereo[:, :frames])


def render_stems(
    song: Song, kit: SoundFontKit, *, seconds: float, sr: int = SAMPLE_RATE, workers: int = 1
) -> Stems:
    """Render each stem of ``song`` on its own.

    Every render carries the whole channel set-up (programs, CC7 volumes, CC10 pans) and only that
    stem's notes; reverb and chorus are FluidSynth's (linear), so each stem keeps its own tail.

    Parameters
    ----------
    song : Song
    kit : SoundFontKit
    seconds : float [s]
        Length of the example; notes and tails past it are cut.
    sr : int [Hz]
    workers : int
        FluidSynth processes run at once.

    Returns
    -------
    np.ndarray [shape=(len(STEMS), 2, round(seconds * sr))], float32
        Silent stems (no notes) are zeros and are not rendered.
    """
    frames = round(seconds * sr)
    which = stem_of_notes(song)
    stems = np.zeros((len(STEMS), 2, frames), dtype=np.float32)
    jobs = {
        k: encode(replace(song, notes=[n for n, s in zip(song.notes, which, strict=True) if s == k]))
        for k in range(len(STEMS))
        if np.any(which == k)
    }
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rendered = pool.map(lambda midi: _render(midi, kit, sr=sr, frames=frames), jobs.values())
        for k, audio in zip(jobs, rendered, strict=True):
            stems[k] = audio
    return stems


def generate_song(
    rng: np.random.Generator, *, seconds: int, presets: set[tuple[int, int]]
) -> tuple[Song, dict[str, Any]]:
    """A song of tonearm's generator with random style, controls and General MIDI programs.

    Parameters
    ----------
    rng : np.random.Generator
    seconds : int [s]
        1-300 (the generator's range).
    presets : set of (bank, program)
        What the SoundFont offers: programs and drum kits are drawn among these.

    Returns
    -------
    song : Song
    info : dict
        The generator's parameters, style, tempo and the programs per channel (JSON-serialisable).
    """
    style_id = str(rng.choice(sorted(STYLES)))
    style = STYLES[style_id]
    lo, hi = style.bpm_range
    params = GenerationParams(
        prompt=style.keywords[0] if style.keywords else style_id.replace("_", " "),
        duration_seconds=int(seconds),
        bpm=int(np.clip(rng.integers(lo, hi + 1), 60, 200)),
        temperature=round(float(rng.uniform(0.5, 1.8)), 3),
        density=round(float(rng.uniform(0.45, 1.0)), 3),
        brightness=round(float(rng.uniform(0.2, 1.0)), 3),
        scale=str(rng.choice(sorted(SCALES))),  # type: ignore[arg-type]
        guidance=round(float(rng.uniform(2.0, 9.0)), 3),
        seed=int(rng.integers(0, 2**32)),
    )
    plan = make_plan(params, seed=int(params.seed or 0))
    song = compose(plan)
    melodic = [p for b, p in presets if b == 0]

    def pick(pool: Sequence[int]) -> int:
        offered = [p for p in pool if p in melodic] or list(pool)
        return int(rng.choice(offered))

    programs = dict(song.programs)
    roles = {part.channel: part.role for part in plan.parts}
    for channel in sorted(programs):
        if channel == DRUM_CHANNEL:
            kits = [k for k in DRUM_KITS if (128, k) in presets] or [0]
            programs[channel] = int(rng.choice(kits))
            continue
        role = roles.get(channel, "comp")
        if role == "bass":
            pool = sorted(BASS_PROGRAMS) if rng.random() < P_BASS_IS_BASS else OTHER_PROGRAMS
        elif rng.random() < P_VOICE.get(role, 0.0):
            pool = sorted(VOCAL_PROGRAMS)
        else:
            pool = list(OTHER_PROGRAMS)
        programs[channel] = pick(pool)
    song = replace(song, programs=programs)
    info = {
        "kind": "tonearm.generation",
        "style": style_id,
        "params": params.model_dump(),
        "bpm": plan.bpm,
        "key": plan.key,
        "roles": {str(ch): role for ch, role in sorted(roles.items())},
        "programs": {str(ch): p for ch, p in sorted(programs.items())},
        "drum_kit": programs.get(DRUM_CHANNEL),
    }
    return song, info


def _peak_normalise(stems: Stems, peak: float) -> tuple[Stems, float]:
    """Scale all stems alike so the mix peaks at ``peak`` at most; returns the gain applied."""
    top = float(np.max(np.abs(augment.mix_of(stems)), initial=0.0))
    gain = 1.0 if top <= peak else peak / top
    return (stems * np.float32(gain)).astype(np.float32), gain


def augment_random(
    stems: Stems, rng: np.random.Generator, *, sr: int = SAMPLE_RATE
) -> tuple[Stems, list[dict[str, Any]]]:
    """A random chain of :mod:`models.separation.augment` functions, and its parameters.

    Gain on every example (-9 to +3 dB per stem), shelf EQ with probability 0.5 (±6 dB at 200 Hz and
    4 kHz per stem), stereo placement with probability 0.5 (±0.6), then the whole example is brought
    under a peak of 0.9 and, with probability 0.3, round-tripped through MP3.

    Parameters
    ----------
    stems : np.ndarray [shape=(len(STEMS), 2, n)], float32
    rng : np.random.Generator
    sr : int [Hz]

    Returns
    -------
    stems : np.ndarray [shape=(len(STEMS), 2, n)], float32
    applied : list of dict
        One record per augmentation applied: its name and parameters.
    """
    n_stems = stems.shape[0]
    applied: list[dict[str, Any]] = []
    gains = np.round(rng.uniform(-9.0, 3.0, n_stems), 2)
    stems = augment.apply_gain(stems, gains)
    applied.append({"name": "gain", "gains_db": gains.tolist()})
    if rng.random() < 0.5:
        low, high = np.round(rng.uniform(-6.0, 6.0, (2, n_stems)), 2)
        stems = augment.apply_shelf_eq(stems, sr, low, high)
        applied.append(
            {
                "name": "shelf_eq",
                "low_hz": 200.0,
                "high_hz": 4000.0,
                "low_db": low.tolist(),
                "high_db": high.tolist(),
            }
        )
    if rng.random() < 0.5:
        positions = np.round(rng.uniform(-0.6, 0.6, n_stems), 3)
        stems = augment.pan(stems, positions)
        applied.append({"name": "pan", "positions": positions.tolist()})
    stems, gain = _peak_normalise(stems, 0.9)
    applied.append({"name": "peak_normalise", "gain": gain})
    if rng.random() < 0.3:
        compression = float(rng.choice(augment.MP3_BITRATES))
        stems = augment.mp3_round_trip(stems, sr, compression)
        applied.append({"name": "mp3_round_trip", "compression": compression})
    return stems, applied


def make_example(
    seed: int,
    *,
    seconds: int = 30,
    soundfonts: Sequence[SoundFontKit] | None = None,
    augmentations: bool = True,
    workers: int = 1,
    source: Callable[..., tuple[Song, dict[str, Any]]] | None = None,
) -> Example:
    """Generate, render and augment one example, deterministically from ``seed``.

    Parameters
    ----------
    seed : int
        The song, the SoundFont choice and the augmentations each draw from their own stream of
        ``np.random.SeedSequence(seed)``: turning augmentations off leaves the song unchanged.
    seconds : int [s]
    soundfonts : sequence of SoundFontKit, optional
        One is drawn per example. Default: every allowed kit installed.
    augmentations : bool
    workers : int
        FluidSynth processes at once.
    source : callable, optional
        ``source(rng, seconds=..., presets=...) -> (Song, info)``, called with the song stream. Default:
        :func:`generate_song`; ``models.separation.score_source.corpus_song`` renders a corpus score.

    Returns
    -------
    Example
        44.1 kHz stereo, ``round(seconds * 44100)`` frames.
    """
    kits = list(soundfonts) if soundfonts else available_soundfonts()
    if not kits:
        raise SoundFontNotAllowedError("none of the allowed SoundFonts is installed")
    song_ss, font_ss, aug_ss = np.random.SeedSequence(seed).spawn(3)
    kit = kits[int(np.random.default_rng(font_ss).integers(len(kits)))]
    source = generate_song if source is None else source
    song, info = source(np.random.default_rng(song_ss), seconds=seconds, presets=kit.presets())
    t0 = time.perf_counter()
    stems = render_stems(song, kit, seconds=seconds, workers=workers)
    render_s = time.perf_counter() - t0
    applied: list[dict[str, Any]] = []
    if augmentations:
        stems, applied = augment_random(stems, np.random.default_rng(aug_ss))
    else:
        stems, gain = _peak_normalise(stems, 0.9)
        applied = [{"name": "peak_normalise", "gain": gain}]
    which = stem_of_notes(song)
    channels = np.array([n.channel for n in song.notes], dtype=np.int64)
    meta: dict[str, Any] = {
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "frames": int(stems.shape[-1]),
        "stems": list(STEMS),
        "soundfont": {"name": kit.name, "files": [p.name for p in kit.paths]},
        "source": info,
        "notes_per_stem": {s: int(np.sum(which == k)) for k, s in enumerate(STEMS)},
        "channels_per_stem": {s: sorted({int(c) for c in channels[which == k]}) for k, s in enumerate(STEMS)},
        "augmentations": applied,
        "render_s": round(render_s, 3),
    }
    return Example(stems, meta)


def make_remix(examples: Sequence[Example], rng: np.random.Generator, *, names: Sequence[str]) -> Example:
    """A cross-song remix: each stem taken from a randomly chosen example.

    Parameters
    ----------
    examples : sequence of Example
        At least two, all the same length.
    rng : np.random.Generator
    names : sequence of str
        The examples' names (recorded in the meta).

    Returns
    -------
    Example
        Peak-normalised to 0.9 after summing.
    """
    if len(examples) < 2:
        raise ValueError("a remix needs at least two examples")
    picks = rng.integers(len(examples), size=len(STEMS))
    stems = examples[int(picks[0])].stems
    for k, pick in enumerate(picks):
        flags = np.arange(len(STEMS)) == k
        stems = augment.remix(stems, examples[int(pick)].stems, flags)
    stems, gain = _peak_normalise(stems, 0.9)
    meta = {
        "sample_rate": SAMPLE_RATE,
        "frames": int(stems.shape[-1]),
        "stems": list(STEMS),
        "soundfont": {
            "name": sorted({str(examples[int(p)].meta.get("soundfont", {}).get("name")) for p in picks}),
        },
        "source": {
            "kind": "remix",
            "stems_from": {s: names[int(p)] for s, p in zip(STEMS, picks, strict=True)},
        },
        "augmentations": [{"name": "remix"}, {"name": "peak_normalise", "gain": gain}],
    }
    return Example(stems, meta)


def write_example(example: Example, folder: Path, *, sr: int = SAMPLE_RATE) -> None:
    """Write ``mix.wav``, one ``<stem>.wav`` per stem (float32 WAV, stereo) and ``meta.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "mix.wav", example.mix.T, sr, subtype="FLOAT")
    for name, stem in zip(STEMS, example.stems, strict=True):
        sf.write(folder / f"{name}.wav", stem.T, sr, subtype="FLOAT")
    (folder / "meta.json").write_text(json.dumps(example.meta, indent=2, sort_keys=True) + "\n")


def read_example(folder: Path) -> Example:
    """Read back what :func:`write_example` wrote (the stems; the mix is their sum)."""
    stems = [sf.read(folder / f"{name}.wav", dtype="float32", always_2d=True)[0].T for name in STEMS]
    meta = json.loads((folder / "meta.json").read_text())
    return Example(np.stack(stems).astype(np.float32), meta)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per example)")
    parser.add_argument("--songs", type=int, required=True, help="number of rendered songs")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed: example i uses seed (S, i)")
    parser.add_argument("--seconds", type=int, default=30, help="length of every example [s]")
    parser.add_argument(
        "--soundfont",
        action="append",
        default=None,
        help=f"kit name or file ({', '.join(SOUNDFONTS)}); repeatable; default: all installed",
    )
    parser.add_argument("--remix", type=int, default=0, help="extra cross-song remix examples")
    parser.add_argument(
        "--scores", type=int, default=0, help="extra examples of music21 corpus scores (needs music21)"
    )
    parser.add_argument("--no-augment", action="store_true", help="render clean examples")
    parser.add_argument("--workers", type=int, default=2, help="FluidSynth processes at once")
    args = parser.parse_args(argv)
    kits = [resolve_soundfont(s) for s in args.soundfont] if args.soundfont else available_soundfonts()
    if not kits:
        parser.error("none of the allowed SoundFonts is installed")
    names: list[str] = []
    for i in range(args.songs):
        t0 = time.perf_counter()
        seed = int(np.random.SeedSequence([args.seed, i]).generate_state(1)[0])
        example = make_example(
            seed,
            seconds=args.seconds,
            soundfonts=kits,
            augmentations=not args.no_augment,
            workers=args.workers,
        )
        name = f"song-{i:05d}"
        example.meta["dataset"] = {"seed": args.seed, "index": i}
        write_example(example, args.out / name)
        names.append(name)
        print(
            f"{name}: {example.meta['source']['style']} on {example.meta['soundfont']['name']}, "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    from models.separation.score_source import corpus_song  # it imports this module; music21 lazily

    for i in range(args.scores):
        t0 = time.perf_counter()
        seed = int(np.random.SeedSequence([args.seed, 2**30 + i]).generate_state(1)[0])
        example = make_example(
            seed,
            seconds=args.seconds,
            soundfonts=kits,
            augmentations=not args.no_augment,
            workers=args.workers,
            source=corpus_song,
        )
        name = f"score-{i:05d}"
        example.meta["dataset"] = {"seed": args.seed, "score": i}
        write_example(example, args.out / name)
        print(
            f"{name}: {example.meta['source']['piece']} on {example.meta['soundfont']['name']}, "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    rng = np.random.default_rng(np.random.SeedSequence([args.seed, 2**31]))
    for j in range(args.remix if len(names) >= 2 else 0):
        picked = sorted(rng.choice(len(names), size=min(3, len(names)), replace=False).tolist())
        sources = [read_example(args.out / names[k]) for k in picked]
        remixed = make_remix(sources, rng, names=[names[k] for k in picked])
        remixed.meta["dataset"] = {"seed": args.seed, "remix": j}
        write_example(remixed, args.out / f"remix-{j:05d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
