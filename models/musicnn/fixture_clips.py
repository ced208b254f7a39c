"""Deterministic synthetic music clips for musicnn parity tests (numpy only).

``fixture_clips()`` returns four 10 s mono float32 clips at 44.1 kHz, rendered from
seeded ``np.random.default_rng`` generators. ``models/musicnn/convert.py`` wrote each clip
to a 16-bit PCM WAV, ran the ORIGINAL musicnn pipeline (librosa + TensorFlow) on it and
stored the results in ``models/musicnn/parity/<name>.npz``.
"""

from __future__ import annotations

import numpy as np

SR = 44100
DURATION_S = 10.0
_N = int(SR * DURATION_S)
_T = np.arange(_N) / SR


def _midi_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def _add(out: np.ndarray, start_s: float, sig: np.ndarray) -> None:
    i = round(start_s * SR)
    n = min(len(sig), len(out) - i)
    if n > 0:
        out[i : i + n] += sig[:n]


def _saw(phase: np.ndarray) -> np.ndarray:
    """Naive sawtooth in [-1, 1] from a phase measured in cycles."""
    return 2.0 * (phase % 1.0) - 1.0


def _highpass(x: np.ndarray, order: int = 1) -> np.ndarray:
    for _ in range(order):
        x = np.diff(x, prepend=0.0)
    return x


def _drums(rng: np.random.Generator, bpm: float, busy: bool) -> np.ndarray:
    out = np.zeros(_N)
    step = 60.0 / bpm / 4.0  # sixteenth note
    kick_steps = [0, 8, 10] if busy else [0, 8]
    snare_steps = [4, 12]
    hat_steps = range(0, 16, 1 if busy else 2)

    t = np.arange(int(0.35 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45.0 + 90.0 * np.exp(-t / 0.04)) / SR) * np.exp(-t / 0.12)
    t = np.arange(int(0.25 * SR)) / SR
    t_hat = np.arange(int(0.05 * SR)) / SR

    bar = 16 * step
    for b in range(int(np.ceil(DURATION_S / bar))):
        for s in kick_steps:
            _add(out, b * bar + s * step, 0.9 * kick)
        for s in snare_steps:
            noise = _highpass(rng.standard_normal(len(t))) * 0.35
            body = 0.4 * np.sin(2 * np.pi * 185.0 * t)
            _add(out, b * bar + s * step, (noise + body) * np.exp(-t / 0.06))
        for s in hat_steps:
            vel = 0.12 * (1.0 if s % 4 == 0 else 0.7) * rng.uniform(0.8, 1.0)
            hat = _highpass(rng.standard_normal(len(t_hat)), 2) * np.exp(-t_hat / 0.012)
            _add(out, b * bar + s * step, vel * hat)
    return out


def _piano(rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(_N)
    melody = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 65, 62, 64, 60, 55, 60]
    t = np.arange(int(1.6 * SR)) / SR
    k = np.arange(1, 9)[:, None]  # partials
    for i, m in enumerate(melody):
        f0 = _midi_hz(m)
        fk = f0 * k * np.sqrt(1.0 + 4e-4 * k**2)  # slight string inharmonicity
        amp = (1.0 / k**1.3) * np.exp(-t[None, :] * (1.5 + 0.6 * k))
        note = (amp * np.sin(2 * np.pi * fk * t[None, :] + rng.uniform(0, 2 * np.pi, (8, 1)))).sum(0)
        note *= np.minimum(t / 0.004, 1.0) * rng.uniform(0.7, 1.0)
        _add(out, 0.5 * i, note)
        if i % 4 == 0:  # left-hand bass note every 2 s
            _add(out, 0.5 * i, 0.6 * np.sin(2 * np.pi * _midi_hz(m - 24) * t) * np.exp(-t * 1.2))
    return out


def _strings(rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(_N)
    chords = [[48, 55, 64, 67], [45, 57, 60, 64], [41, 53, 60, 69], [43, 55, 62, 71]]
    dur = DURATION_S / len(chords)
    t = np.arange(int((dur + 0.6) * SR)) / SR
    env = np.minimum(t / 0.7, 1.0) * np.clip((dur + 0.6 - t) / 0.6, 0.0, 1.0)
    for i, chord in enumerate(chords):
        for m in chord:
            for detune in (-0.003, 0.003):  # two "players" per note
                rate = rng.uniform(5.0, 6.5)
                vib = 1.0 + 0.004 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
                f = _midi_hz(m) * (1.0 + detune) * vib
                phase = np.cumsum(f) / SR + rng.uniform()
                saw = _saw(phase)
                soft = 0.5 * (saw + np.roll(saw, 1))  # gentle low-pass
                _add(out, i * dur, 0.08 * env * soft)
    return out


def _noise_rock(rng: np.random.Generator) -> np.ndarray:
    gtr = np.zeros(_N)
    bpm = 140.0
    eighth = 60.0 / bpm / 2.0
    roots = [40, 40, 43, 45, 40, 40, 47, 45]  # E E G A E E B A (one bar each is 4 eighths)
    t = np.arange(int(eighth * SR)) / SR
    n_eighths = int(DURATION_S / eighth) + 1
    for j in range(n_eighths):
        root = roots[(j // 4) % len(roots)]
        env = np.exp(-t / (0.5 if j % 4 == 0 else 0.15)) * np.minimum(t / 0.002, 1.0)
        chord = sum(
            _saw(_midi_hz(root + iv) * t * (1.0 + rng.uniform(-0.002, 0.002)) + rng.uniform())
            for iv in (0, 7, 12)
        )
        _add(gtr, j * eighth, env * chord)
    gtr = np.tanh(6.0 * gtr)  # fuzz
    gtr = 0.5 * (gtr + np.roll(gtr, 1))
    return 0.5 * gtr + 0.8 * _drums(rng, bpm, busy=True) + 0.02 * rng.standard_normal(_N)


def _finish(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return (0.8 * x / np.max(np.abs(x))).astype(np.float32)


def fixture_clips() -> dict[str, tuple[np.ndarray, int]]:
    """name -> (float32 mono signal of 10 s, sample rate 44100). Deterministic."""
    return {
        "piano": (_finish(_piano(np.random.default_rng(1001))), SR),
        "drums": (_finish(_drums(np.random.default_rng(1002), 100.0, busy=False)), SR),
        "strings": (_finish(_strings(np.random.default_rng(1003))), SR),
        "noise_rock": (_finish(_noise_rock(np.random.default_rng(1004))), SR),
    }


if __name__ == "__main__":
    for name, (sig, sr) in fixture_clips().items():
        print(f"{name:12s} sr={sr} n={len(sig)} rms={float(np.sqrt(np.mean(sig**2))):.4f}")
