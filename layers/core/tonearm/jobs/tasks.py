"""Running a workflow's task: fetch the input (if it takes one), compute, store or copy the outputs.

The task functions are pure (input file in, values and files out, progress reported through a
callback); ``TaskRunner`` does the I/O around them so every workflow gets the same input handling,
limits, progress throttling and ``copyResultsTo`` rules.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.audio.summary import summarize_audio
from tonearm.errors import TonearmError
from tonearm.jobs.errors import InvalidParamsError, JobNotFoundError
from tonearm.jobs.model import CUSTOM_STORAGE, Job, JobStatus
from tonearm.jobs.telemetry import GENERATIONS
from tonearm.jobs.workflows import MAX_PARAMS_FILE_BYTES, WorkflowSpec, get_workflow, validate_params
from tonearm.net.safe_http import SafeHttpClient
from tonearm.ports import BlobStore, JobStore

logger = logging.getLogger(__name__)


class WrongTaskFunctionError(TonearmError):
    """A task function was handed a job of a workflow it does not run (a wiring fault)."""

    code = "wrong_task_function"
    status = 500


class CopyResultsError(TonearmError):
    """An output could not be PUT to the caller's ``copyResultsTo`` URL."""

    code = "copy_results_failed"
    status = 502


@dataclass
class TaskOutput:
    """What a task function produced: JSON values and files (by output name)."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


#: ``progress(percent)``: how much of the task is done, 0-100. Cheap to call often: the runner
#: throttles the writes, and a report that would not move the job forward is dropped.
Progress = Callable[[float], None]
#: ``task(input_path, work_dir, params, progress)``: params are the job's validated workflow params;
#: ``input_path`` does not exist for workflows that take no input (``WorkflowSpec.takes_input``).
TaskFunction = Callable[[Path, Path, Mapping[str, Any], Progress], TaskOutput]


def no_progress(percent: float) -> None:
    """A ``Progress`` that reports nowhere (the command line's tasks)."""


def audio_info(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/audio-info``: summary values and the audio as 16-bit PCM WAV."""
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


def analyze_audio(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/analyze``: decode every supported format and analyse it in one streaming pass."""
    from tonearm.analysis.analyze import analyze_source

    _, analysis = analyze_source(input_path, size_bytes=input_path.stat().st_size)
    return TaskOutput(values=analysis.to_json())


def tag_audio(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/tagging``: tags per task type for the whole track, and optionally per 3 s segment.

    ``tasks`` lists, per requested task type, its labels most probable first (``topNum`` of them when
    given) and, with ``embed``, the track embedding. ``segments`` is a JSON file (a 10-minute track has
    200 segments: too big for a job record) written only when asked for.
    """
    from tonearm.audio.decode import decode
    from tonearm.models.registry import default_registry
    from tonearm.tagging.service import tag_tasks

    audio = decode(input_path, size_bytes=input_path.stat().st_size)
    tagged = tag_tasks(
        audio,
        list(params.get("taskTypes") or DEFAULT_TASK_TYPES),
        registry=default_registry(),
        segments=bool(params.get("segments")),
    )
    top = params.get("topNum")
    embed = bool(params.get("embed"))
    tasks = [_task_json(answer, top=top, embed=embed) for answer in tagged.answers]
    files: dict[str, Path] = {}
    if tagged.segments is not None:
        path = work_dir / "segments.json"
        timeline = [
            {
                "start": round(segment.start_s, 3),
                "end": round(segment.end_s, 3),
                "tasks": [_task_json(answer, top=top, embed=False) for answer in segment.answers],
            }
            for segment in tagged.segments
        ]
        path.write_text(json.dumps(timeline, separators=(",", ":")))
        files["segments"] = path
    return TaskOutput(
        values={"duration": round(tagged.duration_s, 3), "tasks": tasks, "warnings": tagged.warnings},
        files=files,
    )


#: Task types ``tonearm/tagging`` answers when the params name none.
DEFAULT_TASK_TYPES = ("MusicTaggingMTT",)


def _task_json(answer: Any, *, top: int | None, embed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskType": answer.task.name,
        "tags": [
            {"label": label, "probability": round(float(p), 6)} for label, p in answer.most_probable(top)
        ],
    }
    if embed:
        out["embedding"] = [round(float(v), 6) for v in answer.embedding]
    return out


def classify_genre(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/genre``: AcousticSense's genres the models support, as percentages, most likely first."""
    from tonearm.audio.decode import decode
    from tonearm.models.registry import default_registry
    from tonearm.tagging.service import classify_genres
    from tonearm.tagging.taxonomy import ACOUSTICSENSE_UNSUPPORTED

    audio = decode(input_path, size_bytes=input_path.stat().st_size)
    result = classify_genres(audio, registry=default_registry())
    genres = [{"genre": genre, "confidence": round(share, 2)} for genre, share in result.genres]
    return TaskOutput(
        values={
            "genres": genres,
            "topGenre": genres[0]["genre"],
            "topConfidence": genres[0]["confidence"],
            "unsupportedGenres": list(ACOUSTICSENSE_UNSUPPORTED),
            "duration": round(result.duration_s, 3),
        }
    )


def beats_and_chords(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/beats-and-chords`` (and ``music-ai/generate-chords``): beats, tempo, key, chords."""
    from tonearm.chords.export import beat_map_json, chord_map_json, chords_midi, lead_sheet_text
    from tonearm.chords.recognize import beats_and_chords_source

    result = beats_and_chords_source(input_path, size_bytes=input_path.stat().st_size)
    files = {
        "beatMap": _write(work_dir / "beatMap.json", json.dumps(beat_map_json(result)).encode()),
        "chordMap": _write(work_dir / "chordMap.json", json.dumps(chord_map_json(result)).encode()),
        "chordsMidi": _write(work_dir / "chords.mid", chords_midi(result)),
        "chordsText": _write(work_dir / "chords.txt", lead_sheet_text(result).encode()),
    }
    return TaskOutput(values={"bpm": round(result.bpm, 2), "key": result.key}, files=files)


def transcribe(input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress) -> TaskOutput:
    """``tonearm/transcribe``: the notes (basic-pitch) as MIDI and JSON."""
    from tonearm.transcription.service import notes_to_midi, transcribe_source

    result = transcribe_source(input_path, size_bytes=input_path.stat().st_size)
    notes = [
        {"start": round(n.start_s, 4), "end": round(n.end_s, 4), "pitch": n.pitch, "velocity": n.velocity}
        for n in result.notes
    ]
    files = {
        "midi": _write(work_dir / "notes.mid", notes_to_midi(result.notes, bpm=result.bpm)),
        "notes": _write(work_dir / "notes.json", json.dumps(notes, separators=(",", ":")).encode()),
    }
    bpm = None if result.bpm is None else round(result.bpm, 2)
    return TaskOutput(values={"noteCount": len(notes), "bpm": bpm}, files=files)


def generate_track(
    input_path: Path, work_dir: Path, params: Mapping[str, Any], progress: Progress
) -> TaskOutput:
    """``tonearm/generate``: a track from a prompt; the WAV, its MIDI score and the plan as files.

    Takes no input (``input_path`` does not exist). The engine's progress (a fraction per stage) is
    passed on in percent; the runner decides which reports are worth a write.
    """
    from tonearm.generation.params import GenerationParams
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
        "wav": _write(work_dir / "generated.wav", track.wav),
        "midi": _write(work_dir / "generated.mid", track.midi),
        "plan": _write(work_dir / "plan.json", plan_json),
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


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


TASKS: dict[str, TaskFunction] = {
    "tonearm/audio-info": audio_info,
    "tonearm/analyze": analyze_audio,
    "tonearm/tagging": tag_audio,
    "tonearm/genre": classify_genre,
    "tonearm/beats-and-chords": beats_and_chords,
    "music-ai/generate-chords": beats_and_chords,
    "tonearm/transcribe": transcribe,
    "tonearm/generate": generate_track,
}


class ThrottledProgress:
    """A task's ``Progress`` that forwards a report only when it is worth a write.

    A report goes out when it is at least ``min_step`` points past the last one sent, or
    ``min_interval_s`` after it, or reaches 100; reports that do not move forward are dropped. The
    sink's failures are logged, never raised: progress is advisory and must not fail the task.
    """

    def __init__(
        self,
        sink: Callable[[float], object],
        *,
        min_step: float = 5.0,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._min_step = min_step
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last = 0.0  # a job starts at 0 %: no write needed for it
        self._last_at = clock()

    def __call__(self, percent: float) -> None:
        """Report ``percent`` (0-100) done."""
        percent = min(100.0, max(0.0, float(percent)))
        if percent <= self._last:
            return
        now = self._clock()
        due = (
            percent >= 100.0
            or percent - self._last >= self._min_step
            or now - self._last_at >= self._min_interval_s
        )
        if not due:
            return
        self._last, self._last_at = percent, now
        try:
            self._sink(percent)
        except Exception:
            logger.warning("progress report failed", exc_info=True)


class TaskRunner:
    """Fetches a job's input, runs its task function, and stores (or copies) the outputs."""

    def __init__(
        self,
        *,
        store: JobStore,
        blobs: BlobStore,
        http: SafeHttpClient,
        report_progress: Callable[[str, float], object] | None = None,
        progress_step: float = 5.0,
        progress_interval_s: float = 1.0,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.http = http
        #: ``report_progress(job_id, percent)``, e.g. ``JobService.report_progress``; None: not recorded
        self.report_progress = report_progress
        self.progress_step = progress_step
        self.progress_interval_s = progress_interval_s

    def run(
        self, job_id: str, task: TaskFunction | None = None, *, workflows: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Run the job's task; return ``{"result": {...}, "outputs": {name: key}}`` for the state machine.

        ``task`` defaults to the job's workflow's task; ``workflows`` restricts which workflows this
        caller runs (a function serving several workflows refuses a job of any other).
        """
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        if workflows is not None and job.workflow not in workflows:
            raise WrongTaskFunctionError(
                f"job {job_id} is a {job.workflow} job; this function runs {', '.join(sorted(workflows))}"
            )
        task = task or TASKS[job.workflow]
        spec = get_workflow(job.workflow)
        with tempfile.TemporaryDirectory(prefix="tonearm-") as tmp:
            work_dir = Path(tmp)
            input_path = work_dir / "input"
            params: Mapping[str, Any] = job.workflow_params
            if spec.takes_input:
                self._fetch_input(job, input_path)
            elif job.source is not None:
                params = self._params_from_drop(job, spec, work_dir / "params.json")
            produced = task(input_path, work_dir, params, self._progress(job.id))
            if spec.feeds_library:
                produced.values["library"] = self._record_in_library(job, params, input_path, produced.values)
            result: dict[str, Any] = {}
            outputs: dict[str, str] = {}
            for name, value in produced.values.items():
                if name in job.copy_results_to:
                    self._copy(job.copy_results_to[name], json.dumps(value).encode(), "application/json")
                    result[name] = CUSTOM_STORAGE
                else:
                    result[name] = value
            for name, path in produced.files.items():
                out = spec.outputs[name]
                if name in job.copy_results_to:
                    self._copy(job.copy_results_to[name], path.read_bytes(), out.content_type)
                    result[name] = CUSTOM_STORAGE
                else:
                    key = f"results/{job.id}/{out.file_name(name)}"
                    self.blobs.put_file(key, path, content_type=out.content_type)
                    outputs[name] = key
        return {"result": result, "outputs": outputs}

    def _record_in_library(
        self, job: Job, params: Mapping[str, Any], input_path: Path, analysis: Mapping[str, Any]
    ) -> dict[str, str | None] | None:
        """Record the analysis in the MusicFlow library; the identity recorded, or ``None``.

        A failure here is logged and leaves the job's own result intact: the library is a cache of
        analyses, and the job's output is the analysis.
        """
        from tonearm.audio.tags import read_tags
        from tonearm.prediction.library import TrackLibrary, entry_from_analysis

        try:
            tags = read_tags(input_path)
            entry = entry_from_analysis(
                dict(analysis),
                title=params.get("title") or tags.title,
                artist=params.get("artist") or tags.artist,
                album=tags.album,
                isrc=params.get("isrc") or tags.isrc,
                source=f"job:{job.id}",
            )
            if not TrackLibrary(self.blobs).put(entry):
                return None
        except Exception:
            logger.warning("job %s: could not record the analysis in the library", job.id, exc_info=True)
            return None
        return {"title": entry.title, "artist": entry.artist, "isrc": entry.isrc}

    def _progress(self, job_id: str) -> Progress:
        report = self.report_progress
        if report is None:
            return no_progress
        return ThrottledProgress(
            lambda percent: report(job_id, percent),
            min_step=self.progress_step,
            min_interval_s=self.progress_interval_s,
        )

    def _params_from_drop(self, job: Job, spec: WorkflowSpec, path: Path) -> dict[str, Any]:
        """The params of an ingest drop of a workflow without input: the dropped object is JSON params.

        Read here, at task time, so a bad file fails its job with ``invalid_params`` (nothing is lost,
        and the ingest function never parses user data). The validated params are stored on the job.
        """
        assert job.source is not None
        key = job.source["key"]
        size = self.blobs.download_to(key, path, version_id=job.source.get("versionId"))
        if size > MAX_PARAMS_FILE_BYTES:
            raise InvalidParamsError(
                f"{key!r} is {size} bytes; a {spec.slug} drop is a JSON params file of at most "
                f"{MAX_PARAMS_FILE_BYTES} bytes"
            )
        try:
            raw = json.loads(path.read_bytes())
        except ValueError:  # UnicodeDecodeError included
            raise InvalidParamsError(
                f"{key!r} is not JSON; a {spec.slug} drop is a JSON object of its params, e.g. "
                '{"prompt": "calm piano", "duration_seconds": 30}'
            ) from None
        if not isinstance(raw, dict):
            raise InvalidParamsError(f"{key!r} must hold a JSON object of {spec.slug} params")
        params = validate_params(spec, raw)
        # shown by GET /v1/job like an API job's params (best effort: the job is STARTED now)
        self.store.replace(
            job.model_copy(update={"workflow_params": params}), expected_status=JobStatus.STARTED
        )
        return params

    def _fetch_input(self, job: Job, path: Path) -> None:
        if job.source is not None:
            self.blobs.download_to(job.source["key"], path, version_id=job.source.get("versionId"))
            return
        url = str(job.workflow_params["inputUrl"])
        key = self.blobs.key_for_url(url)
        if key is not None:
            self.blobs.download_to(key, path)
            return
        with path.open("wb") as f:
            self.http.download_to(url, f, max_bytes=DEFAULT_LIMITS.max_bytes)

    def _copy(self, url: str, body: bytes, content_type: str) -> None:
        key = self.blobs.key_for_url(url)
        if key is not None:
            self.blobs.put_bytes(key, body, content_type=content_type)
            return
        response = self.http.request("PUT", url, body=body, headers={"Content-Type": content_type})
        if not 200 <= response.status < 300:
            raise CopyResultsError(f"PUT to copyResultsTo URL answered HTTP {response.status}")
