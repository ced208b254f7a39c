"""What the sample events in ``events/`` refer to: the contract application and key, an upload, its jobs.

Seeded into any job store and blob store (the local stack's, or the AWS adapters' on moto), so the same
events run against both.
"""

from __future__ import annotations

import json

from tests.conftest import encode, render_tone
from tonearm.jobs.model import Job
from tonearm.jobs.service import hash_api_key
from tonearm.jobs.store import JobStore
from tonearm.ports import Application, BlobStore

#: The application the events' ``Authorization: contract-key`` belongs to.
CONTRACT_APP = "local"
CONTRACT_KEY = "contract-key"
CONTRACT_JOB = "00000000-0000-4000-8000-000000000001"
CONTRACT_TAGGING_JOB = "00000000-0000-4000-8000-000000000002"
CONTRACT_CHORDS_JOB = "00000000-0000-4000-8000-000000000003"
CONTRACT_TRANSCRIBE_JOB = "00000000-0000-4000-8000-000000000004"
CONTRACT_GENERATE_JOB = "00000000-0000-4000-8000-000000000005"
CONTRACT_ANALYZE_JOB = "00000000-0000-4000-8000-000000000006"
#: deleted by ``events/ApiFunction/delete_job.json`` (with its stored result)
CONTRACT_DELETED_JOB = "00000000-0000-4000-8000-000000000007"
#: a tonearm/batch job over uploads/local/batch/ (one WAV), with its Map's results (``events/BatchFunction``)
CONTRACT_BATCH_JOB = "00000000-0000-4000-8000-000000000008"
#: a music-ai/isolate-drums job (``events/SeparateFunction``)
CONTRACT_SEPARATE_JOB = "00000000-0000-4000-8000-000000000009"
BATCH_ITEM = f"uploads/{CONTRACT_APP}/batch/song.wav"
BATCH_RESULTS = f"results/{CONTRACT_BATCH_JOB}/Items-run"


def seed_contract_fixtures(store: JobStore, blobs: BlobStore, *, webhook_secret: str) -> None:
    """Put the contract app, an uploaded WAV and one job per workflow the task events run."""
    store.put_application(
        Application(
            id=CONTRACT_APP,
            name="local",
            key_sha256=hash_api_key(CONTRACT_KEY),
            webhook_secret=webhook_secret,
        )
    )
    blobs.put_bytes(
        "uploads/contract/song.wav",
        encode(render_tone(seconds=1.0), sr=22050, fmt="WAV"),
        content_type="audio/wav",
    )
    url = blobs.presign_get("uploads/contract/song.wav", ttl_s=3600)
    # segments: the tagging task writes a result file; title/artist: analyze records in the library
    tagging = {"inputUrl": url, "taskTypes": ["Genre", "Mood"], "topNum": 3, "segments": True}
    analyze = {"inputUrl": url, "title": "Contract", "artist": "Tonearm"}
    generate = {"prompt": "calm piano", "duration_seconds": 2, "seed": 7}
    batch = {"workflow": "tonearm/audio-info", "prefix": f"uploads/{CONTRACT_APP}/batch/", "params": {}}
    jobs = [
        (CONTRACT_JOB, "tonearm/audio-info", {"inputUrl": url}),
        (CONTRACT_TAGGING_JOB, "tonearm/tagging", tagging),
        (CONTRACT_ANALYZE_JOB, "tonearm/analyze", analyze),
        (CONTRACT_CHORDS_JOB, "music-ai/generate-chords", {"inputUrl": url}),
        (CONTRACT_TRANSCRIBE_JOB, "tonearm/transcribe", {"inputUrl": url}),
        (CONTRACT_SEPARATE_JOB, "music-ai/isolate-drums", {"inputUrl": url}),
        (CONTRACT_GENERATE_JOB, "tonearm/generate", generate),
        (CONTRACT_DELETED_JOB, "tonearm/audio-info", {"inputUrl": url}),
        (CONTRACT_BATCH_JOB, "tonearm/batch", batch),
    ]
    for job_id, workflow, params in jobs:
        job = Job(id=job_id, app=CONTRACT_APP, name=workflow, workflow=workflow, workflow_params=params)
        store.create(job)
    blobs.put_bytes(f"results/{CONTRACT_DELETED_JOB}/audio.wav", b"RIFF", content_type="audio/wav")
    _seed_batch(blobs)


def _seed_batch(blobs: BlobStore) -> None:
    """The batch's one item, and what its Distributed Map's ResultWriter wrote for it."""
    blobs.put_bytes(
        BATCH_ITEM, encode(render_tone(seconds=1.0), sr=22050, fmt="WAV"), content_type="audio/wav"
    )
    entry = {"Input": json.dumps({"key": BATCH_ITEM}), "Output": "{}", "Status": "SUCCEEDED"}
    blobs.put_bytes(
        f"{BATCH_RESULTS}/SUCCEEDED_0.json", json.dumps([entry]).encode(), content_type="application/json"
    )
    files = {
        "FAILED": [],
        "PENDING": [],
        "SUCCEEDED": [{"Key": f"{BATCH_RESULTS}/SUCCEEDED_0.json", "Size": 1}],
    }
    manifest = {"DestinationBucket": "bucket", "MapRunArn": "arn", "ResultFiles": files}
    blobs.put_bytes(
        f"{BATCH_RESULTS}/manifest.json", json.dumps(manifest).encode(), content_type="application/json"
    )


#: The order every function's sample events run in (local stack and AWS mode alike): the jobs the events
#: share are STARTED before their tasks run; the API's delete and the FAILED events come last.
EVENT_ORDER = [
    "AuthorizerFunction",
    "JobStatusFunction",
    "BatchFunction",
    "AudioInfoFunction",
    "AnalyzeFunction",
    "ModelApiFunction",
    "TaggingFunction",
    "BeatsAndChordsFunction",
    "TranscribeFunction",
    "SeparateFunction",
    "GenerateFunction",
    "WebhookFunction",
    "IngestFunction",
    "ApiFunction",
    "ExecutionWatchdogFunction",
]
