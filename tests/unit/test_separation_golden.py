"""Golden output of the committed separation model: a synthetic mix's stems, fingerprinted.

``models/separation/golden.py`` says what is synthesised and fingerprinted; ``python -m
models.separation.golden --write`` records the fingerprint with the committed model. A change of the model
file, the STFT, the chunk grid or the cross-fades moves it; onnxruntime's rounding differences between
CPUs do not (tolerance :data:`models.separation.golden.TOLERANCE_DB`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from models.separation import golden

pytestmark = pytest.mark.skipif(not golden.MODEL.is_file(), reason="models/separation/separation.onnx absent")


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(golden.GOLDEN.read_text())


@pytest.fixture(scope="module")
def separated() -> dict[str, np.ndarray]:
    return golden.separate_golden()


def test_the_fingerprint_was_recorded_with_the_committed_model(recorded: dict) -> None:
    assert recorded["model_sha256"] == hashlib.sha256(golden.MODEL.read_bytes()).hexdigest()


def test_the_stems_sum_to_the_mix(separated: dict[str, np.ndarray]) -> None:
    mix = golden.golden_mix()["mix"]
    total = np.sum(list(separated.values()), axis=0)
    assert np.max(np.abs(total - mix)) < 1e-4 * np.max(np.abs(mix))


def test_the_stems_match_the_recorded_fingerprint(recorded: dict, separated: dict[str, np.ndarray]) -> None:
    mix = golden.golden_mix()["mix"]
    now = golden.fingerprint(separated, mix)
    compared = 0
    for stem, cells in recorded["fingerprint"].items():
        before, after = np.array(cells), np.array(now[stem])
        loud = before > golden.FLOOR_DB + 20  # a stem the model leaves near silent has few such cells
        compared += int(loud.sum())
        worst = float(np.max(np.abs(before - after)[loud], initial=0.0))
        assert worst <= golden.TOLERANCE_DB, f"{stem}: {worst:.2f} dB from the recorded fingerprint"
    assert compared > 300


def test_the_fingerprint_sees_a_different_separation(
    recorded: dict, separated: dict[str, np.ndarray]
) -> None:
    # the check above can fail: swapping two stems' outputs moves the fingerprint far past the tolerance
    mix = golden.golden_mix()["mix"]
    swapped = dict(separated, kick=separated["bass"], bass=separated["kick"])
    now = golden.fingerprint(swapped, mix)
    before, after = np.array(recorded["fingerprint"]["kick"]), np.array(now["kick"])
    loud = before > golden.FLOOR_DB + 20
    assert float(np.max(np.abs(before - after)[loud])) > 10 * golden.TOLERANCE_DB
