"""Task types: the label sets tonearm's tagging answers, each label tied to the model tags behind it.

Two models stand behind every answer (``models/musicnn``): MTT_musicnn (50 MagnaTagATune tags:
instruments, genres, moods, vocals) and MSD_musicnn (50 Last.fm tags from the Million Song Dataset:
genres, moods, vocal gender, decades). ``MusicTaggingMTT`` and ``MusicTaggingMSD`` are the raw tag
sets. The other task types are tonearm's, built only from labels the two vocabularies can support:
each label's probability is the **largest** probability among its source tags (a label is as likely
as its most confident evidence; averaging would punish a label for having several names, and a
noisy-OR would inflate it). Labels no tag supports are not offered, and task types that need another
kind of model (language, e.g. SAMI's ``MusicTaggingLang30``) are listed in :data:`NOT_ESTIMABLE`, to be
refused.

SAMI's own task types (:data:`SAMI_TASK_TYPES`: ``MusicTaggingVocal``, ``MusicTaggingMood10``,
``MusicTaggingGenre34``/``MusicTaggingGenre17``, ``MusicTaggingTheme24``) answer with SAMI's label
vocabularies (:data:`SAMI_VOCABULARIES`), by the same rule; the SAMI labels no tag supports are left out
of the answer and named in the task type's ``unsupported`` instead (nothing is invented for them).

Custom task types ("heads", ``tonearm heads train``) are small classifiers trained on the two models'
embeddings (:mod:`tonearm.tagging.heads`): a :class:`TaskType` whose ``head`` answers it.
:func:`tonearm.tagging.task_types.resolve_task_types` looks names up, builtin ones here first.

This module is data: it imports nothing from tonearm, so every module that needs a task type can import
it. The source tags of every label are listed here (the single source of truth) and rendered into the
model card, ``models/musicnn/TASK_TYPES.md``, by ``python -m tonearm.tagging.taxonomy``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "ACOUSTICSENSE_GENRES",
    "ACOUSTICSENSE_UNSUPPORTED",
    "MODEL_MSD",
    "MODEL_MTT",
    "MSD_TAGS",
    "MTT_TAGS",
    "NOT_ESTIMABLE",
    "SAMI_TASK_TYPES",
    "SAMI_VOCABULARIES",
    "TASK_TYPES",
    "Label",
    "TaskHead",
    "TaskType",
    "is_refused",
    "render_markdown",
]

MODEL_MTT = "mtt_musicnn"
MODEL_MSD = "msd_musicnn"

#: Output order of MTT_musicnn (musicnn/configuration.py).
MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
    "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
    "choral",
)  # fmt: skip

#: Output order of MSD_musicnn (musicnn/configuration.py).
MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk",
    "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar",
    "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro",
    "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip


@dataclass(frozen=True)
class Label:
    """One label of a task type and the model tags (``"mtt:<tag>"`` / ``"msd:<tag>"``) behind it."""

    name: str
    sources: tuple[str, ...]


class TaskHead(Protocol):
    """What answers a custom task type: a trained head (:class:`tonearm.tagging.heads.lookup.Head`).

    Declared here, by what the tagger asks of it, so that this module names no module above it.
    """

    @property
    def models(self) -> tuple[str, ...]:
        """Models whose per-patch embeddings are concatenated into the input, in order."""
        ...

    def predict(self, embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Label probabilities of embedding rows, shape ``(n, n_labels)``, in label order."""
        ...


@dataclass(frozen=True)
class TaskType:
    """A named label set.

    A builtin task type reads its labels' source tags. A custom one (``head`` set) has labels without
    source tags: its trained head maps the embeddings of ``head.models`` to the label probabilities.
    A SAMI task type keeps SAMI's label order; its labels no tag supports are left out of ``labels``
    and named in ``unsupported``.
    """

    name: str
    description: str
    labels: tuple[Label, ...]
    head: TaskHead | None = field(default=None, compare=False, repr=False)
    #: Labels of a foreign vocabulary (SAMI's) that no tag supports: never answered, only named.
    unsupported: tuple[str, ...] = ()

    @property
    def models(self) -> frozenset[str]:
        """The models whose tags (builtin) or embeddings (custom head) this task type reads."""
        if self.head is not None:
            return frozenset(self.head.models)
        prefixes = {source.split(":", 1)[0] for label in self.labels for source in label.sources}
        return frozenset({"mtt": MODEL_MTT, "msd": MODEL_MSD}[p] for p in prefixes)


