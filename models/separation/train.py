#!/usr/bin/env python3
"""Train tonearm's separation model (issue 19) on CPU within a time budget, and export it to ONNX.

Run from the repository root (the first stage re-executes in ``models/.venv-separation``, which holds
torch; create it once as the README says):

    python -m models.separation.train --data DIR --out models/separation/separation.onnx \\
        --minutes 60 --seed 0

``DIR`` is what ``python -m models.separation.data --out DIR ...`` wrote: one folder per example with
``<stem>.wav`` for every stem of :data:`models.separation.infer.STEMS` (float32, 44.1 kHz, stereo).

- Split: ``--val-songs`` of the ``song-*`` folders (a seeded draw) are held out for validation; the
  ``remix-*`` folders built from any of them are dropped from training (they hold its stems).
- Examples: random crops of ``(CHUNK_FRAMES - 1) * HOP`` samples (2.96 s, exactly 256 STFT frames),
  read from disk (``soundfile`` seeks, so the dataset never has to fit in memory); with probability
  ``--remix-prob`` a stem is taken from another training song at another offset (on-the-fly remixing).
  Then, drawn afresh per crop (:func:`augment_crops`): a synthetic room (``--reverb-prob``, one
  stereo response per crop, a send level per stem) and a bus compressor driven by the crop's mix
  (``--compress-prob``), both applied to the stems so the mix stays their exact sum. The mix is the
  sum of the crops' stems.
- Fine-tuning: ``--init-onnx FILE`` starts from an exported model (its fused weights, batch norms
  frozen, :func:`load_onnx_weights`); the starting model is validated first and is exported unless a
  later state validates better.
- Loss: L1 between the masked mix magnitude and each stem's magnitude, per channel and bin, averaged.
- Optimiser: Adam, learning rate on a cosine from ``--lr`` to 0 over the budget (``--minutes``, or
  ``--steps`` when given, which makes a run repeatable step for step).
- Validation every ``--val-every`` seconds and at the end: the first ``--val-seconds`` of every held-out
  song separated by :func:`models.separation.infer.separate` (the inference path: 256-frame chunks,
  cross-faded masks, numpy iSTFT), SDR per stem with ``tonearm.separation.sdr.sdr`` (also for the sums
  Music.AI's workflows return: ``drums`` and ``accompaniment``), median over songs whose reference stem
  is not silent. The best validation state (mean SDR over kick, snare, drums, bass) is exported.
- Output: ``--out`` (ONNX, opset 17, input ``magnitude`` ``(batch, 2, 256, 1025)``, output ``masks``
  ``(batch, 6, 256, 1025)``, dynamic batch) and ``<out>.json`` beside it (hyper-parameters, data,
  throughput, validation history, the exported model's sha256).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / "models" / ".venv-separation"
VENV_PY = VENV / "bin" / "python"
REQS = HERE / "requirements-train.txt"


def _bootstrap() -> None:
    """Re-execute inside ``models/.venv-separation`` when torch is not importable here."""
    try:
        import torch  # noqa: F401
    except ImportError:
        if not VENV_PY.exists():
            sys.exit(
                f"train.py needs torch: create the training venv first:\n"
                f"  python3.11 -m venv {VENV.relative_to(REPO)}\n"
                f"  {VENV.relative_to(REPO)}/bin/pip install --no-deps -r {REQS.relative_to(REPO)}"
            )
        if Path(sys.prefix).resolve() == VENV.resolve():
            sys.exit(f"torch is missing from {VENV}: pip install --no-deps -r {REQS}")
        os.execv(str(VENV_PY), [str(VENV_PY), "-m", "models.separation.train", *sys.argv[1:]])


if __name__ == "__main__":
    _bootstrap()
for _path in (REPO, REPO / "layers" / "core"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from models.separation import augment, infer  # noqa: E402
from models.separation.model import STEMS, MaskUNet, count_macs  # noqa: E402
from tonearm.separation.sdr import sdr  # noqa: E402

#: Samples of a training crop: exactly CHUNK_FRAMES centred STFT frames.
CROP = (infer.CHUNK_FRAMES - 1) * infer.HOP
#: Stem sums Music.AI's workflows return, validated alongside the stems.
GROUPS = {
    "drums": ("kick", "snare", "drums_other"),
    "accompaniment": tuple(s for s in STEMS if s != "vocals"),
}
#: Validation figures whose mean picks the exported state.
SELECT = ("kick", "snare", "drums", "bass")
#: A reference below this mean square (-60 dBFS) counts as silent and is not scored.
SILENT_MS = 1e-6


@dataclass(frozen=True)
class Track:
    """One example folder of the dataset.

    Attributes
    ----------
    folder : Path
    frames : int
        Samples per stem file.
    """

    folder: Path
    frames: int


def split_dataset(root: Path, val_songs: int, seed: int) -> tuple[list[Track], list[Track]]:
    """Training and validation tracks of a dataset written by ``models.separation.data``.

    Parameters
    ----------
    root : Path
    val_songs : int
        ``song-*`` folders held out (a seeded draw); remixes using any of them are dropped.
    seed : int

    Returns
    -------
    train, val : list of Track
    """
    folders = sorted(p.parent for p in root.glob("*/kick.wav"))
    songs = [f for f in folders if f.name.startswith("song-")]
    if len(songs) < val_songs + 1:
        raise SystemExit(f"{root} holds {len(songs)} songs: need more than --val-songs {val_songs}")
    rng = random.Random(seed)
    held = set(rng.sample([f.name for f in songs], val_songs))
    train, val = [], []
    for folder in folders:
        track = Track(folder, sf.info(str(folder / "kick.wav")).frames)
        if folder.name in held:
            val.append(track)
            continue
        if folder.name.startswith("remix-"):
            meta = json.loads((folder / "meta.json").read_text())
            if held & set(meta.get("source", {}).get("stems_from", {}).values()):
                continue
        if track.frames >= CROP:
            train.append(track)
    return train, val


def read_crop(track: Track, stem: str, start: int, length: int) -> npt.NDArray[np.float32]:
    """``length`` samples of one stem from ``start`` [shape=(2, length)], float32, zero-padded."""
    audio, _ = sf.read(str(track.folder / f"{stem}.wav"), start=start, stop=start + length, dtype="float32")
    out = np.zeros((2, length), dtype=np.float32)
    audio = np.atleast_2d(audio.T)
    out[:, : audio.shape[1]] = audio[:2]
    return out


def sample_batch(
    tracks: Sequence[Track], batch: int, rng: np.random.Generator, remix_prob: float
) -> npt.NDArray[np.float32]:
    """Random crops [shape=(batch, len(STEMS), 2, CROP)], float32; the mix is their sum over stems."""
    out = np.empty((batch, len(STEMS), 2, CROP), dtype=np.float32)
    for b in range(batch):
        track = tracks[int(rng.integers(len(tracks)))]
        start = int(rng.integers(track.frames - CROP + 1))
        for k, stem in enumerate(STEMS):
            source, offset = track, start
            if rng.random() < remix_prob:
                source = tracks[int(rng.integers(len(tracks)))]
                offset = int(rng.integers(source.frames - CROP + 1))
            out[b, k] = read_crop(source, stem, offset, CROP)
    return out


#: Ranges of the training-time room and bus-compression augmentations (:func:`augment_crops`).
RT60_RANGE_S = (0.2, 1.2)
WET_RANGE = (0.0, 0.5)
THRESHOLD_RANGE_DB = (-30.0, -12.0)
RATIO_RANGE = (2.0, 8.0)


def augment_crops(
    crops: npt.NDArray[np.float32], rng: np.random.Generator, *, reverb_prob: float, compress_prob: float
) -> tuple[npt.NDArray[np.float32], dict[str, int]]:
    """Training-time room reverb and bus compression of a batch of crops, crop by crop.

    Drawn afresh for every crop (so no two epochs see the same room): with probability
    ``reverb_prob`` one room (:func:`models.separation.augment.room_impulse`, RT60 uniform in
    :data:`RT60_RANGE_S`) with a send level per stem uniform in :data:`WET_RANGE` (the kick and snare
    usually drier in a real mix get the same range: the network must not assume a dry kick); then,
    with probability ``compress_prob``, a bus compressor on the crop's mix (threshold in
    :data:`THRESHOLD_RANGE_DB`, ratio in :data:`RATIO_RANGE`) applied to every stem alike. Both keep
    the mix the exact sum of the stems, so the targets stay exact.

    Parameters
    ----------
    crops : np.ndarray [shape=(batch, stems, 2, CROP)], float32
    rng : np.random.Generator
    reverb_prob, compress_prob : float in [0, 1]

    Returns
    -------
    crops : np.ndarray [shape=(batch, stems, 2, CROP)], float32
    counts : dict
        How many crops got each augmentation (``"reverb"``, ``"compress"``).
    """
    out = crops.copy()
    counts = {"reverb": 0, "compress": 0}
    for b in range(crops.shape[0]):  # a few crops per batch; the samples are processed by scipy
        if rng.random() < reverb_prob:
            impulse = augment.room_impulse(infer.SAMPLE_RATE, float(rng.uniform(*RT60_RANGE_S)), rng)
            out[b] = augment.apply_reverb(out[b], impulse, rng.uniform(*WET_RANGE, size=crops.shape[1]))
            counts["reverb"] += 1
        if rng.random() < compress_prob and np.any(out[b]):
            out[b] = augment.bus_compress(
                out[b],
                infer.SAMPLE_RATE,
                threshold_db=float(rng.uniform(*THRESHOLD_RANGE_DB)),
                ratio=float(rng.uniform(*RATIO_RANGE)),
            )
            counts["compress"] += 1
    return out, counts


def load_onnx_weights(model: MaskUNet, path: Path) -> None:
    """Load an exported model's weights into ``model`` for fine-tuning (``--init-onnx``).

    The TorchScript exporter folds each eval-mode batch norm into the convolution before it, so the
    ONNX file holds fused convolutions (weight and bias) and no statistics. They are loaded as the
    convolution's weight and an identity batch norm carrying the bias (running mean 0, variance 1,
    scale ``sqrt(1 + eps)``): the model then computes exactly what the ONNX file does, as long as
    its batch norms stay in eval mode (:func:`freeze_norms`) -- in training mode they would
    normalise by the batch's statistics instead.

    Parameters
    ----------
    model : MaskUNet
        Same ``base`` as the exported model.
    path : Path
        An ONNX file written by :func:`export_onnx`.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    fused = [node for node in graph.node if node.op_type == "Conv"]
    pairs: list[tuple[torch.nn.Conv2d, torch.nn.BatchNorm2d]] = []
    for block in [*model.enc, *model.dec]:
        pairs += [(block[0], block[1]), (block[3], block[4])]
    if len(fused) != len(pairs):
        raise ValueError(f"{path}: {len(fused)} convolutions, the model has {len(pairs)}")
    state = model.state_dict()
    for name in state:
        if name in weights:  # input_norm (not fused: no convolution before it), up.*, head.*
            state[name] = weights[name]
    model.load_state_dict(state)
    with torch.no_grad():
        for node, (conv, norm) in zip(fused, pairs, strict=True):
            weight, bias = weights[node.input[1]], weights[node.input[2]]
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{path}: {node.input[1]} has shape {tuple(weight.shape)}")
            conv.weight.copy_(weight)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.weight.fill_(math.sqrt(1.0 + norm.eps))
            norm.bias.copy_(bias)


