"""Chord and key labels spelled in the key (issue 21): ``Bb``, not ``A#``, in G minor, in tonearm's own
workflows and the command line; Music.AI's slug keeps sharps, its convention, and ``spelling`` switches
either; every parser downstream (labels, exports, MIDI) takes flats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tonearm.analysis.spelling import FLATS, SHARPS, key_name, parse_key, parse_pitch_class, pitch_names
from tonearm.chords import recognize
from tonearm.chords.export import chord_map_json, chords_midi, key_label, lead_sheet_text
from tonearm.chords.labels import harte_to_musicai, musicai_to_harte, parse_harte
from tonearm.chords.recognize import BeatsAndChords, ChordSegment
from tonearm.chords.workflow import BEATS_AND_CHORDS, GENERATE_CHORDS, beats_and_chords, generate_chords
from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.spec import no_progress
from tonearm.local_stack.runtime import LocalRuntime

G_MINOR = (7, 0)
E_MAJOR = (4, 1)


def _names(key: tuple[int, int]) -> tuple[str, ...]:
    return pitch_names("key", key)


def test_g_minor_spells_its_chords_with_flats() -> None:
    names = _names(G_MINOR)
    # i iv V VI VII III: Gm Cm D Eb F Bb
    assert [names[pc] for pc in (7, 0, 2, 3, 5, 10)] == ["G", "C", "D", "Eb", "F", "Bb"]
    assert names[6] == "F#"  # the raised leading tone keeps its sharp (F#dim, D7's third)
    assert key_name(*G_MINOR) == "G minor"


def test_e_major_spells_its_chords_with_sharps() -> None:
    names = _names(E_MAJOR)
    assert [names[pc] for pc in (4, 6, 8, 9, 11, 1, 3)] == ["E", "F#", "G#", "A", "B", "C#", "D#"]
    assert harte_to_musicai("G#:min", names) == "G#min" and harte_to_musicai("C#:min", names) == "C#min"


@pytest.mark.parametrize(
    ("tonic", "mode", "name"),
    [
        (10, 1, "Bb major"),
        (3, 1, "Eb major"),
        (8, 1, "Ab major"),
        (1, 1, "Db major"),
        (6, 1, "Gb major"),  # six flats rather than six sharps, by convention
        (11, 1, "B major"),
        (3, 0, "Eb minor"),  # likewise, not D# minor
        (8, 0, "G# minor"),
        (1, 0, "C# minor"),
        (6, 0, "F# minor"),
        (10, 0, "Bb minor"),
        (9, 0, "A minor"),
    ],
)
def test_key_names(tonic: int, mode: int, name: str) -> None:
    assert key_name(tonic, mode) == name
    assert parse_key(name) == (tonic, mode)
    assert parse_key(key_name(tonic, mode, "sharps")) == (tonic, mode)
    assert parse_key(key_name(tonic, mode, "flats")) == (tonic, mode)


def test_every_key_names_all_twelve_pitch_classes_once() -> None:
    for tonic in range(12):
        for mode in (0, 1):
            names = _names((tonic, mode))
            assert [parse_pitch_class(n) for n in names] == list(range(12)), names
            assert all(len(n) <= 2 for n in names)  # never a double accidental
            # flat keys never write a sharp on their scale, sharp keys never a flat
            tonic_name = key_name(tonic, mode).split()[0]
            assert names[tonic] == tonic_name


def test_borrowed_and_chromatic_chords_in_c_major() -> None:
    names = _names((0, 1))
    assert [names[pc] for pc in (1, 3, 6, 8, 10)] == ["Db", "Eb", "F#", "Ab", "Bb"]
    assert pitch_names("sharps") == SHARPS and pitch_names("flats") == FLATS
    with pytest.raises(ValueError, match="spelling"):
        pitch_names("german")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_key("H major")


# ---------------------------------------------------------------- exports


def _g_minor_result(key: str = "G minor") -> BeatsAndChords:
    """Gm Eb Bb F D7 Gm, one 4/4 bar each at 120 BPM, labelled as the recogniser does (Harte, sharps)."""
    labels = ["G:min", "D#:maj", "A#:maj", "F:maj", "D:7", "G:min"]
    chords = [ChordSegment(2.0 * i, 2.0 * (i + 1), label) for i, label in enumerate(labels)]
    beats = [(0.5 * i, i % 4 + 1) for i in range(4 * len(labels))]
    return BeatsAndChords(bpm=120.0, key=key, beats=beats, chords=chords, duration_s=2.0 * len(labels))


def test_chord_map_is_spelled_in_the_key_by_default() -> None:
    labels = [c["label"] for c in chord_map_json(_g_minor_result())]
    assert labels == ["Gmin", "Ebmaj", "Bbmaj", "Fmaj", "D7", "Gmin"]
    sharps = [c["label"] for c in chord_map_json(_g_minor_result(), "sharps")]
    assert sharps == ["Gmin", "D#maj", "A#maj", "Fmaj", "D7", "Gmin"]
    assert [c["label"] for c in chord_map_json(_g_minor_result(), "flats")] == labels


def test_a_key_named_with_sharps_is_respelled() -> None:
    result = BeatsAndChords(
        bpm=0.0, key="A# major", beats=[], chords=[ChordSegment(0.0, 1.0, "D#:maj")], duration_s=1.0
    )
    assert key_label(result) == "Bb major" and key_label(result, "sharps") == "A# major"
    assert chord_map_json(result)[0]["label"] == "Ebmaj"
    assert "Key: Bb major" in lead_sheet_text(result) and "Ebmaj" in lead_sheet_text(result)


def test_lead_sheet_is_spelled_in_the_key() -> None:
    text = lead_sheet_text(_g_minor_result())
    assert "Key: G minor" in text
    assert "| Gmin . . . | Ebmaj . . . | Bbmaj . . . | Fmaj . . . |" in text
    assert "A#" not in text and "D#" not in text
    assert "A#maj" in lead_sheet_text(_g_minor_result(), "sharps")


def test_flat_labels_round_trip_through_the_exports() -> None:
    result = _g_minor_result()
    # the Music.AI labels parse back to the same chords, whatever the spelling
    for spelling in ("key", "sharps", "flats"):
        back = [parse_harte(musicai_to_harte(c["label"])) for c in chord_map_json(result, spelling)]
        assert back == [parse_harte(c.label_harte) for c in result.chords]
    # a result labelled with flats (Harte) exports the same MIDI and the same labels
    flat = BeatsAndChords(
        bpm=result.bpm,
        key=result.key,
        beats=result.beats,
        chords=[
            ChordSegment(c.start_s, c.end_s, c.label_harte.replace("A#", "Bb").replace("D#", "Eb"))
            for c in result.chords
        ],
        duration_s=result.duration_s,
    )
    assert flat.chords[1].label_harte == "Eb:maj"
    assert chords_midi(flat) == chords_midi(result)
    assert chord_map_json(flat) == chord_map_json(result)
    assert chord_map_json(flat, "sharps") == chord_map_json(result, "sharps")
    assert lead_sheet_text(flat) == lead_sheet_text(result)


# ---------------------------------------------------------------- workflows


@pytest.fixture
def bb_major(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recogniser replaced by a Bb major answer (I IV V: Bb Eb F)."""
    result = BeatsAndChords(
        bpm=100.0,
        key="Bb major",
        beats=[(0.6 * i, i % 4 + 1) for i in range(12)],
        chords=[
            ChordSegment(0.0, 2.4, "A#:maj"),
            ChordSegment(2.4, 4.8, "D#:maj"),
            ChordSegment(4.8, 7.2, "F:7"),
        ],
        duration_s=7.2,
    )
    monkeypatch.setattr(recognize, "beats_and_chords_source", lambda *args, **kwargs: result)


