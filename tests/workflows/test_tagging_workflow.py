"""tonearm/tagging and tonearm/genre through the job engine: job API, ingest drops, callbacks."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import encode, wait_for, wait_for_terminal
from tests.workflows.helpers import local_app, local_jobs
from tests.workflows.test_analyze_workflow import render_groove
from tonearm.audio.decode import decode
from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.model import Callback, CreateJobRequest, Job, JobStatus
from tonearm.jobs.runner import WrongTaskFunctionError
from tonearm.local_stack.runtime import LOCAL_APP_ID, LocalRuntime
from tonearm.models.registry import default_registry
from tonearm.tagging.service import tag_tasks


def _upload(runtime: LocalRuntime, data: bytes) -> str:
    services = runtime.services
    upload = services.jobs.create_upload(local_app(runtime))
    key = services.blobs.key_for_url(upload.downloadUrl)
    assert key is not None
    services.blobs.put_bytes(key, data, content_type="audio/flac")
    return upload.downloadUrl


@pytest.fixture(scope="module")
def groove_flac() -> bytes:
    return encode(render_groove(seconds=10.0), sr=44100, fmt="FLAC")


def test_tagging_job_matches_the_synchronous_tagger(local_runtime: LocalRuntime, groove_flac: bytes) -> None:
    services = local_runtime.services
    params = {
        "inputUrl": _upload(local_runtime, groove_flac),
        "taskTypes": ["Instrument", "MusicTaggingMSD"],
        "topNum": 3,
        "embed": True,
    }
    request = CreateJobRequest(name="groove", workflow="tonearm/tagging", params=params)
    job_id = services.jobs.create_job(local_app(local_runtime), request).id
    job = wait_for_terminal(lambda: services.store.get(job_id), timeout_s=60)
    assert job.status is JobStatus.SUCCEEDED, job.error
    instrument, msd = job.result["tasks"]
    assert (instrument["taskType"], msd["taskType"]) == ("Instrument", "MusicTaggingMSD")
    assert job.result["warnings"] == [] and job.result["duration"] == pytest.approx(10.0, abs=0.01)
    assert "segments" not in job.result and job.outputs == {}  # only written when asked for
    # the same numbers as the SAMI route's tagger on the same decoded audio
    direct = tag_tasks(decode(groove_flac), ["Instrument", "MusicTaggingMSD"], registry=default_registry())
    for got, answer in zip((instrument, msd), direct.answers, strict=True):
        ranked = sorted(zip(answer.labels, answer.probabilities, strict=True), key=lambda lp: -lp[1])[:3]
        assert [t["label"] for t in got["tags"]] == [label for label, _ in ranked]
        np.testing.assert_allclose([t["probability"] for t in got["tags"]], [p for _, p in ranked], atol=1e-6)
        np.testing.assert_allclose(got["embedding"], answer.embedding, atol=1e-6)
    assert len(msd["embedding"]) == 200 and len(instrument["embedding"]) == 400  # one model, both models


def test_unknown_task_types_are_refused_before_work(local_runtime: LocalRuntime) -> None:
    services = local_runtime.services
    url = _upload(local_runtime, b"fLaC")
    for task_types, fragment in ((["Lang30"], "language"), (["Genre", "Genre"], "twice"), ([], "at least 1")):
        request = CreateJobRequest(
            name="bad", workflow="tonearm/tagging", params={"inputUrl": url, "taskTypes": task_types}
        )
        with pytest.raises(InvalidParamsError, match=fragment) as caught:
            services.jobs.create_job(local_app(local_runtime), request)
        if task_types == ["Lang30"]:
            assert "MusicTaggingMTT" in caught.value.message  # names what is supported
    assert local_jobs(local_runtime, "tonearm/tagging") == []


def test_tagging_ingest_drop_uses_the_default_task(
    local_runtime: LocalRuntime, groove_flac: bytes, tmp_path: Path
) -> None:
    folder = local_runtime.watcher.folder / "tonearm" / "tagging"
    folder.mkdir(parents=True, exist_ok=True)
    staged = tmp_path / "groove.flac"
    staged.write_bytes(groove_flac)
    shutil.move(staged, folder / "groove.flac")
    found: list[Job] = []

    def finished() -> bool:
        found[:] = local_jobs(local_runtime, "tonearm/tagging", [JobStatus.SUCCEEDED])
        return bool(found)

    wait_for(finished, timeout_s=60)
    (task,) = found[0].result["tasks"]
    assert task["taskType"] == "MusicTaggingMTT" and len(task["tags"]) == 50


def test_genre_job_reports_acousticsense_genres(local_runtime: LocalRuntime, groove_flac: bytes) -> None:
    services = local_runtime.services
    request = CreateJobRequest(
        name="g", workflow="tonearm/genre", params={"inputUrl": _upload(local_runtime, groove_flac)}
    )
    job_id = services.jobs.create_job(local_app(local_runtime), request).id
    job = wait_for_terminal(lambda: services.store.get(job_id), timeout_s=60)
    assert job.status is JobStatus.SUCCEEDED, job.error
    shares = [g["confidence"] for g in job.result["genres"]]
    assert len(shares) == 12 and shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(100.0, abs=0.05)
    assert job.result["topGenre"] == job.result["genres"][0]["genre"]
    assert set(job.result["unsupportedGenres"]) == {"Disco", "Latin", "Rap", "Reggae"}


def test_the_tagging_function_refuses_other_workflows(local_runtime: LocalRuntime) -> None:
    services = local_runtime.services
    services.store.create(
        Job(id="j-analyze", app=LOCAL_APP_ID, name="x", workflow="tonearm/analyze", workflow_params={})
    )
    with pytest.raises(WrongTaskFunctionError, match="tonearm/analyze"):
        services.tasks.run("j-analyze", workflows={"tonearm/tagging", "tonearm/genre"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_undeliverable_callback_is_dead_lettered_without_its_secret(
    local_runtime: LocalRuntime, groove_flac: bytes
) -> None:
    services = local_runtime.services
    secret = "never-in-a-dead-letter"
    request = CreateJobRequest(
        name="g", workflow="tonearm/genre", params={"inputUrl": _upload(local_runtime, groove_flac)}
    )
    callback = Callback(url=f"http://127.0.0.1:{_closed_port()}/hook", secret=secret, timeout_s=2)
    job = services.jobs.create_job(local_app(local_runtime), request, callback=callback)
    assert secret not in services.jobs.view(job).model_dump_json()  # views never carry it
    dead = local_runtime.services.dead_letters
    wait_for(lambda: len(dead.read_all()) >= 1, timeout_s=60)  # type: ignore[attr-defined]
    (letter,) = dead.read_all()  # type: ignore[attr-defined]
    assert letter["jobId"] == job.id and letter["delivered"] is False and len(letter["attempts"]) >= 2
    assert letter["body"]["request_id"] == job.id and letter["body"]["analysis_results"]
    assert secret not in json.dumps(letter)


def test_a_function_without_models_checks_builtin_names_and_defers_custom_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The light API function in AWS has no models folder, so it cannot see custom heads.
    from tonearm.tagging.workflow import TaggingParams

    monkeypatch.setattr("tonearm.tagging.heads.lookup.heads_dir", lambda: None)
    url = "https://example.com/a.wav"
    assert TaggingParams(inputUrl=url, taskTypes=["Genre", "MyHead"]).taskTypes == ["Genre", "MyHead"]
    for names, fragment in (
        (["Lang30"], "language"),
        (["MyHead", "MyHead"], "twice"),
        (["not a name"], "unknown task type"),
        (["genre"], "unknown task type"),  # a head may not shadow a builtin, in any case
    ):
        with pytest.raises(ValueError, match=fragment):
            TaggingParams(inputUrl=url, taskTypes=names)
