"""``tonearm/audio-info``: duration, format, loudness and peak of a file, and the audio as 16-bit WAV."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.jobs.spec import DURATION_OUTPUT, InputParams, OutputSpec, Progress, TaskOutput, WorkflowSpec


def audio_info(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/audio-info``: summary values and the audio as 16-bit PCM WAV."""
    from tonearm.audio.summary import summarize_audio

    wav_path = work_dir / "audio.wav"
    with wav_path.open("wb") as wav_out:
        summary = summarize_audio(input_path, wav_out=wav_out, size_bytes=input_path.stat().st_size)
    return TaskOutput(
        values={
            "duration": round(summary.duration_s, 6),
            "sampleRate": summary.info.sample_rate,
            "channels": summary.info.channels,
            "format": summary.info.format,
            "loudnessLufs": None if summary.loudness_lufs is None else round(summary.loudness_lufs, 2),
            "peakDb": None if summary.peak_dbfs is None else round(summary.peak_dbfs, 2),
        },
        files={"wav": wav_path},
    )


AUDIO_INFO = WorkflowSpec(
    slug="tonearm/audio-info",
    name="Audio info",
    description=(
        "Decode the input (WAV, FLAC, OGG Vorbis/Opus, MP3, AAC/M4A, Matroska/WebM), check the limits "
        "(100 MB, 10 min), and report its "
        "duration, sample rate, channels, format, integrated loudness (ITU-R BS.1770) and sample "
        "peak, with the audio as a 16-bit PCM WAV file."
    ),
    params=InputParams,
    state_machine="AudioInfoStateMachine",
    function="AudioInfoFunction",
    task=audio_info,
    outputs={
        "duration": DURATION_OUTPUT,
        "sampleRate": OutputSpec("value", "Sample rate in Hz."),
        "channels": OutputSpec("value", "Number of channels."),
        "format": OutputSpec("value", "Container format: wav, flac, ogg, mp3, aac, m4a or mka."),
        "loudnessLufs": OutputSpec("value", "Integrated loudness in LUFS (null if all gated out)."),
        "peakDb": OutputSpec("value", "Sample peak in dBFS (null for digital silence)."),
        "wav": OutputSpec("file", "The audio as 16-bit PCM WAV.", "audio/wav", "wav"),
    },
)
