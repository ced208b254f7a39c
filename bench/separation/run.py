"""Separation benchmark (issue 19): the DSP baselines' SDR on held-out renders (WAV and MP3), and speed.

One command renders ``--clips`` held-out examples (default 12, 20 s each) with the data recipe of
``models/separation/data.py`` (tonearm's generator, random GM programs, every stem rendered alone so the
mix is exactly their sum, no augmentation) but with a SoundFont the training data never uses, makes an
MP3 (128 kbit/s CBR) of each mix, runs every baseline of ``tonearm.separation.baselines`` on both inputs
and scores each stem against the rendered references with ``tonearm.separation.sdr`` (global SDR and
the median of 1 s framewise SDRs), then writes ``separation.json`` (every number) and
``separation.md``::

    python -m bench.separation.run --out bench/results/separation.json

The held-out SoundFont. ``models.separation.data.resolve_soundfont`` refuses every SoundFont but
FluidR3_GM, FluidR3_GS and TimGM6mb, by design; that check is left as it is. This benchmark builds its
``SoundFontKit`` itself through :func:`heldout_kit`, which *requires* the file to be refused by
``resolve_soundfont`` and to carry none of the training bank names, then renders through the same
``data.make_example``. The default is ``sf_GMbank.sf2`` (Debian ``csound-soundfont``, public domain):
MuseScore_General (``musescore-general-soundfont-small``) was not chosen because it is built on Fluid
R3 Mono, i.e. on the training SoundFont's samples (its Debian copyright file says so).

Every number is measured in this one process, bound to one CPU with every BLAS/OpenMP pool at one
thread (``bench.common``). Speed is seconds per 30 s of 44.1 kHz stereo for each baseline (median of 3
calls after a warm-up). Targets (issue 19): the model must beat the best baseline by 4 dB on drums and
bass and by 3 dB on kick and snare; no baseline of ``tonearm.separation`` returns a bass stem, so the
benchmark adds a bench-only one (:func:`lowpass_bass`) to have a bass floor.

The model row. When ``models/separation/separation.onnx`` (``--model``) exists, the trained model is
scored on the same clips and inputs through the streaming engine (:func:`tonearm.separation.streaming.
iter_separate`, what the service runs), for every stem and for ``drums`` and ``accompaniment``, next to
the baselines but never counted among them for the targets; and its speed is measured through the
service (:func:`tonearm.separation.service.separate_to_files`: decode, separation, three WAV outputs) in
a subprocess per input (:mod:`bench.separation.model_speed`: wall time and peak RSS of that process
alone), on 30 s of the clips as 16-bit WAV and on those 30 s repeated to 10 minutes as FLAC (a
10-minute 16-bit stereo WAV is over the 100 MiB upload limit). Without the file there is no model row
and ``separation.md`` says so.
"""

from __future__ import annotations

from bench.common import ROOT, cap_thread_pools, default_cpu, pin, single_thread_env

cap_thread_pools()  # before numpy loads its BLAS

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy import signal  # noqa: E402

from bench.tagging.common import machine  # noqa: E402
from models.separation import data  # noqa: E402
from tonearm.separation.baselines import BASELINES, hpss  # noqa: E402
from tonearm.separation.masking import STEMS as MODEL_STEMS  # noqa: E402
from tonearm.separation.masking import onnx_mask_fn  # noqa: E402
from tonearm.separation.sdr import framewise_sdr, sdr  # noqa: E402
from tonearm.separation.streaming import iter_separate  # noqa: E402

SR = data.SAMPLE_RATE
#: The default held-out SoundFont and what is known about it.
HELDOUT_SOUNDFONT = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")
HELDOUT_INFO = {
    "/usr/share/sounds/sf2/sf_GMbank.sf2": {
        "package": "csound-soundfont",
        "licence": "public domain (the file's licence field; /usr/share/doc/csound-soundfont/copyright)",
    },
    "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3": {
        "package": "musescore-general-soundfont-small",
        "licence": "MIT (parts PD/CC0); derived from Fluid R3 Mono: NOT independent of the training set",
    },
    "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2": {"package": "opl3-soundfont", "licence": "CC-BY-SA-4.0"},
}
#: MP3 input: libsndfile's LAME at constant bitrate; compression level 2/3 gives 128 kbit/s at 44.1 kHz.
MP3_COMPRESSION = 2.0 / 3.0
MP3_KBPS = 128
#: Clip seeds: example i of the set uses SeedSequence([SET_SEED, i]) (as models.separation.data does).
SET_SEED = 19_000
TIMING_SECONDS = 30.0
TIMING_REPEATS = 3

