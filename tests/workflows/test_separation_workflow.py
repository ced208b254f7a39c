"""The separation workflows end to end on the local stack: music-ai/isolate-drums,
tonearm/vocals-accompaniment (and music-ai/stems-vocals-accompaniment), tonearm/stems. Through the job API
(Music.AI's result shape), ``copyResultsTo`` for every output, the ingest folder, a batch, and
``tonearm separate``.

The separation model is the tiny stand-in of ``tests/separation_model.py`` (fixture
``tiny_separation_models``): these tests check the plumbing (names, files, rates, channels, progress, the
outputs summing to the input), never how well stems are separated.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import encode, wait_for, wait_for_terminal
from tests.separation_model import check_stems, mix, pcm16
from tests.workflows.helpers import local_app, local_jobs
from tonearm.cli import main
from tonearm.jobs.model import CUSTOM_STORAGE, CreateJobRequest, Job, JobStatus
from tonearm.local_stack.runtime import LocalRuntime
from tonearm.workflows import CATALOGUE

pytestmark = pytest.mark.usefixtures("tiny_separation_models")

OUTPUTS = {
    "music-ai/isolate-drums": ["Kick drum", "Snare drum", "Other"],
    "tonearm/vocals-accompaniment": ["vocals", "accompaniments"],
    "music-ai/stems-vocals-accompaniment": ["vocals", "accompaniments"],
    "tonearm/stems": ["vocals", "drums", "bass", "other"],
}


def _upload(runtime: LocalRuntime, data: bytes) -> str:
    services = runtime.services
    upload = services.jobs.create_upload(local_app(runtime))
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(key, data, content_type="audio/wav")
    return upload.downloadUrl


def _run(runtime: LocalRuntime, workflow: str, data: bytes, **request: object) -> Job:
    services = runtime.services
    job_request = CreateJobRequest(
        name=workflow, workflow=workflow, params={"inputUrl": _upload(runtime, data)}, **request
    )
    job_id = services.jobs.create_job(local_app(runtime), job_request).id
    return wait_for_terminal(lambda: services.store.get(job_id), timeout_s=120)


def _download(runtime: LocalRuntime, key: str, path: Path) -> Path:
    runtime.services.blobs.download_to(key, path)
    return path


@pytest.mark.parametrize("workflow", list(OUTPUTS))
def test_separation_job(local_runtime: LocalRuntime, workflow: str, tmp_path: Path) -> None:
    # GIVEN 3 s of a 48 kHz stereo mix as 16-bit WAV
    source = pcm16(mix(seconds=3.0, sr=48000, channels=2))
    # WHEN a job of the workflow runs through the job API
    job = _run(local_runtime, workflow, encode(source, sr=48000, fmt="WAV", subtype="PCM_16"))
    # THEN it succeeded with one stored WAV per output, named as Music.AI names them
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert list(job.outputs) == OUTPUTS[workflow] and job.result == {}
    assert job.progress == 100.0
    spec = CATALOGUE.get(workflow)
    for name, key in job.outputs.items():
        assert key == f"results/{job.id}/{spec.outputs[name].file_name(name)}" and " " not in key
    files = {
        name: _download(local_runtime, key, tmp_path / f"{i}.wav")
        for i, (name, key) in enumerate(job.outputs.items())
    }
    check_stems(files, source, 48000)
    # and GET /v1/job answers Music.AI's shape: result = {output name: download URL}
    view = local_runtime.services.jobs.view(job).model_dump(mode="json")
    assert list(view["result"]) == OUTPUTS[workflow] and view["workflow"] == workflow
    for name, url in view["result"].items():
        assert url.startswith("http") and spec.outputs[name].file_name(name) in url.split("?")[0]


def test_mono_low_rate_input_keeps_its_rate_and_channel(local_runtime: LocalRuntime, tmp_path: Path) -> None:
    source = pcm16(mix(seconds=2.0, sr=22050, channels=1))
    job = _run(local_runtime, "tonearm/stems", encode(source, sr=22050, fmt="WAV", subtype="PCM_16"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    files = {n: _download(local_runtime, k, tmp_path / f"{n}.wav") for n, k in job.outputs.items()}
    check_stems(files, source, 22050)


@pytest.mark.parametrize(
    "workflow", ["music-ai/isolate-drums", "music-ai/stems-vocals-accompaniment", "tonearm/stems"]
)
def test_copy_results_to_every_output(local_runtime: LocalRuntime, workflow: str, tmp_path: Path) -> None:
    # GIVEN an upload URL of the caller's own for every output ("Kick drum" included: names with spaces)
    services = local_runtime.services
    app = local_app(local_runtime)
    targets = {name: services.jobs.create_upload(app) for name in OUTPUTS[workflow]}
    source = pcm16(mix(seconds=2.0, sr=44100, channels=2))
    # WHEN the job runs with copyResultsTo naming each
    job = _run(
        local_runtime,
        workflow,
        encode(source, sr=44100, fmt="WAV", subtype="PCM_16"),
        copyResultsTo={name: t.uploadUrl for name, t in targets.items()},
    )
    # THEN every output went there, the result says "[custom storage]" for each, and nothing is stored
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result == dict.fromkeys(OUTPUTS[workflow], CUSTOM_STORAGE) and job.outputs == {}
    assert services.jobs.view(job).result == dict.fromkeys(OUTPUTS[workflow], CUSTOM_STORAGE)
    files = {}
    for name, target in targets.items():
        key = services.blobs.key_for_url(target.downloadUrl)
        assert key is not None
        files[name] = _download(local_runtime, key, tmp_path / f"{len(files)}.wav")
    check_stems(files, source, 44100)


def test_copy_results_to_some_outputs_as_in_the_music_ai_docs(
    local_runtime: LocalRuntime, tmp_path: Path
) -> None:
    """The SDK documentation's example: URLs for Kick drum and Snare drum; Other stays in our storage."""
    services = local_runtime.services
    app = local_app(local_runtime)
    kick, snare = services.jobs.create_upload(app), services.jobs.create_upload(app)
    source = pcm16(mix(seconds=2.0, sr=44100, channels=2))
    job = _run(
        local_runtime,
        "music-ai/isolate-drums",
        encode(source, sr=44100, fmt="WAV", subtype="PCM_16"),
        copyResultsTo={"Kick drum": kick.uploadUrl, "Snare drum": snare.uploadUrl},
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    result = services.jobs.view(job).result
    assert result["Kick drum"] == result["Snare drum"] == CUSTOM_STORAGE
    assert list(job.outputs) == ["Other"] and result["Other"].startswith("http")
    files = {
        "Kick drum": _download(
            local_runtime, services.blobs.key_for_url(kick.downloadUrl) or "", tmp_path / "k.wav"
        ),
        "Snare drum": _download(
            local_runtime, services.blobs.key_for_url(snare.downloadUrl) or "", tmp_path / "s.wav"
        ),
        "Other": _download(local_runtime, job.outputs["Other"], tmp_path / "o.wav"),
    }
    check_stems(files, source, 44100)


def test_copy_results_to_a_name_that_is_no_output_is_refused(local_runtime: LocalRuntime) -> None:
    from tonearm.errors import TonearmError

    services = local_runtime.services
    app = local_app(local_runtime)
    request = CreateJobRequest(
        name="x",
        workflow="music-ai/isolate-drums",
        params={
            "inputUrl": _upload(
                local_runtime, encode(mix(seconds=1.0, sr=44100, channels=2), sr=44100, fmt="WAV")
            )
        },
        copyResultsTo={"kick drum": services.jobs.create_upload(app).uploadUrl},  # the name is "Kick drum"
    )
    with pytest.raises(TonearmError, match="Kick drum") as refused:
        services.jobs.create_job(app, request)
    assert refused.value.status == 400


@pytest.mark.parametrize("workflow", ["music-ai/isolate-drums", "tonearm/vocals-accompaniment"])
def test_ingest_drop(local_runtime: LocalRuntime, workflow: str, tmp_path: Path) -> None:
    # GIVEN a WAV moved into ingest/<slug>/ (the local bucket's folder; in AWS an S3 object)
    folder = local_runtime.watcher.folder / workflow
    folder.mkdir(parents=True, exist_ok=True)
    source = pcm16(mix(seconds=2.0, sr=32000, channels=2))
    staged = tmp_path / "drop.wav"
    staged.write_bytes(encode(source, sr=32000, fmt="WAV", subtype="PCM_16"))
    shutil.move(staged, folder / "my song.wav")
    # THEN one job of that workflow separates it
    done: list[Job] = []

    def finished() -> bool:
        jobs = local_jobs(local_runtime, workflow, [JobStatus.SUCCEEDED, JobStatus.FAILED])
        done[:] = [j for j in jobs if j.name == "my song.wav"]
        return bool(done)

    wait_for(finished, timeout_s=120)
    job = done[0]
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert list(job.outputs) == OUTPUTS[workflow]
    files = {
        n: _download(local_runtime, k, tmp_path / f"{i}.wav") for i, (n, k) in enumerate(job.outputs.items())
    }
    check_stems(files, source, 32000)


def test_a_batch_of_isolate_drums(local_runtime: LocalRuntime) -> None:
    """tonearm/batch runs every workflow that takes an input file, the separation ones included."""
    services = local_runtime.services
    app = local_app(local_runtime)
    for i in range(2):
        key = f"uploads/{app.id}/drums-batch/song{i}.wav"
        data = encode(
            pcm16(mix(seconds=1.0, sr=44100, channels=2, seed=i)), sr=44100, fmt="WAV", subtype="PCM_16"
        )
        services.blobs.put_bytes(key, data, content_type="audio/wav")
    params = {"workflow": "music-ai/isolate-drums", "prefix": f"uploads/{app.id}/drums-batch/", "params": {}}
    request = CreateJobRequest(name="drums batch", workflow="tonearm/batch", params=params)
    batch_id = services.jobs.create_job(app, request).id
    batch = wait_for_terminal(lambda: services.store.get(batch_id), timeout_s=180)
    assert batch.status is JobStatus.SUCCEEDED, batch.error
    assert batch.result["succeeded"] == 2 and batch.result["failed"] == 0, batch.result
    children = local_jobs(local_runtime, "music-ai/isolate-drums", [JobStatus.SUCCEEDED])
    assert (
        sum(
            1
            for j in children
            if j.batch_name == batch_id and list(j.outputs) == OUTPUTS["music-ai/isolate-drums"]
        )
        == 2
    )


def test_a_missing_model_fails_the_job_with_its_code(
    local_runtime: LocalRuntime, tiny_separation_models: Path
) -> None:
    (tiny_separation_models / "separation").rename(tiny_separation_models / "moved")
    job = _run(
        local_runtime, "tonearm/stems", encode(mix(seconds=1.0, sr=44100, channels=2), sr=44100, fmt="WAV")
    )
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "model_unavailable", job.error


def test_the_task_reports_progress_in_percent(tmp_path: Path) -> None:
    """The engine's fraction done becomes the job's percent (the runner throttles and stores it)."""
    source = pcm16(mix(seconds=30.0, sr=44100, channels=2))
    song = tmp_path / "song.wav"
    song.write_bytes(encode(source, sr=44100, fmt="WAV", subtype="PCM_16"))
    reported: list[float] = []
    produced = CATALOGUE.get("tonearm/stems").task(song, tmp_path / "work", {}, reported.append)
    assert produced.values == {} and list(produced.files) == OUTPUTS["tonearm/stems"]
    assert reported == sorted(reported) and reported[-1] == 100.0, reported
    assert any(0 < p < 100 for p in reported) and all(0 <= p <= 100 for p in reported)
    check_stems(produced.files, source, 44100)


# --- tonearm separate ---------------------------------------------------------------------------------------


def test_cli_separate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = pcm16(mix(seconds=2.0, sr=48000, channels=2))
    song = tmp_path / "song.wav"
    song.write_bytes(encode(source, sr=48000, fmt="WAV", subtype="PCM_16"))
    # the default: four stems
    assert main(["separate", str(song), "-o", str(tmp_path / "four")]) == 0
    printed = capsys.readouterr().out
    written = {p.name for p in (tmp_path / "four").iterdir()}
    assert written == {"vocals.wav", "drums.wav", "bass.wav", "other.wav"}
    assert all(f"{tmp_path / 'four' / name}" in printed for name in written)
    check_stems({p.name: p for p in (tmp_path / "four").iterdir()}, source, 48000)
    # a set, as JSON
    assert main(["separate", str(song), "--stems", "drums", "-o", str(tmp_path / "drums"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["Kick drum", "Snare drum", "Other"]
    assert [Path(p).name for p in document.values()] == ["kick-drum.wav", "snare-drum.wav", "other.wav"]
    check_stems({k: Path(v) for k, v in document.items()}, source, 48000)
    # a list of stems: the rest in rest.wav; the default folder is next to the file
    assert main(["separate", str(song), "--stems", "vocals,bass", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {k: Path(v).name for k, v in document.items()} == {
        "vocals": "vocals.wav",
        "bass": "bass.wav",
        "rest": "rest.wav",
    }
    assert all(Path(v).parent == tmp_path / "song-stems" for v in document.values())
    check_stems({k: Path(v) for k, v in document.items()}, source, 48000)


def test_cli_separate_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = tmp_path / "song.wav"
    song.write_bytes(encode(mix(seconds=1.0, sr=44100, channels=2), sr=44100, fmt="WAV"))
    assert main(["separate", str(song), "--stems", "guitar", "-o", str(tmp_path / "x")]) == 2
    assert "unknown stem 'guitar'" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["separate", str(tmp_path / "missing.wav")]) == 2
    (tmp_path / "noise.wav").write_bytes(b"not audio" * 50)
    assert main(["separate", str(tmp_path / "noise.wav"), "-o", str(tmp_path / "y")]) == 1
    assert "tonearm:" in capsys.readouterr().err