def _l(name: str, *sources: str) -> Label:
    return Label(name=name, sources=sources)


def _raw(name: str, prefix: str, tags: tuple[str, ...], description: str) -> TaskType:
    return TaskType(name, description, tuple(_l(tag, f"{prefix}:{tag}") for tag in tags))


_TONEARM_TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        _raw("MusicTaggingMTT", "mtt", MTT_TAGS, "The 50 MagnaTagATune tags of MTT_musicnn, as trained."),
        _raw("MusicTaggingMSD", "msd", MSD_TAGS, "The 50 Last.fm tags of MSD_musicnn, as trained."),
        TaskType(
            "Genre",
            "Genres both vocabularies support.",
            (
                _l("Pop", "msd:pop", "msd:indie pop", "mtt:pop"),
                _l("Rock", "msd:rock", "msd:classic rock", "msd:alternative rock", "msd:indie rock",
                   "msd:hard rock", "msd:Progressive rock", "mtt:rock"),
                _l("Alternative/Indie", "msd:alternative", "msd:indie"),
                _l("Punk", "msd:punk"),
                _l("Metal", "msd:metal", "msd:heavy metal", "mtt:metal"),
                _l("Electronic", "msd:electronic", "msd:electronica", "msd:electro", "mtt:electronic"),
                _l("Dance", "msd:dance", "mtt:dance"),
                _l("House", "msd:House"),
                _l("Techno", "mtt:techno"),
                _l("Ambient", "msd:ambient", "mtt:ambient"),
                _l("Chillout", "msd:chillout", "msd:chill"),
                _l("New Age", "mtt:new age"),
                _l("Hip-Hop", "msd:Hip-Hop"),
                _l("R&B/Soul", "msd:rnb", "msd:soul"),
                _l("Funk", "msd:funk"),
                _l("Jazz", "msd:jazz"),
                _l("Blues", "msd:blues"),
                _l("Country", "msd:country", "mtt:country"),
                _l("Folk", "msd:folk"),
                _l("Classical", "mtt:classical", "mtt:classic"),
                _l("Opera", "mtt:opera"),
                _l("Indian", "mtt:indian", "mtt:sitar"),
                _l("Easy Listening", "msd:easy listening"),
                _l("Experimental", "msd:experimental", "mtt:weird"),
            ),
        ),
        TaskType(
            "Mood",
            "Moods and energy.",
            (
                _l("Happy", "msd:happy"),
                _l("Sad", "msd:sad"),
                _l("Mellow", "msd:Mellow"),
                _l("Chill", "msd:chill", "msd:chillout"),
                _l("Beautiful", "msd:beautiful"),
                _l("Sexy", "msd:sexy"),
                _l("Catchy", "msd:catchy"),
                _l("Soft", "mtt:soft", "mtt:quiet"),
                _l("Loud", "mtt:loud"),
                _l("Fast", "mtt:fast"),
                _l("Slow", "mtt:slow"),
                _l("Weird", "mtt:weird"),
            ),
        ),
        TaskType(
            "Vocal",
            "Whether and who sings.",
            (
                _l("Female", "mtt:female", "mtt:woman", "mtt:female vocal", "mtt:female voice",
                   "msd:female vocalists", "msd:female vocalist"),
                _l("Male", "mtt:male", "mtt:man", "mtt:male vocal", "mtt:male voice", "msd:male vocalists"),
                _l("Choir", "mtt:choir", "mtt:choral"),
                _l("Vocal", "mtt:vocal", "mtt:vocals", "mtt:voice", "mtt:singing"),
                _l("Instrumental", "mtt:no vocals", "mtt:no vocal", "mtt:no voice", "msd:instrumental"),
            ),
        ),
        TaskType(
            "Theme",
            "Listening situations the Last.fm tags describe.",
            (
                _l("Party", "msd:party", "msd:dance"),
                _l("Relaxation", "msd:chillout", "msd:chill", "msd:easy listening", "msd:Mellow"),
                _l("Romance", "msd:sexy", "msd:beautiful"),
            ),
        ),
        TaskType(
            "Instrument",
            "Instruments MagnaTagATune tags (beyond SAMI).",
            (
                _l("Guitar", "mtt:guitar", "msd:guitar"),
                _l("Piano", "mtt:piano"),
                _l("Strings", "mtt:strings"),
                _l("Violin", "mtt:violin"),
                _l("Cello", "mtt:cello"),
                _l("Harp", "mtt:harp"),
                _l("Harpsichord", "mtt:harpsichord"),
                _l("Flute", "mtt:flute"),
                _l("Sitar", "mtt:sitar"),
                _l("Drums", "mtt:drums", "mtt:beat", "mtt:beats"),
                _l("Synth", "mtt:synth"),
            ),
        ),
        TaskType(
            "Era",
            "Decade, from the Last.fm tags (beyond SAMI).",
            (
                _l("60s", "msd:60s"),
                _l("70s", "msd:70s"),
                _l("80s", "msd:80s"),
                _l("90s", "msd:90s"),
                _l("00s", "msd:00s"),
                _l("Oldies", "msd:oldies"),
            ),
        ),
    )
}  # fmt: skip

