#!/usr/bin/env python3
"""Convert musicnn's pretrained MTT_musicnn / MSD_musicnn TF1 checkpoints to ONNX.

Run from the repository root:

    python models/musicnn/convert.py

The first stage (stdlib only) creates the conversion venv ``models/.venv-convert`` if it is
missing, installs the pinned ``models/musicnn/requirements-convert.txt`` into it (TensorFlow,
tf2onnx, librosa, the ``musicnn`` wheel that ships the checkpoints, ...) and re-executes this
script with that venv's interpreter. TensorFlow is a conversion-time dependency only.

The second stage (inside the venv):
  1. runs the ORIGINAL pipeline ``musicnn.extractor.extractor`` (librosa front end + TF graph)
     on the deterministic clips of ``fixture_clips.py`` and stores per-patch taggram and
     'penultimate' embedding plus the log-mel input in ``parity/<clip>.npz``;
  2. rebuilds the original graph exactly as ``extractor.py`` does (``models.define_model``),
     restores the checkpoint from the installed wheel, freezes it with is_training=False and
     converts it with tf2onnx (opset 17) to ``mtt_musicnn.onnx`` / ``msd_musicnn.onnx`` with
     input ``melspec`` [N,187,96] and outputs ``taggram`` [N,50], ``embedding`` [N,200];
  3. checks onnxruntime against TF (random and real patches) and against extractor();
  4. writes labels.json, parity/versions.json, LICENSE-musicnn.md and the two model cards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / "models" / ".venv-convert"
VENV_PY = VENV / "bin" / "python"
REQS = HERE / "requirements-convert.txt"
STAMP = VENV / ".requirements-convert.sha256"


def _bootstrap() -> None:
    """Create/refresh the conversion venv and re-exec this script inside it.

    PYTHONHASHSEED is fixed (belt and braces; canonicalize() is what makes the .onnx bytes
    reproducible) because tf2onnx's optimiser iterates over sets.
    """
    if not VENV_PY.exists():
        if sys.version_info[:2] != (3, 11):
            sys.exit(f"convert.py: create {VENV} with Python 3.11 (this is {sys.version.split()[0]})")
        print(f"[bootstrap] creating {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    want = hashlib.sha256(REQS.read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != want:
        print(f"[bootstrap] installing {REQS.relative_to(REPO)} (TensorFlow etc., ~1 GB)", flush=True)
        # --no-deps: the file is a complete lock; musicnn's metadata pins ancient versions.
        pip = [str(VENV_PY), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]
        subprocess.check_call([*pip, "-r", str(REQS)])
        STAMP.write_text(want + "\n")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    os.execve(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]], env)


if Path(sys.prefix).resolve() != VENV.resolve() or os.environ.get("PYTHONHASHSEED") != "0":
    _bootstrap()

# --------------------------------------------------------------------------------------------
# Stage 2: inside models/.venv-convert
# --------------------------------------------------------------------------------------------
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import importlib.metadata as md  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore")

# No shim needed: musicnn 0.1.0 only uses tf.compat.v1.* APIs, which TF 2.15 (Keras 2) still
# has; extractor.py itself calls tf.compat.v1.disable_eager_execution() at import time.
import librosa  # noqa: E402
import musicnn  # noqa: E402
import musicnn.configuration as mconfig  # noqa: E402
import musicnn.extractor as mextractor  # noqa: E402
import musicnn.models as mmodels  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import soundfile as sf  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

sys.path.insert(0, str(HERE))
from fixture_clips import fixture_clips  # noqa: E402

PKG = Path(musicnn.__file__).resolve().parent
PARITY = HERE / "parity"
OPSET = 17
N_FRAMES = 187
MODELS = {  # model name -> (onnx file, label list, parity key prefix)
    "MTT_musicnn": ("mtt_musicnn.onnx", mconfig.MTT_LABELS, "mtt"),
    "MSD_musicnn": ("msd_musicnn.onnx", mconfig.MSD_LABELS, "msd"),
}


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- 1. original pipeline ------
def run_original_pipeline() -> tuple[dict, dict]:
    """extractor() on each fixture clip, exactly as a musicnn user would call it."""
    n_frames = 1 + librosa.time_to_frames(
        3, sr=mconfig.SR, n_fft=mconfig.FFT_SIZE, hop_length=mconfig.FFT_HOP
    )
    assert n_frames == N_FRAMES, n_frames
    records: dict[str, dict[str, np.ndarray]] = {}
    pcm_info: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sig, sr) in fixture_clips().items():
            wav = os.path.join(tmp, f"{name}.wav")
            sf.write(wav, sig, sr, subtype="PCM_16")
            pcm, _ = sf.read(wav, dtype="int16")
            pcm_info[name] = {
                "pcm16_sha256": hashlib.sha256(pcm.tobytes()).hexdigest(),
                # libsndfile (soundfile's bundled build) writes float -> PCM_16 as
                # clip(floor(x * 32768)); this records whether that still holds.
                "pcm16_equals_floor_x_times_32768": bool(
                    np.array_equal(pcm, np.clip(np.floor(sig * np.float32(32768)), -32768, 32767))
                ),
            }
            # the original front end, called directly
            batch, logmel = mextractor.batch_data(wav, N_FRAMES, N_FRAMES)
            rec = {"logmel": logmel, "patches": batch}
            for model, (_, _, key) in MODELS.items():
                log(f"[original] extractor({name}.wav, model={model!r})")
                taggram, labels, feats = mextractor.extractor(
                    wav, model=model, input_length=3, input_overlap=False, extract_features=True
                )
                assert list(labels) == list(MODELS[model][1])
                rec[f"{key}_taggram"] = np.asarray(taggram, dtype=np.float32)
                # NOT stored: extractor() has a bug for patches after the first (its loop unpacks
                # the new activations into `backend_` but concatenates the stale `penultimate_`),
                # so every row of features['penultimate'] repeats patch 0. The stored embedding
                # is computed per patch with the same original graph in main().
                rec[f"_{key}_extractor_penultimate"] = np.asarray(feats["penultimate"], dtype=np.float32)
                assert rec[f"{key}_taggram"].shape == (batch.shape[0], 50)
            records[name] = rec
    return records, pcm_info


# ---------------------------------------------------------------- 2. graph + ONNX -----------
def build_original_graph(model: str):
    """The graph of musicnn/extractor.py, restored from the wheel's checkpoint."""
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, mconfig.N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outs = mmodels.define_model(x, is_training, model, len(MODELS[model][1]))
            y, penultimate = outs[0], outs[-1]
            normalized_y = tf.nn.sigmoid(y)
        sess = tf.compat.v1.Session(graph=graph)
        sess.run(tf.compat.v1.global_variables_initializer())
        # extractor.py wraps this in a bare try/except (silently random weights on failure);
        # here a failed restore is fatal.
        ckpt = str(PKG / model) + "/"
        tf.compat.v1.train.Saver().restore(sess, ckpt)
        # by prefix, not directory: the wheel's `checkpoint` file points at the author's machine
        reader = tf.compat.v1.train.NewCheckpointReader(ckpt)
        gvars = tf.compat.v1.global_variables()
        for v, val in zip(gvars, sess.run(gvars), strict=True):
            np.testing.assert_array_equal(val, reader.get_tensor(v.op.name), err_msg=v.op.name)
    log(f"[graph] {model}: restored {len(gvars)} variables from {ckpt} (verified against checkpoint)")
    return graph, sess, x, is_training, normalized_y, penultimate


