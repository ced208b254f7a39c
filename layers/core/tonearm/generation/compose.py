"""Plan → score: bass, comping, melody, pad and drums as a General MIDI song.

Every part draws from its own random stream (``SeedSequence([seed, 2]).spawn``), so the score is a pure
function of the plan, and a change to one part's rules does not reshuffle the others. Time is in MIDI
ticks (480 per quarter, 120 per sixteenth); patterns are the 16-step strings of ``styles``.
"""

from __future__ import annotations

import numpy as np

from tonearm.generation.plan import SCALE_STEPS, Chord, Plan, Section
from tonearm.generation.styles import (
    CRASH,
    HIGH_TOM,
    KICK,
    LOW_TOM,
    MID_TOM,
    PEDAL_HAT,
    SHAKER,
    SNARE,
    STYLES,
)
from tonearm.midi.smf import DRUM_CHANNEL, TICKS_PER_QUARTER, Note, Song

STEP = TICKS_PER_QUARTER // 4  # one sixteenth
BAR = 16 * STEP
VOLUMES = {0: 100, 1: 86, 2: 100, 3: 68, DRUM_CHANNEL: 104}
PANS = {0: 64, 1: 44, 2: 82, 3: 64, DRUM_CHANNEL: 64}
_DRUM_VELOCITY = {"X": 112, "x": 92, "o": 56}


