"""Signal-to-distortion ratios for separated stems: plain SDR, scale-invariant SI-SDR, framewise SDR.

Issue 19 names BSSEval v4 (``museval``, the MUSDB18 metric) or ``fast_bss_eval``. Neither is in the
bench lock (``requirements/bench.txt``), and adding one is a change to ``pyproject.toml``'s ``bench``
extra plus ``make lock``; until a later change does that, the benchmark measures with these, in numpy:

- :func:`sdr`: ``10 log10(|s|^2 / |s - ŝ|^2)`` over the whole stem (all channels together). It is
  BSSEval's SDR with no allowed distortion filter: it charges gain errors and filtering as distortion,
  so it reads at or below BSSEval v4's SDR (which allows a 512-tap time-invariant filter per channel)
  on the same estimate. This is the "SDR" of the Music Demixing Challenge 2021 ("new SDR").
- :func:`si_sdr`: scale-invariant SDR (Le Roux et al. 2019): the estimate's projection on the reference
  is the target, the rest the distortion; a gain error costs nothing.
- :func:`framewise_sdr`: :func:`sdr` over consecutive windows (1 s by default) and the median over
  the windows whose reference is not silent: the aggregation museval's per-track figures use.

Signals are ``(channels, n)`` or ``(n,)`` arrays; sums are taken in float64. Both ratios add ``eps`` to
numerator and denominator, so a silent reference with a silent estimate reads 0 dB and a perfect
estimate of a non-silent reference reads ``10 log10(|s|^2 / eps)`` (a large finite number) instead of
infinity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from tonearm.errors import ParameterError

__all__ = ["EPS", "framewise_sdr", "sdr", "sdr_per_stem", "si_sdr"]

#: Added to the energies of both sides of a ratio (units of squared full-scale samples).
EPS = 1e-10


def _pair(reference: npt.ArrayLike, estimate: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    s = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if s.shape != e.shape:
        raise ParameterError(f"reference and estimate shapes differ: {s.shape} != {e.shape}")
    return s, e


def sdr(reference: npt.ArrayLike, estimate: npt.ArrayLike, *, eps: float = EPS) -> float:
    """Signal-to-distortion ratio of ``estimate`` against ``reference``, dB.

    Parameters
    ----------
    reference, estimate : array_like, shape (channels, n) or (n,)
        The true stem and its estimate, same shape and sample rate.
    eps : float
        Added to both energies (see the module docstring).

    Returns
    -------
    float
        ``10 log10((|s|^2 + eps) / (|s - ŝ|^2 + eps))``, dB; an all-zero estimate reads 0 dB.
    """
    s, e = _pair(reference, estimate)
    signal = float(np.sum(s * s))
    distortion = float(np.sum((s - e) ** 2))
    return 10.0 * math.log10((signal + eps) / (distortion + eps))


def si_sdr(reference: npt.ArrayLike, estimate: npt.ArrayLike, *, eps: float = EPS) -> float:
    """Scale-invariant SDR of ``estimate`` against ``reference``, dB.

    The target is ``a s`` with ``a = <ŝ, s> / |s|^2`` (one gain for all channels), the distortion
    ``ŝ - a s``; the result is ``10 log10((|a s|^2 + eps) / (|ŝ - a s|^2 + eps))``. Scaling the
    estimate by any positive factor leaves it unchanged (up to ``eps``).

    Parameters
    ----------
    reference, estimate : array_like, shape (channels, n) or (n,)
        The true stem and its estimate, same shape and sample rate.
    eps : float
        Added to both energies.

    Returns
    -------
    float
        SI-SDR, dB.
    """
    s, e = _pair(reference, estimate)
    energy = float(np.sum(s * s))
    gain = float(np.sum(e * s)) / (energy + eps)
    target = gain * s
    return 10.0 * math.log10((float(np.sum(target**2)) + eps) / (float(np.sum((e - target) ** 2)) + eps))


def framewise_sdr(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    sr: int,
    *,
    window_seconds: float = 1.0,
    silence_db: float = -80.0,
    eps: float = EPS,
) -> float:
    """Median of :func:`sdr` over consecutive windows, skipping windows whose reference is silent.

    Parameters
    ----------
    reference, estimate : array_like, shape (channels, n) or (n,)
        The true stem and its estimate, at ``sr`` Hz.
    sr : int
        Sample rate, Hz.
    window_seconds : float
        Window length, seconds (museval: 1 s); a last partial window is dropped unless it is the only one.
    silence_db : float
        A window whose reference mean square is below this (dB re full scale) is skipped.
    eps : float
        Added to both energies.

    Returns
    -------
    float
        The median SDR over the windows, dB; NaN when every window's reference is silent.
    """
    s, e = _pair(reference, estimate)
    s, e = np.atleast_2d(s), np.atleast_2d(e)
    size = max(1, round(window_seconds * sr))
    count = max(1, s.shape[-1] // size)
    values = []
    for i in range(count):
        part = slice(i * size, (i + 1) * size if i < count - 1 or s.shape[-1] >= size else s.shape[-1])
        ref = s[:, part]
        if ref.size == 0 or 10.0 * math.log10(float(np.mean(ref * ref)) + 1e-30) < silence_db:
            continue
        values.append(sdr(ref, e[:, part], eps=eps))
    return float(np.median(values)) if values else math.nan


def sdr_per_stem(
    references: Mapping[str, npt.ArrayLike], estimates: Mapping[str, npt.ArrayLike], *, eps: float = EPS
) -> dict[str, float]:
    """:func:`sdr` of each stem of ``references``, in dB, by stem name.

    Parameters
    ----------
    references, estimates : mapping of str to array_like
        True stems and their estimates by name; every reference must have an estimate of the same shape.

    Returns
    -------
    dict of str to float
        SDR per stem, dB.
    """
    missing = sorted(set(references) - set(estimates))
    if missing:
        raise ParameterError(f"no estimate for stems {missing}")
    return {name: sdr(reference, estimates[name], eps=eps) for name, reference in references.items()}
