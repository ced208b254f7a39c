"""The generation engine's parts: prompt understanding, styles, plan, score (no audio here)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tonearm.generation.compose import compose
from tonearm.generation.params import SCALES, GenerationParams
from tonearm.generation.plan import chord_for, make_plan
from tonearm.generation.prompt import interpret
from tonearm.generation.styles import STYLES
from tonearm.midi.smf import DRUM_CHANNEL, TICKS_PER_QUARTER, encode, read

GUIDE = {
    # Sofy's prompting guide, and the examples
    "Melancholic jazz with soft saxophone and gentle piano": "cool_jazz",
    "Cool jazz with smooth saxophone, brushed drums, and walking bass": "cool_jazz",
    "Bebop jazz with fast piano runs and complex drum patterns": "bebop",
    "Lounge jazz with soft vibraphone and gentle brushwork": "lounge_jazz",
    "Classic rock with electric guitar riffs and driving drums": "classic_rock",
    "Energetic rock with electric guitars and powerful drums": "classic_rock",
    "Progressive rock with complex time signatures and synthesizers": "progressive_rock",
    "Blues rock with soulful guitar solos and steady rhythm section": "blues_rock",
    "Minimal techno with deep bass and repetitive synth patterns": "minimal_techno",
    "Ambient electronic with atmospheric pads and gentle arpeggios": "ambient_electronic",
    "House music with four-on-the-floor beats and funky basslines": "house",
    "Baroque classical with harpsichord and string ensemble": "baroque",
    "Romantic classical with emotional piano and orchestral strings": "romantic",
    "Minimalist classical with repetitive piano patterns": "minimalist",
    "Afrobeat with polyrhythmic drums and call-and-response vocals": "afrobeat",
    "Flamenco with passionate guitar and rhythmic handclaps": "flamenco",
    "Indian classical with sitar and tabla rhythms": "indian_classical",
    "Peaceful ambient with ethereal pads and gentle wind chimes": "ambient",
    "Funky disco with groovy basslines and rhythmic percussion": "funk_disco",
    "Catchy pop song with bright synths": "pop",
    "Lo-fi hip hop beat with dusty keys": "hiphop_lofi",
    "Epic cinematic soundtrack with choir and brass": "cinematic",
}


@pytest.mark.parametrize(("prompt", "style"), GUIDE.items())
def test_the_prompting_guide_picks_its_style(prompt: str, style: str) -> None:
    assert interpret(prompt).style == style


def test_prompt_details_are_read_and_reported() -> None:
    found = interpret("Melancholic jazz with soft saxophone and gentle piano, no drums, 84 bpm, zorblax")
    assert found.mode_lean == "minor"
    assert {"melancholic", "soft", "gentle"} <= set(found.moods)
    assert [name for _, _, name in found.instruments] == ["alto sax", "acoustic grand piano"]
    assert found.no_drums and "drums" in found.negated
    assert found.prompt_bpm == 84
    assert found.unknown_words == ["zorblax"]
    assert found.fallback is None


def test_unknown_prompts_fall_back_and_say_why() -> None:
    nothing = interpret("qwerty asdf")
    assert nothing.style == "pop" and nothing.fallback and nothing.unknown_words == ["qwerty", "asdf"]
    calm = interpret("something calm and peaceful")
    assert calm.style == "ambient" and "mood" in (calm.fallback or "")
    implied = interpret("a tenor sax")
    assert implied.style == "cool_jazz" and "instruments" in (implied.fallback or "")


def test_styles_are_well_formed() -> None:
    assert len(STYLES) >= 20
    for style in STYLES.values():
        for pattern in (*style.bass, *style.comp, *(layer.pattern for layer in style.drums)):
            assert pattern == "walk" or (len(pattern) == 16 and set(pattern) <= set("RFO3ACXxo.-")), style.id
        for programs in style.instruments.values():
            assert all(0 <= p <= 127 for p in programs)
        for progression in (*style.progressions_major, *style.progressions_minor):
            for degree in progression:
                for part in degree.split("|"):
                    chord_for(part, tonic=0, mode="major")


def test_chords_are_diatonic_with_a_major_dominant_in_minor() -> None:
    assert [chord_for(d, tonic=0, mode="major").name for d in "1234567"] == [
        "C", "Dm", "Em", "F", "G", "Am", "Bdim",
    ]  # fmt: skip
    assert chord_for("5:7", tonic=9, mode="minor").name == "E7"  # harmonic minor's V7 in A minor
    assert chord_for("2:7", tonic=9, mode="minor").name == "Bm7b5"
    assert chord_for("1:7", tonic=0, mode="major").pitch_classes == [0, 4, 7, 11]


def test_params_follow_sofy_ranges() -> None:
    GenerationParams(prompt="x", duration_seconds=300, bpm=200, temperature=2.0, guidance=10.0)
    for field, value in (("bpm", 201), ("bpm", 59), ("duration_seconds", 0), ("duration_seconds", 301),
                         ("density", 1.5), ("brightness", 0.0), ("guidance", 11), ("temperature", 0.05),
                         ("scale", "H_MAJOR"), ("seed", -1)):  # fmt: skip
        with pytest.raises(ValidationError) as info:
            GenerationParams(prompt="x", **{field: value})
        assert info.value.errors()[0]["loc"] == (field,)
    with pytest.raises(ValidationError):
        GenerationParams(prompt="")


@pytest.mark.parametrize("duration", [1, 7, 25, 61, 300])
@pytest.mark.parametrize("bpm", [60, 97, 200])
def test_the_form_fills_the_duration_exactly(duration: int, bpm: int) -> None:
    plan = make_plan(GenerationParams(prompt="pop", duration_seconds=duration, bpm=bpm), seed=1)
    bars = [s.start_bar for s in plan.sections]
    assert bars == sorted(bars)
    for before, after in zip(plan.sections, plan.sections[1:], strict=False):
        assert after.start_bar == before.start_bar + before.bars
    assert plan.sections[-1].end_s == pytest.approx(duration, abs=1e-6) or plan.sections[-1].end_s == (
        pytest.approx(plan.sections[-1].start_s + plan.sections[-1].bars * plan.bar_s)
    )
    last = plan.sections[-1]
    assert last.chords[-1][-1].root == plan.tonic  # the track ends on the tonic
    song = compose(plan)
    assert max(n.start + n.duration for n in song.notes) <= song.end_tick
    assert song.end_tick == round(duration * bpm / 60 * TICKS_PER_QUARTER)


def test_key_tempo_and_sources() -> None:
    plan = make_plan(GenerationParams(prompt="melancholic piano", scale="D_MAJOR_B_MINOR", bpm=90), seed=2)
    assert (plan.key, plan.bpm, plan.bpm_source) == ("B minor", 90.0, "request")
    happy = make_plan(GenerationParams(prompt="happy techno", scale="D_MAJOR_B_MINOR"), seed=2)
    assert happy.key == "D major" and happy.bpm_source == "style"
    assert happy.bpm == pytest.approx(sum(STYLES["minimal_techno"].bpm_range) / 2, abs=1)
    slow = make_plan(GenerationParams(prompt="slow house"), seed=2)
    assert slow.bpm_source == "tempo words" and slow.bpm < 110
    spoken = make_plan(GenerationParams(prompt="house at 124 bpm"), seed=2)
    assert (spoken.bpm, spoken.bpm_source) == (124.0, "prompt")
    for name, (major, minor) in SCALES.items():
        plan = make_plan(GenerationParams(prompt="jazz", scale=name), seed=3)  # type: ignore[arg-type]
        assert plan.tonic == (major if plan.mode == "major" else minor)


def test_prompt_instruments_are_played() -> None:
    plan = make_plan(
        GenerationParams(prompt="Baroque classical with harpsichord and string ensemble"), seed=4
    )
    parts = {p.role: p for p in plan.parts}
    assert parts["comp"].instrument == "harpsichord" and parts["comp"].source == "prompt"
    assert parts["pad"].instrument == "string ensemble" and parts["pad"].source == "prompt"
    quiet = make_plan(GenerationParams(prompt="lo-fi hip hop without drums"), seed=4)
    assert quiet.drum_kit is None and "drums" not in quiet.controls.layers
    assert not any(n.channel == DRUM_CHANNEL for n in compose(quiet).notes)


def test_guidance_keeps_the_style_and_low_guidance_may_borrow() -> None:
    strict = [
        make_plan(GenerationParams(prompt="house", guidance=6), seed=s).style.borrowed for s in range(40)
    ]
    assert all(not b for b in strict)
    loose = [
        make_plan(GenerationParams(prompt="house", guidance=1), seed=s).style.borrowed for s in range(40)
    ]
    assert sum(bool(b) for b in loose) >= 10


def _notes(prompt: str, seed: int = 5, **params: float) -> list:
    plan = make_plan(GenerationParams(prompt=prompt, duration_seconds=30, **params), seed=seed)  # type: ignore[arg-type]
    return compose(plan).notes


def test_the_score_is_a_function_of_the_seed() -> None:
    assert _notes("Afrobeat with smooth pianos and drums") == _notes("Afrobeat with smooth pianos and drums")
    assert _notes("Afrobeat with smooth pianos and drums") != _notes(
        "Afrobeat with smooth pianos and drums", 6
    )
    midi = encode(compose(make_plan(GenerationParams(prompt="jazz"), seed=9)))
    assert read(midi).unclosed == 0


@pytest.mark.parametrize(
    "prompt", ["pop", "Minimal techno with deep bass", "Cool jazz", "Baroque harpsichord"]
)
def test_density_adds_notes_and_brightness_raises_them(prompt: str) -> None:
    counts = [np.mean([len(_notes(prompt, s, density=d)) for s in range(3)]) for d in (0.2, 0.5, 0.9)]
    assert counts[0] < counts[1] < counts[2]
    pitched = [
        np.mean(
            [n.pitch for s in range(3) for n in _notes(prompt, s, brightness=b) if n.channel != DRUM_CHANNEL]
        )
        for b in (0.2, 0.5, 0.9)
    ]
    assert pitched[0] < pitched[1] < pitched[2]
