"""The plan of one track: the prompt's interpretation, key, tempo, form, harmony and arrangement.

The plan is the contract between understanding and composing, and it is returned to the caller (the
``plan`` output) so every choice is visible: which words chose the style, where the tempo came from,
which instruments play what, and how each control was applied.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

from tonearm.generation.params import SCALES, GenerationParams
from tonearm.generation.prompt import INSTRUMENTS, Interpretation, interpret
from tonearm.generation.styles import KITS, STYLES, DrumLayer, Style

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
ROLES = ("bass", "comp", "melody", "pad")
CHANNELS = {"bass": 0, "comp": 1, "melody": 2, "pad": 3}
#: Where sections sit relative to the track's energy (multiplies the density of their layers).
#: GM program -> the name the prompt lexicon gives it (for the plan's part list).
_INSTRUMENT_NAMES = {program: name for _, program, name in INSTRUMENTS.values()}
SECTION_ENERGY = {"intro": 0.55, "A": 0.85, "B": 1.0, "C": 0.9, "outro": 0.6}


class Chord(BaseModel):
    """A chord of the progression: its degree, root and pitch classes (root first) and its name."""

    degree: str
    root: int
    pitch_classes: list[int]
    name: str


class Section(BaseModel):
    """A stretch of bars with one role in the form."""

    name: Literal["intro", "A", "B", "C", "outro", "ending"]
    start_bar: int
    bars: int
    start_s: float
    end_s: float
    energy: float
    chords: list[list[Chord]]  # per bar: one or two chords


class DrumPart(BaseModel):
    """One drum voice of the groove: GM key, 16-step pattern, the density range where it plays."""

    key: int
    pattern: str
    min_density: float
    max_density: float


class Part(BaseModel):
    """One instrument of the arrangement."""

    role: str
    channel: int
    program: int
    instrument: str
    source: Literal["prompt", "style", "related style"]
    pattern: str


class StyleChoice(BaseModel):
    """The chosen style and why."""

    id: str
    genre: str
    sub_style: str
    words: list[str]
    fallback: str | None
    borrowed: dict[str, str]  # element -> the related style it came from (low guidance)
    tags: list[str]


class Controls(BaseModel):
    """How the four controls were applied, as numbers the composer uses."""

    density: float
    brightness: float  # after the mood words' shift
    variation: float  # temperature, scaled by guidance
    adherence: float  # guidance / 10
    layers: list[str]
    melody_centre: int  # MIDI key
    comp_centre: int
    velocity: int


class Plan(BaseModel):
    """Everything the composer needs, and everything a caller may want to know about the track."""

    seed: int
    prompt: str
    style: StyleChoice
    moods: list[str]
    energy: float
    unknown_words: list[str]
    negated: list[str]
    tonic: int
    mode: Literal["major", "minor"]
    key: str
    scale: str
    bpm: float
    bpm_source: Literal["request", "prompt", "tempo words", "style"]
    tempo_words: list[str]
    meter: str
    bar_s: float
    duration_s: float
    fade_out_s: float
    swing: float
    sections: list[Section]
    parts: list[Part]
    drum_kit: int | None
    drum_layers: list[DrumPart]
    controls: Controls
    notes: list[str]


def chord_for(degree: str, *, tonic: int, mode: str) -> Chord:
    """The diatonic chord named ``degree`` (``"5"``, ``"2:7"``) in ``tonic`` ``mode``.

    In minor, the chord on degree 5 takes the leading tone (harmonic minor), so cadences are major V.
    """
    number, _, extension = degree.partition(":")
    d = int(number) - 1
    steps = SCALE_STEPS[mode]
    size = 4 if extension == "7" else 3
    intervals = [steps[(d + 2 * k) % 7] + 12 * ((d + 2 * k) // 7) for k in range(size)]
    if mode == "minor" and d == 4:
        intervals[1] += 1  # the leading tone
    pcs = [(tonic + iv) % 12 for iv in intervals]
    third = (intervals[1] - intervals[0]) % 12
    fifth = (intervals[2] - intervals[0]) % 12
    quality = "m" if third == 3 else ""
    if third == 3 and fifth == 6:
        quality = "dim"
    if size == 4:
        seventh = (intervals[3] - intervals[0]) % 12
        quality = {
            ("", 11): "maj7",
            ("", 10): "7",
            ("m", 10): "m7",
            ("dim", 10): "m7b5",
            ("dim", 9): "dim7",
            ("m", 11): "m(maj7)",
        }[(quality, seventh)]
    return Chord(degree=degree, root=pcs[0], pitch_classes=pcs, name=PITCH_NAMES[pcs[0]] + quality)


def _choose_bpm(params: GenerationParams, found: Interpretation, style: Style) -> tuple[float, str]:
    if "bpm" in params.model_fields_set:
        return float(params.bpm), "request"
    if found.prompt_bpm is not None:
        return float(min(200, max(60, found.prompt_bpm))), "prompt"
    mid = (style.bpm_range[0] + style.bpm_range[1]) / 2
    if found.tempo_factor is not None:
        return float(round(min(200, max(60, mid * found.tempo_factor)))), "tempo words"
    return float(round(min(200, max(60, mid)))), "style"


def _form(n_bars: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Section names and lengths filling exactly ``n_bars`` whole bars."""
    if n_bars <= 0:
        return []
    if n_bars < 4:
        return [("A", n_bars)]
    intro = 1 if n_bars < 12 else 2 if n_bars < 40 else 4
    outro = 1 if n_bars < 12 else 2
    body = n_bars - intro - outro
    phrase = 4 if body < 16 else 8
    names = ["A", "A", "B", "A"] if rng.random() < 0.5 else ["A", "B", "A", "B"]
    names += ["C", "A", "B", "A"] * 8
    sections: list[tuple[str, int]] = [("intro", intro)]
    k = 0
    while body > 0:
        length = phrase if body >= phrase + phrase // 2 or body == phrase else body
        sections.append((names[k], length))
        body -= length
        k += 1
    sections.append(("outro", outro))
    return sections