def freeze_for_inference(sess, x, is_training, normalized_y, penultimate) -> tf.compat.v1.GraphDef:
    """Variables -> constants; is_training bound to constant False; clean I/O names."""
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
        sess, sess.graph.as_graph_def(), [normalized_y.op.name, penultimate.op.name]
    )
    g = tf.Graph()
    with g.as_default():
        melspec = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, mconfig.N_MELS], name="melspec")
        ty, tp = tf.import_graph_def(
            frozen,
            input_map={x.name: melspec, is_training.name: tf.constant(False)},
            return_elements=[normalized_y.name, penultimate.name],
            name="musicnn",
        )
        tf.identity(ty, name="taggram")
        tf.identity(tp, name="embedding")
    return tf.compat.v1.graph_util.extract_sub_graph(g.as_graph_def(), ["taggram", "embedding"])


def to_onnx(graph_def, model: str, path: Path) -> None:
    labels = MODELS[model][1]
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name=model,
        input_names=["melspec:0"],
        output_names=["taggram:0", "embedding:0"],
        opset=OPSET,
        tensors_to_rename={"melspec:0": "melspec", "taggram:0": "taggram", "embedding:0": "embedding"},
    )
    for vi in list(proto.graph.input) + list(proto.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_param = "N"
    assert [i.name for i in proto.graph.input] == ["melspec"]
    assert [o.name for o in proto.graph.output] == ["taggram", "embedding"]
    proto.doc_string = (
        f"musicnn {model} (Pons & Serra, ISMIR 2019 LBD; musicnn 0.1.0, ISC licence), converted "
        "from the original TF1 checkpoint with tf2onnx. Input: log10(1+10000*float16(mel)) patches "
        "[N,187,96] (16 kHz, n_fft 512, hop 256, 96 Slaney mels). Outputs: sigmoid taggram [N,50], "
        "'penultimate' embedding [N,200]."
    )
    meta = {
        "source": f"PyPI musicnn==0.1.0, {model}",
        "upstream": "https://github.com/jordipons/musicnn",
        "license": "ISC",
        "labels": json.dumps(list(labels)),
    }
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, v
    proto = canonicalize(proto)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))


