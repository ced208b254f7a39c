"""The realistic set's performance: tempo maps, swing, humanisation, production and codecs.

The realistic set plays the same clip specifications as the constant-tempo set (``corpus.plan``: pieces,
keys, instruments, drums) a second time, "as people would": every choice below is drawn per clip from
``numpy.random.default_rng(spec.seed + REALISTIC_SEED_OFFSET)`` and recorded in the clip's labels, so the
set renders the same everywhere.

* **Tempo map** (:class:`TempoMap`): score position ``q`` (quarter lengths) -> audio time (s), monotone and
  piecewise linear on a grid of ``STEP_QL`` quarters: the tempo is evaluated at each step's midpoint and the
  step's duration ``STEP_QL * 60 / bpm`` cumulatively summed (vectorised). The tempo curve is the piece's
  nominal tempo times

  - **rubato** (every clip): a smooth random deviation, the sum of three sinusoids with periods of 2-8
    bars and random phases, scaled so its largest excursion is ``rubato`` (3-8 %);
  - one **event** per clip, cycling over the clips (index mod 4): ``rubato`` only (excursion 6-8 %),
    ``ritardando`` (a linear ramp down by 15-25 % over 2-4 bars starting at a bar line 8-18 s in, held for
    one bar, then "a tempo" at the next bar line), ``accelerando`` (a ramp up by 15-25 % over 2-4 bars,
    then held), ``tempo_change`` (a step of +-10-30 % at a bar line 10-20 s in, held).

  **Swing** (clips with index mod 3 = 1): inside every beat the off-beat eighth is delayed so the two
  eighths' lengths are ``ratio : 1`` (1.5-2.0), a piecewise-linear warp of ``q`` applied before the tempo
  map; beats (integer positions from the first downbeat) are its fixed points.

  Every note onset and offset **and** every label (beats, downbeats, chord boundaries) goes through the same
  map, and the **local tempo** label of beat ``i`` is ``60 / (T(q_i + 1) - T(q_i))`` (the inter-beat
  interval that starts at it, from the map, so the last beat has one too).
* **Humanisation**: each note's onset and offset move by the same Gaussian jitter (``timing_sigma_ms``
  10-20 ms, clipped at 2.5 sigma; drums get half of it); the labels stay on the map's grid. Velocities get
  Gaussian jitter (sigma 6, clipped at +-12) on top of the constant set's accents.
* **MIDI**: one fixed tempo event (``MIDI_US_PER_QUARTER``, 120 BPM, 480 ticks per quarter: 1/960 s per
  tick) and every note's ticks computed from its warped seconds.
* **SoundFont** (index mod 3): FluidR3_GM, FluidR3_GS (layered on FluidR3_GM, the last loaded wins, as in
  ``models/separation/data.py``) or TimGM6mb. No other SoundFont is allowed (held-out evaluations rely on it).
* **Production** (:func:`produce`, on the rendered stereo mix, labels unchanged), with
  ``models.separation.augment``: shelf EQ (low and high shelf, +-4 dB), a room (RT60 0.3-0.8 s) or hall
  (1.6-2.6 s) reverb, a stereo width change (side signal x 0.4-1.6), bus compression (threshold -26..-14
  dBFS, ratio 2-6), peak normalisation to -1 dBFS, then a white noise floor at -60..-45 dBFS RMS.
* **Codec** (index + 1 mod 3): MP3 (libmp3lame, CBR 96/128/160/192/256/320 kbit/s), AAC in M4A (FFmpeg's
  aac, 96-256 kbit/s) or Opus in Ogg (libopus, 64-160 kbit/s, at 48 kHz: resampled with
  ``scipy.signal.resample_poly``), all through PyAV. ``tonearm.audio.decode`` reads all three.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .corpus import ClipSpec

REALISTIC_SEED_OFFSET = 7919
STEP_QL = 1.0 / 48.0
MIDI_US_PER_QUARTER = 500_000
EVENTS = ("rubato", "ritardando", "accelerando", "tempo_change")
SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
#: The only SoundFonts the realistic set may use (files layered in order; the last loaded wins).
SOUNDFONTS: dict[str, tuple[str, ...]] = {
    "FluidR3_GM": ("FluidR3_GM.sf2",),
    "FluidR3_GS": ("FluidR3_GM.sf2", "FluidR3_GS.sf2"),
    "TimGM6mb": ("TimGM6mb.sf2",),
}
SOUNDFONT_ORDER = ("FluidR3_GM", "FluidR3_GS", "TimGM6mb")
CODECS: dict[str, dict[str, Any]] = {
    "mp3": {
        "format": "mp3",
        "codec": "libmp3lame",
        "ext": "mp3",
        "rate": 44100,
        "kbps": (96, 128, 160, 192, 256, 320),
    },
    "aac": {"format": "ipod", "codec": "aac", "ext": "m4a", "rate": 44100, "kbps": (96, 128, 160, 192, 256)},
    "opus": {"format": "ogg", "codec": "libopus", "ext": "opus", "rate": 48000, "kbps": (64, 96, 128, 160)},
}
CODEC_ORDER = ("mp3", "aac", "opus")


# ---------------------------------------------------------------- tempo maps


def swing_warp(q: np.ndarray, origin: float, ratio: float) -> np.ndarray:
    """Swing: within each beat (from ``origin``), position 0.5 moves to ``ratio / (1 + ratio)``.

    Piecewise linear and increasing; integer beats are fixed points. ``ratio`` 1 is the identity.
    """
    q = np.asarray(q, dtype=float)
    if ratio == 1.0:
        return q
    rel = q - origin
    k = np.floor(rel)
    f = rel - k
    split = ratio / (1.0 + ratio)
    g = np.where(f < 0.5, f * 2.0 * split, split + (f - 0.5) * 2.0 * (1.0 - split))
    return origin + k + g


@dataclass(frozen=True)
class TempoMap:
    """Score position (quarters) -> seconds: ``t = interp(swing(q), grid_q, grid_t)``.

    ``grid_q``: increasing positions every :data:`STEP_QL`; ``grid_t``: the cumulative sum of the steps'
    durations, zero at the origin (the first onset). Outside the grid the end tempos continue linearly.
    """

    grid_q: np.ndarray
    grid_t: np.ndarray
    swing_origin: float = 0.0
    swing_ratio: float = 1.0

    @classmethod
    def from_bpm(
        cls,
        q_lo: float,
        q_hi: float,
        origin: float,
        bpm_at: Any,
        *,
        swing_origin: float = 0.0,
        swing_ratio: float = 1.0,
        step: float = STEP_QL,
    ) -> TempoMap:
        """Build from a vectorised tempo curve ``bpm_at(q) -> bpm`` (quarter notes per minute)."""
        n = max(2, math.ceil((q_hi - q_lo) / step) + 1)
        grid_q = q_lo + step * np.arange(n)
        bpm = np.asarray(bpm_at(grid_q[:-1] + step / 2), dtype=float)
        if np.any(bpm <= 0) or not np.all(np.isfinite(bpm)):
            raise ValueError("the tempo curve must be finite and positive")
        grid_t = np.concatenate([[0.0], np.cumsum(step * 60.0 / bpm)])
        grid_t -= np.interp(origin, grid_q, grid_t)
        return cls(grid_q, grid_t, swing_origin, swing_ratio)

    def seconds(self, q: Any) -> Any:
        """Audio time of score position(s) ``q`` (scalar in, float out)."""
        x = swing_warp(np.asarray(q, dtype=float), self.swing_origin, self.swing_ratio)
        gq, gt = self.grid_q, self.grid_t
        t = np.interp(x, gq, gt)
        lo_slope = (gt[1] - gt[0]) / (gq[1] - gq[0])
        hi_slope = (gt[-1] - gt[-2]) / (gq[-1] - gq[-2])
        t = np.where(x < gq[0], gt[0] + (x - gq[0]) * lo_slope, t)
        t = np.where(x > gq[-1], gt[-1] + (x - gq[-1]) * hi_slope, t)
        return float(t) if np.ndim(t) == 0 else t

    def position(self, t: float) -> float:
        """Inverse of :meth:`seconds` on the grid (the swing warp is not inverted: use it on beats)."""
        return float(np.interp(t, self.grid_t, self.grid_q))

    def local_bpm(self, q_beats: Any) -> np.ndarray:
        """Local tempo at each beat: ``60 / (T(q + 1) - T(q))`` (the inter-beat interval it starts)."""
        q = np.asarray(q_beats, dtype=float)
        return 60.0 / (np.asarray(self.seconds(q + 1.0)) - np.asarray(self.seconds(q)))


def tempo_curve(
    base_bpm: float,
    *,
    bar: float,
    d0: float,
    rubato: float,
    periods_bars: tuple[float, float, float],
    phases: tuple[float, float, float],
    event: str,
    event_bar: float,
    event_bars: int,
    event_amount: float,
) -> Any:
    """The vectorised ``bpm_at(q)`` of a clip (see the module docstring); ``event_bar`` is a bar index from
    ``d0``, ``event_amount`` the relative change (negative slows down)."""
    amps = np.ones(3) / 3.0

    def bpm_at(q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        wave = sum(
            a * np.sin(2 * np.pi * (q - d0) / (p * bar) + ph)
            for a, p, ph in zip(amps, periods_bars, phases, strict=True)
        )
        factor = 1.0 + rubato * np.asarray(wave)
        start = d0 + event_bar * bar
        if event in ("ritardando", "accelerando"):
            span = event_bars * bar
            ramp = np.clip((q - start) / span, 0.0, 1.0) * event_amount
            if event == "ritardando":  # held for a bar, then a tempo at the next bar line
                ramp = np.where(q >= start + span + bar, 0.0, ramp)
            factor = factor * (1.0 + ramp)
        elif event == "tempo_change":
            factor = factor * np.where(q >= start, 1.0 + event_amount, 1.0)
        return base_bpm * factor

    return bpm_at


# ---------------------------------------------------------------- per-clip choices


@dataclass(frozen=True)
class Performance:
    """Everything the realistic rendering of one clip draws (recorded in its labels as ``performance``)."""

    seed: int
    event: str
    rubato: float
    periods_bars: tuple[float, float, float]
    phases: tuple[float, float, float]
    event_seconds: float  # nominal time the event starts (snapped to the next bar line)
    event_bars: int
    event_amount: float
    swing_ratio: float
    timing_sigma_ms: float
    velocity_sigma: float
    soundfont: str
    reverb: str
    rt60_s: float
    reverb_wet: float
    eq_low_db: float
    eq_high_db: float
    width: float
    comp_threshold_db: float
    comp_ratio: float
    noise_dbfs: float
    codec: str
    bitrate_kbps: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def soundfont_paths(self) -> list[Path]:
        """The SoundFont files to load, in order."""
        return [SOUNDFONT_DIR / f for f in SOUNDFONTS[self.soundfont]]


def draw(spec: ClipSpec) -> Performance:
    """The clip's performance, from its seed (independent of how many clips are rendered)."""
    seed = spec.seed + REALISTIC_SEED_OFFSET
    rng = np.random.default_rng(seed)
    event = EVENTS[spec.index % len(EVENTS)]
    rubato = float(rng.uniform(0.06, 0.08) if event == "rubato" else rng.uniform(0.03, 0.08))
    periods = tuple(float(x) for x in rng.uniform(2.0, 8.0, 3))
    phases = tuple(float(x) for x in rng.uniform(0.0, 2 * np.pi, 3))
    if event == "ritardando":
        ev_s, ev_bars, amount = rng.uniform(8.0, 18.0), int(rng.integers(2, 5)), -rng.uniform(0.15, 0.25)
    elif event == "accelerando":
        ev_s, ev_bars, amount = rng.uniform(8.0, 18.0), int(rng.integers(2, 5)), rng.uniform(0.15, 0.25)
    elif event == "tempo_change":
        ev_s, ev_bars = rng.uniform(10.0, 20.0), 0
        amount = rng.uniform(0.10, 0.30) * (1 if rng.random() < 0.5 else -1)
    else:
        ev_s, ev_bars, amount = 0.0, 0, 0.0
    swing = float(rng.uniform(1.5, 2.0)) if spec.index % 3 == 1 else 1.0
    hall = bool(rng.random() < 0.4)
    codec = CODEC_ORDER[(spec.index + 1) % len(CODEC_ORDER)]
    kbps = CODECS[codec]["kbps"]
    return Performance(
        seed=seed,
        event=event,
        rubato=round(rubato, 4),
        periods_bars=periods,  # type: ignore[arg-type]
        phases=phases,  # type: ignore[arg-type]
        event_seconds=round(float(ev_s), 3),
        event_bars=ev_bars,
        event_amount=round(float(amount), 4),
        swing_ratio=round(swing, 3),
        timing_sigma_ms=round(float(rng.uniform(10.0, 20.0)), 2),
        velocity_sigma=6.0,
        soundfont=SOUNDFONT_ORDER[spec.index % len(SOUNDFONT_ORDER)],
        reverb="hall" if hall else "room",
        rt60_s=round(float(rng.uniform(1.6, 2.6) if hall else rng.uniform(0.3, 0.8)), 3),
        reverb_wet=round(float(rng.uniform(0.15, 0.4)), 3),
        eq_low_db=round(float(rng.uniform(-4.0, 4.0)), 2),
        eq_high_db=round(float(rng.uniform(-4.0, 4.0)), 2),
        width=round(float(rng.uniform(0.4, 1.6)), 3),
        comp_threshold_db=round(float(rng.uniform(-26.0, -14.0)), 2),
        comp_ratio=round(float(rng.uniform(2.0, 6.0)), 2),
        noise_dbfs=round(float(rng.uniform(-60.0, -45.0)), 2),
        codec=codec,
        bitrate_kbps=int(kbps[int(rng.integers(len(kbps)))]),
    )