def _assign_parts(
    style: Style, found: Interpretation, brightness: float
) -> tuple[dict[str, tuple[int, str, str]], list[str]]:
    """role -> (program, instrument name, source); prompt instruments first."""
    notes: list[str] = []
    chosen: dict[str, tuple[int, str, str]] = {}
    for role, program, name in found.instruments:
        if any(p == program for p, _, _ in chosen.values()):
            continue
        target = (
            role
            if role not in chosen
            else next((r for r in ("melody", "comp", "pad") if r not in chosen), None)
        )
        if target is None:
            notes.append(f"{name}: every part already has a requested instrument; not used")
            continue
        if target == "bass" and role != "bass":
            continue
        chosen[target] = (program, name, "prompt")
    for role in ROLES:
        if role in chosen:
            continue
        # The style's first instrument, whatever the brightness: picking along the lists by brightness
        # made the measured spectral centroid fall as brightness rose for 4 of 8 prompts (a square lead
        # is brighter than the vibraphone after it). Brightness acts on register, voicing and velocity.
        program = style.instruments[role][0]
        chosen[role] = (program, _INSTRUMENT_NAMES.get(program, f"GM program {program + 1}"), "style")
    return chosen, notes


def make_plan(params: GenerationParams, *, seed: int) -> Plan:
    """Interpret the prompt and plan the track.

    Parameters
    ----------
    params : GenerationParams
    seed : int
        Every random choice in the plan and the score derives from it.
    """
    rng = np.random.default_rng([seed, 1])
    found = interpret(params.prompt)
    adherence = params.guidance / 10.0
    variation = params.temperature * (1.25 - params.guidance / 20.0)
    base = STYLES[found.style]
    borrowed: dict[str, str] = {}
    # Low guidance loosens the style: elements may come from a related style (never at guidance >= 5).
    p_borrow = max(0.0, (5.0 - params.guidance) / 8.0)
    groove_from, comp_from, prog_from = base, base, base
    for element in ("groove", "comp", "progressions"):
        if base.related and rng.random() < p_borrow:
            other = STYLES[str(rng.choice(list(base.related)))]
            if element == "groove" and other.drums:
                groove_from = other
            elif element == "comp":
                comp_from = other
            elif element == "progressions" and not base.drone:
                prog_from = other
            else:
                continue
            borrowed[element] = other.id
    mode = found.mode_lean or base.mode
    major_pc, minor_pc = SCALES[params.scale]
    tonic = major_pc if mode == "major" else minor_pc
    bpm, bpm_source = _choose_bpm(params, found, base)
    bar_s = 4 * 60.0 / bpm
    duration = float(params.duration_seconds)
    n_full = math.floor(duration / bar_s + 1e-9)
    brightness = min(1.0, max(0.0, params.brightness + found.brightness_shift))
    progressions = prog_from.progressions_major if mode == "major" else prog_from.progressions_minor
    order = list(range(len(progressions)))
    if variation > 0.6:
        rng.shuffle(order)
    section_progressions = {"A": progressions[order[0]], "B": progressions[order[1 % len(order)]]}
    c_prog = progressions[order[2 % len(order)]]
    section_progressions["C"] = c_prog[len(c_prog) // 2 :] + c_prog[: len(c_prog) // 2]
    section_progressions["intro"] = ("1",)
    section_progressions["outro"] = ("5", "1") if not base.drone else ("1",)
    sections: list[Section] = []
    bar = 0
    per = base.bars_per_chord
    for name, bars in _form(n_full, rng):
        prog = section_progressions[name]
        chords = []
        for b in range(bars):
            if name == "outro":
                degree = prog[-1] if b == bars - 1 else prog[0]
            else:
                degree = prog[(b // per) % len(prog)]
            chords.append([chord_for(d, tonic=tonic, mode=mode) for d in degree.split("|")])
        energy = SECTION_ENERGY[name]
        sections.append(
            Section(
                name=name,  # type: ignore[arg-type]
                start_bar=bar,
                bars=bars,
                start_s=round(bar * bar_s, 6),
                end_s=round((bar + bars) * bar_s, 6),
                energy=energy,
                chords=chords,
            )
        )
        bar += bars
    if duration - n_full * bar_s > 1e-6:
        sections.append(
            Section(
                name="ending",
                start_bar=n_full,
                bars=1,
                start_s=round(n_full * bar_s, 6),
                end_s=duration,
                energy=0.5,
                chords=[[chord_for("1", tonic=tonic, mode=mode)]],
            )
        )
    parts, notes = _assign_parts(base, found, brightness)
    density = params.density
    layers = ["bass", "comp"]
    if density >= 0.3 and base.melody != "none":
        layers.append("melody")
    if (
        density >= 0.55
        or base.id in ("ambient", "ambient_electronic", "cinematic")
        or parts["pad"][2] == "prompt"
    ):
        layers.append("pad")
    has_drums = bool(groove_from.drums) and not found.no_drums
    if has_drums:
        layers.append("drums")
    kit = groove_from.kit
    if "brush" in found.drum_words:
        kit = KITS["brush"]
    elif "tr808" in found.drum_words:
        kit = KITS["tr808"]
    drum_layers: list[DrumLayer] = list(groove_from.drums) if has_drums else []
    if "claps" in found.drum_words and not any(d.key == 39 for d in drum_layers):
        drum_layers.append(DrumLayer(39, "....x.......x..."))
        notes.append("handclaps added on 2 and 4")
    if {"tabla", "congas"} & set(found.drum_words) and not any(
        d.key in (60, 61, 63, 64) for d in drum_layers
    ):
        drum_layers += [DrumLayer(61, "x..x..x.x...x..."), DrumLayer(60, "..x..x.x..x..x.x")]
        notes.append("hand drums (GM bongos) added")
    if found.no_drums and groove_from.drums:
        notes.append("no drums, as asked")
    notes += [f"{role}: {text}" for role, text in base.extra.items()]
    comp_pattern = comp_from.comp[1 if density >= 0.6 else 0]
    bass_pattern = base.bass[1 if density >= 0.6 else 0]
    melody_centre = round(60 + (brightness - 0.5) * 28)
    comp_centre = round(57 + (brightness - 0.5) * 14)
    velocity = round(min(118, max(45, 82 + 36 * (brightness - 0.5) + 12 * found.energy)))
    part_list = [
        Part(
            role=role,
            channel=CHANNELS[role],
            program=parts[role][0],
            instrument=parts[role][1],
            source="prompt" if parts[role][2] == "prompt" else "style",
            pattern={
                "bass": bass_pattern,
                "comp": comp_pattern,
                "melody": base.melody,
                "pad": "sustained chords",
            }[role],
        )
        for role in ROLES
        if role in layers
    ]
    if comp_from is not base:
        for part in part_list:
            if part.role == "comp":
                part.source = "related style"
    return Plan(
        seed=seed,
        prompt=params.prompt,
        style=StyleChoice(
            id=base.id,
            genre=base.genre,
            sub_style=base.sub_style,
            words=found.style_words,
            fallback=found.fallback,
            borrowed=borrowed,
            tags=list(base.tags),
        ),
        moods=found.moods,
        energy=round(found.energy, 3),
        unknown_words=found.unknown_words,
        negated=found.negated,
        tonic=tonic,
        mode=mode,  # type: ignore[arg-type]
        key=f"{PITCH_NAMES[tonic]} {mode}",
        scale=params.scale,
        bpm=bpm,
        bpm_source=bpm_source,  # type: ignore[arg-type]
        tempo_words=found.tempo_words,
        meter="4/4",
        bar_s=round(bar_s, 6),
        duration_s=duration,
        fade_out_s=round(min(2.0, max(0.05, duration / 8)), 3),
        swing=groove_from.swing,
        sections=sections,
        parts=part_list,
        drum_kit=kit if has_drums else None,
        drum_layers=[
            DrumPart(key=d.key, pattern=d.pattern, min_density=d.min_density, max_density=d.max_density)
            for d in drum_layers
        ],
        controls=Controls(
            density=density,
            brightness=round(brightness, 3),
            variation=round(variation, 3),
            adherence=adherence,
            layers=layers,
            melody_centre=melody_centre,
            comp_centre=comp_centre,
            velocity=velocity,
        ),
        notes=notes,
    )
