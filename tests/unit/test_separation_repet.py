"""The REPET-SIM path of the vocals-and-accompaniment workflows (``method: repet-sim``, the default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pydantic import ValidationError

from tonearm.separation.repet_vocals import separate_vocals_repet
from tonearm.separation.workflow import VocalsAccompanimentParams


def _song(sr: int, seconds: float, channels: int) -> np.ndarray:
    """A repeating two-chord backing (what REPET-SIM keeps) and a gliding lead on top, ``(n, channels)``."""
    t = np.arange(int(sr * seconds)) / sr
    chord = np.where((t % 2.0) < 1.0, 220.0, 174.6)
    backing = 0.2 * np.sin(2 * np.pi * chord * t) + 0.1 * np.sin(2 * np.pi * 1.5 * chord * t)
    lead = 0.15 * np.sin(2 * np.pi * (440 + 60 * np.sin(2 * np.pi * 0.3 * t)) * t)
    mono = backing + lead
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.mark.parametrize(("sr", "channels"), [(44_100, 2), (48_000, 1), (22_050, 6)])
def test_outputs_keep_rate_and_channels_and_sum_to_the_input(tmp_path: Path, sr: int, channels: int) -> None:
    source = tmp_path / "in.wav"
    audio = _song(sr, 8.0, channels)
    sf.write(source, audio, sr, subtype="FLOAT")
    seen: list[float] = []
    files = separate_vocals_repet(source, tmp_path / "out", progress=seen.append)
    assert list(files) == ["vocals", "accompaniments"]
    vocals, vsr = sf.read(files["vocals"], dtype="float32", always_2d=True)
    rest, rsr = sf.read(files["accompaniments"], dtype="float32", always_2d=True)
    assert vsr == rsr == sr and vocals.shape == rest.shape == audio.shape
    assert sf.info(str(files["vocals"])).subtype == "PCM_24"
    assert np.max(np.abs(vocals + rest - audio)) < 2e-6  # two 24-bit roundings
    assert 0.0 < np.sum(vocals**2) < np.sum(audio**2)  # something, not everything, went to the vocals
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert not list((tmp_path / "out").glob("*.f32")) and not list((tmp_path / "out").glob("*.partial"))


def test_method_is_checked() -> None:
    assert VocalsAccompanimentParams(inputUrl="u").method == "repet-sim"
    assert VocalsAccompanimentParams(inputUrl="u", method="model").method == "model"
    with pytest.raises(ValidationError):
        VocalsAccompanimentParams(inputUrl="u", method="demucs")  # type: ignore[arg-type]
