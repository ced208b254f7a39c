"""Separation on real recordings (issue 19): what can be measured without reference stems.

The held-out renders of :mod:`bench.separation.run` have exact references; real recordings have none.
This script takes produced game soundtracks from Debian packages (``extremetuxracer-data``: Extreme Tux
Racer's music, and ``frozen-bubble-data``: Frozen Bubble's; both instrumental, mixed and mastered by
people, not rendered from MIDI), fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into a
cache folder (no root, nothing installed), and reports for the model and the DSP baselines on the same
tracks:

* **drum leakage into Other**, by onset energy. Drum hits are the frames where the mix's spectral flux
  (half-wave rectified frame-to-frame increase of the STFT magnitude, summed over bins) peaks in its top
  decile. At those frames, the flux of a separator's "Other" output divided by the mix's is the share of
  the attack energy that Other still carries: 1.0 for the mix itself, lower when the drums went to the
  drum outputs. Two Others are scored: isolate-drums' ``Other`` (the mix minus kick and snare: the model,
  against ``kick_snare_bands``' other) and the whole kit removed (the mix minus kick, snare and the rest
  of the kit: the model, against HPSS's harmonic part). Pitched instruments also start notes on the beat,
  so no separator reaches 0: the numbers rank separators on the same tracks, they are not a leakage
  percentage.
* **vocal-stem energy on instrumental music**: 10 log10 of the vocal output's energy over the mix's, dB
  (lower is better; none of these tracks has a singer, so anything in the vocal stem is leakage): the
  model against mid/side and REPET-SIM.
* **speed** of the model on each track (the streaming engine, one onnxruntime thread), as a real-time
  factor.

Command::

    python -m bench.separation.real --out bench/results/separation_real.json
"""

from __future__ import annotations

from bench.common import ROOT, cap_thread_pools, default_cpu, pin

cap_thread_pools()  # before numpy loads its BLAS

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402

from bench.separation.run import MODEL_FILE, model_separators  # noqa: E402
from bench.tagging.common import machine  # noqa: E402
from tonearm.separation.baselines import BASELINES  # noqa: E402
from tonearm.separation.masking import hann  # noqa: E402

FloatArray = npt.NDArray[np.float32]

#: Debian packages whose music folders are used, and where their music lies once unpacked.
PACKAGES = {
    "extremetuxracer-data": "usr/share/games/etr/music",
    "frozen-bubble-data": "usr/share/games/frozen-bubble/snd",
}
#: Files shorter than this are jingles, not tracks [s].
MIN_SECONDS = 45.0
#: Each track is scored on at most this much audio, from its start [s].
MAX_SECONDS = 120.0
SR = 44_100
CACHE = Path(os.environ.get("TONEARM_BENCH_CACHE", Path.home() / ".cache/tonearm-bench")) / "real-music"
#: Spectral-flux STFT: 2048-sample Hann window, hop 512 (11.6 ms) at 44.1 kHz.
FLUX_N_FFT, FLUX_HOP = 2048, 512
#: Onset frames: local maxima of the mix's flux within +-3 frames, in its top decile.
ONSET_QUANTILE, ONSET_REACH = 0.9, 3