def canonicalize(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Rename nodes/tensors/initializers from graph structure alone and sort them.

    tf2onnx's generated names (``Foo__123``) and node order vary from run to run; this makes
    the saved file (and its sha256) reproducible. Graph inputs/outputs keep their names.
    """
    g = proto.graph
    assert all(
        a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for n in g.node
        for a in n.attribute
    )
    inits = {i.name: i for i in g.initializer}
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    rename = {n: n for n in keep if n in {i.name for i in g.input}}
    init_key = {}
    for name, t in inits.items():
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = ""
        init_key[name] = "init:" + hashlib.sha256(c.SerializeToString(deterministic=True)).hexdigest()

    def in_key(name: str) -> str:
        return rename.get(name) or init_key.get(name) or ("" if not name else "?")

    def node_key(n: onnx.NodeProto) -> tuple:
        attrs = tuple(
            a.SerializeToString(deterministic=True) for a in sorted(n.attribute, key=lambda a: a.name)
        )
        return (n.op_type, n.domain, tuple(in_key(i) for i in n.input), attrs, len(n.output))

    pending = list(g.node)
    ordered: list[onnx.NodeProto] = []
    n_init = 0
    while pending:
        ready = [n for n in pending if all(i == "" or i in rename or i in inits for i in n.input)]
        assert ready, "graph is not a DAG over its inputs/initializers"
        node = min(ready, key=node_key)
        pending.remove(node)
        for i in node.input:
            if i in inits and i not in rename:
                rename[i] = f"c{n_init:03d}"
                n_init += 1
        idx = len(ordered)
        for j, o in enumerate(node.output):
            rename[o] = o if o in keep else (f"t{idx:03d}_{j}" if o else "")
        ordered.append(node)
    for idx, node in enumerate(ordered):
        node.name = f"{node.op_type}_{idx:03d}"
        node.input[:] = [rename[i] if i else "" for i in node.input]
        node.output[:] = [rename[o] for o in node.output]
    used = [t for t in g.initializer if t.name in rename]
    for t in used:
        t.name = rename[t.name]
    del g.node[:]
    g.node.extend(ordered)
    new_inits = sorted(used, key=lambda t: t.name)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    vis = [v for v in g.value_info if v.name in rename]
    for v in vis:
        v.name = rename[v.name]
    vis.sort(key=lambda v: v.name)
    del g.value_info[:]
    g.value_info.extend(vis)
    return proto


# ---------------------------------------------------------------- 3/4. outputs --------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ver(dist: str) -> str:
    return md.version(dist)


def frontend_details() -> dict:
    mel_sig = inspect.signature(librosa.feature.melspectrogram).parameters
    stft_sig = inspect.signature(librosa.stft).parameters
    fb_sig = inspect.signature(librosa.filters.mel).parameters
    load_sig = inspect.signature(librosa.load).parameters
    return {
        "call": "librosa.feature.melspectrogram(y=librosa.load(path, sr=16000)[0], sr=16000, "
        "hop_length=256, n_fft=512, n_mels=96).T",
        "load": {
            "mono": load_sig["mono"].default,
            "dtype": np.dtype(load_sig["dtype"].default).name,
            "res_type": load_sig["res_type"].default,
            "resample": "soxr.resample(y, 44100, 16000, quality='soxr_hq') then "
            "librosa.util.fix_length to ceil(len*16000/44100) samples (fix=True, scale=False)",
            "wav_decode": "soundfile float32: int16 / 32768",
        },
        "stft": {
            "n_fft": mconfig.FFT_SIZE,
            "hop_length": mconfig.FFT_HOP,
            "win_length": mconfig.FFT_SIZE,
            "window": mel_sig["window"].default,
            "window_note": "scipy.signal.get_window('hann', 512, fftbins=True) (periodic Hann)",
            "center": mel_sig["center"].default,
            "pad_mode": mel_sig["pad_mode"].default,
            "pad_mode_stft_default": stft_sig["pad_mode"].default,
            "pad_note": "center=True pads n_fft//2 = 256 samples each side with pad_mode; "
            "n_frames = 1 + len(y) // 256",
            "power": mel_sig["power"].default,
            "dtype": "complex64 (float32 input)",
        },
        "mel": {
            "n_mels": mconfig.N_MELS,
            "fmin": fb_sig["fmin"].default,
            "fmax": "sr/2 = 8000 (fmax=None)",
            "htk": fb_sig["htk"].default,
            "norm": fb_sig["norm"].default,
            "dtype": np.dtype(fb_sig["dtype"].default).name,
        },
        "log": "np.log10(10000 * S.astype(np.float16) + 1); with numpy<2 value-based casting makes "
        "10000*float16 -> float32, so the result is float32 of float16-quantised mel power. "
        "With numpy>=2 (NEP 50) the same expression stays float16 and overflows to inf for "
        "mel > 6.55: reimplement as np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1)",
        "patches": "non-overlapping 187-frame patches starting at frame 0, trailing partial patch "
        "dropped (range(0, n_frames - 187 + 1, 187))",
    }


def write_card(model: str, onnx_path: Path, diffs: dict, roc: str, pr: str) -> None:
    fname, labels, key = MODELS[model]
    data = {
        "MTT_musicnn": (
            "MagnaTagATune (MTT): 29-s clips annotated through the TagATune game, restricted to "
            "the 50 most frequent tags, standard MTT split",
            "MagnaTagATune test set",
        ),
        "MSD_musicnn": (
            "Million Song Dataset (MSD): 30-s audio previews labelled with the 50 most frequent "
            "Last.fm tags (Last.fm dataset), standard MSD tagging split",
            "Million Song Dataset test set",
        ),
    }[model]
    tags = "\n".join(f"| {i} | {t} |" for i, t in enumerate(labels))
    d = diffs[model]
    card = f"""# {model} (ONNX)

Music auto-tagging CNN **{model}** from *musicnn*, converted from the original TensorFlow 1
checkpoint to ONNX (`{fname}`). Generated by `models/musicnn/convert.py`; do not edit by hand.

## Source

- Weights/code: PyPI wheel `musicnn==0.1.0` (checkpoint `musicnn/{model}/` inside the wheel).
- Upstream: https://github.com/jordipons/musicnn
- Authors: Jordi Pons and Xavier Serra (Music Technology Group, Universitat Pompeu Fabra).
- Paper: J. Pons, X. Serra, "musicnn: pre-trained convolutional neural networks for music audio
  tagging", Late-Breaking/Demo session, ISMIR 2019.
- Licence: **ISC** (copyright Music Technology Group, Universitat Pompeu Fabra 2019); full text in
  [LICENSE-musicnn.md](LICENSE-musicnn.md), copied verbatim from the wheel. Keep it with the model.

## Training data

{data[0]}.

## Published metrics ({data[1]}, from the wheel's `experiment.result`)

| ROC-AUC | PR-AUC |
| --- | --- |
| {roc} | {pr} |

## Input: `melspec`, float32 `[N, 187, 96]` (N dynamic)

One row per 3-s patch of a log-mel spectrogram, time-major (frames x mel bands):

1. audio decoded to mono float32 and resampled to **16 kHz** (librosa.load, soxr HQ);
2. STFT: **512-point**, periodic Hann window, **hop 256**, `center=True` (zero/`constant` padding of
   256 samples each side in librosa {ver("librosa")}), power spectrogram (power 2);
3. **96 mel bands**, Slaney mel scale (`htk=False`), Slaney area normalisation (`norm='slaney'`),
   fmin 0 Hz, fmax 8 kHz;
4. cast to **float16**, then `log10(1 + 10000 * x)` (computed in float32);
5. split into **187-frame (~3 s) patches, no overlap**, starting at frame 0; the trailing partial
   patch is dropped (clips shorter than 187 frames give no patch).

The model contains its own input batch normalisation; no further scaling is needed.

## Outputs

- `taggram`: float32 `[N, 50]`, sigmoid tag probabilities per patch (tags below). Average over
  patches for a clip-level prediction.
- `embedding`: float32 `[N, 200]`, musicnn's `penultimate` features (extractor.py's
  `features['penultimate']`): the batch-normalised output of the 200-unit ReLU dense layer,
  before dropout and the 50-way output layer (values can be negative). Note that musicnn
  0.1.0's `extractor()` has a bug that returns patch 0's `penultimate` for every patch; this
  model output is the correct per-patch value.

