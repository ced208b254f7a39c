"""The style models the composer draws on: instruments, grooves, bass and comping patterns, progressions.

A style is data. Patterns are strings over a bar of sixteenth notes (16 steps in 4/4), so a groove reads
like a drum-machine grid:

- drums: ``X`` accent, ``x`` normal, ``o`` ghost (dropped at low density), ``.`` nothing;
- bass: ``R`` root, ``F`` fifth, ``O`` octave above the root, ``3`` third, ``A`` approach to the next
  chord's root, ``-`` hold the previous note, ``.`` rest; ``walk`` is a walking line (generated);
- comping: ``C`` the chord, ``A`` the next chord tone of an arpeggio, ``-`` hold, ``.`` rest.

Each pattern comes as a (sparse, busy) pair: density picks between them and thins or adds notes.
Progressions are scale degrees per bar (``"2:7"``: the seventh chord on degree 2; ``"5|4"``: two chords in
one bar), diatonic to the mode so that the requested key is unambiguous; in minor, the chord on degree 5
is major (the harmonic minor's leading tone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["major", "minor"]

# General MIDI drum keys (channel 10)
KICK, RIM, SNARE, CLAP, SNARE2 = 36, 37, 38, 39, 40
HAT, PEDAL_HAT, OPEN_HAT = 42, 44, 46
LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE, RIDE_BELL = 45, 47, 50, 49, 51, 53
TAMBOURINE, COWBELL, HI_BONGO, LO_BONGO, MUTE_CONGA, HI_CONGA, LO_CONGA = 54, 56, 60, 61, 62, 63, 64
SHAKER, CLAVES, WOODBLOCK = 70, 75, 76  # 70 is GM "maracas"

# General MIDI drum kits (program numbers on channel 10)
KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr808": 25, "jazz": 32, "brush": 40}


@dataclass(frozen=True)
class DrumLayer:
    """One drum voice: its key, its 16-step pattern and the density from which it plays."""

    key: int
    pattern: str
    min_density: float = 0.0
    max_density: float = 1.01  # a sparser layer that a busier one replaces


@dataclass(frozen=True)
class Style:
    """A style model. Each role's first instrument plays; the others are alternatives (documentation)."""

    id: str
    genre: str  # the top-level genre (also the tag the taggers should rank high)
    sub_style: str
    mode: Mode  # the mode the style leans to; mood words can override it
    bpm_range: tuple[int, int]  # where the style lives (tempo words scale within it)
    progressions_major: tuple[tuple[str, ...], ...]
    progressions_minor: tuple[tuple[str, ...], ...]
    bass: tuple[str, str]
    comp: tuple[str, str]
    melody: Literal["lyrical", "riff", "bebop", "sparse", "arpeggio", "raga", "none"]
    instruments: dict[str, tuple[int, ...]]  # role -> GM programs (0-based), dark to bright
    drums: tuple[DrumLayer, ...] = ()
    kit: int = 0
    swing: float = 0.0  # delay of off-beat eighths, as a fraction of an eighth (1/3 = triplet swing)
    bars_per_chord: int = 1
    drone: bool = False
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # MagnaTagATune tags this style should score high on
    related: tuple[str, ...] = ()  # styles low guidance borrows from
    extra: dict[str, str] = field(default_factory=dict)  # role notes shown in the plan


def _rock_drums(kick: str = "x.....x.x.......", snare: str = "....X.......X...") -> tuple[DrumLayer, ...]:
    return (
        DrumLayer(KICK, kick),
        DrumLayer(SNARE, snare),
        DrumLayer(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.75),
        DrumLayer(HAT, "xoxoxoxoxoxoxoxo", 0.75),
        DrumLayer(SNARE, "..........o....o", 0.6),
    )


STYLES: dict[str, Style] = {}


def _add(style: Style) -> None:
    STYLES[style.id] = style