def tempo_map(
    perf: Performance, base_bpm: float, *, f0: float, d0: float, bar: float, q_hi: float
) -> TempoMap:
    """The clip's :class:`TempoMap` from ``f0 - 2 bars`` to ``q_hi`` (time zero at the first onset ``f0``).

    The event's bar is the first bar line at or after ``event_seconds`` at the nominal tempo.
    """
    q_ev = f0 + perf.event_seconds * base_bpm / 60.0
    event_bar = max(0.0, math.ceil((q_ev - d0) / bar - 1e-9))
    curve = tempo_curve(
        base_bpm,
        bar=bar,
        d0=d0,
        rubato=perf.rubato,
        periods_bars=perf.periods_bars,
        phases=perf.phases,
        event=perf.event,
        event_bar=event_bar,
        event_bars=perf.event_bars,
        event_amount=perf.event_amount,
    )
    return TempoMap.from_bpm(f0 - 2 * bar, q_hi, f0, curve, swing_origin=d0, swing_ratio=perf.swing_ratio)


def note_span(tmap: TempoMap, q: float, dur: float, jitter_s: float) -> tuple[float, float]:
    """A humanised note's (onset, offset) in seconds: both ends through the map, moved by ``jitter_s``;
    the onset is never before time zero. The labels use ``tmap.seconds`` of the grid positions, unjittered."""
    return max(0.0, tmap.seconds(q) + jitter_s), tmap.seconds(q + dur) + jitter_s


