"""The pinned benchmark set: which music21 corpus pieces, at which tempo, key, instrumentation and drums.

Every choice is fixed here (no choice depends on the machine or on the run), so the set renders the same
everywhere. ``plan()`` turns the piece list into clip specifications, deterministically:

* **Pieces** come from music21's bundled corpus: 14 Bach chorales (10 in 4/4, 4 in 3/4), 14 movements of
  Mozart/Haydn/Beethoven string quartets and other classical/romantic scores (minuets and scherzos in 3/4,
  slow and fast movements in 4/4), and 20 monophonic folk tunes (Essen folksong collection and Ryan's Mammoth
  Collection, 3/4 and 4/4). Compound and cut-time meters are excluded so the beat is always the quarter note.
  Each entry's meter, original key and the absence of meter/key-signature changes inside the rendered 30 s
  are re-verified when the clip is rendered.
* **Keys**: the original key was checked against the key signature, the final bass note and music21's
  Krumhansl-Schmuckler analysis (``score.analyze('key')``); the analysis is re-run at render time and stored
  next to the label. Each clip is then transposed so that, over the set, every one of the 12 tonics occurs in
  major and in minor (targets drawn from a fixed-seed permutation per mode).
* **Tempo**: one MetronomeMark-equivalent per clip (quarter note = ``tempo``), pinned per piece, spread over
  70-180 BPM; every other tempo indication in the score is ignored.
* **Drums**: 16 of the 48 clips get a General MIDI drum track (see ``render.py``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

SEED = 20240611
MAJOR, MINOR = "major", "minor"
PITCH_CLASS = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6}
PITCH_CLASS |= {"G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
# Spelling used for labels (mir_eval compares keys by pitch class, so spelling is cosmetic).
MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
CHORD_ROOT_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


@dataclass(frozen=True)
class Piece:
    """One corpus piece and how to perform it."""

    path: str  # music21 corpus path (as accepted by ``music21.corpus.parse``)
    number: int | None  # tune number inside an ABC collection, else None
    category: str  # chorale | classical | folk
    meter: str  # "3/4" or "4/4" (verified at render time)
    key: str  # original key, e.g. "B minor"
    tempo: int  # quarter notes per minute
    ensemble: str  # key into ENSEMBLES (score parts) or FOLK_ENSEMBLES (monophonic tunes)
    drums: bool = False
    accompaniment: str | None = None  # monophonic tunes only: "oompah" or "block"
    title: str = ""


# GM programs (0-based) per score part, cycled when a score has more parts than entries.
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "organ": (19,),  # Church Organ
    "choir": (52, 52, 52, 42),  # Choir Aahs S/A/T, Cello on the bass line
    "strings": (40, 40, 41, 42),  # Violin I, Violin II, Viola, Cello
    "string_ensemble": (48,),  # String Ensemble 1
    "brass": (56, 60, 57, 58),  # Trumpet, French Horn, Trombone, Tuba
    "woodwinds": (73, 68, 71, 70),  # Flute, Oboe, Clarinet, Bassoon
    "piano": (0,),  # Acoustic Grand Piano
    "harpsichord": (6,),
    "voice_piano": (71, 0, 0),  # Lindenbaum: clarinet on the vocal line, piano
}
# Monophonic tunes: (melody, chords, bass) programs.
FOLK_ENSEMBLES: dict[str, tuple[int, int, int]] = {
    "flute_piano": (73, 0, 32),  # Flute, Acoustic Grand, Acoustic Bass
    "violin_guitar": (40, 24, 33),  # Violin, Nylon Guitar, Electric Bass (finger)
    "clarinet_piano": (71, 0, 32),
    "accordion_guitar": (21, 25, 33),  # Accordion, Steel Guitar
    "recorder_guitar": (74, 24, 32),
    "oboe_strings": (68, 48, 43),  # Oboe, String Ensemble, Contrabass
    "fiddle_accordion": (40, 21, 32),
    "trumpet_piano": (56, 0, 33),
}

CHORALES = [
    Piece("bach/bwv261", None, "chorale", "4/4", "B minor", 72, "organ"),
    Piece("bach/bwv276", None, "chorale", "4/4", "D minor", 84, "choir"),
    Piece("bach/bwv322", None, "chorale", "4/4", "G major", 76, "brass"),
    Piece("bach/bwv267", None, "chorale", "4/4", "G major", 100, "piano", drums=True),
    Piece("bach/bwv325", None, "chorale", "4/4", "F major", 108, "strings", drums=True),
    Piece("bach/bwv357", None, "chorale", "4/4", "C minor", 92, "choir"),
    Piece("bach/bwv348", None, "chorale", "4/4", "Bb major", 116, "piano"),
    Piece("bach/bwv355", None, "chorale", "4/4", "A major", 88, "woodwinds"),
    Piece("bach/bwv301", None, "chorale", "4/4", "D minor", 80, "organ"),
    Piece("bach/bwv353", None, "chorale", "4/4", "G minor", 96, "strings"),
    Piece("bach/bwv320", None, "chorale", "3/4", "F major", 104, "organ"),
    Piece("bach/bwv390", None, "chorale", "3/4", "C major", 120, "strings", drums=True),
    Piece("bach/bwv344", None, "chorale", "3/4", "G minor", 90, "choir"),
    Piece("bach/bwv366", None, "chorale", "3/4", "D minor", 112, "brass"),
]

CLASSICAL = [
    Piece("mozart/k80/movement3.mxl", None, "classical", "3/4", "G major", 132, "strings", title="Menuetto"),
    Piece(
        "mozart/k156/movement3.mxl",
        None,
        "classical",
        "3/4",
        "G major",
        126,
        "piano",
        title="Tempo di Menuetto",
    ),
    Piece("mozart/k458/movement2.mxl", None, "classical", "3/4", "Bb major", 138, "strings", drums=True),
    Piece("haydn/opus74no1/movement3.mxl", None, "classical", "3/4", "C major", 150, "string_ensemble"),
    Piece(
        "haydn/opus1no1/movement2.mxl", None, "classical", "3/4", "Bb major", 168, "strings", title="Menuetto"
    ),
    Piece(
        "beethoven/opus59no3/movement3.mxl",
        None,
        "classical",
        "3/4",
        "C major",
        118,
        "piano",
        title="Menuetto",
    ),
    Piece("schumann_clara/polonaise_op1n1.mxl", None, "classical", "3/4", "Eb major", 100, "piano"),
    Piece("schumann_clara/polonaise_op1n4.mxl", None, "classical", "3/4", "C major", 112, "piano"),
    Piece("schubert/Lindenbaum.xml", None, "classical", "3/4", "E major", 96, "voice_piano"),
    Piece("mozart/k156/movement2.mxl", None, "classical", "4/4", "E minor", 70, "strings", title="Adagio"),
    Piece("mozart/k458/movement3.mxl", None, "classical", "4/4", "Eb major", 78, "string_ensemble"),
    Piece("haydn/opus74no1/movement1.mxl", None, "classical", "4/4", "C major", 164, "strings", drums=True),
    Piece("mozart/k155/movement1.mxl", None, "classical", "4/4", "D major", 156, "woodwinds"),
    Piece("cpebach/h186.mxl", None, "classical", "4/4", "F# minor", 86, "harpsichord"),
]

FOLK = [
    Piece("essenFolksong/erk10.abc", 110, "folk", "3/4", "F major", 132, "flute_piano", True, "oompah"),
    Piece("essenFolksong/erk10.abc", 185, "folk", "3/4", "G major", 150, "violin_guitar", False, "oompah"),
    Piece("essenFolksong/zuccal0.abc", 104, "folk", "3/4", "E minor", 120, "clarinet_piano", True, "oompah"),
    Piece("essenFolksong/fink0.abc", 94, "folk", "3/4", "A minor", 108, "accordion_guitar", False, "block"),
    Piece("essenFolksong/fink0.abc", 76, "folk", "3/4", "G major", 168, "fiddle_accordion", True, "oompah"),
    Piece("essenFolksong/boehme10.abc", 31, "folk", "3/4", "F major", 96, "recorder_guitar", False, "block"),
    Piece("essenFolksong/zuccal0.abc", 120, "folk", "3/4", "F major", 144, "trumpet_piano", True, "oompah"),
    Piece("essenFolksong/zuccal0.abc", 6, "folk", "3/4", "A minor", 112, "oboe_strings", False, "block"),
    Piece("essenFolksong/ballad10.abc", 18, "folk", "3/4", "G minor", 84, "violin_guitar", False, "oompah"),
    Piece("essenFolksong/kinder0.abc", 16, "folk", "3/4", "G major", 180, "flute_piano", True, "oompah"),
    Piece("essenFolksong/zuccal0.abc", 9, "folk", "4/4", "G minor", 100, "clarinet_piano", True, "oompah"),
    Piece(
        "essenFolksong/zuccal0.abc", 37, "folk", "4/4", "G minor", 126, "accordion_guitar", False, "oompah"
    ),
    Piece("essenFolksong/erk10.abc", 49, "folk", "4/4", "F minor", 92, "oboe_strings", True, "block"),
    Piece("essenFolksong/zuccal0.abc", 52, "folk", "4/4", "C major", 140, "fiddle_accordion", True, "oompah"),
    Piece("essenFolksong/boehme10.abc", 13, "folk", "4/4", "Bb major", 116, "trumpet_piano", False, "oompah"),
    Piece("essenFolksong/fink0.abc", 11, "folk", "4/4", "B minor", 78, "recorder_guitar", False, "block"),
    Piece("essenFolksong/lux.abc", 87, "folk", "4/4", "G major", 160, "flute_piano", True, "oompah"),
    Piece(
        "ryansMammoth/CaledonianHuntStrathspey.abc",
        None,
        "folk",
        "4/4",
        "D major",
        136,
        "violin_guitar",
        True,
        "oompah",
    ),
    Piece(
        "ryansMammoth/LordByronsFavoriteStrathspey.abc",
        None,
        "folk",
        "4/4",
        "E minor",
        124,
        "fiddle_accordion",
        False,
        "oompah",
    ),
    Piece(
        "ryansMammoth/FleeAsABird.abc", None, "folk", "4/4", "E minor", 172, "clarinet_piano", True, "oompah"
    ),
]


def pieces() -> list[Piece]:
    """All pieces, interleaved chorale / classical / folk so any prefix of the list is varied."""
    out: list[Piece] = []
    groups = [list(CHORALES), list(CLASSICAL), list(FOLK)]
    while any(groups):
        for g in groups:
            if g:
                out.append(g.pop(0))
    return out


@dataclass(frozen=True)
class ClipSpec:
    """A piece plus the per-clip choices derived from it."""

    clip_id: str
    index: int
    piece: Piece
    semitones: int  # transposition applied to every pitched note
    key: str  # label after transposition, mir_eval style ("Eb major")
    tonic_pc: int
    mode: str
    seed: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: the piece's fields flattened in (its key as ``original_key``, its tempo as
        ``nominal_tempo``), then the clip's own fields (``key`` is the transposed key)."""
        d: dict[str, object] = asdict(self.piece)
        d["original_key"] = d.pop("key")
        d["nominal_tempo"] = d.pop("tempo")
        d.update({k: v for k, v in asdict(self).items() if k != "piece"})
        return d


