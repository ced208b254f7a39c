"""Build the opt-in fast variants of the musicnn models: ``mtt_musicnn_fast.onnx``, ``msd_musicnn_fast.onnx``.

Run from the repository root (the dev environment has everything)::

    .venv/bin/python -m models.musicnn.fast --audio-dir /tmp/sepdata/main

Why: 86 % of a musicnn model's time is its convolutions, and two of them, the timbral filters over
7 frames x 38 and 7 frames x 67 mel bands (204 filters each), take 60 % of it (``bench/results/tagging.md``).
Their weight matrices are close to low rank: 99.9 % of their energy lies in 53 and 63 of 204 directions.
Each is replaced by two convolutions, ``r`` filters of the same shape followed by a 1 x 1 convolution back
to 204 channels, which is what the original computes projected onto the ``r``-dimensional subspace that
carries most of its *output* on real music. Nothing is trained: the projection is the top ``r``
eigenvectors of ``W C W^T``, where ``C`` is the second moment of the convolution's input windows measured
on calibration audio, which minimises the mean squared error of the pre-activation over that audio
(a plain SVD of ``W`` ignores which input directions music uses and needs a larger rank for the same error).

Calibration audio: the mixes of ``models/separation/TRAINING.md``'s data set (generator songs and music21
scores rendered with FluidR3_GM/GS and TimGM6mb, then mixed, panned, levelled and MP3 round-tripped);
no other SoundFont. The examples are shuffled with a fixed seed, the first ``--calibration`` fit the
projections and the next ``--evaluation`` measure the agreement with the original, patch by patch and
for the track-level answer (the mean over patches). The record is ``models/musicnn/fast-build.json``;
the model card is ``models/musicnn/FAST_musicnn.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper, numpy_helper

from tonearm.models.loader import onnx_session

HERE = Path(__file__).resolve().parent
#: The two timbral convolutions, by kernel shape (frames x mel bands; node names differ between the two
#: models), and the rank each keeps of its 204 filters: ranks whose track-level taggram stays within
#: 0.001 of the original on the evaluation mixes (see the record).
DEFAULT_RANKS = {"7x38": 48, "7x67": 56}
#: Patches per onnxruntime call: bounds the session's memory arena (a whole track at once needs GBs).
_BATCH = 8


def _session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    """A session configured as tonearm's registry runs every model (one thread, every optimisation)."""
    return onnx_session(model.read_bytes() if isinstance(model, Path) else model.SerializeToString())


