"""Custom task types: heads trained on the musicnn embeddings (``tonearm.tagging.heads``).

The training data is rendered here with numpy (no downloads): three kinds of sound that musicnn's
embeddings separate but no builtin task type names, each file with its own pitch, tempo and noise:

- ``chords``: sustained sine triads with a few harmonics, vibrato and a slow swell;
- ``drums``: kick (a falling sine), snare (a decaying noise burst) and hi-hat ticks at a random tempo;
- ``saw``: a bright, naive sawtooth melody at a random tempo.

One head is trained per module (3 labels x 6 files of 3-4 s, 2 files per label held out) and shared.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tonearm.audio.decode import decode
from tonearm.cli import main
from tonearm.errors import ParameterError
from tonearm.models.registry import ModelRegistry
from tonearm.tagging.heads.logistic import LogisticHead, fit_logistic
from tonearm.tagging.heads.lookup import (
    Head,
    HeadManifest,
    HeadNameError,
    HeadStore,
    HeadUnavailableError,
    check_head_name,
)
from tonearm.tagging.heads.onnx_export import export_onnx
from tonearm.tagging.heads.train import HeadDataError, TrainingReport, split_files, train_head
from tonearm.tagging.service import tag_tasks
from tonearm.tagging.task_types import UnsupportedTaskTypeError, resolve_task_types

SR = 22050
LABELS = ("chords", "drums", "saw")
NAME = "Sounds"
#: Held-out accuracy the head must reach (5 of the 6 held-out files; chance is 1/3).
MIN_ACCURACY = 0.8


def _chords(rng: np.random.Generator, seconds: float) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * SR)) / SR
    root = rng.uniform(110, 330)
    third = 1.26 if rng.random() < 0.5 else 1.19  # major or minor
    vibrato = 1 + 0.003 * np.sin(2 * np.pi * 5 * t)
    y = np.zeros_like(t)
    for ratio in (1.0, third, 1.5, 2.0):
        for harmonic, amp in ((1, 1.0), (2, 0.3), (3, 0.1)):
            y += amp * np.sin(2 * np.pi * root * ratio * harmonic * t * vibrato + rng.uniform(0, 2 * np.pi))
    swell = np.minimum(1.0, t / 0.2) * (0.8 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t))
    return y * swell


def _drums(rng: np.random.Generator, seconds: float) -> npt.NDArray[np.float64]:
    n = int(seconds * SR)
    y = np.zeros(n)
    step = 30 / rng.uniform(90, 160)  # eighth notes
    for k, start in enumerate(np.arange(0, seconds, step)):
        i = int(start * SR)
        m = min(n - i, int(0.25 * SR))
        t = np.arange(m) / SR
        if k % 2 == 0:  # kick: a sine falling from ~200 Hz
            freq = 150 * np.exp(-t * 20) + 45
            y[i : i + m] += np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t * 12)
        else:  # snare: a noise burst
            y[i : i + m] += 0.7 * rng.standard_normal(m) * np.exp(-t * rng.uniform(18, 35))
        hat = min(n - i, int(0.05 * SR))
        y[i : i + hat] += 0.2 * np.diff(rng.standard_normal(hat + 1)) * np.exp(-np.arange(hat) / SR * 80)
    return y


def _saw(rng: np.random.Generator, seconds: float) -> npt.NDArray[np.float64]:
    n = int(seconds * SR)
    y = np.zeros(n)
    step = 60 / rng.uniform(100, 180)
    for start in np.arange(0, seconds, step):
        i = int(start * SR)
        m = min(n - i, int(step * SR) + 1)
        freq = 110 * 2 ** (rng.integers(0, 24) / 12)
        y[i : i + m] = 2 * np.mod(np.arange(m) * freq / SR, 1.0) - 1
    return y


RENDER: dict[str, Callable[[np.random.Generator, float], npt.NDArray[np.float64]]] = {
    "chords": _chords,
    "drums": _drums,
    "saw": _saw,
}


def _wav(path: Path, y: npt.NDArray[np.float64]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), SR, subtype="PCM_16")


def render_dataset(
    root: Path, *, labels: tuple[str, ...] = LABELS, per_label: int = 6, seed: int = 0, seconds: float = 3.0
) -> Path:
    """``root/<label>/<label>_<i>.wav``, each ``seconds`` to ``seconds + 1`` s long."""
    rng = np.random.default_rng(seed)
    for label in labels:
        for i in range(per_label):
            _wav(root / label / f"{label}_{i}.wav", RENDER[label](rng, rng.uniform(seconds, seconds + 1)))
    return root


def _clip_bytes(label: str, *, seed: int, seconds: float = 4.0) -> bytes:
    y = RENDER[label](np.random.default_rng(seed), seconds)
    buf = io.BytesIO()
    sf.write(buf, (0.5 * y / np.abs(y).max()).astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, registry: ModelRegistry) -> TrainingReport:
    data = render_dataset(tmp_path_factory.mktemp("data") / "sounds")
    return train_head(data, name=NAME, heads_root=tmp_path_factory.mktemp("heads"), registry=registry)


@pytest.fixture
def heads_env(trained: TrainingReport, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained head's folder is the process's heads folder."""
    root = trained.folder.parent
    monkeypatch.setenv("TONEARM_HEADS_DIR", str(root))
    return root