def split_key(key: str) -> tuple[int, str]:
    """``"F# minor"`` -> ``(6, "minor")``; accepts music21 spellings too (``"B- major"``)."""
    tonic, mode = key.split()
    acc = tonic[1:]
    pc = PITCH_CLASS[tonic[0].upper()] + acc.count("#") - acc.count("b") - acc.count("-")
    return pc % 12, mode.lower()


def key_name(tonic_pc: int, mode: str) -> str:
    """``(3, "major")`` -> ``"Eb major"``."""
    names = MAJOR_NAMES if mode == MAJOR else MINOR_NAMES
    return f"{names[tonic_pc % 12]} {mode}"


def _slug(p: Piece) -> str:
    base = p.path.split("/", 1)[1] if "/" in p.path else p.path
    base = base.rsplit(".", 1)[0] if base.endswith((".mxl", ".xml", ".krn", ".abc")) else base
    base = base.replace("/", "_").replace("movement", "m").replace(".", "-")
    if p.path.startswith("bach/"):
        base = "bach_" + base
    if p.number is not None:
        base += f"_{p.number}"
    return base[:40]


def plan(n_clips: int | None = None) -> list[ClipSpec]:
    """Clip specifications for the first ``n_clips`` pieces (all by default); independent of ``n_clips``."""
    ps = pieces()
    rng = random.Random(SEED)
    targets = {MAJOR: list(range(12)), MINOR: list(range(12))}
    for mode in (MAJOR, MINOR):
        rng.shuffle(targets[mode])
    used = {MAJOR: 0, MINOR: 0}
    specs: list[ClipSpec] = []
    for i, p in enumerate(ps):
        tonic, mode = split_key(p.key)
        target = targets[mode][used[mode] % 12]
        used[mode] += 1
        semis = (target - tonic) % 12
        if semis > 6:
            semis -= 12
        specs.append(
            ClipSpec(
                clip_id=f"{i:02d}_{_slug(p)}",
                index=i,
                piece=p,
                semitones=semis,
                key=key_name(target, mode),
                tonic_pc=target,
                mode=mode,
                seed=SEED + 1000 * i,
            )
        )
    if n_clips is not None:
        if n_clips > len(specs):
            raise ValueError(f"--clips {n_clips}: the pinned set has {len(specs)} pieces")
        specs = specs[:n_clips]
    return specs
