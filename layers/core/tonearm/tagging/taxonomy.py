"""Task types: the label sets tonearm's tagging answers, each label tied to the model tags behind it.

Two models stand behind every answer (``models/musicnn``): MTT_musicnn (50 MagnaTagATune tags:
instruments, genres, moods, vocals) and MSD_musicnn (50 Last.fm tags from the Million Song Dataset:
genres, moods, vocal gender, decades). ``MusicTaggingMTT`` and ``MusicTaggingMSD`` are the raw tag
sets. The other task types are tonearm's, built only from labels the two vocabularies can support:
each label's probability is the **largest** probability among its source tags (a label is as likely
as its most confident evidence; averaging would punish a label for having several names, and a
noisy-OR would inflate it). Labels no tag supports are not offered, and task types that need another
kind of model (language, e.g. SAMI's ``Lang30``) are refused with :class:`UnsupportedTaskTypeError`.

Custom task types ("heads", ``tonearm heads train``) are small classifiers trained on the two models'
embeddings; :func:`resolve_task_types` finds them in the heads folder (``tonearm.tagging.heads``) after
the builtin task types, as a :class:`TaskType` whose ``head`` answers it.

The source tags of every label are listed here (the single source of truth) and rendered into the
model card, ``models/musicnn/TASK_TYPES.md``, by ``python -m tonearm.tagging.taxonomy``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tonearm.errors import TonearmError

if TYPE_CHECKING:  # heads imports this module; the reverse import happens lazily, at lookup
    from tonearm.tagging.heads import Head, HeadStore

__all__ = [
    "ACOUSTICSENSE_GENRES",
    "ACOUSTICSENSE_UNSUPPORTED",
    "MODEL_MSD",
    "MODEL_MTT",
    "MSD_TAGS",
    "MTT_TAGS",
    "TASK_TYPES",
    "Label",
    "TaskType",
    "UnsupportedTaskTypeError",
    "is_refused",
    "resolve_task_types",
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


@dataclass(frozen=True)
class TaskType:
    """A named label set.

    A builtin task type reads its labels' source tags. A custom one (``head`` set) has labels without
    source tags: its trained head maps the embeddings of ``head.models`` to the label probabilities.
    """

    name: str
    description: str
    labels: tuple[Label, ...]
    head: Head | None = field(default=None, compare=False, repr=False)

    @property
    def models(self) -> frozenset[str]:
        """The models whose tags (builtin) or embeddings (custom head) this task type reads."""
        if self.head is not None:
            return frozenset(self.head.models)
        prefixes = {source.split(":", 1)[0] for label in self.labels for source in label.sources}
        return frozenset({"mtt": MODEL_MTT, "msd": MODEL_MSD}[p] for p in prefixes)


class UnsupportedTaskTypeError(TonearmError):
    """A task type no model here can estimate, or an unknown one."""

    code = "unsupported_task_type"
    status = 400


def _l(name: str, *sources: str) -> Label:
    return Label(name=name, sources=sources)


def _raw(name: str, prefix: str, tags: tuple[str, ...], description: str) -> TaskType:
    return TaskType(name, description, tuple(_l(tag, f"{prefix}:{tag}") for tag in tags))


TASK_TYPES: dict[str, TaskType] = {
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
_NOT_ESTIMABLE = {
    "Lang30": "the language of the lyrics needs a language-identification model",
    "Lang": "the language of the lyrics needs a language-identification model",
    "Scene": "neither tag vocabulary describes scenes",
}


def is_refused(name: str) -> bool:
    """Whether ``name`` is a SAMI task type tonearm knows it cannot estimate (e.g. ``Lang30``)."""
    return name in _NOT_ESTIMABLE


def resolve_task_types(names: list[str], *, heads: HeadStore | None = None) -> list[TaskType]:
    """Look the requested task types up, refusing any that no model here can estimate.

    Builtin task types come first; a name that is not builtin is looked up among the custom heads
    (``tonearm.tagging.heads``), so a head trained while the process runs is found on its next request.

    Parameters
    ----------
    names : list of str
        Task type names, in request order (duplicates are refused).
    heads : HeadStore, optional
        Where custom heads are looked up; default: the process-wide store over the heads folder.

    Returns
    -------
    list of TaskType

    Raises
    ------
    UnsupportedTaskTypeError
        Naming the supported task types, builtin and custom.
    HeadUnavailableError
        A custom head of that name is installed but damaged.
    """
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            raise UnsupportedTaskTypeError(f"task type {name!r} is requested twice")
        seen.add(name)
        task = TASK_TYPES.get(name)
        if task is None:
            store = heads if heads is not None else _default_heads()
            task = store.get(name)
        if task is None:
            why = _NOT_ESTIMABLE.get(name)
            reason = f"tonearm cannot estimate {name!r}: {why}" if why else f"unknown task type {name!r}"
            custom = ", ".join(store.names()) or "none installed (train one with `tonearm heads train`)"
            raise UnsupportedTaskTypeError(
                f"{reason}; supported task types: {', '.join(TASK_TYPES)}; custom task types: {custom}"
            )
        out.append(task)
    return out


def _default_heads() -> HeadStore:
    # imported here: tonearm.tagging.heads imports this module
    from tonearm.tagging.heads import default_heads

    return default_heads()


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
    for task in TASK_TYPES.values():
        lines += [f"## {task.name}", "", task.description, "", "| Label | Source tags |", "|---|---|"]
        lines += [f"| {label.name} | {', '.join(label.sources)} |" for label in task.labels]
        lines.append("")
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
    lines += [f"- `{name}`: {why}" for name, why in _NOT_ESTIMABLE.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    sys.stdout.write(render_markdown())
