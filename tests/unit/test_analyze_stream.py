"""The streaming analysis path: SignalPreparer and analyze_source against the in-memory analyze.

The signal is a stereo click-and-chord track at 44.1 kHz rendered here: 120 BPM in 4/4, a C major
chord per bar with a louder click on each downbeat, different levels per channel.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tonearm.analysis.analyze import analyze, analyze_source
from tonearm.analysis.prepare import SignalPreparer, prepare_signal
from tonearm.analysis.spectral import analysis_signal
from tonearm.audio.decode import PcmFormat, decode
from tonearm.audio.errors import SilentAudioError
from tonearm.audio.loudness import loudness_summary
from tonearm.errors import ParameterError

SR = 44100
SECONDS = 12.0
BPM = 120.0


def track(*, sr: int = SR, seconds: float = SECONDS) -> npt.NDArray[np.float32]:
    """Shape (2, n) float32: clicks on every beat (accented downbeats) over a sustained C major chord."""
    n = round(sr * seconds)
    t = np.arange(n) / sr
    chord = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))
    beat = 60.0 / BPM
    phase = np.mod(t, beat)
    accent = np.where(np.mod(np.floor(t / beat), 4) == 0, 0.6, 0.3)
    clicks = accent * np.exp(-phase / 0.01) * np.sin(2 * np.pi * 1500.0 * t)
    mono = chord + clicks
    return np.stack([mono, 0.7 * mono]).astype(np.float32)


def wav_bytes(y: npt.NDArray[np.float32], *, sr: int = SR, subtype: str = "FLOAT") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.T, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("block", [1, 1000, 4410, 65536, 10**7])
def test_preparer_gives_the_same_signals_whatever_the_block_size(block: int) -> None:
    y = track(seconds=3.0)
    whole = prepare_signal(y, sr=SR)
    preparer = SignalPreparer()
    preparer.start(sr=SR, channels=2)
    for start in range(0, y.shape[1], block):
        preparer.feed(y[:, start : start + block])
    streamed = preparer.finish()
    np.testing.assert_array_equal(streamed.mono, whole.mono)
    assert streamed.duration_s == whole.duration_s == 3.0
    for field in ("integrated_lufs", "range_lu", "sample_peak_dbfs", "true_peak_dbtp"):
        a, b = getattr(streamed.loudness, field), getattr(whole.loudness, field)
        assert a == pytest.approx(b, abs=1e-9) or (math.isnan(a) and math.isnan(b)), field


def test_prepared_signal_is_the_one_shot_mono_signal_and_loudness() -> None:
    y = track(seconds=4.0)
    prepared = prepare_signal(y, sr=SR)
    np.testing.assert_array_equal(prepared.mono, analysis_signal(y, sr=SR))
    assert prepared.loudness == loudness_summary(y, sr=SR)


def test_mono_input_and_the_analysis_rate_pass_through() -> None:
    y = track(sr=22050, seconds=2.0)[0]
    prepared = prepare_signal(y, sr=22050)
    np.testing.assert_array_equal(prepared.mono, y)


def test_preparer_refuses_misuse() -> None:
    preparer = SignalPreparer()
    with pytest.raises(ParameterError):
        preparer.start(sr=0, channels=2)
    preparer.start(sr=SR, channels=2)
    with pytest.raises(ParameterError):
        preparer.feed(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(ParameterError):
        preparer.finish()  # nothing fed


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16"])
def test_analyze_source_equals_decode_then_analyze(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / "track.wav"
    path.write_bytes(wav_bytes(track(), subtype=subtype))
    info, streamed = analyze_source(path)
    audio = decode(path)
    assert info == audio.info
    assert streamed.to_json() == analyze(audio.y, sr=audio.sr).to_json()
    result = streamed.to_result()
    assert result.bpm == pytest.approx(BPM, rel=0.04)
    assert result.duration == SECONDS


def test_analyze_source_reads_raw_pcm() -> None:
    y = track(seconds=4.0)
    pcm = (np.clip(y.T, -1, 1) * 32767).astype("<i2").tobytes()
    info, result = analyze_source(pcm, pcm=PcmFormat(sample_rate=SR, channels=2, sample_format="s16le"))
    assert info.format == "pcm" and info.frames == y.shape[1]
    assert result.duration_s == 4.0


def test_analyze_source_raises_decode_errors() -> None:
    silence = np.zeros((2, SR), dtype=np.float32)
    with pytest.raises(SilentAudioError):
        analyze_source(wav_bytes(silence))