def freeze_norms(model: MaskUNet) -> None:
    """Put every batch norm in eval mode (fixed statistics; scale and shift still learn)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def spectra(x: torch.Tensor) -> torch.Tensor:
    """Complex STFT of ``x`` [shape=(..., n)] -> [shape=(..., frames, 1025)] (as ``infer.stft``)."""
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        infer.N_FFT,
        infer.HOP,
        window=torch.hann_window(infer.N_FFT),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.transpose(-1, -2).reshape(*lead, -1, infer.BINS)


def magnitudes(x: torch.Tensor) -> torch.Tensor:
    """STFT magnitudes of ``x`` [shape=(..., n)] -> [shape=(..., frames, 1025)] (as ``infer.stft``)."""
    return spectra(x).abs()


def inverse(spec: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`spectra`: [shape=(..., frames, 1025)] -> [shape=(..., n)]."""
    lead = spec.shape[:-2]
    wave = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2),
        infer.N_FFT,
        infer.HOP,
        window=torch.hann_window(infer.N_FFT),
        center=True,
        length=n,
    )
    return wave.reshape(*lead, n)


#: Floor of the SDR loss's energies, relative to the mix's energy in the batch (-30 dB): a stem that is
#: silent in the whole batch is then penalised for leakage with a bounded gradient, not an infinite one.
SDR_FLOOR = 1e-3