def fetch(cache: Path = CACHE) -> list[tuple[str, Path]]:
    """Download and unpack :data:`PACKAGES` into ``cache`` once; (package, track) pairs, sorted."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    tracks: list[tuple[str, Path]] = []
    for package, folder in PACKAGES.items():
        tree = cache / package
        if not (tree / folder).is_dir():
            if not list(debs.glob(f"{package}_*.deb")):
                subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
            deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
            subprocess.run(["dpkg", "-x", str(deb), str(tree)], check=True)
        for path in sorted((tree / folder).glob("*.ogg")):
            if sf.info(str(path)).duration >= MIN_SECONDS:
                tracks.append((package, path))
    return tracks


def read_track(path: Path) -> FloatArray:
    """The first :data:`MAX_SECONDS` of ``path`` at 44.1 kHz, [shape=(channels, n)] float32."""
    info = sf.info(str(path))
    audio, sr = sf.read(str(path), frames=int(MAX_SECONDS * info.samplerate), dtype="float32", always_2d=True)
    if sr != SR:
        audio = soxr.resample(audio, sr, SR, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(audio.T)


def flux(x: FloatArray) -> FloatArray:
    """Spectral flux of ``x`` [shape=(channels, n)] summed over channels and bins, [shape=(frames,)]."""
    mono = x.mean(axis=0)
    frames = 1 + (len(mono) - FLUX_N_FFT) // FLUX_HOP
    index = np.arange(FLUX_N_FFT)[None, :] + FLUX_HOP * np.arange(frames)[:, None]
    magnitude = np.abs(np.fft.rfft(mono[index] * hann(FLUX_N_FFT), axis=1))
    rise = np.maximum(np.diff(magnitude, axis=0), 0.0).sum(axis=1)
    return np.concatenate([[0.0], rise]).astype(np.float32)


def onset_frames(mix_flux: FloatArray) -> npt.NDArray[np.intp]:
    """Frames where the mix's flux is a local maximum (within +-ONSET_REACH) in its top decile."""
    padded = np.pad(mix_flux, ONSET_REACH, mode="constant")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * ONSET_REACH + 1)
    peak = mix_flux >= windows.max(axis=1)
    return np.flatnonzero(peak & (mix_flux >= np.quantile(mix_flux, ONSET_QUANTILE)))


def onset_share(other: FloatArray, mix_flux: FloatArray, onsets: npt.NDArray[np.intp]) -> float:
    """Flux of ``other`` at the onset frames over the mix's (1.0: Other keeps every attack)."""
    return float(flux(other)[onsets].sum() / max(float(mix_flux[onsets].sum()), 1e-12))


def energy_db(x: FloatArray, mix: FloatArray) -> float:
    """10 log10(|x|^2 / |mix|^2), dB."""
    return float(10 * np.log10(max(float(np.sum(x.astype(np.float64) ** 2)), 1e-20) / float(np.sum(mix**2))))


def score_track(mix: FloatArray, model: Any) -> dict[str, Any]:
    """Every metric of the module docstring on one track, for the model (if any) and the baselines."""
    mix_flux = flux(mix)
    onsets = onset_frames(mix_flux)
    out: dict[str, Any] = {"seconds": round(mix.shape[1] / SR, 1), "onsets": len(onsets)}
    ksb = BASELINES["kick_snare_bands"][0](mix, SR)
    harmonic = BASELINES["hpss"][0](mix, SR)["other"]
    out["other_onset_share"] = {
        "isolate-drums Other": {"kick_snare_bands": round(onset_share(ksb["other"], mix_flux, onsets), 3)},
        "no drums at all": {"hpss": round(onset_share(harmonic, mix_flux, onsets), 3)},
    }
    out["vocals_energy_db"] = {
        name: round(energy_db(BASELINES[name][0](mix, SR)["vocals"], mix), 2)
        for name in ("mid_side", "repet_sim")
    }
    if model is not None:
        t0 = time.perf_counter()
        stems = model(mix, SR)
        seconds = time.perf_counter() - t0
        kit = stems["kick"] + stems["snare"]
        iso = out["other_onset_share"]["isolate-drums Other"]
        iso["model"] = round(onset_share(mix - kit, mix_flux, onsets), 3)
        out["other_onset_share"]["no drums at all"]["model"] = round(
            onset_share(mix - stems["drums"], mix_flux, onsets), 3
        )
        out["vocals_energy_db"]["model"] = round(energy_db(stems["vocals"], mix), 2)
        out["model_real_time_factor"] = round(mix.shape[1] / SR / seconds, 1)
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(per_track: dict[str, Any]) -> dict[str, Any]:
    """Medians over the tracks of every (metric, variant, separator)."""
    summary: dict[str, Any] = {}
    for metric in ("other_onset_share", "vocals_energy_db"):
        table: dict[str, Any] = {}
        for track in per_track.values():
            variants = track[metric] if metric == "other_onset_share" else {"": track[metric]}
            for variant, scores in variants.items():
                for name, value in scores.items():
                    table.setdefault(variant, {}).setdefault(name, []).append(value)
        summary[metric] = {v: {n: _median(x) for n, x in t.items()} for v, t in table.items()}
    rtf = [t["model_real_time_factor"] for t in per_track.values() if "model_real_time_factor" in t]
    summary["model_real_time_factor"] = _median(rtf)
    return summary