Separator = Callable[..., dict[str, npt.NDArray[np.float32]]]
ALL = data.STEMS
DRUMS = ("kick", "snare", "drums_other")


def _rest(*stems: str) -> tuple[str, ...]:
    return tuple(s for s in ALL if s not in stems)


def lowpass_bass(mix: Any, sr: int, *, cutoff_hz: float = 200.0) -> dict[str, npt.NDArray[np.float32]]:
    """Bench-only bass baseline: the harmonic part of :func:`hpss` through a 4th-order low-pass.

    Zero-phase (``sosfiltfilt``) Butterworth at ``cutoff_hz``; ``other`` is the mix minus the bass, so
    the two stems partition the input. Not part of ``tonearm.separation``: it only gives the bass target
    a floor above the silent estimate's 0 dB.
    """
    mix = np.asarray(mix, dtype=np.float32)
    harmonic = hpss(mix, sr)["other"]
    sos = signal.butter(4, cutoff_hz, btype="lowpass", fs=sr, output="sos")
    bass = signal.sosfiltfilt(sos, harmonic, axis=-1).astype(np.float32)
    return {"bass": bass, "other": mix - bass}


#: Every separator measured: (function, {estimated stem: the reference stems it stands for}).
SEPARATORS: dict[str, tuple[Separator, dict[str, tuple[str, ...]]]] = {
    "hpss": (BASELINES["hpss"][0], {"drums": DRUMS, "other": _rest(*DRUMS)}),
    "kick_snare_bands": (
        BASELINES["kick_snare_bands"][0],
        {"kick": ("kick",), "snare": ("snare",), "other": _rest("kick", "snare")},
    ),
    "repet_sim": (BASELINES["repet_sim"][0], {"vocals": ("vocals",), "accompaniment": _rest("vocals")}),
    "mid_side": (BASELINES["mid_side"][0], {"vocals": ("vocals",), "accompaniment": _rest("vocals")}),
    "lowpass_bass (bench-only)": (lowpass_bass, {"bass": ("bass",), "other": _rest("bass")}),
}
#: The issue's margins over the best baseline, dB, and the separator stems that count for each.
TARGETS = {"drums": 4.0, "bass": 4.0, "kick": 3.0, "snare": 3.0}

#: The trained model, scored when the file exists (the model row).
MODEL_FILE = ROOT / "models/separation/separation.onnx"
MODEL_ROW = "model (separation.onnx, streaming)"
#: The model's outputs scored: every stem, and the sums the workflows return.
MODEL_GROUPS: dict[str, tuple[str, ...]] = {
    **{s: (s,) for s in ALL},
    "drums": DRUMS,
    "accompaniment": _rest("vocals"),
}
#: Lengths of the model's speed runs [s] and the file format of each input.
MODEL_SPEED_RUNS = {"30 s": (TIMING_SECONDS, "WAV"), "10 min": (600.0, "FLAC")}


def model_separators(path: Path = MODEL_FILE) -> dict[str, tuple[Separator, dict[str, tuple[str, ...]]]]:
    """The model row, ``{MODEL_ROW: (separator, MODEL_GROUPS)}``, or nothing when ``path`` is absent.

    The separator runs the streaming engine on one onnxruntime thread; it takes 44.1 kHz input only.
    """
    if not path.is_file():
        return {}
    if MODEL_STEMS != ALL:
        raise SystemExit(f"the model's stems {MODEL_STEMS} are not the data recipe's {ALL}")
    mask_fn = onnx_mask_fn(path, threads=1)
    groups = [tuple(ALL.index(s) for s in parts) for parts in MODEL_GROUPS.values()]

    def separate(mix: Any, sr: int) -> dict[str, npt.NDArray[np.float32]]:
        if sr != SR:
            raise ValueError(f"the model row runs at {SR} Hz, got {sr}")
        out = np.concatenate(list(iter_separate(mix, mask_fn, groups=groups)), axis=-1)
        return dict(zip(MODEL_GROUPS, out, strict=True))

    return {MODEL_ROW: (separate, MODEL_GROUPS)}