def _run(task: Any, tmp_path: Path, params: dict[str, Any]) -> tuple[str, list[str], str]:
    source = tmp_path / "in.mp3"
    source.write_bytes(b"not decoded: the recogniser is replaced")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    produced = task(source, out, params, no_progress)
    labels = [c["label"] for c in json.loads(produced.files["chordMap"].read_text())]
    return produced.values["key"], labels, produced.files["chordsText"].read_text()


@pytest.mark.usefixtures("bb_major")
def test_tonearm_workflow_spells_in_the_key_and_music_ai_keeps_sharps(tmp_path: Path) -> None:
    key, labels, text = _run(beats_and_chords, tmp_path, BEATS_AND_CHORDS.validate_params({"inputUrl": "u"}))
    assert key == "Bb major" and labels == ["Bbmaj", "Ebmaj", "F7"] and "Key: Bb major" in text
    key, labels, text = _run(generate_chords, tmp_path, GENERATE_CHORDS.validate_params({"inputUrl": "u"}))
    assert key == "A# major" and labels == ["A#maj", "D#maj", "F7"] and "Key: A# major" in text
    # the parameter switches either
    key, labels, _ = _run(generate_chords, tmp_path, {"inputUrl": "u", "spelling": "key"})
    assert key == "Bb major" and labels == ["Bbmaj", "Ebmaj", "F7"]
    key, labels, _ = _run(beats_and_chords, tmp_path, {"inputUrl": "u", "spelling": "sharps"})
    assert key == "A# major" and labels == ["A#maj", "D#maj", "F7"]
    # params stored before the parameter existed: each slug's own default
    assert _run(beats_and_chords, tmp_path, {"inputUrl": "u"})[1][0] == "Bbmaj"
    assert _run(generate_chords, tmp_path, {"inputUrl": "u"})[1][0] == "A#maj"