# ---------------------------------------------------------------- production and codecs


def produce(y: np.ndarray, sr: int, perf: Performance, *, peak_dbfs: float = -1.0) -> np.ndarray:
    """Production chain on a rendered mix ``y`` of shape (n, 2): EQ, reverb, width, bus compression,
    peak normalisation, noise floor. Returns (n, 2) float64 (peak at most ``peak_dbfs`` before the noise)."""
    from models.separation import augment

    rng = np.random.default_rng(perf.seed + 1)
    stems = np.ascontiguousarray(y.T[None].astype(np.float32))  # (1, 2, n): the mix is one stem
    stems = augment.apply_shelf_eq(stems, sr, [perf.eq_low_db], [perf.eq_high_db])
    impulse = augment.room_impulse(sr, perf.rt60_s, rng, pre_delay_s=0.02 if perf.reverb == "hall" else 0.008)
    stems = augment.apply_reverb(stems, impulse, [perf.reverb_wet])
    mid = (stems[0, 0] + stems[0, 1]) / 2
    side = (stems[0, 0] - stems[0, 1]) / 2 * perf.width
    stems = np.stack([mid + side, mid - side])[None].astype(np.float32)
    stems = augment.bus_compress(stems, sr, threshold_db=perf.comp_threshold_db, ratio=perf.comp_ratio)
    out = stems[0].T.astype(np.float64)
    peak = float(np.max(np.abs(out)))
    if peak <= 0:
        raise RuntimeError("silent mix")
    out *= 10 ** (peak_dbfs / 20) / peak
    noise = rng.standard_normal(out.shape) * 10 ** (perf.noise_dbfs / 20)
    return out + noise


def encode(pcm: np.ndarray, sr: int, path: Path, codec: str, bitrate_kbps: int) -> None:
    """Encode int16 ``pcm`` (n, 2) with ``codec`` (:data:`CODECS`) via PyAV (Opus: resampled to 48 kHz)."""
    import av

    spec = CODECS[codec]
    rate = int(spec["rate"])
    if rate != sr:
        from scipy.signal import resample_poly

        g = math.gcd(rate, sr)
        y = resample_poly(pcm.astype(np.float64) / 32768.0, rate // g, sr // g, axis=0)
        pcm = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
    layout = "stereo" if pcm.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format=spec["format"]) as out:
        stream = out.add_stream(spec["codec"], rate=rate, layout=layout)
        stream.bit_rate = bitrate_kbps * 1000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T), format="s16p", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
