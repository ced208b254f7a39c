"""Prompt understanding: free text → style, moods, instruments and tempo words.

Lexicon-based and explainable: every decision is recorded with the words that caused it, and words the
lexicon does not know are listed rather than silently dropped. Phrases are matched longest first, so
"minimal techno" beats "minimal" and "ambient electronic" beats "ambient"; "no drums" / "without piano"
negate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tonearm.generation.styles import DEFAULT_STYLE, STYLES

#: Instrument words → (role the word asks for, GM program 0-based, display name).
INSTRUMENTS: dict[str, tuple[str, int, str]] = {
    "grand piano": ("comp", 0, "acoustic grand piano"),
    "piano": ("comp", 0, "acoustic grand piano"),
    "pianos": ("comp", 0, "acoustic grand piano"),
    "keys": ("comp", 4, "electric piano"),
    "electric piano": ("comp", 4, "electric piano"),
    "rhodes": ("comp", 4, "electric piano"),
    "organ": ("comp", 16, "drawbar organ"),
    "hammond": ("comp", 16, "drawbar organ"),
    "harpsichord": ("comp", 6, "harpsichord"),
    "vibraphone": ("melody", 11, "vibraphone"),
    "vibes": ("melody", 11, "vibraphone"),
    "marimba": ("melody", 12, "marimba"),
    "celesta": ("melody", 8, "celesta"),
    "glockenspiel": ("melody", 9, "glockenspiel"),
    "music box": ("melody", 10, "music box"),
    "bells": ("melody", 14, "tubular bells"),
    "chimes": ("melody", 112, "tinkle bell"),
    "wind chimes": ("melody", 112, "tinkle bell"),
    "guitar": ("comp", 25, "steel-string guitar"),
    "guitars": ("comp", 25, "steel-string guitar"),
    "acoustic guitar": ("comp", 25, "steel-string guitar"),
    "classical guitar": ("comp", 24, "nylon-string guitar"),
    "nylon guitar": ("comp", 24, "nylon-string guitar"),
    "spanish guitar": ("comp", 24, "nylon-string guitar"),
    "jazz guitar": ("comp", 26, "jazz guitar"),
    "electric guitar": ("melody", 29, "overdriven guitar"),
    "electric guitars": ("melody", 29, "overdriven guitar"),
    "distorted guitar": ("melody", 30, "distortion guitar"),
    "bass": ("bass", 33, "electric bass"),
    "basslines": ("bass", 33, "electric bass"),
    "bassline": ("bass", 33, "electric bass"),
    "walking bass": ("bass", 32, "acoustic bass"),
    "upright bass": ("bass", 32, "acoustic bass"),
    "double bass": ("bass", 32, "acoustic bass"),
    "deep bass": ("bass", 38, "synth bass"),
    "synth bass": ("bass", 38, "synth bass"),
    "slap bass": ("bass", 36, "slap bass"),
    "strings": ("pad", 48, "string ensemble"),
    "string ensemble": ("pad", 48, "string ensemble"),
    "orchestral strings": ("pad", 48, "string ensemble"),
    "violin": ("melody", 40, "violin"),
    "violins": ("melody", 40, "violin"),
    "viola": ("melody", 41, "viola"),
    "cello": ("melody", 42, "cello"),
    "harp": ("comp", 46, "harp"),
    "pizzicato": ("comp", 45, "pizzicato strings"),
    "choir": ("pad", 52, "choir aahs"),
    "vocals": ("pad", 52, "choir aahs"),
    "voices": ("pad", 53, "voice oohs"),
    "trumpet": ("melody", 56, "trumpet"),
    "trombone": ("melody", 57, "trombone"),
    "horns": ("melody", 60, "french horn"),
    "french horn": ("melody", 60, "french horn"),
    "brass": ("melody", 61, "brass section"),
    "saxophone": ("melody", 65, "alto sax"),
    "sax": ("melody", 65, "alto sax"),
    "alto sax": ("melody", 65, "alto sax"),
    "tenor sax": ("melody", 66, "tenor sax"),
    "oboe": ("melody", 68, "oboe"),
    "clarinet": ("melody", 71, "clarinet"),
    "flute": ("melody", 73, "flute"),
    "pan flute": ("melody", 75, "pan flute"),
    "synth": ("melody", 81, "saw lead"),
    "synths": ("melody", 81, "saw lead"),
    "synthesizer": ("melody", 81, "saw lead"),
    "synthesizers": ("melody", 81, "saw lead"),
    "lead synth": ("melody", 81, "saw lead"),
    "pad": ("pad", 89, "warm pad"),
    "pads": ("pad", 89, "warm pad"),
    "sitar": ("melody", 104, "sitar"),
    "banjo": ("comp", 105, "banjo"),
    "koto": ("melody", 107, "koto"),
    "kalimba": ("melody", 108, "kalimba"),
    "bagpipe": ("melody", 109, "bagpipe"),
    "fiddle": ("melody", 110, "fiddle"),
    "steel drums": ("melody", 114, "steel drums"),
}

#: Drum words → the kit or layer they ask for.
DRUM_WORDS: dict[str, str] = {
    "drums": "drums",
    "drum": "drums",
    "percussion": "drums",
    "beats": "drums",
    "beat": "drums",
    "brushed drums": "brush",
    "brushwork": "brush",
    "brushes": "brush",
    "808": "tr808",
    "handclaps": "claps",
    "claps": "claps",
    "tabla": "tabla",
    "congas": "congas",
    "bongos": "congas",
}

MOODS: dict[str, tuple[str, float, float]] = {
    # word -> (mode lean: major/minor/"", energy shift, brightness shift)
    "melancholic": ("minor", -0.2, -0.1),
    "melancholy": ("minor", -0.2, -0.1),
    "sad": ("minor", -0.2, -0.1),
    "dark": ("minor", 0.0, -0.15),
    "moody": ("minor", -0.1, -0.1),
    "somber": ("minor", -0.2, -0.1),
    "mysterious": ("minor", -0.1, -0.05),
    "tense": ("minor", 0.1, 0.0),
    "passionate": ("minor", 0.15, 0.0),
    "emotional": ("minor", 0.0, 0.0),
    "nostalgic": ("", -0.1, -0.05),
    "happy": ("major", 0.1, 0.1),
    "joyful": ("major", 0.15, 0.1),
    "cheerful": ("major", 0.1, 0.1),
    "uplifting": ("major", 0.15, 0.1),
    "hopeful": ("major", 0.05, 0.05),
    "bright": ("major", 0.0, 0.1),
    "playful": ("major", 0.1, 0.1),
    "upbeat": ("major", 0.2, 0.05),
    "energetic": ("", 0.25, 0.05),
    "powerful": ("", 0.25, 0.0),
    "driving": ("", 0.2, 0.0),
    "intense": ("", 0.25, 0.0),
    "aggressive": ("minor", 0.3, 0.05),
    "calm": ("", -0.25, -0.05),
    "peaceful": ("major", -0.25, 0.0),
    "gentle": ("", -0.2, -0.05),
    "soft": ("", -0.2, -0.05),
    "smooth": ("", -0.1, -0.05),
    "relaxing": ("", -0.25, -0.05),
    "relaxed": ("", -0.25, -0.05),
    "chill": ("", -0.2, -0.05),
    "mellow": ("", -0.2, -0.1),
    "dreamy": ("", -0.15, 0.0),
    "warm": ("", -0.05, -0.05),
    "romantic": ("", -0.1, 0.0),
    "epic": ("minor", 0.25, 0.05),
    "heroic": ("major", 0.25, 0.05),
}

#: Tempo words → factor on the style's mid tempo.
TEMPO_WORDS: dict[str, float] = {
    "slow": 0.75,
    "slowly": 0.75,
    "ballad": 0.7,
    "downtempo": 0.8,
    "laid-back": 0.85,
    "laid back": 0.85,
    "moderate": 1.0,
    "midtempo": 1.0,
    "fast": 1.3,
    "uptempo": 1.25,
    "up-tempo": 1.25,
    "frantic": 1.45,
    "rapid": 1.35,
    "quick": 1.25,
}

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "with",
        "of",
        "in",
        "on",
        "for",
        "to",
        "by",
        "from",
        "at",
        "as",
        "or",
        "but",
        "its",
        "it",
        "is",
        "are",
        "be",
        "some",
        "very",
        "really",
        "music",
        "song",
        "track",
        "tune",
        "piece",
        "style",
        "feel",
        "feeling",
        "vibe",
        "vibes",
        "sound",
        "sounds",
        "sounding",
        "like",
        "using",
        "featuring",
        "plus",
        "lots",
        "lot",
        "more",
        "less",
        "background",
        "instrumental",
        "that",
        "this",
        "which",
        "into",
        "over",
        "under",
    ]
)

_NEGATIONS = ("no", "without", "minus")
_BPM = re.compile(r"\b(\d{2,3})\s*(?:bpm|beats per minute)\b")


@dataclass
class Interpretation:
    """What the prompt was understood to ask for, and why."""

    style: str
    style_words: list[str] = field(default_factory=list)
    fallback: str | None = None  # why the style was not named (None when it was)
    moods: list[str] = field(default_factory=list)
    mode_lean: str | None = None  # "major" | "minor" when mood words lean one way
    energy: float = 0.0  # -1 (calm) .. +1 (intense)
    brightness_shift: float = 0.0
    instruments: list[tuple[str, int, str]] = field(default_factory=list)  # (role, program, name)
    drum_words: list[str] = field(default_factory=list)
    no_drums: bool = False
    negated: list[str] = field(default_factory=list)
    tempo_factor: float | None = None
    tempo_words: list[str] = field(default_factory=list)
    prompt_bpm: int | None = None
    unknown_words: list[str] = field(default_factory=list)


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9'\- ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _phrases() -> dict[str, list[tuple[str, object]]]:
    table: dict[str, list[tuple[str, object]]] = {}
    for style in STYLES.values():
        for word in style.keywords:
            table.setdefault(word, []).append(("style", style.id))
    for word, inst in INSTRUMENTS.items():
        table.setdefault(word, []).append(("instrument", inst))
    for word, kind in DRUM_WORDS.items():
        table.setdefault(word, []).append(("drums", kind))
    for word, mood in MOODS.items():
        table.setdefault(word, []).append(("mood", mood))
    for word, factor in TEMPO_WORDS.items():
        table.setdefault(word, []).append(("tempo", factor))
    for genre in ("jazz", "electronic", "classical", "world", "orchestral"):
        table.setdefault(genre, []).append(("genre", genre))
    return table


_PHRASES = _phrases()
_MAX_WORDS = max(len(p.split()) for p in _PHRASES)
#: A bare genre word picks the genre's most typical sub-style.
_GENRE_DEFAULT = {
    "jazz": "cool_jazz",
    "electronic": "house",
    "classical": "romantic",
    "world": "afrobeat",
    "orchestral": "cinematic",
}
#: Instruments that imply a style when no style word is given.
_INSTRUMENT_STYLE = {
    "harpsichord": "baroque",
    "sitar": "indian_classical",
    "nylon-string guitar": "flamenco",
    "alto sax": "cool_jazz",
    "tenor sax": "cool_jazz",
    "acoustic bass": "cool_jazz",
    "vibraphone": "lounge_jazz",
    "overdriven guitar": "classic_rock",
    "distortion guitar": "classic_rock",
    "synth bass": "minimal_techno",
    "string ensemble": "cinematic",
    "choir aahs": "cinematic",
    "warm pad": "ambient",
    "tinkle bell": "ambient",
    "slap bass": "funk_disco",
}


def interpret(prompt: str) -> Interpretation:
    """Read a prompt.

    Style scores: a style keyword scores its word count + 1 (so specific phrases win), a bare genre word
    1, an instrument that implies a style 0.5. Ties go to the earliest mention.
    """
    words = _normalise(prompt).split()
    found = Interpretation(style=DEFAULT_STYLE)
    bpm = _BPM.search(" ".join(words))
    if bpm and 40 <= int(bpm.group(1)) <= 240:
        found.prompt_bpm = int(bpm.group(1))
    scores: dict[str, tuple[float, int]] = {}
    genre_words: list[tuple[str, int]] = []
    energy = 0.0
    leans: list[str] = []
    i = 0
    while i < len(words):
        negate = words[i] in _NEGATIONS
        start = i + 1 if negate else i
        for n in range(min(_MAX_WORDS, len(words) - start), 0, -1):
            phrase = " ".join(words[start : start + n])
            if phrase in _PHRASES:
                break
        else:
            word = words[i]
            tempo_unit = word in ("bpm", "per") or (word in ("beats", "minute") and found.prompt_bpm)
            if not negate and word not in STOPWORDS and not word.isdigit() and not tempo_unit:
                found.unknown_words.append(word)
            i += 1
            continue
        if negate:
            found.negated.append(phrase)
            if any(kind == "drums" for kind, _ in _PHRASES[phrase]):
                found.no_drums = True
            i = start + n
            continue
        for kind, value in _PHRASES[phrase]:
            if kind == "style":
                score = len(phrase.split()) + 1.0
                best, first = scores.get(str(value), (0.0, start))
                scores[str(value)] = (max(best, score), min(first, start))
                found.style_words.append(phrase)
            elif kind == "genre":
                genre_words.append((str(value), start))
                found.style_words.append(phrase)
            elif kind == "instrument":
                assert isinstance(value, tuple)
                found.instruments.append(value)
                implied = _INSTRUMENT_STYLE.get(value[2])
                if implied:
                    best, first = scores.get(implied, (0.0, start))
                    scores[implied] = (max(best, 0.5), min(first, start))
            elif kind == "drums":
                found.drum_words.append(str(value))
            elif kind == "mood":
                assert isinstance(value, tuple)
                found.moods.append(phrase)
                if value[0]:
                    leans.append(value[0])
                energy += value[1]
                found.brightness_shift += value[2]
            elif kind == "tempo":
                assert isinstance(value, float)
                found.tempo_words.append(phrase)
                found.tempo_factor = value
        i = start + n
    for genre, position in genre_words:
        # a bare genre word supports its sub-styles already named, else picks the genre's default
        named = [
            s for s in scores if STYLES[s].genre == genre or (genre == "orchestral" and s == "cinematic")
        ]
        for style in named or [_GENRE_DEFAULT[genre]]:
            best, first = scores.get(style, (0.0, position))
            scores[style] = (best + 1.0, min(first, position))
    if scores:
        found.style = max(scores, key=lambda s: (scores[s][0], -scores[s][1]))
        if max(s for s, _ in scores.values()) < 1.0:
            found.fallback = "no style was named; the instruments suggest it"
    elif found.moods:
        found.style = "ambient" if energy < -0.1 else "cinematic" if energy > 0.2 else DEFAULT_STYLE
        found.fallback = "no style or instrument was named; chosen from the mood words"
    else:
        found.fallback = f"nothing in the prompt names a style; {DEFAULT_STYLE} is the default"
    if leans:
        found.mode_lean = max(set(leans), key=lambda m: (leans.count(m), -leans.index(m)))
    found.energy = max(-1.0, min(1.0, energy))
    found.brightness_shift = max(-0.3, min(0.3, found.brightness_shift))
    return found
