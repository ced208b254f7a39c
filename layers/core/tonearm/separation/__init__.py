"""Source separation: DSP baselines (:mod:`.baselines`) and the SDR metrics (:mod:`.sdr`) (issue 19).

The baselines are what a trained separation model is measured against on the same clips; they take and
return ``(channels, n)`` float32 signals, and the stems each one returns sum to its input. The metrics are
imported from their module (``from tonearm.separation.sdr import sdr, si_sdr``).
"""

from __future__ import annotations

from tonearm.separation.baselines import (
    BASELINES,
    hpss,
    iter_chunks,
    kick_snare_bands,
    mid_side,
    repet_sim,
)

__all__ = [
    "BASELINES",
    "hpss",
    "iter_chunks",
    "kick_snare_bands",
    "mid_side",
    "repet_sim",
]
