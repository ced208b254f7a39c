"""Progress of the long local work: decoding, analysis, chords and transcription report fractions that
rise to 1, and the ``tonearm`` command draws them as a bar on a terminal (never with ``--json``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import encode, render_tone
from tonearm.analysis.analyze import analyze_source
from tonearm.audio.decode import decode_stream
from tonearm.chords.recognize import beats_and_chords_source
from tonearm.cli import main
from tonearm.transcription.service import transcribe_source


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s: several decode blocks and several chunks of transcription windows."""
    path = tmp_path_factory.mktemp("progress") / "long.wav"
    path.write_bytes(
        encode(render_tone(seconds=20.0, sr=22050, amp=0.3), sr=22050, fmt="WAV", subtype="PCM_16")
    )
    return path


def _rises_to_one(seen: list[float]) -> None:
    assert len(seen) >= 3, seen
    assert seen == sorted(seen) and seen[0] >= 0.0 and seen[-1] == pytest.approx(1.0)


class _Collect:
    def start(self, *, sr: int, channels: int) -> None:
        pass

    def feed(self, block: object) -> None:
        pass


def test_decode_reports_each_block(long_wav: Path) -> None:
    seen: list[float] = []
    decode_stream(long_wav, _Collect(), block_frames=1 << 15, progress=seen.append)
    _rises_to_one(seen)


@pytest.mark.parametrize(
    "run",
    [
        lambda path, progress: analyze_source(path, progress=progress),
        lambda path, progress: beats_and_chords_source(path, progress=progress),
        lambda path, progress: transcribe_source(path, progress=progress),
    ],
    ids=["analyze", "chords", "transcribe"],
)
def test_analyses_report_rising_fractions(long_wav: Path, run: object) -> None:
    seen: list[float] = []
    run(long_wav, seen.append)  # type: ignore[operator]
    _rises_to_one(seen)


def test_the_command_draws_a_bar_on_a_terminal_only(
    long_wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tonearm.client.progress as progress

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws on the captured stream as on a terminal
    monkeypatch.setattr(progress, "bars_wanted", lambda *, json_output, stream=None: not json_output)
    assert main(["analyze", str(long_wav)]) == 0
    drawn = capsys.readouterr()
    assert "analyze long.wav" in drawn.err and "\x1b[" in drawn.err and "tempo" in drawn.out
    assert main(["analyze", str(long_wav), "--json"]) == 0
    assert capsys.readouterr().err == ""
