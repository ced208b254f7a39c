"""Stem separation workflows: ``music-ai/isolate-drums``, ``tonearm/vocals-accompaniment`` (also answered
as Music.AI's ``music-ai/stems-vocals-accompaniment``) and ``tonearm/stems``.

Each is one :class:`StemSet`: output names, in order, each the sum of some of the model's stems
(``kick``, ``snare``, ``drums_other``, ``bass``, ``vocals``, ``other``). The engine
(:func:`tonearm.separation.service.separate_to_files`) streams the input in chunks and writes one WAV per
output at the input's sample rate and channel count; the last output is the exact residual, so the
outputs of a job sum to its input. The same sets serve ``tonearm separate`` (:func:`stem_set`), which also
takes a list of stems of the caller's choosing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tonearm.jobs.spec import InputParams, OutputSpec, Progress, TaskFunction, TaskOutput, WorkflowSpec

__all__ = [
    "ISOLATE_DRUMS",
    "MODEL_STEMS",
    "REST",
    "STEMS",
    "STEMS_WORKFLOW",
    "STEM_GROUPS",
    "STEM_SETS",
    "VOCALS_ACCOMPANIMENT",
    "VOCALS_ACCOMPANIMENT_MUSIC_AI",
    "StemSet",
    "separate",
    "stem_set",
]

#: The stems the separation model predicts, in its output order.
MODEL_STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")
#: Names that stand for several model stems (``drums``: kick, snare and the rest of the kit).
STEM_GROUPS: dict[str, tuple[str, ...]] = {"drums": ("kick", "snare", "drums_other")}
#: The output collecting whatever a custom list of stems leaves out (``tonearm separate --stems``).
REST = "rest"


@dataclass(frozen=True)
class StemSet:
    """Named outputs, each the sum of some model stems; the last is the residual (the mix minus the rest)."""

    name: str
    description: str
    #: output name -> the model stems it sums, in output order
    outputs: Mapping[str, tuple[str, ...]]

    def file_name(self, output: str) -> str:
        """The WAV file an output is stored and written as: ``Kick drum`` -> ``kick-drum.wav``."""
        return output.lower().replace(" ", "-") + ".wav"

    def output_specs(self) -> dict[str, OutputSpec]:
        """The workflow outputs: one WAV file each, described by the stems it holds."""
        specs = {}
        last = list(self.outputs)[-1]
        for name, stems in self.outputs.items():
            what = _describe(stems)
            if name == last:
                what += ", exactly the input minus the other outputs"
            description = f"{what}: a WAV file at the input's sample rate and channel count."
            specs[name] = OutputSpec("file", description, "audio/wav", "wav", self.file_name(name))
        return specs


def _describe(stems: tuple[str, ...]) -> str:
    if set(stems) >= {"drums_other", "other"} and len(stems) > 2:
        return "Everything else"
    if stems == STEM_GROUPS["drums"]:
        return "The drums (kick, snare and the rest of the kit)"
    names = " + ".join(s.replace("_", " ") for s in stems)
    return f"The {names} stem" + ("s" if len(stems) > 1 else "")


def _rest(*taken: str) -> tuple[str, ...]:
    return tuple(s for s in MODEL_STEMS if s not in taken)


#: ``tonearm separate --stems drums`` and Music.AI's ``music-ai/isolate-drums``.
ISOLATE_DRUMS_SET = StemSet(
    "drums",
    "kick drum, snare drum, and everything else",
    {"Kick drum": ("kick",), "Snare drum": ("snare",), "Other": _rest("kick", "snare")},
)
#: ``tonearm separate --stems vocals-accompaniment`` and the vocals & accompaniments workflows.
VOCALS_ACCOMPANIMENT_SET = StemSet(
    "vocals-accompaniment",
    "vocals, and everything else",
    {"vocals": ("vocals",), "accompaniments": _rest("vocals")},
)
#: ``tonearm separate --stems stems`` (the default) and ``tonearm/stems``.
FOUR_STEMS_SET = StemSet(
    "stems",
    "vocals, drums, bass and other",
    {"vocals": ("vocals",), "drums": STEM_GROUPS["drums"], "bass": ("bass",), "other": ("other",)},
)
#: The named sets, by their command-line name.
STEM_SETS: dict[str, StemSet] = {
    s.name: s for s in (ISOLATE_DRUMS_SET, VOCALS_ACCOMPANIMENT_SET, FOUR_STEMS_SET)
}
#: Every name ``--stems`` accepts in a list: the model's stems and the groups.
STEMS = (*MODEL_STEMS, *STEM_GROUPS)


def stem_set(choice: str) -> StemSet:
    """The outputs of ``tonearm separate --stems CHOICE``.

    ``CHOICE`` is a set's name (``drums``, ``vocals-accompaniment``, ``stems``), or a comma-separated
    list of stems and groups (``vocals,bass``; ``kick,snare,bass``), each written to its own file, with
    whatever the list leaves out in ``rest`` so the files still sum to the input. ``drums`` alone is the
    set (kick, snare, other), as in ``music-ai/isolate-drums``; ``drums,vocals`` means the whole kit.

    Raises
    ------
    ValueError
        An unknown name, a stem named twice, or an empty list; the message lists what is accepted.
    """
    choice = choice.strip()
    if choice in STEM_SETS:
        return STEM_SETS[choice]
    names = [n.strip() for n in choice.split(",") if n.strip()]
    accepted = f"a set ({', '.join(STEM_SETS)}) or a comma-separated list of {', '.join(STEMS)}"
    if not names:
        raise ValueError(f"--stems needs {accepted}")
    outputs: dict[str, tuple[str, ...]] = {}
    taken: set[str] = set()
    for name in names:
        if name not in STEMS:
            raise ValueError(f"unknown stem {name!r}; --stems takes {accepted}")
        stems = STEM_GROUPS.get(name, (name,))
        if taken & set(stems) or name in outputs:
            raise ValueError(f"{name!r} overlaps another stem of {choice!r}; --stems takes {accepted}")
        taken |= set(stems)
        outputs[name] = stems
    rest = _rest(*taken)
    if rest:
        outputs[REST] = rest
    return StemSet(choice, ", ".join(outputs), outputs)


def separate(input_path: Path, work_dir: Path, stems: StemSet, progress: Progress) -> dict[str, Path]:
    """Separate ``input_path`` into the outputs of ``stems``: output name -> WAV file under ``work_dir``.

    ``progress`` gets percent done (0-100).
    """
    from tonearm.separation.service import separate_to_files

    out_dir = work_dir / "stems"
    out_dir.mkdir(parents=True, exist_ok=True)

    def report(fraction: float) -> None:
        progress(100.0 * fraction)

    files = separate_to_files(input_path, out_dir, dict(stems.outputs), progress=report)
    missing = [name for name in stems.outputs if name not in files]
    if missing:  # an engine that skipped an output is a fault, not an empty result
        raise RuntimeError(f"the separation engine wrote no file for {', '.join(missing)}")
    return {name: files[name] for name in stems.outputs}


def _task(stems: StemSet) -> TaskFunction:
    def task(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
        return TaskOutput(files=separate(input_path, work_dir, stems, progress))

    task.__name__ = task.__qualname__ = f"separate_{stems.name.replace('-', '_')}"
    task.__doc__ = f"Separate the input into {stems.description} (WAV files)."
    return task


_LIMITS = "a track up to 10 minutes, streamed in chunks"

ISOLATE_DRUMS = WorkflowSpec(
    slug="music-ai/isolate-drums",
    name="Isolate drums",
    description=(
        f"Music.AI's drum isolation: {_LIMITS} split into the kick drum, the snare drum and everything "
        "else (Other), each a WAV at the input's sample rate and channel count; the three sum to the input."
    ),
    params=InputParams,
    state_machine="SeparateStateMachine",
    function="SeparateFunction",
    task=_task(ISOLATE_DRUMS_SET),
    outputs=ISOLATE_DRUMS_SET.output_specs(),
)

VocalsMethod = Literal["repet-sim", "model"]


class VocalsAccompanimentParams(InputParams):
    """The vocals-and-accompaniment workflows: the input, and which separator to run."""

    method: VocalsMethod = Field(
        default="repet-sim",
        description=(
            "repet-sim (default): REPET-SIM, a repeating-background separator, which measures better on "
            "music with a voice (held-out renders: vocals 1.9 dB SDR, accompaniment 5.4 dB, against the "
            "model's 0.2 and 4.1 dB); model: the trained separation model, whose vocal output stays "
            "near silent (better on instrumental music: -33 dB of the mix in the vocals, REPET-SIM -8 dB)."
        ),
    )


def separate_vocals(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """Vocals and accompaniments, by REPET-SIM (default) or by the model (``method``)."""
    if params.get("method", "repet-sim") == "model":
        return TaskOutput(files=separate(input_path, work_dir, VOCALS_ACCOMPANIMENT_SET, progress))
    from tonearm.separation.repet_vocals import separate_vocals_repet

    def report(fraction: float) -> None:
        progress(100.0 * fraction)

    names = tuple(VOCALS_ACCOMPANIMENT_SET.outputs)
    files = separate_vocals_repet(input_path, work_dir / "stems", (names[0], names[1]), progress=report)
    return TaskOutput(files=files)


_VOCALS_DESCRIPTION = (
    f"Vocals and accompaniments: {_LIMITS} split into the vocals and everything else, each a WAV at the "
    "input's sample rate and channel count; the two sum to the input. REPET-SIM by default (it measures "
    "better than the model on music with a voice); method='model' runs the separation model."
)

VOCALS_ACCOMPANIMENT = WorkflowSpec(
    slug="tonearm/vocals-accompaniment",
    name="Vocals and accompaniments",
    description=_VOCALS_DESCRIPTION,
    params=VocalsAccompanimentParams,
    state_machine="SeparateStateMachine",
    function="SeparateFunction",
    task=separate_vocals,
    outputs=VOCALS_ACCOMPANIMENT_SET.output_specs(),
)

#: Music.AI's "Stems Isolations - Vocals & accompaniments", answered by the same task.
VOCALS_ACCOMPANIMENT_MUSIC_AI = WorkflowSpec(
    slug="music-ai/stems-vocals-accompaniment",
    name="Stems Isolations - Vocals & accompaniments",
    description=_VOCALS_DESCRIPTION + " The same as tonearm/vocals-accompaniment.",
    params=VocalsAccompanimentParams,
    state_machine="SeparateStateMachine",
    function="SeparateFunction",
    task=VOCALS_ACCOMPANIMENT.task,
    outputs=VOCALS_ACCOMPANIMENT_SET.output_specs(),
)

STEMS_WORKFLOW = WorkflowSpec(
    slug="tonearm/stems",
    name="Four stems",
    description=(
        f"Four-stem separation: {_LIMITS} split into vocals, drums (kick, snare and the rest of the kit), "
        "bass and other, each a WAV at the input's sample rate and channel count; the four sum to the input."
    ),
    params=InputParams,
    state_machine="SeparateStateMachine",
    function="SeparateFunction",
    task=_task(FOUR_STEMS_SET),
    outputs=FOUR_STEMS_SET.output_specs(),
)
