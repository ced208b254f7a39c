"""statemachines/single_task.asl.json as AudioInfoStateMachine on the local runner, real handlers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from tests.conftest import PROJECT_ROOT, encode, render_tone, wait_for, wait_for_terminal
from tests.workflows.helpers import local_app
from tonearm.adapters.local.asl import AslRunner, substitute
from tonearm.adapters.local.asl_map import FolderBuckets
from tonearm.jobs.model import CreateJobRequest, JobStatus
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime
from tonearm.local_stack.template import function_from_arn


def _upload(runtime: LocalRuntime, data: bytes) -> str:
    """PUT ``data`` where ``GET /v1/upload`` says; return the download URL."""
    upload = runtime.services.jobs.create_upload(local_app(runtime))
    key = runtime.services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    runtime.services.blobs.put_bytes(key, data, content_type="audio/wav")
    return upload.downloadUrl


def _submit(runtime: LocalRuntime, data: bytes, *, name: str = "song.wav") -> str:
    request = CreateJobRequest(
        name=name, workflow="tonearm/audio-info", params={"inputUrl": _upload(runtime, data)}
    )
    return runtime.services.jobs.create_job(local_app(runtime), request).id


def test_audio_info_succeeds_with_all_outputs(local_runtime: LocalRuntime, tmp_path: Path) -> None:
    # GIVEN a 2 s stereo tone uploaded as FLAC
    data = encode(render_tone(seconds=2.0, sr=48000), sr=48000, fmt="FLAC")
    # WHEN a job runs the workflow
    job_id = _submit(local_runtime, data, name="tone.flac")
    job = wait_for_terminal(lambda: local_runtime.services.store.get(job_id))
    # THEN it succeeded with every value and a stored WAV
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["format"] == "flac"
    assert job.result["sampleRate"] == 48000
    assert job.result["channels"] == 2
    assert abs(job.result["duration"] - 2.0) < 1e-3
    # BS.1770: -0.691 + 10 log10(sum of channel mean squares); a 0.5 sine has mean square 0.125,
    # and K-weighting is within 0.3 dB of flat at 440 Hz
    assert abs(job.result["loudnessLufs"] - (-0.691 + 10 * math.log10(2 * 0.125))) < 0.3
    assert abs(job.result["peakDb"] - (-6.02)) < 0.05
    assert job.started_at is not None and job.completed_at is not None
    wav = tmp_path / "out.wav"
    local_runtime.services.blobs.download_to(job.outputs["wav"], wav)
    info = sf.info(str(wav))
    assert (info.subtype, info.samplerate, info.channels, info.frames) == ("PCM_16", 48000, 2, 96000)


def test_undecodable_input_fails_the_job_with_its_code(local_runtime: LocalRuntime) -> None:
    job_id = _submit(local_runtime, b"this is not audio at all, just some text" * 10, name="notes.txt")
    job = wait_for_terminal(lambda: local_runtime.services.store.get(job_id))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "unsupported_format"
    assert job.result == {} and job.outputs == {}


def test_every_status_change_is_published(local_runtime: LocalRuntime) -> None:
    seen: list[str] = []
    original = local_runtime.bus.publish_raw

    def spy(**kwargs: Any) -> dict[str, Any]:
        if kwargs["source"] == "tonearm":
            seen.append(kwargs["detail_type"])
        return original(**kwargs)

    local_runtime.bus.publish_raw = spy  # type: ignore[method-assign]
    job_id = _submit(local_runtime, encode(render_tone(seconds=1.0), sr=44100, fmt="WAV"))
    wait_for_terminal(lambda: local_runtime.services.store.get(job_id))
    wait_for(lambda: len(seen) == 3)
    assert seen == ["Job Queued", "Job Started", "Job Succeeded"]


def test_transient_task_failure_is_retried_then_succeeds(local_runtime: LocalRuntime) -> None:
    # GIVEN the real definition, with the audio task failing once with a retryable error
    text, substitutions = local_runtime.template.state_machine_definition("AudioInfoStateMachine")
    calls: list[str] = []

    class TransientError(Exception):
        pass

    def resolve(resource: str) -> Any:
        logical_id = function_from_arn(resource)

        def call(payload: Any) -> Any:
            calls.append(logical_id)
            if logical_id == "AudioInfoFunction" and calls.count(logical_id) == 1:
                raise TransientError("throttled")
            return local_runtime.functions.invoke(logical_id, payload)

        return call

    delays: list[float] = []
    runner = AslRunner(substitute(text, substitutions), resolve, sleep=delays.append)
    services = local_runtime.services
    input_url = _upload(local_runtime, encode(render_tone(seconds=1.0), sr=22050, fmt="WAV"))
    # the record only, without starting a background execution: this test drives the runner itself
    from tonearm.jobs.model import Job

    job = Job(
        id="retry-job",
        app=LOCAL_APP_ID,
        name="r",
        workflow="tonearm/audio-info",
        workflow_params={"inputUrl": input_url},
    )
    services.store.create(job)
    # WHEN it runs
    result = runner.run({"jobId": "retry-job"}, execution_name="retry-job")
    # THEN the task ran twice, after one retry delay, and the job succeeded
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert calls.count("AudioInfoFunction") == 2
    assert delays == [2.0]
    stored = services.store.get("retry-job")
    assert stored is not None and stored.status is JobStatus.SUCCEEDED


def test_non_retryable_task_error_goes_straight_to_failed(local_runtime: LocalRuntime) -> None:
    text, substitutions = local_runtime.template.state_machine_definition("AudioInfoStateMachine")
    calls: list[str] = []

    def resolve(resource: str) -> Any:
        logical_id = function_from_arn(resource)

        def call(payload: Any) -> Any:
            calls.append(logical_id)
            if logical_id == "AudioInfoFunction":
                raise ValueError("boom")
            return local_runtime.functions.invoke(logical_id, payload)

        return call

    services = local_runtime.services
    from tonearm.jobs.model import Job

    services.store.create(Job(id="boom-job", app=LOCAL_APP_ID, name="b", workflow="tonearm/audio-info"))
    result = AslRunner(substitute(text, substitutions), resolve, sleep=lambda _s: None).run(
        {"jobId": "boom-job"}
    )
    assert result.status == "FAILED" and result.error == "ValueError"
    assert calls.count("AudioInfoFunction") == 1
    stored = services.store.get("boom-job")
    assert stored is not None and stored.status is JobStatus.FAILED
    assert (
        stored.error is not None and stored.error.code == "internal_error" and "boom" in stored.error.message
    )


def test_template_state_machines_use_only_supported_asl() -> None:
    from tonearm.local_stack.template import LocalTemplate

    template = LocalTemplate(PROJECT_ROOT / "template.yaml")
    for machine in template.state_machines():
        text, substitutions = template.state_machine_definition(machine)
        definition = json.loads(substitute(text, substitutions))
        # raises on anything unsupported (a distributed Map's S3 reader/writer needs buckets)
        AslRunner(definition, lambda _r: lambda _p: None, buckets=FolderBuckets({}))


def test_uncatchable_execution_failure_still_fails_the_job(local_runtime: LocalRuntime) -> None:
    # GIVEN a task whose result lacks "outputs": MarkSucceeded's "$.task.outputs" then fails with
    # States.Runtime, which no Catch can handle, so the execution dies with the job still STARTED
    real_invoke = local_runtime.functions.invoke

    def invoke(logical_id: str, event: Any) -> Any:
        if logical_id == "AudioInfoFunction":
            return {"result": {}}
        return real_invoke(logical_id, event)

    local_runtime.functions.invoke = invoke  # type: ignore[method-assign]
    # WHEN the job runs
    job_id = _submit(local_runtime, encode(render_tone(seconds=1.0), sr=22050, fmt="WAV"))
    # THEN the execution watchdog, fed by the execution's status-change event, fails the job
    job = wait_for_terminal(lambda: local_runtime.services.store.get(job_id))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "workflow_failed"
    assert "States.Runtime" in job.error.message


def test_copy_results_to_puts_outputs_to_the_callers_urls(
    local_runtime: LocalRuntime, tmp_path: Path
) -> None:
    # GIVEN upload URLs of the caller's own (here: two more presigned uploads) for the wav and the duration
    services = local_runtime.services
    app = local_app(local_runtime)
    source_url = _upload(local_runtime, encode(render_tone(seconds=1.0, sr=16000), sr=16000, fmt="WAV"))
    wav_target, duration_target = services.jobs.create_upload(app), services.jobs.create_upload(app)
    request = CreateJobRequest(
        name="copy",
        workflow="tonearm/audio-info",
        params={"inputUrl": source_url},
        copyResultsTo={"wav": wav_target.uploadUrl, "duration": duration_target.uploadUrl},
    )
    # WHEN the job runs
    job_id = services.jobs.create_job(app, request).id
    job = wait_for_terminal(lambda: services.store.get(job_id))
    # THEN those outputs went to the caller's storage and the result says so
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["wav"] == "[custom storage]" and job.result["duration"] == "[custom storage]"
    assert "wav" not in job.outputs and job.result["sampleRate"] == 16000
    copied = tmp_path / "copied.wav"
    services.blobs.download_to(services.blobs.key_for_url(wav_target.downloadUrl) or "", copied)
    assert sf.info(str(copied)).subtype == "PCM_16"
    duration_key = services.blobs.key_for_url(duration_target.downloadUrl) or ""
    services.blobs.download_to(duration_key, tmp_path / "d.json")
    assert abs(json.loads((tmp_path / "d.json").read_text()) - 1.0) < 1e-6


def test_a_read_only_link_is_not_a_write_target(local_runtime: LocalRuntime) -> None:
    """copyResultsTo writes only to an uploadUrl of the caller's own: a download URL (another application's
    result, or its upload) was a way to overwrite what one may only read."""
    from tonearm.errors import TonearmError
    from tonearm.jobs.service import hash_api_key
    from tonearm.ports import Application

    services = local_runtime.services
    owner = local_app(local_runtime)
    other = Application(id="other", name="other", key_sha256=hash_api_key("other-key"))
    services.store.put_application(other)
    source = _upload(local_runtime, encode(render_tone(seconds=1.0, sr=16000), sr=16000, fmt="WAV"))
    done = services.jobs.create_job(
        owner, CreateJobRequest(name="a", workflow="tonearm/audio-info", params={"inputUrl": source})
    )
    finished = wait_for_terminal(lambda: services.store.get(done.id))
    result_url = services.jobs.view(finished).result["wav"]  # the owner's result: a GET URL
    owners_upload = services.jobs.create_upload(owner)
    attempts = {
        "another application's result (download URL)": result_url,
        "another application's upload URL": owners_upload.uploadUrl,
        "a download URL of an upload": services.jobs.create_upload(other).downloadUrl,
    }
    for what, url in attempts.items():
        request = CreateJobRequest(
            name="b", workflow="tonearm/audio-info", params={"inputUrl": source}, copyResultsTo={"wav": url}
        )
        with pytest.raises(TonearmError) as refused:
            services.jobs.create_job(other, request)
        assert 400 <= refused.value.status < 500, what
    before = services.blobs.key_for_url(result_url) or ""
    assert services.blobs.size(before) and services.store.get(done.id) == finished  # untouched
