"""A music-ai/isolate-drums job on the AWS adapters (moto): an S3 drop whose key has a space, output names
with spaces, ``copyResultsTo`` to an S3 upload URL, and Music.AI's result shape with presigned URLs.

The separation model is the tiny stand-in (``tests/separation_model.py``): the plumbing is checked, not the
stems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import requests
import soundfile as sf

from tests.conftest import encode
from tests.separation_model import mix, pcm16, sum_tolerance
from tonearm.jobs.model import CUSTOM_STORAGE, Job, JobStatus

pytestmark = pytest.mark.usefixtures("tiny_separation_models")


def _services(aws: dict[str, Any]) -> Any:
    from tonearm.bootstrap import build_aws_services
    from tonearm.settings import Settings

    return build_aws_services(
        Settings.from_env(
            {
                "TONEARM_RUNTIME": "aws",
                "BUCKET_NAME": aws["bucket"],
                "JOBS_TABLE_NAME": aws["table"].name,
                "EVENT_BUS_NAME": aws["bus"],
                "WEBHOOK_DLQ_URL": aws["queue_url"],
                "STATE_MACHINE_ARN_PREFIX": "arn:aws:states:us-east-1:123456789012:stateMachine:tonearm-",
            }
        )
    )


def test_an_s3_drop_separates_into_s3(aws: dict[str, Any], tmp_path: Path) -> None:
    services = _services(aws)
    s3, bucket = aws["s3"], aws["bucket"]
    # GIVEN a WAV dropped under ingest/music-ai/isolate-drums/ (a space in its name), and an upload URL
    # of the application's own for the kick
    source = pcm16(mix(seconds=2.0, sr=44100, channels=2))
    key = "ingest/music-ai/isolate-drums/my song.wav"
    version = s3.put_object(
        Bucket=bucket, Key=key, Body=encode(source, sr=44100, fmt="WAV", subtype="PCM_16")
    )["VersionId"]
    kick_target = "uploads/ingest-app/kick"
    job = Job(
        id="00000000-0000-4000-8000-00000000f019",
        app="ingest-app",
        name="my song.wav",
        workflow="music-ai/isolate-drums",
        source={"key": key, "versionId": version},
        copy_results_to={"Kick drum": services.blobs.presign_put(kick_target, ttl_s=600)},
        status=JobStatus.STARTED,
    )
    services.store.create(job)
    # WHEN the SeparateFunction's task runs it and the state machine records the outcome
    _, done = services.tasks.run(job.id, workflows={"music-ai/isolate-drums"})
    finished = services.jobs.transition(job.id, JobStatus.SUCCEEDED, **done)
    # THEN the kick went to the upload, the others to results/<job>/ as WAV, without spaces in their keys
    assert done["result"] == {"Kick drum": CUSTOM_STORAGE}
    assert done["outputs"] == {
        "Snare drum": f"results/{job.id}/snare-drum.wav",
        "Other": f"results/{job.id}/other.wav",
    }
    for stored in done["outputs"].values():
        assert s3.head_object(Bucket=bucket, Key=stored)["ContentType"] == "audio/wav"
    assert s3.head_object(Bucket=bucket, Key=kick_target)["ContentType"] == "audio/wav"
    # and GET /v1/job shows Music.AI's result: custom storage, and presigned URLs that fetch the files
    result = services.jobs.view(finished).result
    assert list(result) == ["Kick drum", "Snare drum", "Other"] and result["Kick drum"] == CUSTOM_STORAGE
    total = np.zeros_like(source, dtype=np.float64)
    for name, url in [("Snare drum", result["Snare drum"]), ("Other", result["Other"])]:
        assert unquote(urlsplit(url).path).endswith(done["outputs"][name].rsplit("/", 1)[1])
        body = requests.get(url, timeout=10)  # moto answers presigned URLs inside mock_aws
        assert body.ok, name
        (tmp_path / "out.wav").write_bytes(body.content)
        y, sr = sf.read(str(tmp_path / "out.wav"), dtype="float64", always_2d=True)
        assert sr == 44100 and y.shape == source.shape
        total += y
    kick = s3.get_object(Bucket=bucket, Key=kick_target)["Body"].read()
    (tmp_path / "kick.wav").write_bytes(kick)
    total += sf.read(str(tmp_path / "kick.wav"), dtype="float64", always_2d=True)[0]
    np.testing.assert_allclose(total, source, atol=sum_tolerance(3))
