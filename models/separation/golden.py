"""Golden output of the committed separation model (issue 19): a fixed synthetic mix and a fingerprint.

:func:`golden_mix` synthesises 6 s of 44.1 kHz stereo from numpy alone (no SoundFont, no file): a kick
(a sine sweeping 120 -> 45 Hz with a 0.15 s decay, on the beats of 120 BPM), a snare (band-passed noise
plus a 190 Hz body, on beats 2 and 4), closed hi-hats (high-passed noise on the eighths), a bass line
(a low-passed sawtooth on the roots), a sung-like line (a vibrato tone with formant-shaped harmonics,
panned centre) and a pad (a detuned triad, wide). :func:`fingerprint` reduces each separated stem to its
energy in 12 log-spaced bands x 12 half-second frames, in dB relative to the mix's total energy, floored
at -80 dB: small enough to keep in the repository as JSON, and it moves when the model file, the STFT,
the chunking or the cross-fades change.

``python -m models.separation.golden --write`` records ``models/separation/golden/fingerprint.json``
with the committed ``separation.onnx`` (its sha256 is stored beside the numbers, and the test refuses a
fingerprint of another file). The test, ``tests/unit/test_separation_golden.py``, compares within
:data:`TOLERANCE_DB` wherever the recorded energy is above :data:`FLOOR_DB` + 20 dB: onnxruntime's kernels
differ in rounding between CPUs (AVX2, AVX-512), so the comparison has a tolerance, not bit equality.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
MODEL = HERE / "separation.onnx"
GOLDEN = HERE / "golden" / "fingerprint.json"
SR = 44_100
SECONDS = 6.0
BANDS = 12
FRAME_SECONDS = 0.5
#: dB floor of the fingerprint, relative to the mix's total energy.
FLOOR_DB = -80.0
#: Largest difference allowed between a recorded and a recomputed fingerprint cell [dB].
TOLERANCE_DB = 0.5

FloatArray = npt.NDArray[np.float32]


def _envelope(t: FloatArray, onsets: FloatArray, decay_s: float) -> FloatArray:
    """Sum of exponential decays starting at ``onsets`` [s], evaluated at ``t`` [s]."""
    since = t[None, :] - onsets[:, None]
    return np.where(since >= 0, np.exp(-np.maximum(since, 0) / decay_s), 0.0).sum(axis=0).astype(np.float32)


def golden_mix(seed: int = 19) -> dict[str, FloatArray]:
    """The six synthetic stems, each [shape=(2, SECONDS * SR)] float32 at 44.1 kHz; ``mix`` is their sum."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = int(SECONDS * SR)
    t = (np.arange(n) / SR).astype(np.float32)
    beat = 0.5
    beats = np.arange(0, SECONDS, beat, dtype=np.float32)
    # kick: a 120 -> 45 Hz sweep per hit, 0.15 s decay
    since = np.mod(t, beat)
    freq = 45 + 75 * np.exp(-since / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    kick = 0.8 * np.sin(phase) * np.exp(-since / 0.15)
    # snare on beats 2 and 4: band-passed noise + a 190 Hz body
    snare_on = beats[1::2]
    env = _envelope(t, snare_on, 0.08)
    noise = signal.sosfilt(
        signal.butter(2, [1500, 7000], "bandpass", fs=SR, output="sos"), rng.normal(size=n)
    )
    snare = env * (0.5 * noise + 0.3 * np.sin(2 * np.pi * 190 * t))
    # closed hats on the eighths
    hats_env = _envelope(t, np.arange(0, SECONDS, beat / 2, dtype=np.float32), 0.02)
    hats = (
        0.2
        * hats_env
        * signal.sosfilt(signal.butter(4, 8000, "highpass", fs=SR, output="sos"), rng.normal(size=n))
    )
    # bass: low-passed sawtooth on the roots A1, F1, C2, G1, one bar each
    roots = np.array([55.0, 43.65, 65.41, 49.0])[np.minimum((t // 2).astype(int), 3)]
    saw = 2 * np.mod(np.cumsum(roots) / SR, 1.0) - 1
    bass = 0.35 * signal.sosfilt(signal.butter(4, 400, "lowpass", fs=SR, output="sos"), saw)
    # a sung-like line: vibrato tone, harmonics shaped by two formants, centre
    melody = np.array([440.0, 392.0, 349.2, 392.0, 440.0, 523.3])[np.minimum((t // 1).astype(int), 5)]
    f0 = melody * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    voice_phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = np.zeros(n)
    for h in range(1, 16):  # 15 harmonics, not samples: a loop over partials is fine
        gain = np.exp(-(((h * 440 - 700) / 300) ** 2)) + 0.6 * np.exp(-(((h * 440 - 2500) / 500) ** 2)) + 0.05
        voice += gain * np.sin(h * voice_phase) / h
    voice *= 0.25
    # pad: a detuned A minor triad, wide stereo
    pad_l = sum(np.sin(2 * np.pi * f * 1.002 * t) for f in (220.0, 261.6, 329.6))
    pad_r = sum(np.sin(2 * np.pi * f * 0.998 * t) for f in (220.0, 261.6, 329.6))
    pad = 0.06 * np.stack([pad_l, pad_r])

    def centre(x: npt.ArrayLike, pan: float = 0.0) -> FloatArray:
        x = np.asarray(x, dtype=np.float32)
        return np.stack([x * np.sqrt(0.5 - pan / 2), x * np.sqrt(0.5 + pan / 2)]).astype(np.float32)

    stems = {
        "kick": centre(kick),
        "snare": centre(snare, -0.1),
        "drums_other": centre(hats, 0.3),
        "bass": centre(bass),
        "vocals": centre(voice),
        "other": pad.astype(np.float32),
    }
    stems["mix"] = np.sum(list(stems.values()), axis=0).astype(np.float32)
    return stems


def band_edges() -> FloatArray:
    """Edges of the fingerprint's bands [Hz]: 0, then 12 log-spaced bands from 40 Hz to Nyquist."""
    return np.concatenate([[0.0], np.geomspace(40.0, SR / 2, BANDS)]).astype(np.float32)


def fingerprint(stems: dict[str, FloatArray], mix: FloatArray) -> dict[str, list[list[float]]]:
    """Energy per (band, half-second frame) of each stem, dB relative to the mix's total energy.

    Parameters
    ----------
    stems : dict of str to np.ndarray [shape=(channels, n)]
    mix : np.ndarray [shape=(channels, n)]

    Returns
    -------
    dict of str to list of list of float
        ``[band][frame]``, rounded to 0.01 dB, floored at :data:`FLOOR_DB`.
    """
    frame = int(FRAME_SECONDS * SR)
    frames = mix.shape[-1] // frame
    freqs = np.fft.rfftfreq(frame, 1 / SR)
    band = np.clip(np.searchsorted(band_edges(), freqs, side="right") - 1, 0, BANDS - 1)
    total = float(np.sum(mix.astype(np.float64) ** 2))
    out = {}
    for name, x in stems.items():
        blocks = x[:, : frames * frame].reshape(x.shape[0], frames, frame)
        power = (np.abs(np.fft.rfft(blocks, axis=-1)) ** 2).sum(axis=0) / frame  # (frames, freqs)
        per_band = np.zeros((BANDS, frames))
        np.add.at(per_band, band, power.T)
        db = 10 * np.log10(np.maximum(per_band / total, 1e-30))
        out[name] = np.round(np.maximum(db, FLOOR_DB), 2).tolist()
    return out


def separate_golden(model: Path = MODEL) -> dict[str, FloatArray]:
    """The model's six stems of :func:`golden_mix` through the streaming engine, one onnxruntime thread."""
    from tonearm.separation.masking import STEMS, onnx_mask_fn
    from tonearm.separation.streaming import separate_stream

    mix = golden_mix()["mix"]
    stems = separate_stream(mix, onnx_mask_fn(model, threads=1))
    return {name: stems[name] for name in STEMS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--write", action="store_true", help=f"record {GOLDEN.relative_to(HERE.parent.parent)}"
    )
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args(argv)
    import onnxruntime

    mix = golden_mix()["mix"]
    record = {
        "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
        "recorded_with": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__,
            "machine": platform.machine(),
        },
        "bands_hz": [round(float(x), 1) for x in band_edges()],
        "frame_seconds": FRAME_SECONDS,
        "fingerprint": fingerprint(separate_golden(args.model), mix),
    }
    if args.write:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(record) + "\n")
        print(f"wrote {GOLDEN}", file=sys.stderr)
    else:
        print(json.dumps(record)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
