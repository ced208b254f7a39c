"""Chord labels: the vocabulary, Harte syntax (internal, mir_eval) and Music.AI syntax (the API).

* **Harte** (Harte et al., ISMIR 2005; what mir_eval scores): ``"C:maj"``, ``"A:min7"``, ``"F#:7"``,
  ``"N"`` for no chord. Shorthand roots without a quality (``"C"``) mean major; a bass after ``/``
  (``"C:maj/3"``) is accepted and dropped.
* **Music.AI** (``chordMap`` of generate-chords): root and quality run together, ``"Cmaj"``,
  ``"Amin7"``, ``"F#7"``, ``"N"``.

Spelling: Harte labels (internal) write roots with sharps (``C#``, ``D#``, ``F#``, ``G#``, ``A#``).
Music.AI labels are named with the twelve root names of a spelling (:func:`harte_to_musicai`'s ``names``,
from :func:`tonearm.analysis.spelling.pitch_names`): in the key (``Bbmaj`` in G minor, ``G#min`` in E
major; tonearm's own workflows and the command line), or with sharps (Music.AI's slug, by default) or
flats. Parsers accept either accidental (``"Bb:min"``, ``"Ebmaj7"``, ``"A#min"``); spelling is
cosmetic for scoring, which compares pitch classes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tonearm.analysis.spelling import SHARPS
from tonearm.errors import ParameterError

__all__ = [
    "NO_CHORD",
    "QUALITIES",
    "VOCABULARY",
    "Chord",
    "harte_to_musicai",
    "musicai_to_harte",
    "parse_harte",
]

#: The no-chord label (silence, unpitched sound), the same in both syntaxes.
NO_CHORD = "N"

#: Chord qualities of the vocabulary and their intervals above the root [semitones], Harte shorthand
#: names. The order is the recogniser's state order.
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
}

_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ROOT = re.compile(r"^([A-Ga-g])([#b]*)")
# Music.AI suffixes, longest first so "maj7" is not read as "maj" + "7".
_MUSICAI_SUFFIXES = sorted(QUALITIES, key=len, reverse=True)


@dataclass(frozen=True)
class Chord:
    """A chord of the vocabulary.

    Attributes
    ----------
    root : int in 0..11
        Pitch class of the root, 0 = C.
    quality : str
        A key of :data:`QUALITIES`.
    """

    root: int
    quality: str

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES or not 0 <= self.root < 12:
            raise ParameterError(
                f"no chord with root {self.root} and quality {self.quality!r} in the vocabulary"
            )

    @property
    def harte(self) -> str:
        """Harte label, e.g. ``"C#:min7"``."""
        return f"{SHARPS[self.root]}:{self.quality}"

    @property
    def musicai(self) -> str:
        """Music.AI label with a sharp root, e.g. ``"C#min7"``."""
        return self.musicai_in(SHARPS)

    def musicai_in(self, names: Sequence[str]) -> str:
        """Music.AI label with the root named from ``names`` (index = pitch class), e.g. ``"Dbmin7"``."""
        return f"{names[self.root]}{self.quality}"

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """The chord's pitch classes, root first."""
        return tuple((self.root + i) % 12 for i in QUALITIES[self.quality])


#: Every chord of the vocabulary, quality-major order: ``VOCABULARY[q * 12 + root]``.
VOCABULARY: tuple[Chord, ...] = tuple(Chord(r, q) for q in QUALITIES for r in range(12))


def _root(text: str) -> tuple[int, str]:
    """Pitch class of a leading root name (``"Eb"``, ``"F#"``, ``"c"``) and the rest of ``text``."""
    m = _ROOT.match(text)
    if m is None:
        raise ParameterError(f"chord label {text!r} does not start with a root A-G")
    acc = m.group(2)
    pc = (_LETTER[m.group(1).upper()] + acc.count("#") - acc.count("b")) % 12
    return pc, text[m.end() :]


def parse_harte(label: str) -> Chord | None:
    """Parse a Harte label of the vocabulary.

    Parameters
    ----------
    label : str
        ``"C:maj"``, ``"Bb:min7"``, ``"C"`` (major), ``"C:maj/3"`` (bass dropped), or ``"N"``.

    Returns
    -------
    Chord or None
        ``None`` for ``"N"``.

    Raises
    ------
    ParameterError
        For a malformed label or a quality outside :data:`QUALITIES`.
    """
    text = label.strip()
    if text == NO_CHORD:
        return None
    root, rest = _root(text)
    rest = rest.split("/", 1)[0]
    if rest == "":
        return Chord(root, "maj")
    if not rest.startswith(":"):
        raise ParameterError(f"Harte label {label!r}: expected ':' after the root")
    quality = rest[1:]
    if quality not in QUALITIES:
        raise ParameterError(f"Harte label {label!r}: quality {quality!r} not in {sorted(QUALITIES)}")
    return Chord(root, quality)


def harte_to_musicai(label: str, names: Sequence[str] = SHARPS) -> str:
    """``"C:maj"`` -> ``"Cmaj"``, ``"Bb:min7"`` -> ``"A#min7"``, ``"N"`` -> ``"N"``.

    ``names`` names the roots (index = pitch class; default sharps): with
    ``pitch_names("key", (7, 0))`` (G minor), ``"A#:maj"`` -> ``"Bbmaj"``.
    """
    chord = parse_harte(label)
    return NO_CHORD if chord is None else chord.musicai_in(names)


def musicai_to_harte(label: str) -> str:
    """``"Cmaj"`` -> ``"C:maj"``, ``"Ebmin7"`` -> ``"D#:min7"``, ``"N"`` -> ``"N"``.

    Raises
    ------
    ParameterError
        For a malformed label or a quality outside :data:`QUALITIES`.
    """
    text = label.strip()
    if text == NO_CHORD:
        return NO_CHORD
    root, rest = _root(text)
    for suffix in _MUSICAI_SUFFIXES:
        if rest == suffix:
            return Chord(root, suffix).harte
    raise ParameterError(f"Music.AI label {label!r}: quality {rest!r} not in {sorted(QUALITIES)}")
