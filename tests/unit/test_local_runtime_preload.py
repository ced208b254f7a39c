"""The local runtime imports the scientific stack in the building thread, before its workers run jobs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT
from tonearm.local_stack import runtime


def test_preload_imports_every_listed_package_in_a_fresh_interpreter() -> None:
    code = (
        "import sys\n"
        "from tonearm.local_stack.runtime import PRELOADED_PACKAGES, preload_shared_packages\n"
        "assert not any(p in sys.modules for p in PRELOADED_PACKAGES), 'imported too early'\n"
        "preload_shared_packages()\n"
        "missing = [p for p in PRELOADED_PACKAGES if p not in sys.modules]\n"
        "print(missing)\n"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_scipy_is_preloaded_because_the_workflows_import_it() -> None:
    assert {"numpy", "scipy.signal", "scipy.fft", "onnxruntime"} <= set(runtime.PRELOADED_PACKAGES)