#: SAMI MusicTagging's label vocabularies, in SAMI's order (the appendix of SAMI's MusicTagging
#: document, "音乐标签模型列表"). ``mb_soul`` is spelled as the document spells it.
SAMI_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "MusicTaggingVocal": ("vocal", "non_vocal"),
    "MusicTaggingMood10": (
        "cute", "dynamic", "tense", "weird", "sorrow", "chill", "excited", "happy", "angry", "romantic",
    ),
    "MusicTaggingGenre34": (
        "pop", "rock", "electronic", "hiphop_rap", "reggae", "mb_soul", "Metal", "Jazz", "Blues", "Country",
        "Folk", "Indie", "K_pop", "Indie_Pop", "Muslim", "Indo_Christian", "Bollywood", "Bollywood_Retro",
        "Urban_Punjabi_Pop", "Tamil_Film_Music", "Kannada_Film_Music", "Telugu_Film_Music",
        "Indian_Independent", "Malayalam_Film_Music", "Sertanejo", "Baile_Funk", "Gospel", "Samba", "Pagode",
        "MPB", "Forro", "Axe", "Reggaeton", "Brazilian_Punk",
    ),
    "MusicTaggingTheme24": (
        "kadian", "DIY", "family", "sound_effect", "campus", "ACG", "game", "pet", "Beauty_fashion", "travel",
        "Chinese_Style", "cool", "disco_dance", "vlog", "dance", "dj", "food", "love", "rainy", "sport",
        "spring", "summer", "sunny", "funny",
    ),
    "MusicTaggingLang30": (
        "en", "es", "fr", "pt", "it", "de", "cmn", "id", "ja", "hi", "pa", "tl", "ru", "tr", "ms", "th", "ko",
        "pl", "ar", "ta", "te", "ml", "kn", "bn", "gu", "mr", "bho", "yue", "minnan", "other",
    ),
}  # fmt: skip

