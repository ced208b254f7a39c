"""Label-preserving augmentations of a multitrack example, as pure numpy functions.

Every function takes the stems of one example, ``stems`` [shape=(n_stems, 2, n), float32, full scale
±1, 44.1 kHz stereo unless ``sr`` says otherwise], and returns new stems; none touches a mix. The mix
of an augmented example is always re-summed with :func:`mix_of`, so ``mix == stems.sum(axis=0)`` holds
to float32 rounding after any chain of these functions (the separation targets stay exact).

The parameters are explicit arguments (gains, pans, corner frequencies): drawing them at random is the
caller's job (``models.separation.data`` draws them from its seeded generator and records them in each
example's ``meta.json``), so every function here is deterministic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy import signal

__all__ = [
    "MP3_BITRATES",
    "Stems",
    "apply_gain",
    "apply_reverb",
    "apply_shelf_eq",
    "bus_compress",
    "mix_of",
    "mp3_round_trip",
    "pan",
    "remix",
    "room_impulse",
    "shelf_sos",
]

#: A stack of stems: shape (n_stems, 2, n), float32.
Stems = npt.NDArray[np.float32]

#: libsndfile's MP3 (LAME) compression levels used for the round trip, 0 = best quality, 1 = smallest.
MP3_BITRATES = (0.0, 0.25, 0.5, 0.75, 0.9)


def _check(stems: npt.NDArray[np.floating], name: str = "stems") -> None:
    if stems.ndim != 3 or stems.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_stems, 2, n), got {stems.shape}")


def _per_stem(values: Sequence[float] | npt.ArrayLike, n_stems: int, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n_stems,):
        raise ValueError(f"{name} must hold one value per stem ({n_stems}), got shape {array.shape}")
    return array


def mix_of(stems: Stems) -> npt.NDArray[np.float32]:
    """The mix: the sum of the stems.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32

    Returns
    -------
    np.ndarray [shape=(2, n)], float32
        Summed in float64 and rounded once, so it is the float32 nearest the exact sum.
    """
    _check(stems)
    return stems.sum(axis=0, dtype=np.float64).astype(np.float32)


def apply_gain(stems: Stems, gains_db: Sequence[float] | npt.ArrayLike) -> Stems:
    """Scale each stem by its own gain.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    gains_db : sequence of float [shape=(n_stems,)], [dB]

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
    """
    _check(stems)
    gains = 10.0 ** (_per_stem(gains_db, stems.shape[0], "gains_db") / 20.0)
    return (stems * gains[:, None, None]).astype(np.float32)


def shelf_sos(sr: int, freq_hz: float, gain_db: float, kind: str) -> npt.NDArray[np.float64]:
    """One RBJ-cookbook shelving biquad (shelf slope S = 1) as second-order sections.

    Parameters
    ----------
    sr : int [Hz]
    freq_hz : float [Hz]
        Corner (mid-gain) frequency, 0 < freq_hz < sr / 2.
    gain_db : float [dB]
        Gain of the shelf; 0 gives the identity filter.
    kind : {"low", "high"}

    Returns
    -------
    np.ndarray [shape=(1, 6)], float64
        ``scipy.signal.sosfilt`` coefficients, normalised so ``a0 == 1``.
    """
    if not 0.0 < freq_hz < sr / 2:
        raise ValueError(f"shelf frequency {freq_hz} Hz is outside (0, {sr / 2}) Hz")
    if kind not in ("low", "high"):
        raise ValueError(f"kind must be 'low' or 'high', got {kind!r}")
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sr
    cos, alpha = np.cos(w0), np.sin(w0) / 2.0 * np.sqrt(2.0)  # S = 1: (A + 1/A)(1/S - 1) + 2 = 2
    root = 2.0 * np.sqrt(a) * alpha
    sign = 1.0 if kind == "low" else -1.0
    b = np.array(
        [
            a * ((a + 1) - sign * (a - 1) * cos + root),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
            a * ((a + 1) - sign * (a - 1) * cos - root),
        ]
    )
    den = np.array(
        [
            (a + 1) + sign * (a - 1) * cos + root,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
            (a + 1) + sign * (a - 1) * cos - root,
        ]
    )
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def apply_shelf_eq(
    stems: Stems,
    sr: int,
    low_db: Sequence[float] | npt.ArrayLike,
    high_db: Sequence[float] | npt.ArrayLike,
    *,
    low_hz: float = 200.0,
    high_hz: float = 4000.0,
) -> Stems:
    """A low shelf and a high shelf on each stem (a two-band tone control).

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    sr : int [Hz]
    low_db, high_db : sequence of float [shape=(n_stems,)], [dB]
        Shelf gains per stem; 0 dB leaves that band unchanged.
    low_hz, high_hz : float [Hz]
        Shelf corner frequencies.

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
        Causal IIR filtering (``scipy.signal.sosfilt``) of both channels at once, zero initial state.
    """
    _check(stems)
    n_stems = stems.shape[0]
    lows = _per_stem(low_db, n_stems, "low_db")
    highs = _per_stem(high_db, n_stems, "high_db")
    out = np.empty_like(stems)
    for k in range(n_stems):  # one filter per stem; the samples are filtered by scipy, vectorised
        sos = np.concatenate(
            [shelf_sos(sr, low_hz, lows[k], "low"), shelf_sos(sr, high_hz, highs[k], "high")]
        )
        out[k] = signal.sosfilt(sos, stems[k].astype(np.float64), axis=-1).astype(np.float32)
    return out


def pan(stems: Stems, positions: Sequence[float] | npt.ArrayLike) -> Stems:
    """Move each stem in the stereo image with a constant-power balance law.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    positions : sequence of float [shape=(n_stems,)], in [-1, 1]
        -1 hard left, 0 unchanged, 1 hard right. The left and right channels are scaled by
        ``sqrt(2) * cos(θ)`` and ``sqrt(2) * sin(θ)``, ``θ = (p + 1) π / 4``: 0 is unity gain on both.

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
    """
    _check(stems)
    p = np.clip(_per_stem(positions, stems.shape[0], "positions"), -1.0, 1.0)
    theta = (p + 1.0) * np.pi / 4.0
    gains = np.sqrt(2.0) * np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (n_stems, 2)
    return (stems * gains[:, :, None]).astype(np.float32)


def remix(
    stems_a: Stems, stems_b: Stems, from_b: Sequence[bool] | npt.ArrayLike, *, offset_b: int = 0
) -> Stems:
    """Take some stems from another song: the cross-song remix of Demucs-style training.

    Parameters
    ----------
    stems_a, stems_b : np.ndarray [shape=(n_stems, 2, n_a) and (n_stems, 2, n_b)], float32
        Two examples with the same stem order.
    from_b : sequence of bool [shape=(n_stems,)]
        Which stems come from ``stems_b``.
    offset_b : int [samples]
        Where in ``stems_b`` the borrowed stems start; they are zero-padded to ``n_a`` when short.

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n_a)], float32
    """
    _check(stems_a, "stems_a")
    _check(stems_b, "stems_b")
    if stems_a.shape[0] != stems_b.shape[0]:
        raise ValueError("both examples must have the same stems")
    take = np.asarray(from_b, dtype=bool)
    if take.shape != (stems_a.shape[0],):
        raise ValueError(f"from_b must hold one flag per stem ({stems_a.shape[0]})")
    n = stems_a.shape[-1]
    borrowed = np.zeros_like(stems_a)
    piece = stems_b[:, :, max(0, offset_b) : max(0, offset_b) + n]
    borrowed[:, :, : piece.shape[-1]] = piece
    return np.where(take[:, None, None], borrowed, stems_a).astype(np.float32)


def mp3_round_trip(stems: Stems, sr: int, compression: float = 0.5) -> Stems:
    """Encode each stem to MP3 and decode it again (libsndfile's LAME and mpg123, via soundfile).

    The mix re-summed from the result carries the codec's artefacts (band limiting, pre-echo,
    quantisation noise) while remaining exactly the sum of its stems. libsndfile compensates the
    encoder delay and padding, so the output is aligned with the input and as long.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    sr : int [Hz]
        An MP3 rate (32, 44.1 or 48 kHz for MPEG-1).
    compression : float in [0, 1]
        libsndfile's ``SFC_SET_COMPRESSION_LEVEL``: 0 is the highest bitrate, 1 the lowest.

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
        All-zero stems are passed through unchanged (silence encodes to silence).
    """
    _check(stems)
    if not 0.0 <= compression <= 1.0:
        raise ValueError(f"compression must be in [0, 1], got {compression}")
    n = stems.shape[-1]
    out = np.zeros_like(stems)
    for k in range(stems.shape[0]):  # one encoder run per stem; samples go through libsndfile whole
        if not np.any(stems[k]):
            continue
        buffer = io.BytesIO()
        with sf.SoundFile(
            buffer,
            "w",
            samplerate=sr,
            channels=2,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=compression,
        ) as f:
            f.write(stems[k].T)
        buffer.seek(0)
        decoded, got = sf.read(buffer, dtype="float32", always_2d=True)
        if got != sr:
            raise RuntimeError(f"MP3 decoded at {got} Hz instead of {sr} Hz")
        m = min(n, decoded.shape[0])
        out[k, :, :m] = decoded[:m].T
    return out


def room_impulse(
    sr: int, rt60_s: float, rng: np.random.Generator, *, pre_delay_s: float = 0.01
) -> npt.NDArray[np.float32]:
    """A synthetic stereo room response: exponentially decaying, decorrelated noise per channel.

    The late field of a room is well modelled by Gaussian noise under an exponential envelope whose
    energy falls by 60 dB in ``rt60_s`` (Polack's model); the two channels draw independent noise, so
    the reverb widens a stem as a real room does. A one-pole low-pass whose corner falls from 8 kHz
    to 2 kHz over the tail stands for air and wall absorption (high frequencies die first).

    Parameters
    ----------
    sr : int [Hz]
    rt60_s : float [s]
        Reverberation time, > 0. The response is ``rt60_s`` long (-60 dB at its end).
    rng : np.random.Generator
        Draws the noise.
    pre_delay_s : float [s]
        Silence before the response starts (direct sound to first reflection).

    Returns
    -------
    np.ndarray [shape=(2, round((pre_delay_s + rt60_s) * sr))], float32
        Each channel scaled to unit energy, so ``wet`` in :func:`apply_reverb` is the reverb's
        energy relative to the dry stem for a stationary input.
    """
    if rt60_s <= 0.0:
        raise ValueError(f"rt60_s must be positive, got {rt60_s}")
    n = max(1, round(rt60_s * sr))
    t = np.arange(n) / sr
    envelope = 10.0 ** (-3.0 * t / rt60_s)  # amplitude: -60 dB at rt60
    noise = rng.standard_normal((2, n)) * envelope
    # time-varying low-pass, applied as a cross-fade between two fixed one-pole filters (vectorised)
    bright = signal.lfilter(*_one_pole(8000.0, sr), noise, axis=-1)
    dark = signal.lfilter(*_one_pole(2000.0, sr), noise, axis=-1)
    fade = t / t[-1] if n > 1 else np.zeros(1)
    tail = (1.0 - fade) * bright + fade * dark
    tail /= np.sqrt(np.sum(tail**2, axis=-1, keepdims=True)) + 1e-12
    pre = np.zeros((2, max(0, round(pre_delay_s * sr))))
    return np.concatenate([pre, tail], axis=-1).astype(np.float32)


def _one_pole(corner_hz: float, sr: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``lfilter`` coefficients of a one-pole low-pass with unit DC gain."""
    pole = np.exp(-2.0 * np.pi * corner_hz / sr)
    return np.array([1.0 - pole]), np.array([1.0, -pole])


def apply_reverb(
    stems: Stems, impulse: npt.NDArray[np.float32], wet: Sequence[float] | npt.ArrayLike
) -> Stems:
    """Add each stem's reverb, the same room for all, at a per-stem send level.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    impulse : np.ndarray [shape=(2, m)], float32
        A stereo room response (:func:`room_impulse`); channel ``c`` of a stem goes through
        ``impulse[c]``.
    wet : sequence of float [shape=(n_stems,)]
        Send level per stem (linear amplitude): ``out = dry + wet * (dry * impulse)``; 0 leaves the
        stem dry. The reverb belongs to the stem (a separated stem keeps its room, as in a real mix).

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
        As long as the input: the tail past the end is cut.
    """
    _check(stems)
    if impulse.ndim != 2 or impulse.shape[0] != 2:
        raise ValueError(f"impulse must have shape (2, m), got {impulse.shape}")
    sends = _per_stem(wet, stems.shape[0], "wet")
    n = stems.shape[-1]
    out = stems.astype(np.float32, copy=True)
    active = np.flatnonzero(sends != 0.0)
    if active.size:
        tails = signal.oaconvolve(stems[active].astype(np.float64), impulse[None].astype(np.float64), axes=-1)
        out[active] += (sends[active, None, None] * tails[..., :n]).astype(np.float32)
    return out


def bus_compress(
    stems: Stems,
    sr: int,
    *,
    threshold_db: float,
    ratio: float,
    release_s: float = 0.15,
    frame: int = 512,
) -> Stems:
    """Downward compression of the mix bus, applied to every stem alike.

    The gain is computed from the mix and multiplies each stem by the same curve (a side-chained bus
    compressor), so the compressed mix is still exactly the sum of the compressed stems, and what the
    network learns is the pumping and levelling of a mastered mix.

    Parameters
    ----------
    stems : np.ndarray [shape=(n_stems, 2, n)], float32
    sr : int [Hz]
    threshold_db : float [dBFS]
        RMS level (per ``frame``, both channels) above which the gain is reduced.
    ratio : float
        Compression ratio, >= 1 (1 is no compression): above the threshold the level rises by
        ``1 / ratio`` dB per dB.
    release_s : float [s]
        Time constant of the one-pole smoothing of the gain reduction (attack is one frame).
    frame : int [samples]
        Hop and length of the RMS detector.

    Returns
    -------
    np.ndarray [shape=(n_stems, 2, n)], float32
        With make-up gain: the mix's peak is restored to its value before compression.
    """
    _check(stems)
    if ratio < 1.0:
        raise ValueError(f"ratio must be >= 1, got {ratio}")
    mix = mix_of(stems).astype(np.float64)
    n = mix.shape[-1]
    n_frames = max(1, -(-n // frame))
    padded = np.zeros((2, n_frames * frame))
    padded[:, :n] = mix
    rms = np.sqrt(np.mean(padded.reshape(2, n_frames, frame) ** 2, axis=(0, 2)) + 1e-12)
    level_db = 20.0 * np.log10(rms)
    reduction_db = np.maximum(0.0, level_db - threshold_db) * (1.0 - 1.0 / ratio)
    # release smoothing on the frame rate; taking the max with the raw curve keeps the attack instant
    pole = np.exp(-frame / (release_s * sr))
    smoothed = signal.lfilter([1.0 - pole], [1.0, -pole], reduction_db)
    reduction_db = np.maximum(reduction_db, smoothed)
    centres = (np.arange(n_frames) + 0.5) * frame
    gain = 10.0 ** (-np.interp(np.arange(n), centres, reduction_db) / 20.0)
    out = stems.astype(np.float64) * gain
    before = float(np.max(np.abs(mix), initial=0.0))
    after = float(np.max(np.abs(out.sum(axis=0)), initial=0.0))
    if after > 0.0:
        out *= before / after
    return out.astype(np.float32)