def markdown(result: dict[str, Any]) -> str:
    """The report: one row per track and the medians."""
    s = result["summary"]
    lines = [
        "# Separation on real recordings (no references)",
        "",
        f"`{result['command']}` on {result['machine'].get('cpu', 'this machine')}, "
        f"{result['generated']}. Tracks: {', '.join(result['packages'])} (Debian), the first "
        f"{MAX_SECONDS:.0f} s of each of {len(result['tracks'])} tracks of at least {MIN_SECONDS:.0f} s.",
        "",
        "Share of the mix's onset flux left in Other (median over tracks; 1.0 = every attack stays, lower "
        "is better; pitched notes on the beat keep it above 0):",
        "",
        "| Other | " + " | ".join(sorted({n for v in s["other_onset_share"].values() for n in v})) + " |",
    ]
    names = sorted({n for v in s["other_onset_share"].values() for n in v})
    lines.append("|---|" + "---:|" * len(names))
    for variant, scores in s["other_onset_share"].items():
        lines.append(f"| {variant} | " + " | ".join(str(scores.get(n, "")) for n in names) + " |")
    vocals = s["vocals_energy_db"][""]
    lines += [
        "",
        "Vocal-output energy relative to the mix on these instrumental tracks, dB (median; lower is better):",
        "",
        "| " + " | ".join(vocals) + " |",
        "|" + "---:|" * len(vocals),
        "| " + " | ".join(str(v) for v in vocals.values()) + " |",
        "",
        f"Model speed: {s['model_real_time_factor']}x real time (median over tracks, one thread).",
        "",
        "| track | s | onsets | Other onset share: KSB / model (kick+snare) | HPSS / model (whole kit) "
        "| vocals dB: mid/side / REPET-SIM / model |",
        "|---|---:|---:|---|---|---|",
    ]
    for name, t in result["tracks"].items():
        iso = t["other_onset_share"]["isolate-drums Other"]
        nod = t["other_onset_share"]["no drums at all"]
        v = t["vocals_energy_db"]
        lines.append(
            f"| {name} | {t['seconds']} | {t['onsets']} "
            f"| {iso['kick_snare_bands']} / {iso.get('model', '-')} "
            f"| {nod['hpss']} / {nod.get('model', '-')} "
            f"| {v['mid_side']} / {v['repet_sim']} / {v.get('model', '-')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/separation_real.json")
    ap.add_argument("--model", type=Path, default=MODEL_FILE, help="the model's ONNX file, if present")
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="CPU the measurements run on")
    args = ap.parse_args(argv)
    pin(args.cpu)
    tracks = fetch()
    model = next(iter(model_separators(args.model).values()), (None, None))[0]
    per_track: dict[str, Any] = {}
    for package, path in tracks:
        t0 = time.perf_counter()
        per_track[f"{package}/{path.name}"] = score_track(read_track(path), model)
        print(f"{path.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    result = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.separation.real --out " + os.path.relpath(out, ROOT),
        "machine": machine(),
        "packages": list(PACKAGES),
        "model": str(args.model) if model is not None else None,
        "summary": summarise(per_track),
        "tracks": per_track,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
