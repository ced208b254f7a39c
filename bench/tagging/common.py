"""Shared helpers of the tagging benchmark: one thread everywhere, timing statistics, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT as ROOT
from bench.common import default_cpu as default_cpu
from bench.common import pin as pin
from bench.common import single_thread_env as single_thread_env


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call (``time.perf_counter``) and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def stats(values: list[float]) -> dict[str, Any]:
    """Median, min, max and every value of a list of seconds."""
    if not values:
        return {"n": 0, "median_s": None, "min_s": None, "max_s": None, "values_s": []}
    return {
        "n": len(values),
        "median_s": statistics.median(values),
        "min_s": min(values),
        "max_s": max(values),
        "values_s": [round(v, 6) for v in values],
    }


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and the versions that matter here."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "logical_cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        flags = next(
            (ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), ""
        ).split()
        info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for dist in ("numpy", "scipy", "soxr", "onnxruntime", "librosa", "soundfile", "threadpoolctl"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    info["versions"] = versions
    return info