def model_speed(path: Path, mix30: npt.NDArray[np.float32], cpu: int | None) -> dict[str, Any]:
    """The service's time and peak RSS on 30 s and 10 minutes of the clips, one subprocess each."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (seconds, fmt) in MODEL_SPEED_RUNS.items():
            source = Path(tmp) / f"input.{fmt.lower()}"
            with sf.SoundFile(source, "w", samplerate=SR, channels=2, format=fmt, subtype="PCM_16") as fh:
                for _ in range(math.ceil(seconds / TIMING_SECONDS)):
                    fh.write(mix30.T)
            cmd = [sys.executable, "-m", "bench.separation.model_speed", "--model", str(path)]
            cmd += ["--input", str(source)] + ([] if cpu is None else ["--cpu", str(cpu)])
            done = subprocess.run(cmd, capture_output=True, text=True, env=single_thread_env(), cwd=ROOT)
            if done.returncode != 0:
                raise RuntimeError(f"model speed run failed:\n{done.stderr[-3000:]}")
            out[label] = {"format": fmt, **json.loads(done.stdout.strip().splitlines()[-1])}
    return out


def heldout_kit(path: Path) -> data.SoundFontKit:
    """A :class:`models.separation.data.SoundFontKit` for a SoundFont that training must *not* use.

    The training-side check (``data.resolve_soundfont``) is not touched: this function asks it, and
    refuses to go on if it *accepts* the file, or if the file's bank name (SF2 INFO/INAM) is one of the
    training files'. Only this benchmark renders with the returned kit.
    """
    path = path.resolve()
    if not path.is_file():
        raise SystemExit(f"{path} is missing: apt-get install csound-soundfont (or pass --soundfont)")
    try:
        data.resolve_soundfont(path)
    except data.SoundFontNotAllowedError:
        pass
    else:
        raise SystemExit(f"{path} is a training SoundFont: not a held-out one")
    bank = data._bank_name(path)
    if bank in data._BANK_NAMES.values():
        raise SystemExit(f"{path} carries a training bank name ({bank!r})")
    return data.SoundFontKit(f"heldout:{path.stem}", (path,))


def _package_version(package: str) -> str | None:
    try:
        p = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return p.stdout.strip() or None


def mp3_of(mix: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], int]:
    """The mix encoded to MP3 (128 kbit/s CBR) and decoded, aligned and as long; and the MP3's size."""
    buffer = io.BytesIO()
    sf.write(
        buffer,
        mix.T,
        SR,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=MP3_COMPRESSION,
        bitrate_mode="CONSTANT",
    )
    size = len(buffer.getvalue())
    buffer.seek(0)
    decoded, got = sf.read(buffer, dtype="float32", always_2d=True)
    if got != SR:
        raise RuntimeError(f"MP3 decoded at {got} Hz")
    out = np.zeros_like(mix)
    m = min(mix.shape[1], decoded.shape[0])
    out[:, :m] = decoded[:m].T
    return out, size


def _lag(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], reach: int = 4096) -> int:
    """Lag of ``b`` against ``a`` (samples) maximising their cross-correlation (first 10 s, channel 0)."""
    x, y = a[0, : 10 * SR].astype(np.float64), b[0, : 10 * SR].astype(np.float64)
    corr = signal.correlate(y, x, mode="full", method="fft")
    mid = len(x) - 1
    window = corr[mid - reach : mid + reach + 1]
    return int(np.argmax(window)) - reach


def _energy_db(x: npt.NDArray[np.float32], ref: npt.NDArray[np.float32]) -> float:
    num = float(np.sum(np.square(x, dtype=np.float64)))
    den = float(np.sum(np.square(ref, dtype=np.float64)))
    return 10.0 * math.log10((num + 1e-20) / (den + 1e-20))


def bss_eval_sdr(ref: npt.NDArray[np.float32], est: npt.NDArray[np.float32]) -> float:
    """BSS Eval SDR (``fast_bss_eval.sdr``: a 512-tap distortion filter, as museval's v4), mean over channels.

    Each channel is scored as one source against its reference; unlike :func:`sdr`, a filtered copy of
    the reference counts as signal, and a silent estimate reads far below 0 dB, not 0 dB.
    """
    import fast_bss_eval

    value = fast_bss_eval.sdr(ref[:, None, :].astype(np.float64), est[:, None, :].astype(np.float64))
    return float(np.mean(value))


