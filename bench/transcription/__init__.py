"""Transcription benchmark (``python -m bench.transcription.run``); see ``bench/transcription/README.md``.

Importing the package caps the BLAS/OpenMP thread pools at one thread through the environment (those
libraries read it only when they load), so every module here measures single-thread speed.
"""

import os

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
for _v in THREAD_VARS:
    os.environ.setdefault(_v, "1")
