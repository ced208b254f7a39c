"""``tonearm/generate``: text to music with Sofy's params; the WAV, its MIDI score and the plan."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.generation.params import GenerationParams
from tonearm.generation.telemetry import GENERATIONS
from tonearm.jobs.spec import OutputSpec, Progress, TaskMetric, TaskOutput, WorkflowSpec, write_file


def generate_track(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/generate``: a track from a prompt; the WAV, its MIDI score and the plan as files.

    Takes no input (``input_path`` does not exist). The engine's progress (a fraction per stage) is
    passed on in percent; the runner decides which reports are worth a write.
    """
    from tonearm.generation.service import generate

    request = GenerationParams.model_validate(dict(params))
    started = time.perf_counter()
    try:
        track = generate(request, progress=lambda fraction, _stage: progress(100.0 * fraction))
    except Exception:
        GENERATIONS.record("failed")
        raise
    seconds = time.perf_counter() - started
    GENERATIONS.record("succeeded", seconds)
    plan = track.plan
    plan_json = json.dumps(plan.model_dump(mode="json"), indent=2).encode()
    files = {
        "wav": write_file(work_dir / "generated.wav", track.wav),
        "midi": write_file(work_dir / "generated.mid", track.midi),
        "plan": write_file(work_dir / "plan.json", plan_json),
    }
    values = {
        "duration": float(request.duration_seconds),
        "seed": track.seed,
        "bpm": plan.bpm,
        "key": plan.key,
        "style": plan.style.id,
        "genre": plan.style.genre,
        "loudnessLufs": round(float(track.loudness_lufs), 2),
        "truePeakDbtp": round(float(track.true_peak_dbtp), 2),
        "generationSeconds": round(seconds, 3),
    }
    return TaskOutput(values=values, files=files)


def generation_metrics(done: Mapping[str, Any]) -> list[TaskMetric]:
    """CloudWatch metrics of one generation: a count, its wall time and its real-time factor."""
    result = done.get("result", {})
    seconds, duration = result.get("generationSeconds"), result.get("duration")
    metrics: list[TaskMetric] = [("Generations", "Count", 1.0)]
    if isinstance(seconds, int | float) and seconds > 0:
        metrics.append(("GenerationSeconds", "Seconds", float(seconds)))
        if isinstance(duration, int | float):
            # seconds of audio per second of work: > 1 is faster than real time
            metrics.append(("GenerationRealTimeFactor", "Count", duration / seconds))
    return metrics


GENERATE = WorkflowSpec(
    slug="tonearm/generate",
    name="Generate music (text to music)",
    description=(
        "Generate an instrumental track from a text prompt (Sofy's parameters: duration, bpm, "
        "temperature, density, brightness, scale, guidance, plus an optional seed that makes the "
        "result reproducible byte for byte): a 48 kHz 16-bit stereo WAV, its score as MIDI and the "
        "plan that explains it. Takes no input file; POST /generate-music runs this workflow."
    ),
    params=GenerationParams,
    state_machine="GenerateStateMachine",
    function="GenerateFunction",
    task=generate_track,
    metrics=generation_metrics,
    outputs={
        "wav": OutputSpec(
            "file", "The track: 16-bit PCM, 48 kHz, stereo.", "audio/wav", "wav", "generated.wav"
        ),
        "midi": OutputSpec(
            "file", "The score as a standard MIDI file.", "audio/midi", "mid", "generated.mid"
        ),
        "plan": OutputSpec(
            "file", "The plan: how the prompt was read (style, key, tempo, form, arrangement, seed)."
        ),
        "duration": OutputSpec("value", "Duration of the track in seconds."),
        "seed": OutputSpec("value", "The seed: the same params with this seed give the same bytes."),
        "bpm": OutputSpec("value", "Tempo in beats per minute."),
        "key": OutputSpec("value", 'The key, e.g. "E minor".'),
        "style": OutputSpec("value", "The style the prompt was read as."),
        "genre": OutputSpec("value", "That style's genre."),
        "loudnessLufs": OutputSpec("value", "Integrated loudness (ITU-R BS.1770) in LUFS."),
        "truePeakDbtp": OutputSpec("value", "True peak in dBTP."),
        "generationSeconds": OutputSpec("value", "Wall time the generation took, in seconds."),
    },
    takes_input=False,
    drop_example='{"prompt": "calm piano", "duration_seconds": 30}',
)
