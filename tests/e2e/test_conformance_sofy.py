"""Sofy's Python client sample against `tonearm serve`, as published but for the URL.

The published sample marks two comments with ``//`` (JavaScript style), which Python cannot parse; those two
lines are the only other change (``//`` -> ``#``). It runs keyless, as Sofy's clients do.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

SAMPLE = (Path(__file__).parent / "samples" / "sofy_python_sample.py.txt").read_text()


def test_sofys_python_sample_generates_and_downloads(server: Server) -> None:
    code = SAMPLE.replace("    // ", "    # ").replace("            // ", "            # ")
    assert "//" not in code.replace("https://", "")
    namespace: dict[str, object] = {}
    exec(compile(code, "sofy_sample.py", "exec"), namespace)  # the sample defines generate_music()
    generate_music = namespace["generate_music"]
    assert callable(generate_music)
    audio = generate_music("Melancholic jazz with soft saxophone", api_url=server.base_url)
    assert isinstance(audio, bytes) and audio[:4] == b"RIFF"
    with wave.open(io.BytesIO(audio)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 2, 2)
        assert abs(w.getnframes() / w.getframerate() - 30.0) < 0.01  # the sample asks for 30 s
