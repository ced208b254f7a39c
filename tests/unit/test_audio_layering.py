"""Layering: ``tonearm.audio`` is the bottom layer of the signal code.

Decoding, probing, the loudness meter, the mono front end and the audio-info summary import nothing of
tonearm but its errors, so ``tonearm.analysis`` (which decodes through ``tonearm.audio``) can never be
part of an import cycle with it, and mastering measures loudness without importing the analysis.
Each check runs in a fresh interpreter, so modules other tests imported do not hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys

AUDIO_MODULES = [
    "tonearm.audio.decode",
    "tonearm.audio.errors",
    "tonearm.audio.limits",
    "tonearm.audio.loudness",
    "tonearm.audio.mono",
    "tonearm.audio.probe",
    "tonearm.audio.summary",
    "tonearm.audio.tags",
]


def _tonearm_modules_loaded_by(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'tonearm' or m.startswith('tonearm.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(done.stdout))


def test_audio_imports_nothing_of_tonearm_but_its_errors() -> None:
    outside = [
        m
        for m in _tonearm_modules_loaded_by(*AUDIO_MODULES)
        if m not in ("tonearm", "tonearm.audio", "tonearm.errors") and not m.startswith("tonearm.audio.")
    ]
    assert outside == [], f"tonearm.audio imports {outside}"


def test_mastering_measures_loudness_without_the_analysis() -> None:
    loaded = _tonearm_modules_loaded_by("tonearm.generation.master")
    assert "tonearm.audio.loudness" in loaded
    assert not [m for m in loaded if m.startswith("tonearm.analysis")], loaded
