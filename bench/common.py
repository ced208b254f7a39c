"""Single-thread set-up shared by the benchmarks (analysis, tagging, transcription).

Every measured process runs one thread on one CPU: the BLAS/OpenMP thread pools are capped through the
environment (those libraries read it only when they load, so :func:`cap_thread_pools` must run before
numpy is imported), the parent hands its workers :func:`single_thread_env`, and a worker calls :func:`pin`
to bind itself to one CPU and cap the pools that threadpoolctl (and, when asked, numba) knows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "ROOT",
    "THREAD_VARS",
    "cap_thread_pools",
    "default_cpu",
    "image_allocator_env",
    "peak_rss_mb",
    "pin",
    "ru_maxrss_mb",
    "single_thread_env",
    "vm_hwm_mb",
]

#: The repository root (made importable in the workers' environment).
ROOT = Path(__file__).resolve().parents[1]

#: Environment variables that size the thread pools of BLAS, OpenMP, numexpr and numba.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def cap_thread_pools() -> None:
    """Set every :data:`THREAD_VARS` variable not already set to ``"1"`` in this process's environment."""
    for v in THREAD_VARS:
        os.environ.setdefault(v, "1")


def image_allocator_env() -> dict[str, str]:
    """The glibc allocator settings (``MALLOC_*``) the worker image's Dockerfile sets, which AWS runs.

    Read from ``functions/worker/Dockerfile`` so the benchmarks and the image cannot drift apart.
    """
    from tools.image_check import parse_dockerfile

    env = parse_dockerfile(ROOT / "functions" / "worker" / "Dockerfile").env
    return {k: v for k, v in env.items() if k.startswith("MALLOC_")}


def single_thread_env(*, bytecode_caches: bool = False, image_allocator: bool = True) -> dict[str, str]:
    """The environment of every measured subprocess: thread pools at 1, the repository importable, and
    the worker image's allocator settings (:func:`image_allocator_env`), for every tool alike.

    ``bytecode_caches`` drops ``PYTHONDONTWRITEBYTECODE``, so numba's and Python's caches behave as in
    normal use. ``image_allocator=False`` leaves the allocator as the machine has it (what a zip
    function gets in AWS).
    """
    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = "1"
    if image_allocator:
        env.update(image_allocator_env())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if bytecode_caches:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def default_cpu() -> int | None:
    """The CPU measured processes are bound to (the highest one this process may use)."""
    try:
        return max(os.sched_getaffinity(0))
    except AttributeError:
        return None


def pin(cpu: int | None, *, numba: bool = False) -> dict[str, Any]:
    """Bind this process to ``cpu`` and cap every thread pool threadpoolctl knows at 1.

    Parameters
    ----------
    cpu : int or None
        CPU to bind to (None: leave the affinity alone).
    numba : bool
        Also set numba's thread count to 1 (when numba is installed).

    Returns
    -------
    dict
        What was applied: the :data:`THREAD_VARS` values, ``cpu_affinity``, ``threadpoolctl`` and, with
        ``numba``, ``numba_threads`` (None where the library is missing).
    """
    applied: dict[str, Any] = {v: os.environ.get(v) for v in THREAD_VARS}
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
        applied["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        applied["threadpoolctl"] = 1
    except ImportError:
        applied["threadpoolctl"] = None
    if numba:
        try:
            import numba as nb

            nb.set_num_threads(1)
            applied["numba_threads"] = nb.get_num_threads()
        except ImportError:
            applied["numba_threads"] = None
    return applied


def vm_hwm_mb() -> float | None:
    """This process's peak resident set size so far [MiB]: ``VmHWM`` from /proc/self/status (Linux).

    ``getrusage``'s ``ru_maxrss`` is no substitute in a worker: on Linux it carries the parent's
    high-water mark across fork/exec, so a worker started by a large parent reports the parent's peak.
    ``VmHWM`` belongs to the process's own address space, which exec replaces. None where it is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2**20


def peak_rss_mb() -> float:
    """:func:`vm_hwm_mb`, or :func:`ru_maxrss_mb` where ``VmHWM`` is missing (macOS)."""
    hwm = vm_hwm_mb()
    return ru_maxrss_mb() if hwm is None else hwm