## Tags (output order)

| index | tag |
| --- | --- |
{tags}

Also in `labels.json` (key `{key}`) and in the ONNX metadata (`labels`).

## File

| | |
| --- | --- |
| file | `models/musicnn/{fname}` |
| sha256 | `{sha256(onnx_path)}` |
| size | {onnx_path.stat().st_size} bytes |
| opset | {OPSET} (float32 weights, inference-only graph) |

## Conversion

```
python models/musicnn/convert.py
```

Rebuilds the original graph via `musicnn.models.define_model` (as `musicnn/extractor.py` does),
restores the checkpoint, freezes it with `is_training=False` and converts it with tf2onnx
{ver("tf2onnx")} (TensorFlow {ver("tensorflow-cpu")}, onnx {ver("onnx")}).

Measured max |TF - onnxruntime {ver("onnxruntime")}|:

| inputs | taggram | embedding |
| --- | --- | --- |
| random patches (N={d["n_random"]}) | {d["random_taggram"]:.3g} | {d["random_embedding"]:.3g} |
| fixture clip patches (N={d["n_real"]}) | {d["real_taggram"]:.3g} | {d["real_embedding"]:.3g} |
| fixture patches, ONNX vs original pipeline (see below) | {d["extractor_taggram"]:.3g} \
| {d["extractor_embedding"]:.3g} |