class _Score:
    """Notes being written, with the conversions every part needs."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.end_tick = round(plan.duration_s * plan.bpm / 60.0 * TICKS_PER_QUARTER)
        self.notes: list[Note] = []
        self.swing = plan.swing

    def metric(self, step: int) -> float:
        """Velocity factor of a sixteenth position: beats strongest, then off-beat eighths, then sixteenths.

        The gap between beats and off-beats widens at slow tempi: a listener (and the beat tracker)
        hears equally loud eighths at 80 BPM as a 160 BPM pulse.
        """
        if step % 4 == 0:
            return 1.0
        slow = self.plan.bpm < 100
        if step % 2 == 0:
            return 0.6 if slow else 0.8
        return 0.5 if slow else 0.7

    def tick(self, bar: int, step: float) -> int:
        """The tick of ``step`` (sixteenths, may be fractional) in ``bar``, with swing applied."""
        whole = int(step)
        delay = self.swing * 2 * STEP if whole % 4 == 2 and step == whole else 0.0
        return round(bar * BAR + step * STEP + delay)

    def add(self, start: int, duration: int, channel: int, pitch: int, velocity: float) -> None:
        """Add a note, clipped to the track's end and to MIDI's ranges."""
        start = max(0, start)
        if start >= self.end_tick or not 0 <= pitch <= 127:
            return
        duration = max(10, min(duration, self.end_tick - start))
        self.notes.append(Note(start, duration, channel, int(pitch), int(max(1, min(127, round(velocity))))))


def _chord_at(section: Section, bar_in_section: int, step: int) -> Chord:
    chords = section.chords[bar_in_section]
    return chords[min(len(chords) - 1, step * len(chords) // 16)]


def _next_root(sections: list[Section], s: int, b: int) -> int:
    section = sections[s]
    if b + 1 < section.bars and b + 1 < len(section.chords):
        return section.chords[b + 1][0].root
    if s + 1 < len(sections):
        return sections[s + 1].chords[0][0].root
    return section.chords[b][-1].root


def _near(pc: int, centre: int) -> int:
    """The pitch of pitch class ``pc`` in the octave window starting 6 semitones below ``centre``."""
    low = centre - 6
    return low + (pc - low) % 12


def _runs(pattern: str) -> list[tuple[int, str, int]]:
    """(step, symbol, length in steps) for each onset of a pattern; ``-`` extends the previous onset."""
    out: list[tuple[int, str, int]] = []
    for i, ch in enumerate(pattern):
        if ch == "-" and out:
            step, symbol, length = out[-1]
            out[-1] = (step, symbol, length + 1)
        elif ch not in ".-":
            out.append((i, ch, 1))
    return out


def _on_every_beat(pattern: str, symbol: str) -> str:
    """``pattern`` with an onset on each of the four beats (fast tempi: see ``_drums``)."""
    cells = list(pattern)
    for k in (0, 4, 8, 12):
        if cells[k] in ".-":
            cells[k] = symbol
    return "".join(cells)


def _section_density(plan: Plan, section: Section) -> float:
    return float(min(1.0, plan.controls.density * section.energy / 0.85))


# --- bass ---------------------------------------------------------------------------------------------
def _bass(score: _Score, rng: np.random.Generator, pattern: str) -> None:
    plan = score.plan
    velocity = min(120, plan.controls.velocity * 0.95 + 12)
    variation = plan.controls.variation
    previous = 40
    for s, section in enumerate(plan.sections):
        for b in range(section.bars):
            bar = section.start_bar + b
            if section.name == "ending":
                root = 36 + (section.chords[0][0].root - 0) % 12
                score.add(score.tick(bar, 0), score.end_tick, 0, root, velocity)
                continue
            if pattern == "walk":
                previous = _walk_bar(score, rng, section, s, b, bar, previous, velocity)
                continue
            runs = _runs(_on_every_beat(pattern, "R") if plan.bpm >= 130 else pattern)
            if rng.random() < 0.12 * variation and len(runs) > 1:
                runs = [r for k, r in enumerate(runs) if k == 0 or rng.random() > 0.3]
            for step, symbol, length in runs:
                chord = _chord_at(section, b, step)
                root = 36 + chord.root % 12
                third = 36 + chord.pitch_classes[1] % 12
                if third < root:
                    third += 12
                pitch = {
                    "R": root,
                    "F": root + 7,
                    "O": root + 12,
                    "3": third,
                    "A": 36 + (_next_root(plan.sections, s, b) - 1) % 12,
                }[symbol]
                score.add(score.tick(bar, step), length * STEP - 12, 0, pitch, velocity * score.metric(step))


def _walk_bar(
    score: _Score,
    rng: np.random.Generator,
    section: Section,
    s: int,
    b: int,
    bar: int,
    previous: int,
    velocity: float,
) -> int:
    """Four quarter notes: root, two chord tones, then a chromatic approach to the next root."""
    plan = score.plan
    chord = section.chords[b][0]
    target = _next_root(plan.sections, s, b)
    root = 36 + (chord.root - 36) % 12
    if root > 45 and previous < 44:
        root -= 12
    tones = [root + ((pc - chord.root) % 12) for pc in chord.pitch_classes[1:]]
    line = [root, int(rng.choice(tones)), int(rng.choice(tones))]
    nxt = 36 + (target - 36) % 12
    if nxt > 45:
        nxt -= 12
    line.append(nxt + (1 if rng.random() < 0.5 else -1))
    for beat, pitch in enumerate(line):
        score.add(
            score.tick(bar, 4 * beat), 4 * STEP - 20, 0, pitch, velocity * (1.0 if beat % 2 == 0 else 0.88)
        )
    return line[-1]


# --- comping, drone and pad ---------------------------------------------------------------------------
def _voicing(chord: Chord, centre: int, *, full: bool) -> list[int]:
    pitches = sorted(_near(pc, centre) for pc in chord.pitch_classes)
    if full:
        pitches = [pitches[0] - 12 if pitches[0] - 12 >= 36 else pitches[0], *pitches]
    return sorted(set(pitches))


def _comp(score: _Score, rng: np.random.Generator, pattern: str, program: int, drone: bool) -> None:
    plan = score.plan
    centre = plan.controls.comp_centre
    velocity = plan.controls.velocity * 0.85
    strum = 14 if 24 <= program <= 31 or program == 104 or program == 105 else 0
    variation = plan.controls.variation
    for section in plan.sections:
        density = _section_density(plan, section)
        for b in range(section.bars):
            bar = section.start_bar + b
            if section.name == "ending":
                chord = section.chords[0][0]
                for k, pitch in enumerate(_voicing(chord, centre, full=True)):
                    score.add(score.tick(bar, 0) + k * strum, score.end_tick, 1, pitch, velocity * 0.9)
                continue
            runs = _runs(
                _on_every_beat(pattern, pattern.lstrip(".-")[:1] or "C") if plan.bpm >= 130 else pattern
            )
            if density < 0.3:  # sparse: the chord on the beats that start each half bar only
                runs = [(step, sym, 8) for step, sym, _ in runs if step in (0, 8)] or [(0, "C", 16)]
            arp_index = 0
            for step, symbol, length in runs:
                chord = _chord_at(section, b, step)
                if drone:
                    root = _near(chord.pitch_classes[0], centre - 7)
                    voices = [root, root + 7, root + 12]
                else:
                    voices = _voicing(chord, centre, full=density >= 0.8)
                    if plan.controls.brightness >= 0.7:  # open voicing: the top note doubled an octave up
                        voices = [*voices, voices[-1] + 12]
                accent = score.metric(step)
                if rng.random() < 0.06 * variation:
                    accent *= 0.8
                if symbol == "A":
                    # four notes per cycle: a three-note cycle over even eighths is a hemiola, heard
                    # (and tracked) as a pulse of three eighths
                    ladder = [*voices, *(v + 12 for v in voices)][:4]
                    pitch = ladder[arp_index % len(ladder)]
                    arp_index += 1
                    score.add(score.tick(bar, step), max(2, length) * STEP, 1, pitch, velocity * accent)
                else:
                    for k, pitch in enumerate(voices):
                        score.add(
                            score.tick(bar, step) + k * strum, length * STEP - 10, 1, pitch, velocity * accent
                        )


def _pad(score: _Score) -> None:
    plan = score.plan
    centre = plan.controls.comp_centre + 5
    velocity = plan.controls.velocity * 0.62
    for section in plan.sections:
        for b in range(section.bars):
            bar = section.start_bar + b
            chords = section.chords[b]
            for k, chord in enumerate(chords):
                start = score.tick(bar, 16 * k // len(chords))
                length = BAR // len(chords) if section.name != "ending" else score.end_tick - start
                for pitch in _voicing(chord, centre, full=False):
                    score.add(start, length - 8, 3, pitch, velocity)


# --- melody -------------------------------------------------------------------------------------------
_ONSET_WEIGHTS = np.array([4, 0.4, 1, 0.4, 2.5, 0.4, 1, 0.4, 3, 0.4, 1, 0.4, 2.5, 0.4, 1, 0.6])


def _motif(rng: np.random.Generator, kind: str, density: float, swing: float) -> list[tuple[int, int]]:
    """A two-bar rhythm: (step from the phrase start, length in steps)."""
    if kind == "bebop":
        steps = [s for s in range(32) if s % 2 == 0 and rng.random() < 0.55 + 0.4 * density]
    elif kind == "arpeggio":
        steps = list(range(0, 32, 2))
    else:
        per_bar = {
            "lyrical": 2 + 5 * density,
            "riff": 3 + 6 * density,
            "sparse": 1 + 2 * density,
            "raga": 3 + 6 * density,
        }.get(kind, 3)
        weights = _ONSET_WEIGHTS.copy()
        if swing > 0 or kind in ("lyrical", "sparse"):
            weights[1::2] = 0.0
        steps = []
        for half in (0, 16):
            n = int(np.clip(round(per_bar * (0.8 if half else 1.0)), 1, int((weights > 0).sum())))
            chosen = rng.choice(16, size=n, replace=False, p=weights / weights.sum())
            steps += [half + int(c) for c in chosen]
        steps = sorted(set(steps))
    if not steps:
        steps = [0]
    lengths = [b - a for a, b in zip(steps, [*steps[1:], 32], strict=True)]
    if kind == "riff":
        lengths = [min(length, 2) for length in lengths]
    return list(zip(steps, lengths, strict=True))


def _melody(score: _Score, rng: np.random.Generator, kind: str) -> None:
    plan = score.plan
    steps = SCALE_STEPS[plan.mode]
    scale = np.array([plan.tonic + 12 * o + s for o in range(-1, 10) for s in steps])
    centre = plan.controls.melody_centre
    variation = plan.controls.variation
    velocity = plan.controls.velocity
    motifs: dict[str, list[tuple[int, int]]] = {}
    contours: dict[str, list[int]] = {}
    position = int(np.argmin(np.abs(scale - centre)))
    for section in plan.sections:
        if section.name in ("intro", "ending"):
            if section.name == "ending" and plan.sections[0] is not section:
                tonic = int(scale[np.argmin(np.abs(scale - centre) + 100 * (scale % 12 != plan.tonic))])
                score.add(score.tick(section.start_bar, 0), score.end_tick, 2, tonic, velocity * 0.8)
            continue
        density = _section_density(plan, section)
        key = section.name if section.name in ("A", "B", "C") else "A"
        if key not in motifs:
            motifs[key] = _motif(rng, kind, density, plan.swing)
            contours[key] = [int(x) for x in rng.choice([-2, -1, -1, 0, 1, 1, 2], size=len(motifs[key]))]
        for phrase_start in range(0, section.bars, 2):
            rhythm = list(motifs[key])
            contour = list(contours[key])
            if rng.random() < 0.35 * variation:  # vary this repetition: move or drop a note, bend a step
                k = int(rng.integers(len(contour)))
                contour[k] += int(rng.choice([-2, -1, 1, 2]))
                if len(rhythm) > 2 and rng.random() < 0.5:
                    j = int(rng.integers(1, len(rhythm)))
                    rhythm.pop(j)
                    contour.pop(j)
            for (step, length), move in zip(rhythm, contour, strict=True):
                bar = section.start_bar + phrase_start + step // 16
                if bar >= section.start_bar + section.bars:
                    break
                chord = _chord_at(section, bar - section.start_bar, step % 16)
                if kind == "arpeggio":
                    pcs = chord.pitch_classes
                    cycle = [_near(pc, centre) for pc in pcs]
                    cycle = [*cycle, cycle[0] + 12][:4]  # four notes a cycle, as in _comp
                    target = cycle[(step // 2) % 4]
                    position = int(np.argmin(np.abs(scale - target)))
                else:
                    position += move
                    pitch = int(scale[position])
                    if pitch > centre + 9:
                        position -= 2
                    elif pitch < centre - 9:
                        position += 2
                    if step % 8 == 0:  # strong beats land on a chord tone
                        tones = np.flatnonzero(np.isin(scale % 12, chord.pitch_classes))
                        position = int(tones[np.argmin(np.abs(tones - position))])
                pitch = int(scale[position])
                accent = score.metric(step % 16)
                if kind == "raga" and length >= 3 and rng.random() < 0.4:  # a grace note from above (meend)
                    score.add(
                        score.tick(bar, step % 16), STEP // 2, 2, int(scale[position + 1]), velocity * 0.7
                    )
                    score.add(
                        score.tick(bar, step % 16) + STEP // 2,
                        length * STEP - STEP // 2 - 10,
                        2,
                        pitch,
                        velocity * accent,
                    )
                    continue
                score.add(score.tick(bar, step % 16), length * STEP - 10, 2, pitch, velocity * accent)


# --- drums --------------------------------------------------------------------------------------------
def _drums(score: _Score, rng: np.random.Generator) -> None:
    plan = score.plan
    loud = 0.85 + 0.3 * (plan.controls.brightness - 0.5) + 0.1 * plan.energy
    variation = plan.controls.variation
    style = STYLES[plan.style.id]
    fills = any(layer.key == SNARE for layer in plan.drum_layers)
    # At fast tempi a groove that leaves beats 2 and 4 to syncopations is heard (and tracked) in half
    # time; a quiet quarter-note pulse keeps the notated beat. Not needed where a layer already has it.
    on_beats = [layer for layer in plan.drum_layers if all(layer.pattern[k] != "." for k in (0, 4, 8, 12))]
    pulse = 0
    if plan.bpm >= 130 and not on_beats:
        pulse = SHAKER if style.genre in ("world", "ambient") else PEDAL_HAT
    for s, section in enumerate(plan.sections):
        density = _section_density(plan, section)
        if section.name == "ending":
            score.add(score.tick(section.start_bar, 0), 4 * STEP, DRUM_CHANNEL, KICK, 100 * loud)
            if fills:
                score.add(score.tick(section.start_bar, 0), 8 * STEP, DRUM_CHANNEL, CRASH, 96 * loud)
            continue
        for b in range(section.bars):
            bar = section.start_bar + b
            fill = fills and b == section.bars - 1 and s + 1 < len(plan.sections) and density >= 0.4
            fill = fill and rng.random() < 0.45 + 0.3 * min(1.0, variation)
            for layer in plan.drum_layers:
                if not layer.min_density <= density < layer.max_density:
                    continue
                for step, ch in enumerate(layer.pattern):
                    if ch == "." or (ch == "o" and density < 0.5):
                        continue
                    if fill and step >= 12 and layer.key != KICK:
                        continue
                    jitter = int(rng.integers(-3, 4)) if ch != "X" else 0
                    # at fast tempi accents would make every other beat the strong one: a half-time feel
                    accent = 1.0 if ch == "X" and plan.bpm < 130 else score.metric(step)
                    vel = (
                        _DRUM_VELOCITY["x" if ch == "X" and plan.bpm >= 130 else ch]
                        * loud
                        * accent
                        * (1.0 + 0.06 * rng.standard_normal() * min(1.0, variation))
                    )
                    score.add(score.tick(bar, step) + jitter, STEP, DRUM_CHANNEL, layer.key, vel)
            if pulse:
                for step in (0, 4, 8, 12):
                    score.add(score.tick(bar, step), STEP, DRUM_CHANNEL, pulse, 70 * loud)
            if fill:
                toms = (
                    [SNARE, SNARE, HIGH_TOM, MID_TOM]
                    if rng.random() < 0.5
                    else [SNARE, HIGH_TOM, MID_TOM, LOW_TOM]
                )
                for k, step in enumerate(range(12, 16)):
                    score.add(score.tick(bar, step), STEP, DRUM_CHANNEL, toms[k], (80 + 8 * k) * loud)
            if b == 0 and section.name in ("A", "B", "C") and fills and s > 0 and style.genre != "ambient":
                score.add(score.tick(bar, 0), 8 * STEP, DRUM_CHANNEL, CRASH, 90 * loud)


def compose(plan: Plan) -> Song:
    """Write the score of ``plan``.

    Returns
    -------
    Song
        Format-0 content: tempo ``plan.bpm``, 4/4, GM programs per part, drums on channel 10. Its end is
        the track's duration; notes never sound past it (the reverb tail is the renderer's).
    """
    score = _Score(plan)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([plan.seed, 2]).spawn(5)]
    style = STYLES[plan.style.id]
    programs: dict[int, int] = {}
    for part in plan.parts:
        programs[part.channel] = part.program
        if part.role == "bass":
            _bass(score, streams[0], part.pattern)
        elif part.role == "comp":
            _comp(score, streams[1], part.pattern, part.program, style.drone)
        elif part.role == "melody":
            _melody(score, streams[2], part.pattern)
        elif part.role == "pad":
            _pad(score)
    if plan.drum_kit is not None:
        programs[DRUM_CHANNEL] = plan.drum_kit
        _drums(score, streams[3])
    channels = set(programs)
    return Song(
        us_per_quarter=round(60e6 / plan.bpm),
        numerator=4,
        denominator=4,
        programs=programs,
        volumes={ch: v for ch, v in VOLUMES.items() if ch in channels},
        pans={ch: p for ch, p in PANS.items() if ch in channels},
        notes=sorted(score.notes),
        end_tick=score.end_tick,
    )