@pytest.mark.usefixtures("bb_major")
def test_cli_chords_spells_in_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tonearm.cli import main

    source = tmp_path / "in.mp3"
    source.write_bytes(b"x")
    assert main(["chords", str(source), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["key"] == "Bb major" and document["chordMap"][0]["label"] == "Bbmaj"
    assert main(["chords", str(source), "--json", "--spelling", "sharps"]) == 0
    assert json.loads(capsys.readouterr().out)["chordMap"][1]["label"] == "D#maj"


def test_spelling_param_is_validated_with_each_slugs_default() -> None:
    assert BEATS_AND_CHORDS.validate_params({"inputUrl": "u"})["spelling"] == "key"
    assert GENERATE_CHORDS.validate_params({"inputUrl": "u"})["spelling"] == "sharps"
    schema = GENERATE_CHORDS.describe()["params"]["properties"]["spelling"]
    assert schema["default"] == "sharps" and schema["enum"] == ["key", "sharps", "flats"]
    for spec in (BEATS_AND_CHORDS, GENERATE_CHORDS):
        with pytest.raises(InvalidParamsError, match=r"params\.spelling") as caught:
            spec.validate_params({"inputUrl": "u", "spelling": "german"})
        assert caught.value.code == "invalid_params" and caught.value.status == 400


@pytest.mark.parametrize("workflow", ["music-ai/generate-chords", "tonearm/beats-and-chords"])
def test_a_bad_spelling_is_a_400_on_the_job_api(local_runtime: LocalRuntime, workflow: str) -> None:
    from tonearm.api.app import create_app

    client = TestClient(create_app(local_runtime.services))
    auth = {"Authorization": "test-key"}
    upload = client.get("/v1/upload", headers=auth).json()
    params = {"inputUrl": upload["downloadUrl"], "spelling": "Bb"}
    reply = client.post("/v1/job", json={"name": "n", "workflow": workflow, "params": params}, headers=auth)
    assert reply.status_code == 400, reply.text
    assert (
        reply.json()["error"]["code"] == "invalid_params" and "spelling" in reply.json()["error"]["message"]
    )