def run_model(session: ort.InferenceSession, x: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """Run a musicnn session over patches in batches.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    x : np.ndarray [shape=(p, 187, 96)], float32
        Log-mel patches.

    Returns
    -------
    list of np.ndarray
        The session's outputs, concatenated over the batches: ``[taggram (p, 50), embedding (p, 200)]``
        for a musicnn model.
    """
    parts = [session.run(None, {"melspec": x[i : i + _BATCH]}) for i in range(0, len(x), _BATCH)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def convs_by_kernel(model: onnx.ModelProto, ranks: dict[str, int]) -> dict[str, int]:
    """Map ``{"<kh>x<kw>": rank}`` to ``{node name: rank}`` for the model's convolutions of those kernels."""
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            kh, kw = shapes[node.input[1]][2:]
            if f"{kh}x{kw}" in ranks:
                found[node.name] = ranks[f"{kh}x{kw}"]
    if len(found) != len(ranks):
        raise ValueError(f"expected one convolution per kernel of {sorted(ranks)}, found {sorted(found)}")
    return found


def window_moments(
    model: onnx.ModelProto, x: npt.NDArray[np.float32], convs: list[str]
) -> dict[str, npt.NDArray[np.float64]]:
    """Second moment of each convolution's input windows.

    Parameters
    ----------
    model : onnx.ModelProto
        A musicnn model.
    x : np.ndarray [shape=(p, 187, 96)], float32
        Calibration patches.
    convs : list of str
        Names of single-input-channel ``Conv`` nodes.

    Returns
    -------
    dict of str to np.ndarray [shape=(kh * kw, kh * kw)], float64
        ``sum over windows of w w^T`` with ``w`` one flattened ``kh x kw`` input window of the node, padded
        as the node pads.
    """
    nodes = {n.name: n for n in model.graph.node if n.name in convs}
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    inputs = sorted({nodes[c].input[0] for c in convs})
    for name in inputs:
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = _session(probe)
    out_names = [o.name for o in session.get_outputs()]
    moments: dict[str, npt.NDArray[np.float64]] = {}
    for i in range(0, len(x), _BATCH):
        values = dict(zip(out_names, session.run(None, {"melspec": x[i : i + _BATCH]}), strict=True))
        for conv in convs:
            node = nodes[conv]
            kh, kw = weights[node.input[1]].shape[2:]
            top, left, bottom, right = next(a.ints for a in node.attribute if a.name == "pads")
            a = np.pad(values[node.input[0]][:, 0], ((0, 0), (top, bottom), (left, right)))
            w = sliding_window_view(a, (kh, kw), axis=(1, 2)).reshape(-1, kh * kw).astype(np.float64)
            moments[conv] = moments.get(conv, 0) + w.T @ w
    return moments


def factorise(
    model: onnx.ModelProto, ranks: dict[str, int], moments: dict[str, npt.NDArray[np.float64]]
) -> onnx.ModelProto:
    """Replace each named convolution by a rank-``r`` pair fitted to its input moments.

    ``Conv(x, W, b)`` with ``W`` of shape ``(F, 1, kh, kw)`` becomes ``Conv(Conv(x, P^T W), P, b)``: ``r``
    filters of the same shape and padding, then a ``1 x 1`` convolution with the ``F x r`` matrix ``P`` of
    the top ``r`` eigenvectors of ``W C W^T`` (``C``: the input moment). ``P P^T W`` is the rank-``r``
    matrix closest to ``W`` in mean squared pre-activation error over the calibration windows. A weight
    whose numerical rank is below ``r`` is factorised exactly at its own rank; the ranks used are in the
    model's ``doc_string``.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    weights = {i.name: numpy_helper.to_array(i) for i in out.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    replaced: set[str] = set()
    ranks_used: dict[str, int] = {}
    for node in out.graph.node:
        if node.name not in ranks:
            nodes.append(node)
            continue
        w = weights[node.input[1]].astype(np.float64)
        filters, rank = w.shape[0], ranks[node.name]
        w2 = w.reshape(filters, -1)
        # a weight of lower numerical rank (MSD_musicnn's timbral filters span 23 and 14 dimensions) is
        # factorised exactly at that rank
        singular = np.linalg.svd(w2, compute_uv=False)
        rank = min(rank, int(np.sum(singular > 1e-6 * singular[0])))
        ranks_used[node.name] = rank
        _, vectors = np.linalg.eigh(w2 @ moments[node.name] @ w2.T)
        p = vectors[:, ::-1][:, :rank]  # eigh sorts ascending
        narrow = (p.T @ w2).reshape((rank, *w.shape[1:])).astype(np.float32)
        expand = p.reshape(filters, rank, 1, 1).astype(np.float32)
        v_name, u_name, mid = f"{node.name}_narrow", f"{node.name}_expand", f"{node.name}_mid"
        out.graph.initializer.extend(
            [numpy_helper.from_array(narrow, v_name), numpy_helper.from_array(expand, u_name)]
        )
        first = helper.make_node("Conv", [node.input[0], v_name], [mid], name=f"{node.name}_lowrank")
        first.attribute.extend(node.attribute)
        second = helper.make_node(
            "Conv",
            [mid, u_name, *node.input[2:]],
            list(node.output),
            name=f"{node.name}_expand",
            kernel_shape=[1, 1],
        )
        nodes += [first, second]
        replaced.add(node.input[1])
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    # the original weights are now unused: drop them so the file is smaller, not bigger
    kept = [init for init in out.graph.initializer if init.name not in replaced]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    out.doc_string = (
        f"musicnn with rank-reduced timbral convolutions {json.dumps(ranks_used)} (models/musicnn/fast.py)"
    )
    onnx.checker.check_model(out)
    return out


def agreement(
    reference: list[npt.NDArray[np.float32]], fast: list[npt.NDArray[np.float32]], tracks: list[slice]
) -> dict[str, float]:
    """How closely the fast model's outputs follow the original's.

    Parameters
    ----------
    reference, fast : list of np.ndarray
        ``[taggram (p, 50), embedding (p, 200)]`` of the same patches.
    tracks : list of slice
        Each track's patches, for the track-level answer (the mean taggram over its patches).

    Returns
    -------
    dict
        ``patch_max_abs`` / ``patch_p99_abs`` / ``patch_mean_abs``: |difference| of tag probabilities over
        every patch and tag; ``track_max_abs``: the same of the per-track mean; ``top1``: share of patches
        with the same most likely tag; ``top5_overlap``: mean share of the five most likely tags in common;
        ``track_top5_overlap`` likewise per track; ``embedding_cosine_min``: the smallest cosine between
        the two embeddings of a patch.
    """
    ref_tags, fast_tags = reference[0], fast[0]
    diff = np.abs(fast_tags - ref_tags)
    ref_order, fast_order = np.argsort(-ref_tags, axis=1), np.argsort(-fast_tags, axis=1)
    ref_tracks = np.stack([ref_tags[t].mean(axis=0) for t in tracks])
    fast_tracks = np.stack([fast_tags[t].mean(axis=0) for t in tracks])

    def top5(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        sa, sb = np.argsort(-a, axis=1)[:, :5], np.argsort(-b, axis=1)[:, :5]
        return float(np.mean([len(set(x) & set(y)) / 5 for x, y in zip(sa, sb, strict=True)]))

    e_ref, e_fast = reference[1], fast[1]
    cosine = np.sum(e_ref * e_fast, axis=1) / (np.linalg.norm(e_ref, axis=1) * np.linalg.norm(e_fast, axis=1))
    return {
        "patch_max_abs": float(diff.max()),
        "patch_p99_abs": float(np.quantile(diff, 0.99)),
        "patch_mean_abs": float(diff.mean()),
        "track_max_abs": float(np.abs(fast_tracks - ref_tracks).max()),
        "top1": float(np.mean(ref_order[:, 0] == fast_order[:, 0])),
        "top5_overlap": top5(ref_tags, fast_tags),
        "track_top5_overlap": top5(ref_tracks, fast_tracks),
        "embedding_cosine_min": float(cosine.min()),
    }


def file_patches(path: Path) -> npt.NDArray[np.float32]:
    """tonearm's tagging front end over a sound file: ``(p, 187, 96)`` log-mel patches."""
    from tonearm.tagging.frontend import log_mel, patches, tagging_signal

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return patches(log_mel(tagging_signal(y.T, sr=sr)))


def _stack(files: list[Path]) -> tuple[npt.NDArray[np.float32], list[slice]]:
    parts = [file_patches(f) for f in files]
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return np.concatenate(parts), [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def seconds_per_patch(session: ort.InferenceSession, x: npt.NDArray[np.float32], repeats: int = 5) -> float:
    """Best of ``repeats`` timings of one-patch runs over ``x`` (as the registry runs), per patch [s]."""
    for patch in x[:2]:
        session.run(None, {"melspec": patch[np.newaxis]})
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for patch in x:
            session.run(None, {"melspec": patch[np.newaxis]})
        best = min(best, time.perf_counter() - start)
    return float(best / len(x))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio-dir", type=Path, required=True, help="folder of examples, each with a mix.wav")
    ap.add_argument("--calibration", type=int, default=40, help="examples that fit the projections")
    ap.add_argument("--evaluation", type=int, default=60, help="further examples that measure the agreement")
    ap.add_argument("--models", default="mtt,msd")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--record", type=Path, default=HERE / "fast-build.json")
    args = ap.parse_args(argv)

    files = sorted(args.audio_dir.glob("*/mix.wav"))
    if len(files) < args.calibration + args.evaluation:
        ap.error(f"{args.audio_dir} has {len(files)} mixes, {args.calibration + args.evaluation} needed")
    order = np.random.default_rng(0).permutation(len(files))
    chosen = [files[i] for i in order]
    calibration, _ = _stack(chosen[: args.calibration])
    evaluation, tracks = _stack(chosen[args.calibration : args.calibration + args.evaluation])
    print(f"calibration: {len(calibration)} patches; evaluation: {len(evaluation)} patches", flush=True)

    record: dict[str, Any] = {
        "command": "python -m models.musicnn.fast " + " ".join(argv if argv is not None else sys.argv[1:]),
        "ranks": DEFAULT_RANKS,
        "calibration_examples": [f.parent.name for f in chosen[: args.calibration]],
        "evaluation_examples": [
            f.parent.name for f in chosen[args.calibration : args.calibration + args.evaluation]
        ],
        "calibration_patches": len(calibration),
        "evaluation_patches": len(evaluation),
        "models": {},
    }
    for prefix in args.models.split(","):
        source = HERE / f"{prefix}_musicnn.onnx"
        model = onnx.load(source)
        ranks = convs_by_kernel(model, DEFAULT_RANKS)
        moments = window_moments(model, calibration, list(ranks))
        fast = factorise(model, ranks, moments)
        target = args.out / f"{prefix}_musicnn_fast.onnx"
        target.write_bytes(fast.SerializeToString())
        original_session, fast_session = _session(source), _session(target)
        measured = agreement(
            run_model(original_session, evaluation), run_model(fast_session, evaluation), tracks
        )
        timing = evaluation[:11]
        t_original, t_fast = (
            seconds_per_patch(original_session, timing),
            seconds_per_patch(fast_session, timing),
        )
        record["models"][f"{prefix}_musicnn_fast"] = {
            "file": target.name,
            "factorised": fast.doc_string,
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
            "agreement": {k: round(v, 6) for k, v in measured.items()},
            "ms_per_patch_original": round(t_original * 1e3, 2),
            "ms_per_patch_fast": round(t_fast * 1e3, 2),
            "speedup": round(t_original / t_fast, 3),
        }
        print(prefix, json.dumps(record["models"][f"{prefix}_musicnn_fast"]), flush=True)
    args.record.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