def batch_loss(
    model: MaskUNet, crops: torch.Tensor, *, loss: str = "sdr", normalise: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss, per stem.

    Parameters
    ----------
    model : MaskUNet
    crops : torch.Tensor [shape=(batch, stems, 2, CROP)]
    loss : {"sdr", "l1"}
        ``"sdr"``: minus the SDR of each stem's waveform (masked complex STFT of the mix, inverted),
        with energies summed over the batch and both channels, in dB, with a floor of
        :data:`SDR_FLOOR` times the mix's energy. It is a squared error (it seeks the mean, not the
        median) normalised per stem, so a quiet, sparse stem such as the kick weighs as much as a loud
        one; the plain L1 on magnitudes (``"l1"``) lets the kick, snare and vocal masks collapse to zero
        because, for a stem present in fewer than half of the bins that look alike, zero *is* the L1
        optimum (TRAINING.md).
    normalise : bool
        ``"l1"`` only: divide each stem's L1 by that stem's mean target magnitude in the batch plus a
        tenth of the mix's.

    Returns
    -------
    loss : torch.Tensor, scalar
        Mean over the stems.
    per_stem : torch.Tensor [shape=(stems,)]
        The per-stem term (``"sdr"``: -SDR in dB; ``"l1"``: mean absolute magnitude error), detached.
    """
    mix_spec = spectra(crops.sum(dim=1))  # (batch, 2, frames, bins), complex
    mix = mix_spec.abs()
    masks = model(mix)  # (batch, stems, frames, bins)
    if loss == "sdr":
        estimate = inverse(masks[:, :, None] * mix_spec[:, None], crops.shape[-1])
        floor = SDR_FLOOR * crops.sum(dim=1).pow(2).sum()
        error = (estimate - crops).pow(2).sum(dim=(0, 2, 3))
        reference = crops.pow(2).sum(dim=(0, 2, 3))
        per_stem = 10.0 * (torch.log10(error + floor) - torch.log10(reference + floor))
        return per_stem.mean(), per_stem.detach()
    target = magnitudes(crops)  # (batch, stems, 2, frames, bins)
    l1 = (masks[:, :, None] * mix[:, None] - target).abs().mean(dim=(0, 2, 3, 4))
    if normalise:
        scale = target.mean(dim=(0, 2, 3, 4)) + 0.1 * mix.mean()
        return (l1 / scale).mean(), l1.detach()
    return l1.mean(), l1.detach()


def torch_mask_fn(model: MaskUNet) -> infer.MaskFn:
    """The model in eval mode as a numpy :data:`models.separation.infer.MaskFn`."""

    def run(magnitude: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with torch.no_grad():
            return model(torch.from_numpy(magnitude)).numpy()

    return run


def validate(model: MaskUNet, tracks: Sequence[Track], seconds: float) -> dict[str, Any]:
    """SDR per stem and group on the held-out tracks (median over non-silent references), dB."""
    model.eval()
    scores: dict[str, list[float]] = {name: [] for name in (*STEMS, *GROUPS)}
    run = torch_mask_fn(model)
    for track in tracks:
        n = min(track.frames, round(seconds * infer.SAMPLE_RATE))
        refs = {s: read_crop(track, s, 0, n) for s in STEMS}
        mix = np.sum(list(refs.values()), axis=0, dtype=np.float64).astype(np.float32)
        est = infer.separate(mix, run)
        for name, members in GROUPS.items():
            refs[name] = np.sum([refs[m] for m in members], axis=0)
            est[name] = np.sum([est[m] for m in members], axis=0)
        for name in scores:
            if float(np.mean(refs[name].astype(np.float64) ** 2)) > SILENT_MS:
                scores[name].append(sdr(refs[name], est[name]))
    model.train()
    median = {k: (round(float(np.median(v)), 3) if v else None) for k, v in scores.items()}
    chosen = [v for k in SELECT if (v := median[k]) is not None]
    return {
        "sdr_median_db": median,
        "clips": {k: len(v) for k, v in scores.items()},
        "select_mean_db": round(float(np.mean(chosen)), 3) if chosen else None,
    }


def export_onnx(model: MaskUNet, path: Path) -> str:
    """Export ``model`` (eval mode) to ONNX opset 17 with a static 256-frame chunk; returns its sha256."""
    model.eval()
    dummy = torch.rand(1, model.channels, infer.CHUNK_FRAMES, infer.BINS) * 10
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        opset_version=17,
        input_names=["magnitude"],
        output_names=["masks"],
        dynamic_axes={"magnitude": {0: "batch"}, "masks": {0: "batch"}},
        dynamo=False,
    )
    model.train()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lr(base: float, progress: float) -> float:
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder written by models.separation.data")
    parser.add_argument("--out", type=Path, default=HERE / "separation.onnx", help="ONNX file to write")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget [min]")
    parser.add_argument(
        "--steps", type=int, default=0, help="stop after this many steps instead (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=4, help="crops per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate (cosine to 0)")
    parser.add_argument("--base", type=int, default=12, help="U-Net width (channels of level 0)")
    parser.add_argument(
        "--remix-prob", type=float, default=0.25, help="chance a stem comes from another song"
    )
    parser.add_argument("--val-songs", type=int, default=8, help="song-* folders held out")
    parser.add_argument(
        "--val-seconds", type=float, default=12.0, help="seconds of each held-out song scored"
    )
    parser.add_argument("--val-every", type=float, default=600.0, help="seconds between validations")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from this state (a previous run's <out>.pt)"
    )
    parser.add_argument(
        "--init-onnx",
        type=Path,
        default=None,
        help="fine-tune an exported model (batch norms frozen: the export fused them)",
    )
    parser.add_argument("--reverb-prob", type=float, default=0.3, help="chance a crop gets a synthetic room")
    parser.add_argument(
        "--compress-prob", type=float, default=0.3, help="chance a crop's mix bus is compressed"
    )
    parser.add_argument(
        "--loss", choices=("sdr", "l1"), default="sdr", help="per-stem waveform SDR, or magnitude L1"
    )
    parser.add_argument(
        "--normalise-loss", action="store_true", help="l1: divide each stem's L1 by its mean magnitude"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, val = split_dataset(args.data, args.val_songs, args.seed)
    if not train:
        raise SystemExit(f"no training example of at least {CROP} samples in {args.data}")
    model = MaskUNet(n_stems=len(STEMS), base=args.base)
    if args.init is not None:  # continue an earlier run: its exported state (``<out>.pt``)
        model.load_state_dict(torch.load(args.init, weights_only=True))
    frozen = args.init_onnx is not None
    if frozen:
        load_onnx_weights(model, args.init_onnx)
        freeze_norms(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model)
    print(
        f"train {len(train)} tracks, val {len(val)}; U-Net base {args.base}: {params} parameters, "
        f"{macs / 1e9:.2f} GMAC per 256-frame chunk",
        file=sys.stderr,
    )

    budget = args.minutes * 60.0
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, torch.Tensor], dict[str, Any]] | None = None
    step, examples, read_s, compute_s = 0, 0, 0.0, 0.0
    running = torch.zeros(len(STEMS))
    augmented = {"reverb": 0, "compress": 0}
    t0 = last_val = time.perf_counter()

    def run_validation() -> None:
        nonlocal best
        v0 = time.perf_counter()
        metrics = validate(model, val, args.val_seconds)
        metrics.update(step=step, examples=examples, elapsed_s=round(time.perf_counter() - t0, 1))
        metrics["validate_s"] = round(time.perf_counter() - v0, 1)
        if frozen:  # validate() put the model back in training mode
            freeze_norms(model)
        history.append(metrics)
        print(f"step {step}: validation {json.dumps(metrics['sdr_median_db'])}", file=sys.stderr)
        score = metrics["select_mean_db"]
        if score is not None and (best is None or score > best[0]):
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (score, state, metrics)

    if frozen and val:  # the starting model is a candidate: export it unless training beats it
        run_validation()
        last_val = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t0
        if (args.steps and step >= args.steps) or (not args.steps and elapsed >= budget):
            break
        progress = step / args.steps if args.steps else elapsed / budget
        for group in optimiser.param_groups:
            group["lr"] = _lr(args.lr, progress)
        r0 = time.perf_counter()
        batch, counts = augment_crops(
            sample_batch(train, args.batch, rng, args.remix_prob),
            rng,
            reverb_prob=args.reverb_prob,
            compress_prob=args.compress_prob,
        )
        augmented = {k: augmented[k] + counts[k] for k in augmented}
        crops = torch.from_numpy(batch)
        c0 = time.perf_counter()
        loss, per_stem = batch_loss(model, crops, loss=args.loss, normalise=args.normalise_loss)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        c1 = time.perf_counter()
        read_s += c0 - r0
        compute_s += c1 - c0
        step += 1
        examples += args.batch
        running = per_stem if step == 1 else 0.98 * running + 0.02 * per_stem
        if step % 20 == 0:
            print(
                f"step {step} ({elapsed:.0f} s, {examples / (read_s + compute_s):.2f} ex/s): "
                f"{args.loss} {dict(zip(STEMS, [round(float(x), 3) for x in running], strict=True))}",
                file=sys.stderr,
            )
        if val and c1 - last_val >= args.val_every:
            run_validation()
            last_val = time.perf_counter()
    train_s = time.perf_counter() - t0
    if val and (not history or history[-1]["step"] != step):
        run_validation()
    final = history[-1] if history else None
    if best is not None:
        model.load_state_dict(best[1])
    sha = export_onnx(model, args.out)
    # the exported state, so that a later run can continue from it (--init); not shipped
    torch.save(model.state_dict(), args.out.with_suffix(".pt"))
    report = {
        "model": {
            "architecture": "MaskUNet (models/separation/model.py)",
            "base": args.base,
            "parameters": params,
            "macs_per_chunk": macs,
            "stems": list(STEMS),
            "input": {"name": "magnitude", "shape": ["batch", 2, infer.CHUNK_FRAMES, infer.BINS]},
            "output": {"name": "masks", "shape": ["batch", len(STEMS), infer.CHUNK_FRAMES, infer.BINS]},
            "stft": {"n_fft": infer.N_FFT, "hop": infer.HOP, "window": "periodic hann", "center": True},
            "sample_rate": infer.SAMPLE_RATE,
            "opset": 17,
            "sha256": sha,
        },
        "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "data": {
            "root": str(args.data),
            "train_tracks": len(train),
            "val_tracks": [t.folder.name for t in val],
            "crop_samples": CROP,
        },
        "training": {
            "steps": step,
            "examples": examples,
            "seconds": round(train_s, 1),
            "examples_per_s": round(examples / max(read_s + compute_s, 1e-9), 3),
            "read_s": round(read_s, 1),
            "compute_s": round(compute_s, 1),
            "augmented_crops": augmented,
            "final_loss": dict(zip(STEMS, [round(float(x), 4) for x in running], strict=True)),
        },
        "validation": {
            "exported": best[2] if best else None,
            "final": final,
            "history": history,
        },
        "environment": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "threads": args.threads,
        },
    }
    meta_path = args.out.with_suffix(".json")
    meta_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} (sha256 {sha}) and {meta_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