def evaluate_clip(
    stems: npt.NDArray[np.float32],
    notes: dict[str, int],
    inputs: dict[str, npt.NDArray[np.float32]],
    separators: dict[str, tuple[Separator, dict[str, tuple[str, ...]]]] | None = None,
) -> dict[str, Any]:
    """Every separator (default :data:`SEPARATORS`) on every input of one clip: SDRs per estimated stem,
    and the silent-vocal check."""
    index = {s: k for k, s in enumerate(ALL)}
    out: dict[str, Any] = {}
    for name, (fn, groups) in (SEPARATORS if separators is None else separators).items():
        out[name] = {}
        for kind, mix in inputs.items():
            t0 = time.perf_counter()
            est = fn(mix, SR)
            seconds = time.perf_counter() - t0
            row: dict[str, Any] = {"call_s": round(seconds, 4)}
            for stem, parts in groups.items():
                if sum(notes[p] for p in parts) == 0:
                    row[stem] = None  # silent reference: no SDR (see silent_vocals for the vocals)
                    continue
                ref = stems[[index[p] for p in parts]].sum(axis=0)
                row[stem] = {
                    "sdr": round(sdr(ref, est[stem]), 3),
                    "framewise_sdr": round(framewise_sdr(ref, est[stem], SR), 3),
                    "bss_sdr": round(bss_eval_sdr(ref, est[stem]), 3),
                }
            if "vocals" in groups and notes["vocals"] == 0:
                row["silent_vocals_energy_db"] = round(_energy_db(est["vocals"], mix), 2)
            out[name][kind] = row
    return out


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return round(statistics.median(values), 2) if values else None


def summarise(
    per_clip: dict[str, Any],
    separators: dict[str, tuple[Separator, dict[str, tuple[str, ...]]]] | None = None,
) -> dict[str, Any]:
    """Per separator (default :data:`SEPARATORS`), stem and input: the medians over clips of the SDRs."""
    summary: dict[str, Any] = {}
    for name, (_, groups) in (SEPARATORS if separators is None else separators).items():
        summary[name] = {}
        for stem in groups:
            summary[name][stem] = {}
            for kind in ("wav", "mp3"):
                rows = [c["separators"][name][kind][stem] for c in per_clip.values()]
                rows = [r for r in rows if r is not None]
                summary[name][stem][kind] = {
                    "clips": len(rows),
                    "sdr_median": _median([r["sdr"] for r in rows]),
                    "framewise_sdr_median": _median([r["framewise_sdr"] for r in rows]),
                    "bss_sdr_median": _median([r.get("bss_sdr") for r in rows]),
                }
        if "vocals" in groups:
            for kind in ("wav", "mp3"):
                vals = [
                    c["separators"][name][kind]["silent_vocals_energy_db"]
                    for c in per_clip.values()
                    if "silent_vocals_energy_db" in c["separators"][name][kind]
                ]
                summary[name]["silent_vocals_" + kind] = {
                    "clips": len(vals),
                    "energy_db_median": _median(vals),
                    "energy_db_max": round(max(vals), 2) if vals else None,
                }
    return summary


def targets(summary: dict[str, Any]) -> dict[str, Any]:
    """The best baseline per target stem and what the model must reach, per input and metric.

    The floor is the silent estimate, which reads 0 dB on either metric: where every DSP baseline is
    below it, the target is 0 dB + margin (a model must at least beat doing nothing by the margin). Only
    the rows of :data:`SEPARATORS` count (never the model row).
    """
    summary = {name: stems for name, stems in summary.items() if name in SEPARATORS}
    out: dict[str, Any] = {}
    for stem, margin in TARGETS.items():
        out[stem] = {"margin_db": margin}
        for kind in ("wav", "mp3"):
            for metric in ("sdr_median", "framewise_sdr_median"):
                cands = [
                    (row[kind][metric], name)
                    for name, stems in summary.items()
                    for s, row in stems.items()
                    if s == stem and row[kind][metric] is not None
                ]
                best, who = max(cands, default=(None, None))
                floor = max(0.0, best) if best is not None else 0.0
                out[stem][f"{kind}_{metric.removesuffix('_median')}"] = {
                    "best_dsp_baseline": who,
                    "best_dsp_db": best,
                    "model_must_reach_db": round(floor + margin, 2),
                }
    return out