"Original pipeline": `musicnn.extractor.extractor(wav, model='{model}', input_length=3,
input_overlap=False, extract_features=True)` on the four fixture clips (`fixture_clips.py`); its
taggram is bitwise equal to the rebuilt graph's. Its `features['penultimate']` is NOT used:
musicnn 0.1.0's extractor repeats the first patch's penultimate for every later patch (its batch
loop concatenates a stale variable), so the reference embedding is the same original graph run
one patch at a time (row 0 matches extractor() bitwise). These references are stored in
`parity/` (see README.md).
"""
    (HERE / f"{model}.md").write_text(card)


def main() -> None:
    log(f"[env] python {platform.python_version()}, tf {tf.__version__}, tf2onnx {tf2onnx.__version__}")
    PARITY.mkdir(exist_ok=True)

    # 1. original pipeline (extractor.py under TF 2.15's default control flow v2)
    records, pcm_info = run_original_pipeline()

    # 2. conversion. The frozen graph must not contain control-flow-v2 `If` functions that read
    # resource variables (TF's freezer leaves them dangling and grappler/tf2onnx fail), so the
    # conversion graph is built with v1 control flow (Switch/Merge), which folds away once
    # is_training is the constant False. Same layers, same checkpoint, same math.
    tf.compat.v1.disable_control_flow_v2()
    rng = np.random.default_rng(0)
    rand = rng.uniform(0.0, 5.0, (8, N_FRAMES, mconfig.N_MELS)).astype(np.float32)
    real = np.concatenate([r["patches"] for r in records.values()]).astype(np.float32)
    diffs: dict[str, dict] = {}
    for model, (fname, _, key) in MODELS.items():
        _, sess, x, is_training, normalized_y, penultimate = build_original_graph(model)
        onnx_path = HERE / fname
        to_onnx(freeze_for_inference(sess, x, is_training, normalized_y, penultimate), model, onnx_path)
        log(f"[onnx] wrote {onnx_path.relative_to(REPO)} ({onnx_path.stat().st_size} bytes)")

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        ort_sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        d: dict[str, float | int] = {"n_random": len(rand), "n_real": len(real)}
        for tag, inp in (("random", rand), ("real", real)):
            tf_t, tf_e = sess.run([normalized_y, penultimate], {x: inp, is_training: False})
            ox_t, ox_e = ort_sess.run(["taggram", "embedding"], {"melspec": inp})
            assert ox_t.shape == (len(inp), 50) and ox_e.shape == (len(inp), 200), (ox_t.shape, ox_e.shape)
            d[f"{tag}_taggram"] = float(np.abs(tf_t - ox_t).max())
            d[f"{tag}_embedding"] = float(np.abs(tf_e - ox_e).max())
        # Per-patch embedding of the original graph, run one patch at a time like extractor()
        # (BATCH_SIZE = 1), and cross-checks against extractor() itself.
        ex_t, ex_e0, gr_t0, gr_e0 = [], [], [], []
        for rec in records.values():
            outs = [
                sess.run([normalized_y, penultimate], {x: p[None], is_training: False})
                for p in rec["patches"]
            ]
            gr_t = np.concatenate([o[0] for o in outs]).astype(np.float32)
            rec[f"{key}_embedding"] = np.concatenate([o[1] for o in outs]).astype(np.float32)
            ex_pen = rec.pop(f"_{key}_extractor_penultimate")
            assert np.array_equal(ex_pen, np.repeat(ex_pen[:1], len(ex_pen), axis=0))  # the bug
            ex_t.append(rec[f"{key}_taggram"])
            ex_e0.append(ex_pen[0])
            gr_t0.append(gr_t)
            gr_e0.append(rec[f"{key}_embedding"][0])
        ex_t, gr_t = np.concatenate(ex_t), np.concatenate(gr_t0)
        gr_e = np.concatenate([r[f"{key}_embedding"] for r in records.values()])
        ox_t, ox_e = ort_sess.run(["taggram", "embedding"], {"melspec": real})
        d["extractor_vs_graph_taggram"] = float(np.abs(gr_t - ex_t).max())
        d["extractor_vs_graph_embedding_patch0"] = float(np.abs(np.stack(gr_e0) - np.stack(ex_e0)).max())
        d["extractor_taggram"] = float(np.abs(ox_t - ex_t).max())
        d["extractor_embedding"] = float(np.abs(ox_e - gr_e).max())
        ox1_t, _ = ort_sess.run(["taggram", "embedding"], {"melspec": real[:1]})  # batch of one
        d["batch1_vs_batched_taggram"] = float(np.abs(ox1_t - ox_t[:1]).max())
        sess.close()
        log(f"[check] {model}: " + ", ".join(f"{k}={v:.3g}" for k, v in d.items()))
        for k, v in d.items():
            if isinstance(v, float):
                assert v < 1e-3, (model, k, v)
        diffs[model] = d

    # 3. parity fixtures
    for name, rec in records.items():
        out = {k: v for k, v in rec.items() if k != "patches"}
        np.savez_compressed(PARITY / f"{name}.npz", **out)
        shapes = ", ".join(f"{k}{tuple(v.shape)}:{v.dtype}" for k, v in out.items())
        log(f"[parity] parity/{name}.npz: {shapes}")
    versions = {
        "python": platform.python_version(),
        "musicnn": ver("musicnn"),
        "librosa": ver("librosa"),
        "numpy": ver("numpy"),
        "scipy": ver("scipy"),
        "soxr": ver("soxr"),
        "soundfile": ver("soundfile"),
        "libsndfile": sf.__libsndfile_version__,
        "tensorflow": ver("tensorflow-cpu"),
        "tf2onnx": ver("tf2onnx"),
        "onnx": ver("onnx"),
        "onnxruntime": ver("onnxruntime"),
        "onnx_opset": OPSET,
        "melspectrogram": frontend_details(),
        "fixture_clips": {
            "source": "models/musicnn/fixture_clips.py fixture_clips()",
            "wav": "soundfile.write(path, x, 44100, subtype='PCM_16') to a temp file, then "
            "musicnn.extractor.batch_data / extractor(path, input_length=3, input_overlap=False)",
            "clips": pcm_info,
        },
        "parity_npz": {
            "logmel": "[frames, 96] float32 (float16-quantised mel, log in float32), whole clip, "
            "= batch_data()'s audio_rep",
            "<m>_taggram": "[P, 50] float32, extractor() taggram, P = frames // 187",
            "<m>_embedding": "[P, 200] float32, extractor() features['penultimate']",
        },
        "tf_vs_onnx_max_abs_diff": diffs,
    }
    (PARITY / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")

    # 4. labels, licence, cards
    labels = {"mtt": list(mconfig.MTT_LABELS), "msd": list(mconfig.MSD_LABELS)}
    (HERE / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    lic = Path(md.distribution("musicnn").locate_file("musicnn-0.1.0.dist-info/LICENSE.md")).read_text()
    (HERE / "LICENSE-musicnn.md").write_text(
        "# musicnn licence (ISC)\n\nCopied verbatim from the musicnn 0.1.0 wheel "
        "(`musicnn-0.1.0.dist-info/LICENSE.md`); applies to `mtt_musicnn.onnx` and "
        "`msd_musicnn.onnx`, which are converted from its checkpoints.\n\n---\n\n" + lic.strip() + "\n"
    )
    for model in MODELS:
        roc, pr = published_metrics(model)
        write_card(model, HERE / MODELS[model][0], diffs, roc, pr)
    log("[done] " + ", ".join(f"{MODELS[m][0]} sha256={sha256(HERE / MODELS[m][0])}" for m in MODELS))


def published_metrics(model: str) -> tuple[str, str]:
    """ROC-AUC / PR-AUC from the checkpoint's experiment.result, rounded to 4 places."""
    nums = []
    for line in (PKG / model / "experiment.result").read_text().splitlines():
        if ":" in line:
            with contextlib.suppress(ValueError):
                nums.append(float(line.split(":")[-1]))
    roc, pr = nums[-2], nums[-1]
    return f"{roc:.4f}", f"{pr:.4f}"


if __name__ == "__main__":
    main()
