"""Generation benchmark (``python -m bench.generation.run``); see ``bench/generation/README.md``.

Importing the package caps the BLAS/OpenMP thread pools at one thread through the environment (those
libraries read it only when they load), so every module here measures single-thread speed.
"""

from bench.common import cap_thread_pools

cap_thread_pools()