def speed(mix30: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Seconds per call of each separator on ``mix30`` (30 s stereo): one warm-up, then the median of 3."""
    out: dict[str, Any] = {}
    for name, (fn, _) in SEPARATORS.items():
        fn(mix30, SR)
        times = []
        for _ in range(TIMING_REPEATS):
            t0 = time.perf_counter()
            fn(mix30, SR)
            times.append(time.perf_counter() - t0)
        out[name] = {"median_s": round(statistics.median(times), 4), "values_s": [round(t, 4) for t in times]}
    return out


def markdown(result: dict[str, Any]) -> str:
    """``separation.md``: the summary tables."""
    sfinfo = result["soundfont"]
    lines = [
        "# Separation baselines on held-out renders (issue 19)",
        "",
        f"Generated {result['generated']} by `{result['command']}` in {result['wall_s']} s "
        f"on {result['machine'].get('cpu', '?')} ({result['machine'].get('logical_cpus')} logical CPUs, "
        f"measured on CPU {result['cpu']}, one thread).",
        "",
        f"Held-out SoundFont: `{sfinfo['file']}` (bank name {sfinfo['bank_name']!r}; Debian package "
        f"`{sfinfo['package']}` {sfinfo['package_version']}; {sfinfo['licence']}). Training uses only "
        f"{', '.join(sfinfo['training_soundfonts'])}.",
        "",
        f"{result['set']['clips']} clips of {result['set']['seconds']} s (models/separation/data.py recipe, "
        f"no augmentation, set seed {result['set']['seed']}); stems present: "
        + ", ".join(f"{s} {n}" for s, n in result["set"]["clips_with_stem"].items())
        + f". MP3: {result['mp3']['kbps_measured']} kbit/s CBR (libsndfile LAME), "
        f"lag {result['mp3']['lag_samples']} samples, SDR of the MP3 mix against the WAV mix "
        f"{result['mp3']['mix_sdr_median']} dB (median). References are always the rendered WAV stems.",
        "",
        "SDR = `tonearm.separation.sdr.sdr` (global, no distortion filter; a silent estimate reads 0 dB), "
        "`framewise_sdr` (median of 1 s windows) and BSS Eval SDR (`fast_bss_eval.sdr`, 512-tap "
        "distortion filter as museval's v4, mean over the two channels); each cell is the median over "
        "the clips whose reference stem is not silent.",
        "",
        "| separator | stem | clips | WAV SDR | WAV framewise | WAV BSS Eval | MP3 SDR | MP3 framewise "
        "| MP3 BSS Eval |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, stems in result["summary"].items():
        for stem, row in stems.items():
            if stem.startswith("silent_vocals"):
                continue
            w, m = row["wav"], row["mp3"]
            lines.append(
                f"| {name} | {stem} | {w['clips']} | {w['sdr_median']} | {w['framewise_sdr_median']} | "
                f"{w.get('bss_sdr_median')} | {m['sdr_median']} | {m['framewise_sdr_median']} | "
                f"{m.get('bss_sdr_median')} |"
            )
    lines += [
        "",
        "## Targets for the model: best DSP baseline (median over clips) and best + margin",
        "",
        "The silent estimate reads 0 dB, so a target is never below 0 dB + margin.",
        "",
        "| stem | margin | WAV SDR | WAV framewise | MP3 SDR | MP3 framewise |",
        "|---|---:|---|---|---|---|",
    ]
    for stem, row in result["targets"].items():
        cells = []
        for key in ("wav_sdr", "wav_framewise_sdr", "mp3_sdr", "mp3_framewise_sdr"):
            t = row[key]
            cells.append(f"{t['best_dsp_baseline']} {t['best_dsp_db']} -> **{t['model_must_reach_db']}**")
        lines.append(f"| {stem} | +{row['margin_db']} dB | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Silent vocals (clips with no voice program): vocal-stem energy relative to the mix",
        "",
        "| baseline | input | clips | median dB | max dB |",
        "|---|---|---:|---:|---:|",
    ]
    for name, stems in result["summary"].items():
        for kind in ("wav", "mp3"):
            row = stems.get("silent_vocals_" + kind)
            if row:
                lines.append(
                    f"| {name} | {kind} | {row['clips']} | {row['energy_db_median']} | "
                    f"{row['energy_db_max']} |"
                )
    lines += [
        "",
        f"## Speed: seconds per {TIMING_SECONDS:.0f} s of 44.1 kHz stereo, one thread "
        f"(median of {TIMING_REPEATS} after a warm-up)",
        "",
        "| baseline | s |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {row['median_s']} |" for name, row in result["speed"].items()]
    lines += ["", *model_markdown(result)]
    return "\n".join(lines)


def model_markdown(result: dict[str, Any]) -> list[str]:
    """The model section of ``separation.md``: against the targets, and its speed (or why it is absent)."""
    model = result.get("model") or {}
    if not model.get("present"):
        return [
            "## Model",
            "",
            f"No model row: `{model.get('file', 'models/separation/separation.onnx')}` is absent.",
            "",
        ]
    lines = [
        "## Model against the targets (median SDR over the clips, dB)",
        "",
        f"`{model['file']}` (sha256 `{model['sha256'][:12]}...`), streaming engine, one thread.",
        "",
        "| stem | WAV SDR | target | MP3 SDR | target | met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    row = result["summary"][MODEL_ROW]
    for stem, t in result["targets"].items():
        wav, mp3 = row[stem]["wav"]["sdr_median"], row[stem]["mp3"]["sdr_median"]
        need_wav, need_mp3 = t["wav_sdr"]["model_must_reach_db"], t["mp3_sdr"]["model_must_reach_db"]
        met = wav is not None and mp3 is not None and wav >= need_wav and mp3 >= need_mp3
        lines.append(f"| {stem} | {wav} | {need_wav} | {mp3} | {need_mp3} | {'yes' if met else 'no'} |")
    lines += [
        "",
        "## Model speed: the service (decode, separation, three 24-bit WAVs), one subprocess per input",
        "",
        "| input | format | seconds | peak RSS MiB |",
        "|---|---|---:|---:|",
    ]
    for label, run in model["speed"].items():
        lines.append(f"| {label} | {run['format']} | {run['seconds']} | {run['peak_rss_mb']} |")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/separation.json")
    ap.add_argument("--clips", type=int, default=12, help="held-out clips rendered")
    ap.add_argument("--seconds", type=int, default=20, help="length of every clip [s]")
    ap.add_argument("--seed", type=int, default=SET_SEED, help="set seed: clip i uses SeedSequence([S, i])")
    ap.add_argument("--soundfont", type=Path, default=HELDOUT_SOUNDFONT, help="held-out SoundFont file")
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="CPU the measurements run on")
    ap.add_argument("--model", type=Path, default=MODEL_FILE, help="the model row's ONNX file, if present")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    applied = pin(args.cpu)
    host = machine()
    kit = heldout_kit(args.soundfont)
    separators = {**SEPARATORS, **model_separators(args.model)}
    sf_path = kit.paths[0]
    info = HELDOUT_INFO.get(str(sf_path), {"package": None, "licence": "unknown"})

    per_clip: dict[str, Any] = {}
    timing_parts: list[npt.NDArray[np.float32]] = []
    mp3_sizes, mp3_sdrs, lags = [], [], []
    clips_with = dict.fromkeys(ALL, 0)
    render_s = 0.0
    for i in range(args.clips):
        seed = int(np.random.SeedSequence([args.seed, i]).generate_state(1)[0])
        t0 = time.perf_counter()
        example = data.make_example(
            seed, seconds=args.seconds, soundfonts=[kit], augmentations=False, workers=2
        )
        render_s += time.perf_counter() - t0
        stems, mix = example.stems, example.mix
        mp3, size = mp3_of(mix)
        mp3_sizes.append(size)
        mp3_sdrs.append(sdr(mix, mp3))
        lags.append(_lag(mix, mp3))
        notes = example.meta["notes_per_stem"]
        for s in ALL:
            clips_with[s] += notes[s] > 0
        if sum(p.shape[1] for p in timing_parts) < TIMING_SECONDS * SR:
            timing_parts.append(mix)
        src = example.meta["source"]
        per_clip[f"clip-{i:02d}"] = {
            "seed": seed,
            "style": src["style"],
            "bpm": src["bpm"],
            "programs": src["programs"],
            "drum_kit": src["drum_kit"],
            "notes_per_stem": notes,
            "separators": evaluate_clip(stems, notes, {"wav": mix, "mp3": mp3}, separators),
        }
        print(f"clip {i}: {src['style']}, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    mix30 = np.concatenate(timing_parts, axis=1)[:, : int(TIMING_SECONDS * SR)]
    if mix30.shape[1] < TIMING_SECONDS * SR:  # fewer clips than 30 s: repeat them
        reps = math.ceil(TIMING_SECONDS * SR / mix30.shape[1])
        mix30 = np.tile(mix30, reps)[:, : int(TIMING_SECONDS * SR)]
    summary = summarise(per_clip, separators)
    shown = args.model.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    model: dict[str, Any] = {"present": MODEL_ROW in separators, "file": str(shown)}
    if model["present"]:
        model["sha256"] = hashlib.sha256(args.model.read_bytes()).hexdigest()
        model["speed"] = model_speed(args.model, mix30, args.cpu)
    try:
        command = "python -m bench.separation.run --out " + str(out.relative_to(ROOT))
    except ValueError:
        command = "python -m bench.separation.run --out " + str(out)
    if args.clips != 12 or args.seconds != 20 or args.seed != SET_SEED or sf_path != HELDOUT_SOUNDFONT:
        command += f" --clips {args.clips} --seconds {args.seconds} --seed {args.seed} --soundfont {sf_path}"
    result: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": host,
        "cpu": args.cpu,
        "threads": applied,
        "soundfont": {
            "file": str(sf_path),
            "bank_name": data._bank_name(sf_path),
            "sha256": hashlib.sha256(sf_path.read_bytes()).hexdigest(),
            "package": info["package"],
            "package_version": _package_version(info["package"]) if info["package"] else None,
            "licence": info["licence"],
            "training_soundfonts": list(data.SOUNDFONTS),
            "refused_by_training_check": True,
            "not_chosen": {
                "musescore-general-soundfont-small": "MuseScore_General_Lite.sf3 is built on Fluid R3 Mono "
                "(the training SoundFont's samples), so it is not independent of the training data",
            },
        },
        "set": {
            "clips": args.clips,
            "seconds": args.seconds,
            "seed": args.seed,
            "sample_rate": SR,
            "recipe": "models.separation.data.make_example(seed, augmentations=False): peak 0.9, "
            "no augmentation",
            "clips_with_stem": clips_with,
            "render_s": round(render_s, 1),
        },
        "mp3": {
            "encoder": "libsndfile (LAME) via soundfile, bitrate_mode CONSTANT",
            "compression_level": MP3_COMPRESSION,
            "kbps_nominal": MP3_KBPS,
            "kbps_measured": round(statistics.median(s * 8 / args.seconds / 1000 for s in mp3_sizes), 1),
            "lag_samples": sorted(set(lags)),
            "mix_sdr_median": round(statistics.median(mp3_sdrs), 2),
        },
        "metric": {
            "sdr": "tonearm.separation.sdr.sdr: 10 log10(|s|^2 / |s - s_hat|^2), all channels, no filter",
            "framewise_sdr": "tonearm.separation.sdr.framewise_sdr: median over 1 s windows, silent skipped",
            "bss_sdr": "fast_bss_eval.sdr (512-tap distortion filter, BSS Eval v4 style), mean over channels",
            "aggregate": "median over the clips whose reference stem has notes",
            "silent_vocals_energy_db": "10 log10(|vocal estimate|^2 / |input mix|^2) on clips with no voice",
            "references": "the rendered WAV stems, for WAV and MP3 inputs alike",
        },
        "stem_map": {name: groups for name, (_, groups) in separators.items()},
        "summary": summary,
        "targets": targets(summary),
        "speed": {"seconds_of_audio": TIMING_SECONDS, "channels": 2, "sample_rate": SR, **speed(mix30)},
        "model": model,
        "per_clip": per_clip,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    md = markdown({**result, "speed": {k: v for k, v in result["speed"].items() if isinstance(v, dict)}})
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