#: The SAMI labels the tags support, and their source tags (same rule: the largest probability wins).
#: A SAMI label not listed here has no tag that names it or a synonym of it, and is not answered.
_SAMI_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "MusicTaggingVocal": {
        "vocal": ("mtt:vocal", "mtt:vocals", "mtt:voice", "mtt:singing", "mtt:female", "mtt:male",
                  "mtt:woman", "mtt:man", "mtt:female vocal", "mtt:male vocal", "mtt:female voice",
                  "mtt:male voice", "mtt:choir", "mtt:choral", "msd:female vocalists", "msd:female vocalist",
                  "msd:male vocalists"),
        "non_vocal": ("mtt:no vocals", "mtt:no vocal", "mtt:no voice", "msd:instrumental"),
    },
    "MusicTaggingMood10": {
        "dynamic": ("mtt:fast", "mtt:dance", "msd:dance"),
        "weird": ("mtt:weird",),
        "sorrow": ("msd:sad",),
        "chill": ("msd:chill", "msd:chillout", "msd:Mellow", "mtt:quiet", "mtt:soft"),
        "happy": ("msd:happy",),
        "romantic": ("msd:sexy", "msd:beautiful"),
    },
    "MusicTaggingGenre34": {
        "pop": ("msd:pop", "mtt:pop"),
        "rock": ("msd:rock", "msd:classic rock", "msd:alternative rock", "msd:indie rock", "msd:hard rock",
                 "msd:Progressive rock", "msd:punk", "mtt:rock"),
        "electronic": ("msd:electronic", "msd:electronica", "msd:electro", "msd:House", "mtt:electronic",
                       "mtt:techno"),
        "hiphop_rap": ("msd:Hip-Hop",),
        "mb_soul": ("msd:rnb", "msd:soul"),
        "Metal": ("msd:metal", "msd:heavy metal", "mtt:metal"),
        "Jazz": ("msd:jazz",),
        "Blues": ("msd:blues",),
        "Country": ("msd:country", "mtt:country"),
        "Folk": ("msd:folk",),
        "Indie": ("msd:indie", "msd:indie rock"),
        "Indie_Pop": ("msd:indie pop",),
    },
    "MusicTaggingTheme24": {
        "dance": ("msd:dance", "mtt:dance"),
        "love": ("msd:sexy", "msd:beautiful"),
    },
}  # fmt: skip


def _sami(name: str, vocabulary: str, description: str) -> TaskType:
    """A SAMI task type over ``vocabulary``: its supported labels in SAMI's order, the rest unsupported."""
    sources = _SAMI_SOURCES[vocabulary]
    labels = SAMI_VOCABULARIES[vocabulary]
    return TaskType(
        name,
        description,
        tuple(_l(label, *sources[label]) for label in labels if label in sources),
        unsupported=tuple(label for label in labels if label not in sources),
    )


#: SAMI's task types, answered with SAMI's labels (``MusicTaggingMTT`` is tonearm's, above: the same 50
#: MagnaTagATune tags). SAMI's samples request ``MusicTaggingGenre17``, whose 17 labels SAMI does not
#: document: it is answered with the documented genre vocabulary, ``MusicTaggingGenre34``'s.
SAMI_TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        _sami("MusicTaggingVocal", "MusicTaggingVocal", "SAMI's 2 vocal labels."),
        _sami("MusicTaggingMood10", "MusicTaggingMood10", "SAMI's 10 moods."),
        _sami("MusicTaggingGenre34", "MusicTaggingGenre34", "SAMI's 34 genres."),
        _sami(
            "MusicTaggingGenre17",
            "MusicTaggingGenre34",
            "Requested by SAMI's samples; SAMI documents no 17-genre list, so it is answered with "
            "MusicTaggingGenre34's labels.",
        ),
        _sami("MusicTaggingTheme24", "MusicTaggingTheme24", "SAMI's 24 themes (scenes)."),
    )
}

TASK_TYPES: dict[str, TaskType] = {**_TONEARM_TASK_TYPES, **SAMI_TASK_TYPES}

#: AcousticSense's 16 genres, those the tags support. Disco, Latin, Rap (as distinct from Hip-Hop) and
#: Reggae have no tag in either vocabulary and are never reported.
ACOUSTICSENSE_GENRES = TaskType(
    "AcousticSenseGenre",
    "AcousticSense's genre list, restricted to the genres the tags support.",
    (
        _l("Blues", "msd:blues"),
        _l("Classical", "mtt:classical", "mtt:classic"),
        _l("Country", "msd:country", "mtt:country"),
        _l("Electronic", "msd:electronic", "msd:electronica", "msd:electro", "msd:House", "mtt:electronic",
           "mtt:techno"),
        _l("Folk", "msd:folk"),
        _l("Hip-Hop", "msd:Hip-Hop"),
        _l("Jazz", "msd:jazz"),
        _l("Metal", "msd:metal", "msd:heavy metal", "mtt:metal"),
        _l("Pop", "msd:pop", "msd:indie pop", "mtt:pop"),
        _l("R&B", "msd:rnb", "msd:soul"),
        _l("Rock", "msd:rock", "msd:classic rock", "msd:alternative rock", "msd:indie rock", "msd:hard rock",
           "msd:Progressive rock", "msd:punk", "mtt:rock"),
        _l("World", "mtt:indian", "mtt:sitar"),
    ),
)  # fmt: skip
#: AcousticSense genres no tag supports.
ACOUSTICSENSE_UNSUPPORTED = ("Disco", "Latin", "Rap", "Reggae")

