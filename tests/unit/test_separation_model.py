"""Separation model (issue 19): the torch-free inference helpers of ``models/separation/infer.py``.

The ONNX path is checked with a tiny hand-built graph of the same interface (the shipped model has its
golden test); the tests that need torch (the network itself, the training STFT, fine-tuning from the
shipped model, the training-time augmentations) are skipped where torch is not installed (the main
environment: torch lives in ``models/.venv-separation``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from models.separation import infer

RNG = np.random.default_rng(19)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _local_masks(magnitude: np.ndarray) -> np.ndarray:
    """A frame-local stand-in model: (b, 2, t, f) -> (b, 6, t, f) softmax masks."""
    weights = np.linspace(-1.0, 1.0, len(infer.STEMS), dtype=np.float32)[None, :, None, None]
    features = np.log1p(magnitude).mean(axis=1, keepdims=True)
    return _softmax(weights * features, axis=1).astype(np.float32)


def test_stems_match_the_data_recipe() -> None:
    data = pytest.importorskip("models.separation.data")
    assert data.STEMS == infer.STEMS


@pytest.mark.parametrize("n", [1, 511, 512, 2048, 44_100])
def test_istft_inverts_stft(n: int) -> None:
    x = (RNG.standard_normal((2, n)) * 0.3).astype(np.float32)
    spectrum = infer.stft(x)
    assert spectrum.shape == (2, 1 + n // infer.HOP, infer.BINS)
    assert np.max(np.abs(infer.istft(spectrum, n) - x)) < 1e-5


def test_stft_scale_and_bin() -> None:
    sr, n = infer.SAMPLE_RATE, infer.SAMPLE_RATE
    freq = 100 * sr / infer.N_FFT  # exactly bin 100
    x = np.sin(2 * np.pi * freq * np.arange(n) / sr)[None].astype(np.float32)
    magnitude = np.abs(infer.stft(x))[0, 10:-10]
    assert np.all(magnitude.argmax(axis=-1) == 100)
    np.testing.assert_allclose(magnitude[:, 100], infer.N_FFT / 4, rtol=1e-3)


@pytest.mark.parametrize(("frames", "overlap"), [(1, 64), (256, 64), (257, 64), (1000, 0), (1000, 100)])
def test_chunks_cover_and_weights_sum_to_one(frames: int, overlap: int) -> None:
    chunk = infer.CHUNK_FRAMES
    starts = infer.chunk_starts(frames, chunk, overlap)
    assert starts[0] == 0 and starts[-1] + chunk >= frames
    assert all(b - a == chunk - overlap for a, b in itertools.pairwise(starts))
    total = np.zeros(starts[-1] + chunk)
    for i, s in enumerate(starts):
        total[s : s + chunk] += infer.blend_weights(chunk, overlap, first=i == 0, last=i == len(starts) - 1)
    np.testing.assert_allclose(total[:frames], 1.0, atol=1e-6)


def test_chunk_starts_rejects_bad_overlap() -> None:
    with pytest.raises(ValueError):
        infer.chunk_starts(10, 256, 256)
    with pytest.raises(ValueError):
        infer.chunk_starts(0, 256, 64)


def test_chunked_masks_equal_one_shot_for_a_local_model() -> None:
    magnitude = RNG.random((2, 700, infer.BINS), dtype=np.float32) * 50
    masks = infer.chunked_masks(magnitude, _local_masks, overlap=64, batch=2)
    direct = _local_masks(magnitude[None])[0]
    assert masks.shape == (len(infer.STEMS), 700, infer.BINS)
    np.testing.assert_allclose(masks, direct, atol=1e-5)
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, atol=1e-5)


def test_separate_partitions_the_mix() -> None:
    mix = (RNG.standard_normal((2, 3 * infer.SAMPLE_RATE)) * 0.1).astype(np.float32)
    stems = infer.separate(mix, _local_masks)
    assert list(stems) == list(infer.STEMS)
    assert all(s.shape == mix.shape and s.dtype == np.float32 for s in stems.values())
    assert np.max(np.abs(sum(stems.values()) - mix)) < 1e-4


def _tiny_onnx(path: Path) -> None:
    """An ONNX graph with the model's interface computing :func:`_local_masks`."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = np.linspace(-1.0, 1.0, len(infer.STEMS), dtype=np.float32).reshape(1, -1, 1, 1)
    nodes = [
        helper.make_node("Add", ["magnitude", "one"], ["plus"]),
        helper.make_node("Log", ["plus"], ["log"]),
        helper.make_node("ReduceMean", ["log"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["masks"], axis=1),
    ]
    shape_in: list[str | int | None] = ["batch", 2, infer.CHUNK_FRAMES, infer.BINS]
    shape_out: list[str | int | None] = ["batch", len(infer.STEMS), infer.CHUNK_FRAMES, infer.BINS]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info("masks", TensorProto.FLOAT, shape_out)],
        initializer=[
            numpy_helper.from_array(np.ones((1,), np.float32), "one"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def test_onnx_mask_fn_runs_the_interface(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    _tiny_onnx(tmp_path / "tiny.onnx")
    run = infer.onnx_mask_fn(tmp_path / "tiny.onnx")
    mix = (RNG.standard_normal((2, 4 * infer.SAMPLE_RATE)) * 0.1).astype(np.float32)
    stems = infer.separate(mix, run, batch=3)
    assert np.max(np.abs(sum(stems.values()) - mix)) < 1e-4
    expected = infer.separate(mix, _local_masks)
    for name in infer.STEMS:
        np.testing.assert_allclose(stems[name], expected[name], atol=1e-4)


# --- torch (models/.venv-separation only) ----------------------------------------------------------


def test_network_masks_sum_to_one() -> None:
    torch = pytest.importorskip("torch")
    from models.separation.model import STEMS, MaskUNet

    assert infer.STEMS == STEMS
    model = MaskUNet(base=4).eval()
    with torch.no_grad():
        masks = model(torch.rand(2, 2, 64, infer.BINS) * 100)
    assert masks.shape == (2, len(STEMS), 64, infer.BINS)
    assert float((masks.sum(dim=1) - 1).abs().max()) < 1e-5


def test_training_stft_matches_inference_stft() -> None:
    torch = pytest.importorskip("torch")
    from models.separation.train import magnitudes

    x = (RNG.standard_normal((2, 30_000)) * 0.3).astype(np.float32)
    expected = np.abs(infer.stft(x))
    np.testing.assert_allclose(magnitudes(torch.from_numpy(x)).numpy(), expected, atol=1e-3)


def test_fine_tuning_starts_from_exactly_the_shipped_model() -> None:
    """``train.py --init-onnx``: the fused ONNX weights loaded into the torch model give its output."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from models.separation.model import MaskUNet
    from models.separation.train import freeze_norms, load_onnx_weights

    shipped = Path(infer.__file__).with_name("separation.onnx")
    model = MaskUNet(base=12)
    load_onnx_weights(model, shipped)
    freeze_norms(model)
    x = (RNG.random((1, 2, infer.CHUNK_FRAMES, infer.BINS)) * 30).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    theirs = ort.InferenceSession(str(shipped)).run(None, {"magnitude": x})[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_training_augmentations_keep_crops_exact_sums() -> None:
    pytest.importorskip("torch")
    from models.separation.train import CROP, augment_crops

    rng = np.random.default_rng(0)
    crops = (rng.standard_normal((2, len(infer.STEMS), 2, CROP)) * 0.05).astype(np.float32)
    out, counts = augment_crops(crops, rng, reverb_prob=1.0, compress_prob=1.0)
    assert counts == {"reverb": 2, "compress": 2}
    assert out.shape == crops.shape and out.dtype == np.float32 and not np.array_equal(out, crops)
    same, none = augment_crops(crops, rng, reverb_prob=0.0, compress_prob=0.0)
    np.testing.assert_array_equal(same, crops)
    assert none == {"reverb": 0, "compress": 0}
