"""A tiny stand-in for the separation model, so tests of the separation engine and workflows need neither
the trained ``models/separation/separation.onnx`` nor its quality.

:func:`tiny_separation_onnx` writes an ONNX graph with the model's interface (magnitudes
``(batch, 2, CHUNK_FRAMES, BINS)`` in, softmax masks ``(batch, 6, CHUNK_FRAMES, BINS)`` out, one per stem,
summing to one) computed frame by frame from the log magnitude; :func:`tiny_models_dir` lays out a models
folder whose ``registry.json`` is the repository's with the separation entry pointing at that graph (every
other model is the repository's own file, by absolute path). The fixture ``tiny_separation_models``
(``tests/conftest.py``) points ``TONEARM_MODELS_DIR`` at such a folder for one test; e2e servers started
while it is active inherit it. :func:`mix`, :func:`pcm16` and :func:`check_stems` are the signal and the
check (rate, channels, length, outputs summing to the input) the workflow tests share.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tests.conftest import PROJECT_ROOT

#: The separation model's stems, in its output order.
STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")
CHUNK_FRAMES = 256
BINS = 1025
#: The registry entry used when ``models/registry.json`` has none for the separation model yet.
DEFAULT_ENTRY: dict[str, Any] = {
    "name": "separation",
    "path": "separation/separation.onnx",
    "input": "magnitude",
    "outputs": ["masks"],
    "card": "separation/MODEL_CARD.md",
}


def tiny_separation_onnx(path: Path, *, input_name: str = "magnitude", output_name: str = "masks") -> str:
    """Write the stand-in graph to ``path``; return its sha256 (hex)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.linspace(-1.0, 1.0, len(STEMS), dtype=np.float32).reshape(1, -1, 1, 1)
    nodes = [
        helper.make_node("Add", [input_name, "one"], ["plus"]),
        helper.make_node("Log", ["plus"], ["log"]),
        helper.make_node("ReduceMean", ["log"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [output_name], axis=1),
    ]
    shape_in: list[str | int | None] = ["batch", 2, CHUNK_FRAMES, BINS]
    shape_out: list[str | int | None] = ["batch", len(STEMS), CHUNK_FRAMES, BINS]
    graph = helper.make_graph(
        nodes,
        "tiny_separation",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, shape_out)],
        initializer=[
            numpy_helper.from_array(np.ones((1,), np.float32), "one"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def separation_entry(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The separation model's entry of a registry manifest (its file lies under ``separation/``)."""
    for entry in manifest.get("models", []):
        if str(entry.get("path", "")).startswith("separation/"):
            return dict(entry)
    return None


def tiny_models_dir(root: Path, source: Path = PROJECT_ROOT / "models") -> Path:
    """A models folder under ``root``: ``source``'s models, the separation model replaced by the stand-in."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((source / "registry.json").read_text())
    entry = separation_entry(manifest) or dict(DEFAULT_ENTRY)
    others = [e for e in manifest["models"] if not str(e.get("path", "")).startswith("separation/")]
    models = [{**e, "path": str((source / e["path"]).resolve())} for e in others]
    onnx_path = root / entry["path"]
    entry["sha256"] = tiny_separation_onnx(
        onnx_path, input_name=entry["input"], output_name=entry["outputs"][0]
    )
    (root / "registry.json").write_text(json.dumps({**manifest, "models": [*models, entry]}, indent=2))
    heads = root / "heads"
    if not heads.exists() and (source / "heads").is_dir():
        os.symlink((source / "heads").resolve(), heads, target_is_directory=True)
    return root


# --- signals and checks the separation tests share --------------------------------------------------------


def mix(*, seconds: float, sr: int, channels: int, seed: int = 19) -> np.ndarray:
    """A few tones, a noise burst every half second and some noise: (n, channels) float32 in [-0.8, 0.8]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = (
        0.2 * np.sin(2 * np.pi * 55 * t)
        + 0.15 * np.sin(2 * np.pi * 440 * t)
        + 0.02 * rng.standard_normal(t.size)
    )
    bursts = (t % 0.5) < 0.03
    y[bursts] += 0.3 * rng.standard_normal(int(bursts.sum()))
    out = np.stack([y * (0.8 + 0.2 * c) for c in range(channels)], axis=1)
    return np.clip(out, -0.8, 0.8).astype(np.float32)


def pcm16(y: np.ndarray) -> np.ndarray:
    """What ``y`` reads back as after a 16-bit WAV."""
    return np.round(y * 32767).astype(np.int16).astype(np.float32) / 32767


def sum_tolerance(outputs: int) -> float:
    """How far the outputs' sum may be from the input: each output rounded (and dithered) to 16 bits."""
    return outputs * 2.5 / 32768 + 1e-5


def check_stems(files: dict[str, Path], source: np.ndarray, sr: int) -> None:
    """Every file a WAV at ``sr`` with ``source``'s channels and length; together they sum to ``source``."""
    total = np.zeros_like(source, dtype=np.float64)
    for name, path in files.items():
        y, file_sr = sf.read(str(path), dtype="float64", always_2d=True)
        assert file_sr == sr and y.shape == source.shape, (name, file_sr, y.shape)
        total += y
    np.testing.assert_allclose(total, source, atol=sum_tolerance(len(files)))
