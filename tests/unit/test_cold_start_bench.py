"""bench/cold_start.py (issue 21) lists every function of the template and renders its table; the
measurement itself runs in `make bench`."""

from __future__ import annotations

from bench import cold_start
from tests.conftest import PROJECT_ROOT
from tonearm.local_stack.template import LocalTemplate


def test_every_function_is_measured_with_a_sample_event() -> None:
    found = {f["function"]: f for f in cold_start.functions()}
    assert set(found) == set(LocalTemplate(PROJECT_ROOT / "template.yaml").functions())
    assert found["ApiFunction"]["package"] == "zip" and found["BeatsAndChordsFunction"]["package"] == "image"
    assert all(f["event"] and not any(w in f["event"] for w in ("bad", "unknown")) for f in found.values())


def test_importtime_costs_and_the_table() -> None:
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |   numpy.core\n"
        "import time:       900 |      90000 | numpy\n"
        "import time:       500 |     300000 | tonearm\n"
    )
    assert cold_start._package_costs(text) == {"numpy": 90000}
    row = {
        "function": "ApiFunction",
        "package": "zip",
        "import_cached_s": 0.5,
        "first_s": 0.1,
        "first_error": "KeyError: x",
        "top_imports_ms": {"fastapi": 200.0},
    }
    table = cold_start.markdown({"machine": "m", "cpu": 1, "runs": 3, "functions": [row]})
    assert "| ApiFunction | zip | 0.500 | over (0.35) |" in table and "0.100 (error)" in table
    assert "- ApiFunction: KeyError: x" in table
