"""Note names of pitch classes: spelled in the key (``Bb`` in G minor, ``G#`` in E major), or all sharps
or all flats. Standard library only, so labels can be named anywhere without the audio stack.

Key-aware spelling
------------------
1. **The key's name.** Of the two enharmonic names of a tonic, the one with the fewer accidentals in its
   signature, and by convention ``Gb major`` (not ``F#``) and ``Eb minor`` (not ``D#``) where both have
   six: majors ``C Db D Eb E F Gb G Ab A Bb B``, minors ``C C# D Eb E F F# G G# A Bb B``. Flat keys
   (F, Bb, Eb, Ab, Db, Gb major; D, G, C, F, Bb, Eb minor) therefore spell with flats, sharp keys with
   sharps.
2. **Every pitch class relative to the tonic** gets the letter of its scale degree, counting the
   chromatic ones as the usual altered degrees: 1, b2, 2, b3, 3, 4, #4, 5, b6, 6, b7, 7. So the diatonic
   chords of either mode come out as in a lead sheet (G minor: ``Gmin Cmin D7 Ebmaj Fmaj Bbmaj``; E major:
   ``G#min C#min``), borrowed chords as musicians write them (``Bbmaj`` and ``Abmaj`` in C major, the
   Neapolitan ``Dbmaj`` in C minor), the raised leading tone of a minor key with a sharp (``F#dim`` in
   G minor) and the #iv half-diminished too (``F#`` in C major).
3. A name that would need a double accidental (the bII of Gb major, ``Abb``), and ``Cb``, ``Fb``,
   ``E#``, ``B#`` on a degree outside the scale (the bII of Bb major), are written with the plain
   enharmonic in the key's direction instead (``G``, ``B``). On a scale degree those four stay, as a
   score writes them: ``Cb`` is IV of Gb major and VI of Eb minor, ``B#`` the leading tone of C# minor.

``sharps`` (``C# D# F# G# A#``: Spotify's names, and the default under Music.AI's slug, see
``docs/music-ai.md``) and ``flats`` (``Db Eb Gb Ab Bb``) ignore the key.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

__all__ = [
    "FLATS",
    "SHARPS",
    "SPELLINGS",
    "Spelling",
    "key_name",
    "parse_key",
    "parse_pitch_class",
    "pitch_names",
]

#: How pitch classes are named: in the key, or always with sharps or with flats.
Spelling = Literal["key", "sharps", "flats"]
SPELLINGS: tuple[Spelling, ...] = get_args(Spelling)

#: Pitch-class names with sharps, index = pitch class (C = 0), as Spotify's ``key``.
SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Pitch-class names with flats.
FLATS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

#: The tonic's name in key-aware spelling, by mode (1 major, 0 minor) and pitch class.
_TONIC_NAMES = {
    1: ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"),
    0: ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}
#: Flat keys whose tonic has no accidental.
_NATURAL_FLAT_KEYS = {("F", 1), ("D", 0), ("G", 0), ("C", 0), ("F", 0)}
#: Semitones above the tonic of the scale degrees, by mode: major; natural minor with the raised 6th and
#: 7th of its melodic and harmonic forms.
_SCALE = {1: frozenset((0, 2, 4, 5, 7, 9, 11)), 0: frozenset((0, 2, 3, 5, 7, 8, 9, 10, 11))}
#: Names kept only on a scale degree (``Cb`` as IV of Gb major, ``E#`` as vii of F# major).
_ODD = frozenset(("Cb", "Fb", "E#", "B#"))
_LETTERS = "CDEFGAB"
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: Letter steps above the tonic of each semitone above it: 1 b2 2 b3 3 4 #4 5 b6 6 b7 7.
_DEGREE_STEPS = (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6)
_NOTE = re.compile(r"^\s*([A-Ga-g])(#|b|♯|♭)?")
_ACCIDENTAL = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
_KEY = re.compile(r"^\s*([A-Ga-g](?:#|b|♯|♭)?)[\s:]*(major|minor|maj|min)\s*$", re.IGNORECASE)


def parse_pitch_class(name: str) -> int:
    """Pitch class of a note name with at most one accidental (``"Bb"``, ``"F#"``, ``"e"``, ``"Cb"``).

    Raises
    ------
    ValueError
        When ``name`` is not a note name.
    """
    m = _NOTE.match(name)
    if m is None or m.end() != len(name.rstrip()):
        raise ValueError(f"{name!r} is not a note name (A-G, then optionally # or b)")
    return (_LETTER_PC[m.group(1).upper()] + _ACCIDENTAL[m.group(2) or ""]) % 12


def parse_key(name: str) -> tuple[int, int]:
    """``(tonic pitch class, mode)`` of a key name in any spelling: ``"A# major"``, ``"Bb minor"``,
    ``"C Major"`` -> ``(10, 1)``, ``(10, 0)``, ``(0, 1)``; mode 1 major, 0 minor (Spotify's).

    Raises
    ------
    ValueError
        When ``name`` is not a key name.
    """
    m = _KEY.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a key name such as 'Bb major' or 'F# minor'")
    return parse_pitch_class(m.group(1)), 0 if m.group(2).lower().startswith("min") else 1


def _name(letter_index: int, pc: int) -> str | None:
    """``letter`` with the accidental that makes it ``pc``; ``None`` past one accidental."""
    letter = _LETTERS[letter_index % 7]
    diff = (pc - _LETTER_PC[letter] + 6) % 12 - 6  # in -6..5
    return {0: letter, 1: letter + "#", -1: letter + "b"}.get(diff)


def pitch_names(spelling: Spelling = "key", key: tuple[int, int] | None = None) -> tuple[str, ...]:
    """The twelve pitch-class names (index = pitch class) in ``spelling``.

    Parameters
    ----------
    spelling : {"key", "sharps", "flats"}
    key : (tonic, mode), optional
        The key, for ``"key"`` (see the module docstring); without one, ``"key"`` spells as in C major
        (``C C# D Eb E F F# G Ab A Bb B``).

    Raises
    ------
    ValueError
        For an unknown spelling or key.
    """
    if spelling == "sharps":
        return SHARPS
    if spelling == "flats":
        return FLATS
    if spelling != "key":
        raise ValueError(f"spelling {spelling!r} is not one of {', '.join(SPELLINGS)}")
    return _in_key(*(key or (0, 1)))


def key_name(tonic: int, mode: int, spelling: Spelling = "key") -> str:
    """``"Bb major"``, ``"Eb minor"``, ``"G# minor"`` (``"key"``); ``"A# major"`` with ``"sharps"``."""
    if mode not in (0, 1) or not 0 <= tonic < 12:
        raise ValueError(f"no key with tonic {tonic} and mode {mode}")
    names = _TONIC_NAMES[mode] if spelling == "key" else pitch_names(spelling)
    return f"{names[tonic]} {'major' if mode == 1 else 'minor'}"


def _in_key(tonic: int, mode: int) -> tuple[str, ...]:
    if mode not in (0, 1) or not 0 <= tonic < 12:
        raise ValueError(f"no key with tonic {tonic} and mode {mode}")
    tonic_name = _TONIC_NAMES[mode][tonic]
    plain = FLATS if tonic_name.endswith("b") or (tonic_name, mode) in _NATURAL_FLAT_KEYS else SHARPS
    tonic_letter = _LETTERS.index(tonic_name[0])
    names = []
    for pc in range(12):
        interval = (pc - tonic) % 12
        spelled = _name(tonic_letter + _DEGREE_STEPS[interval], pc)
        if spelled is None or (spelled in _ODD and interval not in _SCALE[mode]):
            spelled = plain[pc]
        names.append(spelled)
    return tuple(names)