#: Task types of SAMI that need a kind of model tonearm does not have, and why.
NOT_ESTIMABLE: dict[str, str] = {
    "MusicTaggingLang30": "the language of the lyrics needs a language-identification model",
    "MusicTaggingLang24": "the language of the lyrics needs a language-identification model",
    "Lang30": "the language of the lyrics needs a language-identification model",
    "Lang": "the language of the lyrics needs a language-identification model",
    "Scene": "neither tag vocabulary describes scenes",
}


def is_refused(name: str) -> bool:
    """Whether ``name`` is a SAMI task type tonearm knows it cannot estimate (e.g. ``Lang30``)."""
    return name in NOT_ESTIMABLE


def render_markdown() -> str:
    """The task types as a markdown document (for the model card)."""
    lines = [
        "# tonearm task types over musicnn tags",
        "",
        "Generated by `python -m tonearm.tagging.taxonomy` from `tonearm/tagging/taxonomy.py`.",
        "A label's probability is the largest probability among its source tags",
        "(`mtt:` = MTT_musicnn, `msd:` = MSD_musicnn).",
        "",
    ]
    for task in _TONEARM_TASK_TYPES.values():
        lines += _render_task(task)
    lines += [
        "## SAMI task types",
        "",
        "SAMI MusicTagging's task types, answered with SAMI's labels in SAMI's order (the appendix of",
        "SAMI's MusicTagging document). A SAMI label no tag supports is not estimated: it is left out of",
        "the answer's `tags` and `pred` (`pred_dim` counts the labels answered) and named in",
        "`task_output.unsupported_tags`. `MusicTaggingMTT` is the tag set above.",
        "",
    ]
    for task in SAMI_TASK_TYPES.values():
        lines += _render_task(task, level="###")
    lines += [
        f"## AcousticSense genres ({ACOUSTICSENSE_GENRES.name})",
        "",
        ACOUSTICSENSE_GENRES.description,
        "",
    ]
    lines += ["| Genre | Source tags |", "|---|---|"]
    lines += [f"| {label.name} | {', '.join(label.sources)} |" for label in ACOUSTICSENSE_GENRES.labels]
    lines += ["", "Not reported (no tag supports them): " + ", ".join(ACOUSTICSENSE_UNSUPPORTED), ""]
    lines += ["## Refused", ""]
    lines += [f"- `{name}`: {why}" for name, why in NOT_ESTIMABLE.items()]
    lines += [
        "",
        "A refused SAMI task type fails alone: the other task types of the request are answered.",
        "Labels of `MusicTaggingLang30`, none of them supported: "
        + ", ".join(SAMI_VOCABULARIES["MusicTaggingLang30"])
        + ". SAMI does not document `MusicTaggingLang24`'s 24 labels.",
    ]
    return "\n".join(lines) + "\n"


def _render_task(task: TaskType, *, level: str = "##") -> list[str]:
    lines = [f"{level} {task.name}", "", task.description, "", "| Label | Source tags |", "|---|---|"]
    lines += [f"| {label.name} | {', '.join(label.sources)} |" for label in task.labels]
    if task.unsupported:
        why = "no tag names them or a synonym; left out of the answer"
        lines += ["", f"Unsupported ({why}): " + ", ".join(task.unsupported)]
    lines.append("")
    return lines


if __name__ == "__main__":  # pragma: no cover - documentation generator
    sys.stdout.write(render_markdown())
