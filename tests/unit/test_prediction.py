"""tonearm.prediction: history exports, the feature pipeline, the ONNX export and training on a known rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.fakes.listener import fill_library, history_file, make_catalogue
from tonearm.adapters.local.files import FileBlobStore
from tonearm.prediction.history import (
    HistoryFormatError,
    merge,
    normalise,
    parse_history,
    streams_per_track,
)
from tonearm.prediction.library import TrackLibrary, entry_from_analysis
from tonearm.prediction.messages import message_for
from tonearm.prediction.model import ModelIntegrityError, ModelStore, NoModelError, StreamModel
from tonearm.prediction.onnx_export import INPUT_NAME, export_hist_gbr
from tonearm.prediction.resolve import split_release_date
from tonearm.prediction.schema import (
    AlbumPart,
    AudioFeaturesPart,
    Features,
    FeatureSources,
    SourceStatus,
    TrackPart,
)
from tonearm.prediction.service import MusicFlowService
from tonearm.prediction.train import MIN_TRACKS, NotEnoughDataError
from tonearm.prediction.vector import FEATURE_COLUMNS, KEY_COLUMNS, feature_matrix, feature_row


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "bucket", base_url="http://127.0.0.1", secret=b"test")


# -- history --------------------------------------------------------------------------------------------
def account_play(track: str, artist: str, ms: int, when: str = "2023-01-05 21:13") -> dict[str, object]:
    return {"endTime": when, "artistName": artist, "trackName": track, "msPlayed": ms}


def test_account_format_counts_streams_of_30_s_or_more() -> None:
    data = json.dumps(
        [
            account_play("Sun", "Caribou", 30_000, "2023-01-01 10:00"),
            account_play("Sun", "Caribou", 29_999, "2023-01-01 11:00"),
            account_play("sun", "CARIBOU", 200_000, "2023-01-02 10:00"),  # same track, other spelling
            account_play("Odessa", "Caribou", 5_000, "2023-01-03 10:00"),
        ]
    ).encode()
    history = parse_history(data, name="StreamingHistory_music_0.json")
    targets = {t.track.lower(): t for t in streams_per_track(history)}
    assert history.formats == ["account"]
    assert targets["sun"].streams == 2 and targets["sun"].plays == 3
    assert targets["odessa"].streams == 0 and targets["odessa"].plays == 1  # a skip is still data
    assert history.window is not None and history.window[0].isoformat() == "2023-01-01T10:00:00+00:00"


def test_extended_format_keeps_uris_and_skips_podcasts() -> None:
    tracks = make_catalogue(5)
    history = parse_history(history_file(tracks, extended=True), name="Streaming_History_Audio_2023.json")
    assert history.formats == ["extended"]
    assert history.skipped == {"podcast episode": 1}
    targets = streams_per_track(history)
    by_title = {t.track: t for t in targets}
    for t in tracks:
        if t.title in by_title:
            assert by_title[t.title].streams == t.streams
            assert by_title[t.title].track_uri == f"spotify:track:{t.track_id}"


def test_streams_are_capped_at_30() -> None:
    plays = [
        account_play("Loop", "Me", 60_000, f"2023-01-01 {h:02d}:{m:02d}") for h in range(3) for m in range(15)
    ]
    (target,) = streams_per_track(parse_history(json.dumps(plays).encode()))
    assert target.plays == 45 and target.streams == 30


def test_both_formats_merge_and_overlapping_files_count_once() -> None:
    tracks = make_catalogue(30)
    account = parse_history(history_file(tracks, extended=False))
    again = parse_history(history_file(tracks, extended=False))
    merged = merge([account, again])
    assert len(merged.plays) == len(account.plays)
    assert {t.streams for t in streams_per_track(merged)} == {t.streams for t in streams_per_track(account)}
    both = merge([account, parse_history(history_file(tracks, extended=True))])
    assert set(both.formats) == {"account", "extended"}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "not JSON"),
        (b'{"a": 1}', "JSON list"),
        (b'[{"foo": 1}]', "neither account-data format"),
        (b'[{"endTime": "yesterday", "artistName": "a", "trackName": "b", "msPlayed": 1}]', "[0]"),
    ],
)
def test_bad_history_files_are_refused_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(HistoryFormatError, match=fragment.replace("[", r"\[").replace("]", r"\]")) as info:
        parse_history(data, name="h.json")
    assert info.value.status == 400 and info.value.code == "invalid_history"


def test_normalise_ignores_case_accents_and_punctuation() -> None:
    assert normalise("Beyoncé — Halo!") == normalise("beyonce halo")


# -- features -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("date", "precision", "parts"),
    [
        ("2015-07-17", "day", (2015, 7, 17, True)),
        ("2015-07", "month", (2015, 7, None, False)),
        ("1979", "year", (1979, None, None, False)),
    ],
)
def test_release_dates_split_with_missing_parts_missing(
    date: str, precision: str, parts: tuple[int, int | None, int | None, bool]
) -> None:
    album = split_release_date(date, precision)
    assert (album.release_year, album.release_month, album.release_day, album.date_is_complete) == parts
    assert album.release_date_precision == precision


def features_with(**audio: object) -> Features:
    return Features(
        track=TrackPart(track_name="t", artist_name="a", popularity=70),
        album=AlbumPart(),
        audio_features=AudioFeaturesPart(**audio),  # type: ignore[arg-type]
        feature_sources=FeatureSources(),
        sources=SourceStatus(spotify="not_configured", library="not_found"),
    )


def test_feature_columns_are_musicflows() -> None:
    assert FEATURE_COLUMNS[:3] == ("number_of_available_markets", "release_year", "release_month")
    assert KEY_COLUMNS == (
        "A",
        "A#/Bb",
        "B",
        "C",
        "C#/Db",
        "D",
        "D#/Eb",
        "E",
        "F",
        "F#/Gb",
        "G",
        "G#/Ab",
        "Unknown",
    )
    assert len(FEATURE_COLUMNS) == 33


def test_feature_row_marks_missing_values_and_one_hot_key() -> None:
    row = feature_row(features_with(energy=0.8, key=9))
    col = {name: i for i, name in enumerate(FEATURE_COLUMNS)}
    assert row[col["energy"]] == pytest.approx(0.8) and row[col["popularity"]] == 70
    assert np.isnan(row[col["danceability"]]) and np.isnan(row[col["release_year"]])
    assert row[col["A"]] == 1 and row[len(FEATURE_COLUMNS) - 13 :].sum() == 1
    for key in (None, -1):
        assert feature_row(features_with(key=key))[col["Unknown"]] == 1


@pytest.mark.parametrize(
    ("value", "emoji"),
    [(0.0, "😐"), (0.29, "😐"), (0.3, "🙂"), (0.99, "😃"), (1.5, "😄"), (2.0, "😍"), (30, "😍")],
)
def test_message_bands_are_musicflows(value: float, emoji: str) -> None:
    assert message_for(value).emoji == emoji


# -- model ----------------------------------------------------------------------------------------------
def test_onnx_export_matches_scikit_learn_with_missing_values(rng: np.random.Generator) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = rng.random((400, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.25] = np.nan
    y = np.log1p(np.clip(20 * np.nan_to_num(x[:, 0], nan=0.9) + 5 * np.nan_to_num(x[:, 3]), 0, 30))
    model = HistGradientBoostingRegressor(max_iter=60, max_leaf_nodes=15, random_state=0).fit(x, y)
    # the estimator sees columns 0..5 of an 8-wide row (columns 6, 7 carry nothing)
    wide = np.concatenate([x, np.full((len(x), 2), np.nan, np.float32)], axis=1)
    onnx = export_hist_gbr(model, n_features=8, cap=30, feature_map=list(range(6)))
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: wide})[0].ravel()
    want = np.clip(np.expm1(model.predict(x)), 0, 30)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_training_learns_the_rule_and_beats_the_baseline_on_held_out_tracks(blobs: FileBlobStore) -> None:
    # GIVEN a listener whose streams follow a known rule of energy, danceability (and popularity, which
    # without Spotify the model never sees), with every track's audio analysed into the library
    train_tracks, held_out = make_catalogue(200, seed=0), make_catalogue(80, seed=7, offset=5000)
    flow = MusicFlowService(blobs=blobs, metadata=None)
    fill_library(flow.library, train_tracks + held_out)
    # WHEN it trains on the account-data export
    card = flow.train([("StreamingHistory_music_0.json", history_file(train_tracks, extended=False))])
    # THEN the card reports real cross-validated error, better than predicting the mean
    cv = card.cross_validation
    assert card.tracks == card.tracks_used == 200 and card.history_formats == ["account"]
    assert cv.folds == 5 and 0 < cv.mae < 0.85 * cv.baseline_mae
    assert card.feature_coverage["energy"] == 1.0 and card.feature_coverage["popularity"] == 0.0
    # AND on tracks it never saw, it beats the training mean
    model = flow.models.require()
    x = feature_matrix([flow.features(t.title, t.artist) for t in held_out])
    y = np.array([t.streams for t in held_out], dtype=float)
    model_mae = float(np.mean(np.abs(model.predict(x) - y)))
    baseline_mae = float(np.mean(np.abs(card.target_mean - y)))
    assert model_mae < 0.85 * baseline_mae
    # AND more energy means more predicted streams, all else equal
    low, high = features_with(energy=0.1, danceability=0.5), features_with(energy=0.95, danceability=0.5)
    assert model.predict(feature_matrix([high]))[0] > model.predict(feature_matrix([low]))[0]


def test_model_versions_are_stored_with_cards_and_reloaded(blobs: FileBlobStore) -> None:
    tracks = make_catalogue(40, seed=3)
    flow = MusicFlowService(blobs=blobs, metadata=None)
    fill_library(flow.library, tracks)
    card = flow.train([("Streaming_History_Audio_2023.json", history_file(tracks, extended=True))])
    base = blobs.path_for(f"flow/models/{card.version}")
    assert (base / "model.onnx").is_file() and "Cross-validated error" in (base / "README.md").read_text()
    fresh = ModelStore(blobs)  # another process
    loaded = fresh.require()
    assert loaded.card == card and isinstance(loaded, StreamModel)
    row = feature_matrix([flow.features(tracks[0].title, tracks[0].artist)])
    assert loaded.predict(row)[0] == pytest.approx(flow.models.require().predict(row)[0])


def test_a_tampered_model_is_refused(blobs: FileBlobStore) -> None:
    tracks = make_catalogue(30, seed=4)
    flow = MusicFlowService(blobs=blobs, metadata=None)
    fill_library(flow.library, tracks)
    card = flow.train([("h.json", history_file(tracks, extended=False))])
    path = blobs.path_for(f"flow/models/{card.version}/model.onnx")
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="sha256") as info:
        ModelStore(blobs).current()
    assert info.value.code == "model_integrity" and info.value.status == 500


def test_no_model_is_a_409_that_says_how_to_train(blobs: FileBlobStore) -> None:
    with pytest.raises(NoModelError, match="tonearm flow train") as info:
        ModelStore(blobs).require()
    assert info.value.status == 409


def test_too_few_tracks_with_features_is_refused(blobs: FileBlobStore) -> None:
    tracks = make_catalogue(MIN_TRACKS + 10, seed=5)
    flow = MusicFlowService(blobs=blobs, metadata=None)
    fill_library(flow.library, tracks[: MIN_TRACKS - 1])
    with pytest.raises(NotEnoughDataError, match=f"only {MIN_TRACKS - 1} of"):
        flow.train([("h.json", history_file(tracks, extended=False))])


# -- library --------------------------------------------------------------------------------------------
def test_library_finds_entries_by_isrc_or_normalised_title(blobs: FileBlobStore) -> None:
    library = TrackLibrary(blobs)
    entry = entry_from_analysis(
        {
            "duration": 200.0,
            "features": {"energy": 0.5, "key": 2, "mode": 1, "tempo": 120.0, "duration_ms": 200000},
        },
        title="Déjà Vu",
        artist="Crosby, Stills & Nash",
        isrc="us-at2-70-00001",
        source="test",
    )
    assert len(library.put(entry)) == 2
    assert library.by_isrc("USAT27000001") is not None
    found = library.by_title("deja vu", "crosby stills nash")
    assert found is not None and found.audio_features.tempo == 120.0
    assert library.by_title("Deja Vu", "Someone Else") is None
    assert library.put(entry.model_copy(update={"title": None, "isrc": None})) == []  # unidentified


def test_cli_trains_into_the_local_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.cli import main

    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_SECRET_ID", "TONEARM_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    tracks = make_catalogue(40, seed=9)
    data_dir = tmp_path / "data"
    fill_library(TrackLibrary(FileBlobStore(data_dir / "bucket", base_url="http://x", secret=b"x")), tracks)
    account, extended = (
        tmp_path / "StreamingHistory_music_0.json",
        tmp_path / "Streaming_History_Audio_1.json",
    )
    account.write_bytes(history_file(tracks[:20], extended=False))
    extended.write_bytes(history_file(tracks[20:], extended=True))
    train = ["flow", "train", "--history", str(account), str(extended), "--data-dir", str(data_dir)]
    # 40 tracks are too few to beat predicting the mean: the model is kept, not made current, and it says so
    assert main(train) == 1
    refused = capsys.readouterr().err
    assert "model_not_better_than_baseline" in refused and "not made current" in refused
    with pytest.raises(NoModelError):
        ModelStore(FileBlobStore(data_dir / "bucket", base_url="http://x", secret=b"x")).require()
    assert main([*train, "--force"]) == 0  # the user decides to use it anyway
    out = capsys.readouterr().out
    assert "(now current)" in out and "5-fold CV MAE" in out and "account, extended" in out
    card = ModelStore(FileBlobStore(data_dir / "bucket", base_url="http://x", secret=b"x")).require().card
    assert card.tracks == 40
    assert (
        main(
            [
                "flow",
                "predict",
                "--song",
                tracks[0].title,
                "--artist",
                tracks[0].artist,
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    assert '"prediction"' in capsys.readouterr().out
    assert (
        main(["flow", "train", "--history", str(tmp_path / "missing.json"), "--data-dir", str(data_dir)]) == 2
    )
