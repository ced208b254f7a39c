"""The separation data recipe (models/separation): stems that sum to the mix, labels, SoundFonts, seeds."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.separation import augment, data
from tonearm.midi.smf import DRUM_CHANNEL, Note, Song

SR = data.SAMPLE_RATE
TICKS_PER_S = 960  # 120 BPM, 480 ticks per quarter


def _kit(name: str) -> data.SoundFontKit:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed")
    try:
        return data.resolve_soundfont(name)
    except data.SoundFontNotAllowedError:
        pytest.skip(f"{name} is not installed")


def _t(seconds: float) -> int:
    return round(seconds * TICKS_PER_S)


def _band_song() -> Song:
    """3 s at 120 BPM: kicks at 0.5 and 2.0 s, a snare at 1.25 s, hats, bass, piano and a voice."""
    notes = [
        Note(_t(0.5), _t(0.1), DRUM_CHANNEL, 36, 110),
        Note(_t(2.0), _t(0.1), DRUM_CHANNEL, 35, 110),
        Note(_t(1.25), _t(0.1), DRUM_CHANNEL, 38, 100),
        Note(_t(0.25), _t(0.1), DRUM_CHANNEL, 42, 80),
        Note(_t(1.0), _t(0.1), DRUM_CHANNEL, 42, 80),
        Note(_t(0.0), _t(1.0), 0, 40, 100),
        Note(_t(1.0), _t(1.5), 0, 43, 100),
        Note(_t(0.0), _t(3.0), 1, 64, 90),
        Note(_t(0.3), _t(2.0), 2, 72, 90),
    ]
    return Song(
        us_per_quarter=500_000,
        numerator=4,
        denominator=4,
        programs={0: 33, 1: 0, 2: 53, DRUM_CHANNEL: 0},
        volumes={0: 100, 1: 90, 2: 100, DRUM_CHANNEL: 110},
        notes=sorted(notes),
        end_tick=_t(3.0),
    )


def _frame_db(stem: np.ndarray, hop: int = 441) -> np.ndarray:
    """RMS per 10 ms frame [dB] of a (2, n) signal, relative to its loudest frame."""
    n = stem.shape[-1] // hop * hop
    rms = np.sqrt(np.mean(stem[:, :n].reshape(2, -1, hop).astype(np.float64) ** 2, axis=(0, 2)))
    return 20 * np.log10(rms / rms.max() + 1e-12)


def test_notes_go_to_the_stems_of_their_keys_and_programs() -> None:
    # GIVEN the band song WHEN its notes are classified
    song = _band_song()
    which = [data.STEMS[k] for k in data.stem_of_notes(song)]
    # THEN drums split by GM key, bass and voice by program, the piano is "other"
    by_note = {(n.channel, n.pitch): s for n, s in zip(song.notes, which, strict=True)}
    assert by_note[(DRUM_CHANNEL, 36)] == by_note[(DRUM_CHANNEL, 35)] == "kick"
    assert by_note[(DRUM_CHANNEL, 38)] == "snare"
    assert by_note[(DRUM_CHANNEL, 42)] == "drums_other"
    assert by_note[(0, 40)] == by_note[(0, 43)] == "bass"
    assert by_note[(1, 64)] == "other"
    assert by_note[(2, 72)] == "vocals"


def test_kick_stem_sounds_only_from_the_kick_onsets() -> None:
    # GIVEN the band song on FluidR3_GM
    stems = data.render_stems(_band_song(), _kit("FluidR3_GM"), seconds=3.0)
    kick, snare = _frame_db(stems[0]), _frame_db(stems[1])
    # THEN the kick stem is silent before its first note, starts within 10 ms of each kick onset,
    # has decayed far down before the second, and the snare stem is silent before the snare
    assert kick[:49].max() < -100
    assert kick[50] > -20 and kick[200] > -20
    assert kick[140:198].max() < -70
    assert snare[:124].max() < -100 and snare[125:127].max() > -20
    # AND every stem that has notes sounds
    assert np.all(np.abs(stems).max(axis=(1, 2)) > 1e-3)


def test_generated_example_mix_is_the_sum_of_its_written_stems(tmp_path: Path) -> None:
    # GIVEN one augmented 3 s example of the generator, written to disk
    example = data.make_example(7, seconds=3, soundfonts=[_kit("FluidR3_GM")])
    data.write_example(example, tmp_path / "ex")
    # WHEN the WAV files are read back
    mix, got_sr = sf.read(tmp_path / "ex" / "mix.wav", dtype="float32", always_2d=True)
    stems = np.stack(
        [sf.read(tmp_path / "ex" / f"{s}.wav", dtype="float32", always_2d=True)[0] for s in data.STEMS]
    )
    # THEN 44.1 kHz stereo float32, 3 s, and the mix is the sum of the stems
    info = sf.info(str(tmp_path / "ex" / "mix.wav"))
    assert got_sr == SR and info.subtype == "FLOAT" and mix.shape == (3 * SR, 2)
    assert np.max(np.abs(mix - stems.sum(axis=0))) < 1e-5
    assert np.abs(mix).max() > 0.01
    meta = data.read_example(tmp_path / "ex").meta
    assert meta["soundfont"]["name"] == "FluidR3_GM" and meta["seed"] == 7
    assert set(meta["source"]["programs"]) and meta["augmentations"][0]["name"] == "gain"


def test_same_seed_same_example_other_seed_other_example() -> None:
    kits = data.available_soundfonts()
    kit = next((k for k in kits if k.name == "TimGM6mb"), None) or _kit("FluidR3_GM")  # Tim is quickest
    first = data.make_example(3, seconds=2, soundfonts=[kit])
    again = data.make_example(3, seconds=2, soundfonts=[kit])
    other = data.make_example(4, seconds=2, soundfonts=[kit])
    assert np.array_equal(first.stems, again.stems)
    strip = {"render_s"}
    assert {k: v for k, v in first.meta.items() if k not in strip} == {
        k: v for k, v in again.meta.items() if k not in strip
    }
    assert first.stems.shape != other.stems.shape or not np.array_equal(first.stems, other.stems)


def test_only_the_three_allowed_soundfonts_are_accepted(tmp_path: Path) -> None:
    # a name or file outside the three
    for spec in (
        "GeneralUser_GS",
        "MuseScore_General",
        tmp_path / "Other.sf2",
        "/usr/share/sounds/sf2/x.sf2",
    ):
        with pytest.raises(data.SoundFontNotAllowedError):
            data.resolve_soundfont(spec)
    # another SoundFont renamed as an allowed one is refused by its bank name (SF2 INFO/INAM)
    (tmp_path / "FluidR3_GM.sf2").write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    with pytest.raises(data.SoundFontNotAllowedError):
        data.resolve_soundfont(tmp_path / "FluidR3_GM.sf2")
    inam = b"INAM" + struct.pack("<I", 16) + b"GeneralUser GS\x00\x00"
    info = b"LIST" + struct.pack("<I", 4 + len(inam)) + b"INFO" + inam
    (tmp_path / "FluidR3_GM.sf2").write_bytes(b"RIFF" + struct.pack("<I", 4 + len(info)) + b"sfbk" + info)
    with pytest.raises(data.SoundFontNotAllowedError, match=r"not the FluidR3_GM\.sf2"):
        data.resolve_soundfont(tmp_path / "FluidR3_GM.sf2")
    # the real files are accepted by name and by path
    gm = _kit("FluidR3_GM")
    assert data.resolve_soundfont(str(gm.paths[0])).paths == gm.paths
    assert (0, 33) in gm.presets() and (128, 0) in gm.presets()


@pytest.mark.parametrize("name", ["TimGM6mb", "FluidR3_GS"])
def test_the_other_two_soundfonts_resolve_by_path(name: str) -> None:
    kit = _kit(name)
    assert data.resolve_soundfont(kit.paths[-1]) == kit
    assert [p.name for p in kit.paths] == list(data.SOUNDFONTS[name])  # GS is layered on GM
    assert (0, 52) in kit.presets()


def _stems(rng: np.random.Generator, n: int = SR) -> np.ndarray:
    return (0.2 * rng.standard_normal((len(data.STEMS), 2, n))).astype(np.float32)


def test_each_augmentation_keeps_mix_equal_to_sum(rng: np.random.Generator) -> None:
    stems = _stems(rng)
    n = len(data.STEMS)
    results = {
        "gain": augment.apply_gain(stems, rng.uniform(-9, 3, n)),
        "eq": augment.apply_shelf_eq(stems, SR, rng.uniform(-6, 6, n), rng.uniform(-6, 6, n)),
        "pan": augment.pan(stems, rng.uniform(-1, 1, n)),
        "remix": augment.remix(stems, _stems(rng, SR // 2), rng.random(n) < 0.5, offset_b=100),
        "chain": data.augment_random(stems, np.random.default_rng(1))[0],
    }
    for name, out in results.items():
        assert out.shape == stems.shape and out.dtype == np.float32, name
        assert np.max(np.abs(augment.mix_of(out) - out.sum(axis=0))) < 1e-5, name


def test_augmentations_do_what_they_say(rng: np.random.Generator) -> None:
    stems = _stems(rng)
    ones = np.ones((len(data.STEMS), 2, 4096), dtype=np.float32)
    # gain in dB; 0 dB pan is unity; hard left is sqrt(2) on the left, silence on the right
    assert np.allclose(augment.apply_gain(stems, np.full(6, 6.0206)), 2 * stems, rtol=1e-4)
    assert np.allclose(augment.pan(stems, np.zeros(6)), stems)
    left = augment.pan(ones, np.full(6, -1.0))
    assert np.allclose(left[:, 0], np.sqrt(2)) and np.allclose(left[:, 1], 0, atol=1e-7)
    # a +6 dB low shelf doubles DC, a high shelf leaves it alone
    eq = augment.apply_shelf_eq(ones, SR, np.full(6, 6.0206), np.full(6, -12.0))
    assert np.allclose(eq[:, :, -1], 2.0, rtol=1e-3)
    # remix: the flagged stems come from the other example, zero-padded past its end
    other = _stems(rng, 1000)
    mixed = augment.remix(stems, other, [True, False, False, False, False, True])
    assert np.array_equal(mixed[0, :, :1000], other[0]) and not np.any(mixed[0, :, 1000:])
    assert np.array_equal(mixed[1:5], stems[1:5])


def test_mp3_round_trip_is_aligned_and_keeps_the_sum() -> None:
    t = np.arange(SR // 2) / SR
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stems = np.zeros((len(data.STEMS), 2, t.size), dtype=np.float32)
    stems[3] = tone
    stems[5, 0] = 0.5 * tone
    out = augment.mp3_round_trip(stems, SR, 0.0)
    assert out.shape == stems.shape and not np.any(out[0])  # silent stems stay silent
    err = out[3, :, 2000:-2000] - stems[3, :, 2000:-2000]
    # aligned: at the top bitrate the error is ~0.1 % of the tone (a one-sample delay would be ~6 %)
    assert np.sqrt(np.mean(err**2)) < 0.01 * np.sqrt(np.mean(tone**2))
    assert np.max(np.abs(augment.mix_of(out) - out.sum(axis=0))) < 1e-5