# --- training --------------------------------------------------------------------------------------


def test_training_reports_a_held_out_accuracy(trained: TrainingReport) -> None:
    m = trained.manifest
    assert m.accuracy >= MIN_ACCURACY, trained.misclassified
    assert m.labels == list(LABELS) and m.embedding_models == ["msd_musicnn", "mtt_musicnn"]
    assert m.embedding_dim == 400 and m.n_train_files == 12 and m.n_test_files == 6
    assert all((c.train, c.test) == (4, 2) for c in m.label_counts.values())
    assert sum(c.correct for c in m.label_counts.values()) == round(m.accuracy * 6)
    on_disk = HeadManifest.model_validate_json((trained.folder / "head.json").read_text())
    assert on_disk == m and trained.folder.name == NAME
    assert sorted(p.name for p in trained.folder.parent.iterdir()) == [NAME]  # no staging left behind


def test_split_is_stratified_by_file_and_seeded() -> None:
    masks = split_files([6, 2, 9, 3], test_fraction=0.25, seed=0)
    assert [int(m.sum()) for m in masks] == [2, 1, 2, 1]  # round half up, >= 1, leaves >= 1 to train
    again = split_files([6, 2, 9, 3], test_fraction=0.25, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again, strict=True))
    other = split_files([6, 2, 9, 3], test_fraction=0.25, seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(masks, other, strict=True))
    assert [int(m.sum()) for m in split_files([2, 4], test_fraction=0.9, seed=0)] == [1, 3]


def test_fit_logistic_separates_blobs_and_shrinks_with_l2() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 20)) * 3
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.normal(size=(120, 20))
    x[:, 5] = 7.0  # a constant feature (a dead unit) must not blow up the standardisation
    head = fit_logistic(x, y, n_classes=3)
    assert (head.predict_proba(x).argmax(axis=1) == y).mean() == 1.0
    assert head.std[5] == 1.0 and np.isfinite(head.weights).all()
    flat = fit_logistic(x, y, n_classes=3, l2=1e4).predict_proba(x)
    assert np.abs(flat - 1 / 3).max() < 0.05
    # the weights say which rows matter: with class 0's rows weightless, class 0 is never predicted
    weights = np.where(y == 0, 0.0, 1.0)
    assert (fit_logistic(x, y, n_classes=3, sample_weight=weights).predict_proba(x).argmax(axis=1) != 0).all()


def test_exported_onnx_matches_numpy(trained: TrainingReport) -> None:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    d, k = 16, 4
    small = LogisticHead(
        mean=rng.normal(size=d).astype(np.float32),
        std=rng.uniform(0.5, 2, size=d).astype(np.float32),
        weights=rng.normal(size=(d, k)).astype(np.float32),
        bias=rng.normal(size=k).astype(np.float32),
    )
    data = export_onnx(small)
    assert data == export_onnx(small)  # deterministic bytes
    x = rng.normal(size=(7, d)).astype(np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"embedding": x})
    np.testing.assert_allclose(got, small.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)

    # the installed head, through the runtime loader, on embedding-like rows
    head = Head.load(trained.folder)
    rows = (trained.model.mean + trained.model.std * rng.normal(size=(5, 400))).astype(np.float32)
    np.testing.assert_allclose(head.predict(rows), trained.model.predict_proba(rows), atol=1e-5)


# --- runtime ---------------------------------------------------------------------------------------