# --- jazz ---------------------------------------------------------------------------------------------
_JAZZ_MAJ = (("2:7", "5:7", "1:7", "1:7"), ("1:7", "6:7", "2:7", "5:7"), ("3:7", "6:7", "2:7", "5:7"))
_JAZZ_MIN = (("1:7", "4:7", "2:7", "5:7"), ("1:7", "6:7", "2:7", "5:7"), ("1:7", "1:7", "4:7", "5:7"))
_JAZZ_DRUMS = (
    DrumLayer(RIDE, "x...x.o.x...x.o."),
    DrumLayer(PEDAL_HAT, "....x.......x..."),
    DrumLayer(KICK, "x.......o.......", 0.5),
    DrumLayer(SNARE, "......o.......o.", 0.6),
)
_add(
    Style(
        "cool_jazz",
        "jazz",
        "cool jazz",
        "major",
        (80, 140),
        _JAZZ_MAJ,
        _JAZZ_MIN,
        bass=("walk", "walk"),
        comp=("C-------..C-----", "..C-....C-..C-.."),
        melody="lyrical",
        instruments={"bass": (32,), "comp": (0, 26, 4), "melody": (66, 65, 56), "pad": (48,)},
        drums=_JAZZ_DRUMS,
        kit=KITS["brush"],
        swing=1 / 3,
        keywords=("cool jazz", "cool", "smooth jazz", "west coast"),
        tags=("jazz",),
        related=("lounge_jazz", "bebop"),
    )
)
_add(
    Style(
        "bebop",
        "jazz",
        "bebop",
        "major",
        (160, 240),
        _JAZZ_MAJ,
        _JAZZ_MIN,
        bass=("walk", "walk"),
        comp=("C-......C-......", "..C-..C-.C-...C-"),
        melody="bebop",
        instruments={"bass": (32,), "comp": (0,), "melody": (65, 0, 56), "pad": (48,)},
        drums=_JAZZ_DRUMS,
        kit=KITS["jazz"],
        swing=1 / 3,
        keywords=("bebop", "bop", "hard bop"),
        tags=("jazz",),
        related=("cool_jazz",),
    )
)
_add(
    Style(
        "lounge_jazz",
        "jazz",
        "lounge jazz",
        "major",
        (70, 110),
        _JAZZ_MAJ,
        _JAZZ_MIN,
        bass=("R.......F.......", "R.....F.R...A..."),
        comp=("C---------------", "C-----..C-------"),
        melody="lyrical",
        instruments={"bass": (32,), "comp": (4, 0), "melody": (11, 65, 73), "pad": (89,)},
        drums=(
            DrumLayer(RIDE, "x...x.x.x...x.x."),
            DrumLayer(RIM, "....x.......x...", 0.4),
            DrumLayer(KICK, "x.........x.....", 0.3),
        ),
        kit=KITS["brush"],
        swing=0.25,
        keywords=("lounge", "bossa", "bossa nova", "cocktail"),
        tags=("jazz",),
        related=("cool_jazz",),
    )
)
# --- rock ---------------------------------------------------------------------------------------------
_add(
    Style(
        "classic_rock",
        "rock",
        "classic rock",
        "major",
        (100, 150),
        (("1", "4", "5", "4"), ("1", "5", "4", "4"), ("1", "6", "4", "5")),
        (("1", "7", "6", "7"), ("1", "6", "7", "1"), ("1", "4", "7", "5")),
        bass=("R.......R.......", "R.R.R.R.R.R.R.R."),
        comp=("C-------C-------", "C-.C-.C-C-.C-.C-"),
        melody="riff",
        instruments={"bass": (33, 34), "comp": (29, 30), "melody": (29, 30), "pad": (16,)},
        drums=_rock_drums(),
        kit=KITS["standard"],
        keywords=("classic rock", "rock", "hard rock", "guitar riffs", "riff", "riffs"),
        tags=("rock", "guitar"),
        related=("blues_rock", "progressive_rock"),
    )
)
_add(
    Style(
        "progressive_rock",
        "rock",
        "progressive rock",
        "minor",
        (90, 140),
        (("1", "3", "4", "5"), ("1", "6", "2", "5")),
        (("1", "6", "3", "7"), ("1", "4", "6", "5")),
        bass=("R.....R.F.....R.", "R..R..F.R..R.OF."),
        comp=("AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAA"),
        melody="lyrical",
        instruments={"bass": (33,), "comp": (81, 90), "melody": (29, 81), "pad": (16, 90)},
        drums=_rock_drums("x..x..x...x.....", "....X.......X..X"),
        kit=KITS["room"],
        keywords=("progressive rock", "progressive", "prog", "prog rock", "complex"),
        tags=("rock",),
        related=("classic_rock",),
    )
)
_add(
    Style(
        "blues_rock",
        "rock",
        "blues rock",
        "major",
        (70, 130),
        (("1", "1", "1", "1", "4", "4", "1", "1", "5:7", "4", "1", "5:7"),),
        (("1", "1", "1", "1", "4", "4", "1", "1", "5:7", "4", "1", "5:7"),),
        bass=("R...3...F...O...", "R.R.3.3.F.F.O.F."),
        comp=("C-.C-.C-C-.C-.C-", "C-.C-.C-C-.C-.C-"),
        melody="riff",
        instruments={"bass": (33,), "comp": (29, 27), "melody": (29, 30), "pad": (16,)},
        drums=_rock_drums("x.....x.x.......", "....X.......X..."),
        kit=KITS["standard"],
        swing=1 / 3,
        keywords=("blues rock", "blues", "bluesy"),
        tags=("rock", "blues"),
        related=("classic_rock",),
    )
)
# --- electronic ---------------------------------------------------------------------------------------
_add(
    Style(
        "minimal_techno",
        "electronic",
        "minimal techno",
        "minor",
        (120, 135),
        (("1", "1", "1", "1"), ("1", "1", "6", "6")),
        (("1", "1", "1", "1"), ("1", "1", "6", "6")),
        bass=("..R...R...R...R.", "..R.R.R...R.R.RR"),
        comp=("...C...C..C....C", "..C..C..C..C..C."),
        melody="riff",
        instruments={"bass": (38, 39), "comp": (81, 80), "melody": (80, 81), "pad": (89, 90)},
        drums=(
            DrumLayer(KICK, "X...X...X...X..."),
            DrumLayer(HAT, "..x...x...x...x."),
            DrumLayer(HAT, "o.x.o.x.o.x.o.x.", 0.7),
            DrumLayer(CLAP, "....x.......x...", 0.45),
            DrumLayer(RIM, "...o.....o....o.", 0.6),
        ),
        kit=KITS["tr808"],
        keywords=("minimal techno", "techno", "minimal"),
        tags=("techno", "electronic", "beats"),
        related=("house",),
    )
)
_add(
    Style(
        "ambient_electronic",
        "electronic",
        "ambient electronic",
        "minor",
        (70, 110),
        (("1", "4", "6", "5"), ("1", "6", "4", "1")),
        (("1", "6", "4", "7"), ("1", "4", "6", "1")),
        bass=("R---------------", "R-------R-------"),
        comp=("A.A.A.A.A.A.A.A.", "AAAAAAAAAAAAAAAA"),
        melody="sparse",
        instruments={"bass": (38,), "comp": (81, 98, 8), "melody": (88, 92), "pad": (89, 95)},
        drums=(
            DrumLayer(KICK, "x.......x.......", 0.3),
            DrumLayer(SHAKER, "x.x.x.x.x.x.x.x.", 0.0),
            DrumLayer(RIM, "....x.......x...", 0.6),
        ),
        kit=KITS["electronic"],
        bars_per_chord=2,
        keywords=("ambient electronic", "electronica", "atmospheric", "arpeggios", "arpeggio"),
        tags=("electronic", "ambient", "synth"),
        related=("ambient", "minimal_techno"),
    )
)
_add(
    Style(
        "house",
        "electronic",
        "house",
        "minor",
        (118, 130),
        (("1", "6", "4", "5"), ("2:7", "5:7", "1:7", "1:7")),
        (("1:7", "4:7", "1:7", "4:7"), ("1", "7", "6", "7")),
        bass=("..R...R...R...R.", "..R.O.R...R.O.RR"),
        comp=("..C...C...C...C.", "..C-..C-..C-.CC-"),
        melody="riff",
        instruments={"bass": (38, 33), "comp": (0, 4, 81), "melody": (81, 80), "pad": (89, 90)},
        drums=(
            DrumLayer(KICK, "X...X...X...X..."),
            DrumLayer(OPEN_HAT, "..x...x...x...x."),
            DrumLayer(CLAP, "....x.......x..."),
            DrumLayer(HAT, "x.x.x.x.x.x.x.x.", 0.65),
            DrumLayer(SHAKER, "oxoooxoooxoooxoo", 0.85),
        ),
        kit=KITS["electronic"],
        keywords=("house", "deep house", "four-on-the-floor", "four on the floor", "club", "dance", "edm"),
        tags=("electronic", "techno", "dance", "beats"),
        related=("minimal_techno", "funk_disco"),
    )
)
# --- classical ----------------------------------------------------------------------------------------
_add(
    Style(
        "baroque",
        "classical",
        "baroque",
        "major",
        (70, 120),
        (("1", "4", "7", "3", "6", "2", "5", "1"), ("1", "5", "6", "3", "4", "1", "4", "5")),
        (("1", "4", "7", "3", "6", "2", "5", "1"), ("1", "4", "5", "1")),
        bass=("R...A...R...A...", "R.A.R.A.R.A.R.A."),
        comp=("A.A.A.A.A.A.A.A.", "AAAAAAAAAAAAAAAA"),
        melody="lyrical",
        instruments={"bass": (42, 43), "comp": (6,), "melody": (40, 73, 68), "pad": (48,)},
        keywords=("baroque", "harpsichord", "bach", "vivaldi", "handel", "fugue", "concerto grosso"),
        tags=("classical", "harpsichord", "baroque", "strings"),
        related=("romantic", "minimalist"),
    )
)
_add(
    Style(
        "romantic",
        "classical",
        "romantic",
        "minor",
        (60, 110),
        (("1", "6", "4", "5"), ("1", "3", "4", "5"), ("1", "4", "1", "5")),
        (("1", "6", "4", "5"), ("1", "4", "5", "1"), ("1", "6", "2", "5")),
        bass=("R-------F-------", "R---F---O---F---"),
        comp=("AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAA"),
        melody="lyrical",
        instruments={"bass": (0, 42), "comp": (0,), "melody": (0, 40, 48), "pad": (48, 49)},
        keywords=("romantic", "chopin", "nocturne"),
        tags=("classical", "piano", "strings"),
        related=("baroque", "cinematic"),
    )
)
_add(
    Style(
        "minimalist",
        "classical",
        "minimalist",
        "major",
        (90, 140),
        (("6", "4", "1", "5"), ("1", "1", "6", "6", "4", "4", "5", "5")),
        (("1", "1", "6", "6", "4", "4", "7", "7"), ("1", "6", "3", "7")),
        bass=("R-------R-------", "R---R---R---R---"),
        comp=("A.A.A.A.A.A.A.A.", "AAAAAAAAAAAAAAAA"),
        melody="arpeggio",
        instruments={"bass": (0, 42), "comp": (0, 12), "melody": (0, 12, 8), "pad": (48,)},
        keywords=("minimalist", "minimal classical", "philip glass", "steve reich", "reich"),
        tags=("classical", "piano"),
        related=("ambient", "romantic"),
    )
)
# --- world --------------------------------------------------------------------------------------------
_add(
    Style(
        "afrobeat",
        "world",
        "afrobeat",
        "minor",
        (100, 130),
        (("1", "4", "1", "4"), ("1", "1", "4", "5")),
        (("1:7", "4:7", "1:7", "4:7"), ("1", "7", "1", "7")),
        bass=("R..R..F.R.....O.", "R..R..F.R.3.F.OA"),
        comp=("..C...C...C..C..", ".C.C..C..C.C..C."),
        melody="riff",
        instruments={"bass": (33,), "comp": (27, 16, 4), "melody": (61, 66, 56), "pad": (16,)},
        drums=(
            DrumLayer(KICK, "x.....x...x....."),
            DrumLayer(SNARE, "....x.......x..o"),
            DrumLayer(HAT, "xoxxxoxxxoxxxoxx", 0.0),
            DrumLayer(COWBELL, "x..x..x...x.x...", 0.35),
            DrumLayer(HI_CONGA, "..x..x....x..x..", 0.5),
            DrumLayer(LO_CONGA, "x......x.x......", 0.5),
            DrumLayer(SHAKER, "oxoxoxoxoxoxoxox", 0.8),
        ),
        kit=KITS["standard"],
        keywords=("afrobeat", "afro", "fela", "highlife", "polyrhythmic", "african"),
        tags=("world", "drums", "funk"),
        related=("funk_disco",),
    )
)
_add(
    Style(
        "flamenco",
        "world",
        "flamenco",
        "minor",
        (90, 140),
        (("1", "4", "5", "1"), ("1", "4", "1", "5")),
        (("1", "7", "6", "5"), ("1", "7", "6", "5:7")),
        bass=("R.....R...R.....", "R..R..R.R.R..R.."),
        comp=("C.C.C-C.C.C.C-C.", "CCC.CCC.C.CCC.C."),
        melody="lyrical",
        instruments={"bass": (24,), "comp": (24,), "melody": (24, 73), "pad": (48,)},
        drums=(
            DrumLayer(CLAP, "X..xx...X..xx..."),
            DrumLayer(CLAP, "..o..o..o..o..o.", 0.55),
            DrumLayer(LO_CONGA, "x.......x.......", 0.4),
        ),
        kit=KITS["standard"],
        keywords=("flamenco", "spanish guitar", "spanish", "rumba", "andalusian", "handclaps", "palmas"),
        tags=("guitar", "classical", "world", "spanish"),
        related=("afrobeat",),
    )
)
_add(
    Style(
        "indian_classical",
        "world",
        "indian classical",
        "major",
        (70, 140),
        (("1", "1", "1", "1"),),
        (("1", "1", "1", "1"),),
        bass=("R---------------", "R-------F-------"),
        comp=("C---------------", "C-------C-------"),
        melody="raga",
        instruments={"bass": (104,), "comp": (104,), "melody": (104, 111), "pad": (52,)},
        drums=(
            DrumLayer(LO_BONGO, "x..xx...x..xx..."),
            DrumLayer(HI_BONGO, "..x..x.x..x..x.x"),
            DrumLayer(HI_BONGO, "oo.o..o.oo.o..o.", 0.6),
            DrumLayer(MUTE_CONGA, "x.......x.......", 0.3),
        ),
        kit=KITS["standard"],
        drone=True,
        keywords=(
            "indian classical",
            "indian",
            "raga",
            "sitar",
            "tabla",
            "hindustani",
            "carnatic",
            "tanpura",
        ),
        tags=("sitar", "indian", "world"),
        related=("ambient",),
        extra={"drums": "tabla is voiced by GM bongos and congas (General MIDI has no tabla)"},
    )
)
# --- the rest -----------------------------------------------------------------------------------------
_add(
    Style(
        "pop",
        "pop",
        "pop",
        "major",
        (90, 130),
        (("1", "5", "6", "4"), ("1", "6", "4", "5"), ("6", "4", "1", "5")),
        (("1", "6", "3", "7"), ("1", "4", "6", "5")),
        bass=("R.......R...R...", "R.R...R.R.R...R."),
        comp=("C-------C-------", "C-.C-.C-..C-.C-."),
        melody="lyrical",
        instruments={"bass": (33, 38), "comp": (0, 25, 4), "melody": (80, 73, 11), "pad": (89, 90)},
        drums=_rock_drums("x.......x.x.....", "....x.......x..."),
        kit=KITS["standard"],
        keywords=("pop", "catchy", "radio", "synth pop", "synthpop", "indie"),
        tags=("pop", "beats"),
        related=("funk_disco", "classic_rock"),
    )
)
_add(
    Style(
        "funk_disco",
        "funk",
        "funk / disco",
        "minor",
        (100, 125),
        (("2:7", "5:7", "1:7", "1:7"), ("1:7", "4:7", "1:7", "4:7")),
        (("1:7", "4:7", "1:7", "4:7"), ("1:7", "1:7", "4:7", "5:7")),
        bass=("R.O.R.O.R.O.R.O.", "R.OR.ROAR.OR.RO."),
        comp=("..C...C...C...C.", ".CC..C.C.CC..C.C"),
        melody="riff",
        instruments={"bass": (36, 37), "comp": (27, 28, 4), "melody": (61, 62, 48), "pad": (48, 49)},
        drums=(
            DrumLayer(KICK, "X...X...X...X..."),
            DrumLayer(SNARE, "....x.......x..."),
            DrumLayer(OPEN_HAT, "..x...x...x...x."),
            DrumLayer(HAT, "x.x.x.x.x.x.x.x.", 0.5),
            DrumLayer(TAMBOURINE, "xoxoxoxoxoxoxoxo", 0.8),
        ),
        kit=KITS["standard"],
        keywords=("funk", "funky", "disco", "groovy", "grooves", "groove", "slap bass"),
        tags=("funk", "disco", "dance", "beats"),
        related=("house", "afrobeat"),
    )
)
_add(
    Style(
        "hiphop_lofi",
        "hiphop",
        "hip-hop / lo-fi",
        "minor",
        (70, 95),
        (("2:7", "5:7", "1:7", "6:7"), ("4:7", "3:7", "2:7", "1:7")),
        (("1:7", "4:7", "6:7", "5:7"), ("1:7", "6:7", "4:7", "4:7")),
        bass=("R.........R.....", "R......R..R...A."),
        comp=("C-------C-------", "C-----..C--.C---"),
        melody="sparse",
        instruments={"bass": (33, 38), "comp": (4, 0), "melody": (11, 4, 73), "pad": (89,)},
        drums=(
            DrumLayer(KICK, "x.....x...x....."),
            DrumLayer(SNARE, "....X.......X..."),
            DrumLayer(HAT, "x.x.x.x.x.x.x.x."),
            DrumLayer(HAT, "..o...o...o...o.", 0.7),
        ),
        kit=KITS["tr808"],
        swing=0.2,
        keywords=(
            "hip hop",
            "hip-hop",
            "hiphop",
            "lo-fi",
            "lofi",
            "lo fi",
            "boom bap",
            "rap",
            "trap",
            "chillhop",
        ),
        tags=("hip hop", "beats", "rap"),
        related=("funk_disco", "lounge_jazz"),
    )
)
_add(
    Style(
        "cinematic",
        "cinematic",
        "cinematic",
        "minor",
        (70, 120),
        (("1", "5", "6", "4"), ("6", "4", "1", "5")),
        (("1", "6", "3", "7"), ("1", "6", "7", "1")),
        bass=("R-------R-------", "R-R-R-R-R-R-R-R-"),
        comp=("C---------------", "C.C.C.C.C.C.C.C."),
        melody="lyrical",
        instruments={"bass": (43, 42), "comp": (48, 49), "melody": (60, 56, 40), "pad": (52, 48)},
        drums=(
            DrumLayer(KICK, "x.......x.......", 0.2),
            DrumLayer(LOW_TOM, "x..x..x.x.......", 0.45),
            DrumLayer(SNARE, "....x.......x...", 0.6),
            DrumLayer(CRASH, "x...............", 0.9),
        ),
        kit=KITS["standard"],
        bars_per_chord=1,
        keywords=("cinematic", "epic", "film", "soundtrack", "score", "orchestral", "trailer", "heroic"),
        tags=("classical", "strings", "orchestra"),
        related=("romantic",),
    )
)
_add(
    Style(
        "ambient",
        "ambient",
        "ambient",
        "major",
        (60, 100),
        (("1", "5", "1", "6"), ("1", "3", "6", "5")),
        (("1", "6", "4", "1"), ("1", "4", "6", "5")),
        bass=("R---------------", "R-------R-------"),
        comp=("A...A...A...A...", "A.A.A.A.A.A.A.A."),
        melody="sparse",
        instruments={"bass": (89,), "comp": (8, 11, 0), "melody": (88, 73, 92), "pad": (89, 95, 91)},
        drums=(DrumLayer(SHAKER, "x...x...x...x...", 0.0), DrumLayer(SHAKER, "..o...o...o...o.", 0.6)),
        kit=KITS["standard"],
        bars_per_chord=2,
        keywords=("ambient", "ethereal", "meditative", "drone", "atmosphere", "soundscape", "wind chimes"),
        tags=("ambient", "new age", "soft"),
        related=("ambient_electronic", "minimalist"),
    )
)

#: The style used when nothing in the prompt names or implies one.
DEFAULT_STYLE = "pop"
