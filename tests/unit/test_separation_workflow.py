"""The separation workflows' declarations and ``tonearm separate --stems`` parsing (no model needed)."""

from __future__ import annotations

import pytest

from tonearm.separation.workflow import (
    ISOLATE_DRUMS,
    MODEL_STEMS,
    REST,
    STEM_SETS,
    STEMS_WORKFLOW,
    VOCALS_ACCOMPANIMENT,
    VOCALS_ACCOMPANIMENT_MUSIC_AI,
    stem_set,
)
from tonearm.workflows import CATALOGUE

WORKFLOWS = {
    "music-ai/isolate-drums": ["Kick drum", "Snare drum", "Other"],
    "tonearm/vocals-accompaniment": ["vocals", "accompaniments"],
    "music-ai/stems-vocals-accompaniment": ["vocals", "accompaniments"],
    "tonearm/stems": ["vocals", "drums", "bass", "other"],
}


@pytest.mark.parametrize("slug", list(WORKFLOWS))
def test_the_workflows_are_served_with_their_outputs(slug: str) -> None:
    spec = CATALOGUE.get(slug)
    assert list(spec.outputs) == WORKFLOWS[slug]  # Music.AI's names and order
    assert (spec.function, spec.state_machine) == ("SeparateFunction", "SeparateStateMachine")
    assert spec.takes_input and spec.validate_params({"inputUrl": "https://x/y.mp3"})
    for name, out in spec.outputs.items():
        assert (out.kind, out.content_type, out.extension) == ("file", "audio/wav", "wav")
        file_name = out.file_name(name)
        assert file_name.endswith(".wav") and " " not in file_name and "/" not in file_name
    described = spec.describe()
    assert set(described["outputs"]) == set(WORKFLOWS[slug])
    assert all(o["contentType"] == "audio/wav" for o in described["outputs"].values())


def test_the_music_ai_slug_is_the_same_workflow() -> None:
    assert VOCALS_ACCOMPANIMENT_MUSIC_AI.task is VOCALS_ACCOMPANIMENT.task
    assert VOCALS_ACCOMPANIMENT_MUSIC_AI.outputs == VOCALS_ACCOMPANIMENT.outputs
    # the name Music.AI's GET /v1/job shows for it
    assert VOCALS_ACCOMPANIMENT_MUSIC_AI.name == "Stems Isolations - Vocals & accompaniments"


def test_file_names_keep_outputs_apart() -> None:
    assert ISOLATE_DRUMS.outputs["Kick drum"].file_name("Kick drum") == "kick-drum.wav"
    assert STEMS_WORKFLOW.outputs["drums"].file_name("drums") == "drums.wav"
    for spec in (ISOLATE_DRUMS, VOCALS_ACCOMPANIMENT, STEMS_WORKFLOW):
        names = [o.file_name(n) for n, o in spec.outputs.items()]
        assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", list(STEM_SETS))
def test_every_set_partitions_the_model_stems(name: str) -> None:
    stems = [s for group in STEM_SETS[name].outputs.values() for s in group]
    assert sorted(stems) == sorted(MODEL_STEMS)


def test_the_sets_are_the_workflows() -> None:
    assert dict(STEM_SETS["drums"].outputs) == {
        "Kick drum": ("kick",),
        "Snare drum": ("snare",),
        "Other": ("drums_other", "bass", "vocals", "other"),
    }
    assert dict(STEM_SETS["vocals-accompaniment"].outputs) == {
        "vocals": ("vocals",),
        "accompaniments": ("kick", "snare", "drums_other", "bass", "other"),
    }
    assert dict(STEM_SETS["stems"].outputs) == {
        "vocals": ("vocals",),
        "drums": ("kick", "snare", "drums_other"),
        "bass": ("bass",),
        "other": ("other",),
    }


def test_a_list_of_stems_gets_the_rest() -> None:
    chosen = stem_set("vocals, bass")
    assert dict(chosen.outputs) == {
        "vocals": ("vocals",),
        "bass": ("bass",),
        REST: ("kick", "snare", "drums_other", "other"),
    }
    assert [chosen.file_name(n) for n in chosen.outputs] == ["vocals.wav", "bass.wav", "rest.wav"]
    # drums in a list is the whole kit; every stem named: no rest
    assert dict(stem_set("drums,vocals").outputs)["drums"] == ("kick", "snare", "drums_other")
    everything = stem_set(",".join(MODEL_STEMS))
    assert list(everything.outputs) == list(MODEL_STEMS)
    assert everything.file_name("drums_other") == "drums_other.wav"
    assert stem_set("drums") is STEM_SETS["drums"]


@pytest.mark.parametrize(
    ("choice", "message"),
    [("", "needs"), (" , ", "needs"), ("guitar", "unknown stem 'guitar'"), ("drums,kick", "overlaps"),
     ("bass,bass", "overlaps"), ("rest", "unknown stem")],
)  # fmt: skip
def test_bad_stem_lists_say_what_is_accepted(choice: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        stem_set(choice)
    assert "vocals-accompaniment" in str(refused.value)


def test_the_declared_stems_are_the_models() -> None:
    """The declarations repeat the model's stems so the light API function need not import numpy."""
    from tonearm.separation.masking import STEMS

    assert MODEL_STEMS == STEMS