def test_head_answers_through_tag_tasks(heads_env: Path, registry: ModelRegistry) -> None:
    for i, label in enumerate(LABELS):
        audio = decode(_clip_bytes(label, seed=100 + i))
        result = tag_tasks(audio, [NAME, "Instrument"], registry=registry, segments=True)
        head, instrument = result.answers
        assert head.task.name == NAME and head.labels == list(LABELS)
        assert head.labels[int(np.argmax(head.probabilities))] == label, head.probabilities
        assert sum(head.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert head.embedding.shape == (400,) and instrument.labels[0] == "Guitar"
        assert result.segments is not None and len(result.segments) == 2
        for segment in result.segments:
            answer = segment.answers[0]
            assert answer.task.name == NAME and sum(answer.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_task_types_list_builtin_and_custom(heads_env: Path) -> None:
    (task,) = resolve_task_types([NAME])
    assert task.head is not None and task.models == frozenset({"msd_musicnn", "mtt_musicnn"})
    assert task.labels[0].sources == ()
    with pytest.raises(UnsupportedTaskTypeError) as info:
        resolve_task_types(["Colour"])
    assert "supported task types: MusicTaggingMTT" in info.value.message
    assert f"custom task types: {NAME}" in info.value.message


def test_a_new_or_retrained_head_is_found_without_a_restart(trained: TrainingReport, tmp_path: Path) -> None:
    store = HeadStore(tmp_path)
    assert store.get("Late") is None and store.names() == []
    _copy_head(trained, tmp_path, "Late")
    late = store.get("Late")
    assert late is not None and late.head is not None and store.names() == ["Late"]
    assert store.get("Late") is late  # cached while unchanged
    manifest = json.loads((tmp_path / "Late" / "head.json").read_text())
    manifest["labels"] = ["a", "b", "c"]
    manifest["label_counts"] = dict(zip("abc", manifest["label_counts"].values(), strict=True))
    (tmp_path / "Late" / "head.json").write_text(json.dumps(manifest))
    relabelled = store.get("Late")
    assert relabelled is not None and [label.name for label in relabelled.labels] == ["a", "b", "c"]


def test_a_damaged_head_is_refused(
    trained: TrainingReport, tmp_path: Path, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy_head(trained, tmp_path, "Broken")
    data = bytearray((folder / "head.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "head.onnx").write_bytes(bytes(data))
    store = HeadStore(tmp_path)
    with pytest.raises(HeadUnavailableError, match="sha256") as info:
        store.get("Broken")
    assert info.value.status == 503 and info.value.code == "model_unavailable"
    (folder / "head.onnx").unlink()
    with pytest.raises(HeadUnavailableError, match=r"no head\.onnx"):
        store.get("Broken")
    monkeypatch.setenv("TONEARM_HEADS_DIR", str(tmp_path))
    with pytest.raises(HeadUnavailableError):
        tag_tasks(decode(_clip_bytes("saw", seed=1)), ["Broken"], registry=registry)


def _copy_head(trained: TrainingReport, root: Path, name: str) -> Path:
    folder = root / name
    shutil.copytree(trained.folder, folder)
    manifest = json.loads((folder / "head.json").read_text())
    manifest["name"] = name
    (folder / "head.json").write_text(json.dumps(manifest))
    return folder


# --- names and bad data ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Genre", "genre", "MUSICTAGGINGMTT", "AcousticSenseGenre"])
def test_a_name_clashing_with_a_builtin_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(HeadNameError, match="clashes with the builtin task type"):
        check_head_name(name)
    with pytest.raises(HeadNameError):  # before any work: the data folder does not even exist
        train_head(tmp_path / "missing", name=name, heads_root=tmp_path)


@pytest.mark.parametrize("name", ["1st", "_x", "has space", "dash-name", "x" * 65, ""])
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(HeadNameError, match="not allowed"):
        check_head_name(name)


def test_bad_training_data_is_refused(tmp_path: Path, registry: ModelRegistry) -> None:
    heads = tmp_path / "heads"

    def train(data: Path) -> None:
        train_head(data, name="Bad", heads_root=heads, registry=registry)

    with pytest.raises(HeadDataError, match="does not exist"):
        train(tmp_path / "missing")
    one = render_dataset(tmp_path / "one", labels=("drums",), per_label=2)
    with pytest.raises(HeadDataError, match="1 label folder"):
        train(one)
    few = render_dataset(tmp_path / "few", labels=("drums", "saw"), per_label=2)
    (few / "saw" / "saw_1.wav").unlink()
    (few / "saw" / "notes.txt").write_text("not audio, ignored")
    with pytest.raises(HeadDataError, match="'saw' has 1"):
        train(few)
    broken = render_dataset(tmp_path / "broken", labels=("drums", "saw"), per_label=2)
    (broken / "drums" / "a_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64))
    with pytest.raises(HeadDataError, match=r"a_broken\.wav"):
        train(broken)
    with pytest.raises(ParameterError, match="test fraction"):
        split_files([2, 2], test_fraction=1.0, seed=0)
    assert not heads.exists() or not any(heads.iterdir())


# --- the SAMI API ----------------------------------------------------------------------------------


@pytest.fixture
def client(local_runtime: Any) -> TestClient:
    from tonearm.api.app import create_app

    return TestClient(create_app(local_runtime.services))


def _invoke(client: TestClient, audio: bytes, tasks: list[str], **extra: Any) -> Any:
    payload = {
        "audio_info": {"format": "wav", "sample_rate": SR, "channel": 1},
        "extra": {"enable_tag": True, **extra},
        "task_flow": {"type": "merge", "task": [{"task_type": t} for t in tasks]},
    }
    body = {
        "appkey": "local",
        "token": "test-key",
        "namespace": "MusicTagging",
        "payload": json.dumps(payload),
        "data": base64.b64encode(audio).decode(),
    }
    return client.post("/api/v1/invoke", params={"version": "v4"}, json=body)


def test_sami_invoke_answers_a_custom_task_type(
    heads_env: Path, client: TestClient, trained: TrainingReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = _invoke(client, _clip_bytes("drums", seed=7), ["Mood", NAME], enable_embed=True)
    assert reply.status_code == 200, reply.text
    payload = json.loads(reply.json()["payload"])
    mood, head = payload["task_flow"]["result"]
    assert head["task_type"] == NAME and head["pred_dim"] == 3 and head["embed_dim"] == 400
    assert head["task_output"]["tags"] == list(LABELS)
    probabilities = payload["pred"][mood["pred_dim"] :]
    assert LABELS[int(np.argmax(probabilities))] == "drums"
    assert len(payload["embed"]) == mood["embed_dim"] + 400

    unknown = _invoke(client, _clip_bytes("drums", seed=7), ["Colour"])
    assert unknown.status_code == 400 and unknown.json()["error_code"] == "unsupported_task_type"
    assert NAME in unknown.json()["status_text"]

    broken_root = heads_env.parent / "broken-heads"
    folder = _copy_head(trained, broken_root, "Broken")
    (folder / "head.onnx").write_bytes(b"not a model")
    monkeypatch.setenv("TONEARM_HEADS_DIR", str(broken_root))
    damaged = _invoke(client, _clip_bytes("drums", seed=7), ["Broken"])
    assert damaged.status_code == 503 and damaged.json()["error_code"] == "model_unavailable"


# --- the command line ------------------------------------------------------------------------------


def test_cli_train_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = render_dataset(tmp_path / "Tiny", labels=("chords", "drums"), per_label=2)
    heads = tmp_path / "heads"
    assert main(["heads", "train", str(data), "--out", str(heads), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy:" in out and "task_type: Tiny" in out and str(heads / "Tiny") in out
    assert "chords      2      1     1" in out
    assert (heads / "Tiny" / "head.onnx").is_file()

    assert main(["heads", "train", str(data), "--out", str(heads)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["heads", "list", "--dir", str(heads)]) == 0
    listed = capsys.readouterr().out
    assert "Tiny  accuracy" in listed and "labels: chords, drums" in listed
    (heads / "Tiny" / "head.onnx").write_bytes(b"damaged")
    assert main(["heads", "list", "--dir", str(heads)]) == 0
    assert "Tiny  DAMAGED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "does not exist"),
        (["data", "--name", "Genre"], "clashes with the builtin task type 'Genre'"),
        (["data", "--name", "Good", "--test-fraction", "0"], "test fraction"),
        (["bad name"], "pass --name"),
    ],
)
def test_cli_train_refuses_bad_input_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "bad name").mkdir()
    data = render_dataset(tmp_path / "data", labels=("drums", "saw"), per_label=2)
    args = [str(tmp_path / args[0]) if i == 0 else a for i, a in enumerate(args)]
    assert data.exists()
    assert main(["heads", "train", *args, "--out", str(tmp_path / "heads")]) == 2
    assert message in capsys.readouterr().err


def test_cli_train_names_an_undecodable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = render_dataset(tmp_path / "data", labels=("drums", "saw"), per_label=2)
    (data / "drums" / "a_broken.mp3").write_bytes(b"ID3" + bytes(100))
    assert main(["heads", "train", str(data), "--name", "X", "--out", str(tmp_path / "heads")]) == 2
    err = capsys.readouterr().err
    assert "a_broken.mp3" in err and "invalid_training_data" in err


def test_task_type_lookup_needs_neither_numpy_nor_models(trained: TrainingReport) -> None:
    """The zip API function validates workflow task types with pydantic only: no numpy, no models."""
    import subprocess
    import sys

    script = f"""
import os, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "scipy", "onnxruntime", "onnx", "soundfile", "av"):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from tonearm.tagging.task_types import UnsupportedTaskTypeError, resolve_task_types
assert [t.name for t in resolve_task_types(["Genre"])] == ["Genre"]
try:
    resolve_task_types(["{NAME}"])
    raise SystemExit("a head was found without a heads folder")
except UnsupportedTaskTypeError as exc:
    assert "none installed" in exc.message, exc.message
os.environ["TONEARM_HEADS_DIR"] = {str(trained.folder.parent)!r}
(task,) = resolve_task_types(["{NAME}"])
assert [label.name for label in task.labels] == {list(LABELS)!r}
"""
    env = {k: v for k, v in os.environ.items() if k != "TONEARM_HEADS_DIR"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
