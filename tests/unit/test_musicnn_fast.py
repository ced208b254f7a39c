"""The opt-in fast musicnn variants: the registry picks them only when asked, they follow the originals,
and the factorisation that builds them is right (models/musicnn/fast.py, FAST_musicnn.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tonearm.models.loader import onnx_session
from tonearm.models.registry import ModelRegistry
from tonearm.settings import Settings
from tonearm.tagging.frontend import patches

MODELS = Path(__file__).resolve().parents[2] / "models"
PARITY = sorted((MODELS / "musicnn" / "parity").glob("*.npz"))


@pytest.fixture(scope="module")
def original() -> ModelRegistry:
    return ModelRegistry(MODELS, variant="original")


@pytest.fixture(scope="module")
def fast() -> ModelRegistry:
    return ModelRegistry(MODELS, variant="fast")


def test_the_originals_are_the_default() -> None:
    assert Settings.from_env({}).model_variant == "original"
    assert Settings.from_env({"TONEARM_MODEL_VARIANT": "fast"}).model_variant == "fast"
    registry = ModelRegistry(MODELS, variant="original")
    assert registry.resolve("mtt_musicnn") == "mtt_musicnn"


def test_fast_variant_resolves_only_models_that_have_one(fast: ModelRegistry) -> None:
    assert fast.resolve("mtt_musicnn") == "mtt_musicnn_fast"
    assert fast.resolve("msd_musicnn") == "msd_musicnn_fast"
    assert fast.resolve("basic_pitch_nmp") == "basic_pitch_nmp"
    assert fast.resolve("no_such_model") == "no_such_model"


def test_fast_entries_mirror_their_originals() -> None:
    entries = {e["name"]: e for e in json.loads((MODELS / "registry.json").read_text())["models"]}
    record = json.loads((MODELS / "musicnn" / "fast-build.json").read_text())["models"]
    for name in ("mtt_musicnn", "msd_musicnn"):
        spec, variant = entries[name], entries[entries[name]["fast"]]
        for key in ("input", "outputs", "labels"):
            assert variant[key] == spec[key], (name, key)
        assert variant["sha256"] == record[variant["name"]]["sha256"]
        assert (MODELS / variant["card"]).is_file()


@pytest.mark.parametrize("clip", PARITY, ids=[p.stem for p in PARITY])
def test_fast_models_follow_the_original_tensorflow_outputs(
    clip: Path, original: ModelRegistry, fast: ModelRegistry
) -> None:
    stored = np.load(clip)
    x = patches(stored["logmel"].astype(np.float32))
    for prefix, per_patch in (("mtt", 0.008), ("msd", 1e-4)):
        tf = stored[f"{prefix}_taggram"]
        got = fast.get(f"{prefix}_musicnn").run(x)
        exact = original.get(f"{prefix}_musicnn").run(x)
        assert np.abs(exact["taggram"] - tf).max() < 1e-4  # the conversion itself
        assert np.abs(got["taggram"] - tf).max() < per_patch, prefix
        assert np.abs(got["taggram"].mean(axis=0) - tf.mean(axis=0)).max() < per_patch, prefix
        cosine = np.sum(got["embedding"] * exact["embedding"], axis=1) / (
            np.linalg.norm(got["embedding"], axis=1) * np.linalg.norm(exact["embedding"], axis=1)
        )
        assert cosine.min() > 0.999, prefix
        # the most likely tag of the clip is the same
        assert np.argmax(got["taggram"].mean(axis=0)) == np.argmax(tf.mean(axis=0)), prefix


def test_fast_model_is_faster_in_work_not_only_in_time() -> None:
    """Multiply-accumulates per patch of the two timbral convolutions: the reason the variant is faster,
    checked without timing anything."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    def timbral_macs(path: Path) -> int:
        model = onnx.load(path)
        shapes = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
        total = 0
        for node in model.graph.node:
            if node.op_type != "Conv":
                continue
            out_ch, in_ch, kh, kw = shapes[node.input[1]]
            if kh == 1 and kw == 1:  # the 1x1 expansions run on the narrow convolution's output grid
                bands = {38: 59, 67: 30}
                narrow = next(n for n in model.graph.node if n.output[0] == node.input[0])
                total += out_ch * in_ch * 187 * bands[shapes[narrow.input[1]][3]]
            elif kh == 7 and kw in (38, 67):
                total += out_ch * in_ch * kh * kw * 187 * (96 - kw + 1)
        return total

    for prefix in ("mtt", "msd"):
        before = timbral_macs(MODELS / "musicnn" / f"{prefix}_musicnn.onnx")
        after = timbral_macs(MODELS / "musicnn" / f"{prefix}_musicnn_fast.onnx")
        assert after < 0.5 * before, prefix


def test_factorisation_is_exact_at_a_weights_own_rank() -> None:
    """MSD_musicnn's timbral weights have rank 23 and 14: factorising at the default ranks must reproduce
    the original (this is how msd_musicnn_fast is built)."""
    onnx = pytest.importorskip("onnx")
    from models.musicnn.fast import DEFAULT_RANKS, convs_by_kernel, factorise, window_moments

    model = onnx.load(MODELS / "musicnn" / "msd_musicnn.onnx")
    x = np.random.default_rng(3).uniform(0.0, 3.0, (4, 187, 96)).astype(np.float32)
    ranks = convs_by_kernel(model, DEFAULT_RANKS)
    moments = window_moments(model, x, list(ranks))
    built = factorise(model, ranks, moments)
    assert '"Conv_005": 23' in built.doc_string and '"Conv_008": 14' in built.doc_string

    def run(m: object) -> np.ndarray:
        session = onnx_session(m.SerializeToString())  # type: ignore[attr-defined]
        return session.run(["taggram"], {"melspec": x})[0]

    assert np.abs(run(built) - run(model)).max() < 1e-5


def test_factorisation_error_falls_with_rank() -> None:
    """On MTT_musicnn, whose weights are full rank, a higher rank gives outputs closer to the original."""
    onnx = pytest.importorskip("onnx")
    from models.musicnn.fast import convs_by_kernel, factorise, window_moments

    model = onnx.load(MODELS / "musicnn" / "mtt_musicnn.onnx")
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.normal(0.0, 0.3, (6, 187, 96)), axis=2).clip(0.0, 4.0).astype(np.float32)

    def run(m: object) -> np.ndarray:
        session = onnx_session(m.SerializeToString())  # type: ignore[attr-defined]
        return session.run(["embedding"], {"melspec": x})[0]

    reference = run(model)
    errors = []
    for r in (16, 48, 96):
        ranks = convs_by_kernel(model, {"7x38": r, "7x67": r})
        built = factorise(model, ranks, window_moments(model, x, list(ranks)))
        errors.append(float(np.abs(run(built) - reference).mean()))
    assert errors[0] > errors[1] > errors[2]
