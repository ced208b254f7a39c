"""The steps of a batch job's state machine (``statemachines/batch.asl.json``), run by ``BatchFunction``.

``prepare`` lists the items (a manifest, or the objects under the prefix) into a JSON manifest in the
bucket, which the Distributed Map's ItemReader reads; ``item`` makes one item's child job and marks it
STARTED; ``progress`` records how many items have finished; ``summary`` reads the Map's ResultWriter
output and writes the ``items`` file.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tonearm.batch.workflow import MAX_ITEMS, BatchParams, child_job_id
from tonearm.jobs.catalogue import Catalogue
from tonearm.jobs.errors import InvalidParamsError, InvalidTransitionError, JobNotFoundError
from tonearm.jobs.model import Job, JobStatus
from tonearm.jobs.service import JobService
from tonearm.jobs.store import JobStore
from tonearm.ports import BlobStore, read_blob

#: progress is counted at about this many items of a batch (each count lists the finished children)
PROGRESS_REPORTS = 100
#: JobService.report_progress reads, compares and writes: two items reporting at once could store a
#: lower count after a higher one. One process's reports go one at a time (the local runtime runs every
#: item in one process); across Lambda instances a late report can still regress the figure for a
#: moment, until the store offers a write conditional on the stored progress.
_PROGRESS_LOCK = threading.Lock()


def manifest_key(batch_id: str) -> str:
    """Where ``prepare`` writes the items the Map reads."""
    return f"results/{batch_id}/manifest.json"


@dataclass
class BatchService:
    """A batch job's steps, on the job engine and the bucket."""

    jobs: JobService
    store: JobStore
    blobs: BlobStore
    workflows: Catalogue

    def _job(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return job

    def _params(self, job: Job) -> BatchParams:
        spec = self.workflows.get(job.workflow)
        if job.source is None:
            return spec.params.model_validate(job.workflow_params)  # type: ignore[return-value]
        # an ingest drop under ingest/tonearm/batch/: the object is the JSON params
        key = job.source["key"]
        params = spec.params_from_drop(key, read_blob(self.blobs, key))
        self.store.replace(
            job.model_copy(update={"workflow_params": params}), expected_status=JobStatus.STARTED
        )
        return spec.params.model_validate(params)  # type: ignore[return-value]

    def prepare(self, batch_id: str, functions: Mapping[str, str]) -> dict[str, Any]:
        """List the items into the manifest; return what the Map needs (``functions``: logical id -> ARN)."""
        job = self._job(batch_id)
        params = self._params(job)
        if params.prefix is not None:
            keys = self.blobs.list_keys(params.prefix, limit=MAX_ITEMS + 1)
            keys = [key for key in keys if not key.endswith("/")]  # "folder" placeholders are not items
        else:
            keys = list(params.manifest or [])
        own = f"uploads/{job.app}/"
        foreign = [
            key
            for key in [params.prefix or "", *keys]
            if key.startswith("uploads/") and not key.startswith(own)
        ]
        if foreign:
            raise InvalidParamsError(
                f"a batch reads only its own application's uploads ({own}...), not {foreign[0]!r}"
            )
        if not keys:
            raise InvalidParamsError(f"there are no objects under {params.prefix!r}")
        if len(keys) > MAX_ITEMS:
            raise InvalidParamsError(
                f"more than {MAX_ITEMS} objects under {params.prefix!r}; split the batch"
            )
        function = self.workflows.get(params.workflow).function
        if function not in functions:
            raise InvalidParamsError(
                f"{params.workflow} cannot run in a batch here ({function} is not wired)"
            )
        body = json.dumps([{"key": key} for key in keys]).encode()
        self.blobs.put_bytes(manifest_key(batch_id), body, content_type="application/json")
        self.jobs.report_progress(batch_id, 0.0)  # progress is now reported (0 %) until the batch ends
        return {
            "manifestKey": manifest_key(batch_id),
            "total": len(keys),
            "functionArn": functions[function],
            "maxConcurrency": params.maxConcurrency,
            "toleratedFailurePercentage": params.toleratedFailurePercentage,
        }

    def item(self, batch_id: str, key: str) -> dict[str, Any]:
        """Make (or find) the child job for ``key`` and mark it STARTED; return its id."""
        batch = self._job(batch_id)
        # prepare stored a dropped batch's params on the job: both kinds read them there now
        params = BatchParams.model_validate(batch.workflow_params)
        child = Job(
            id=child_job_id(batch_id, key),
            app=batch.app,
            name=key.rsplit("/", 1)[-1],
            workflow=params.workflow,
            workflow_params=params.params,
            batch_name=batch_id,
            source={"key": key},
            expires_at=batch.expires_at,
        )
        self.store.create(child)  # False: a retried step, the child exists already
        with contextlib.suppress(InvalidTransitionError):  # finished already: a retried step
            self.jobs.transition(child.id, JobStatus.STARTED)
        return {"jobId": child.id}

    def progress(self, batch_id: str, index: int, total: int) -> bool:
        """Record how many of the batch's ``total`` items have finished (counted at about
        ``PROGRESS_REPORTS`` items of the batch, ``index`` being this item's); return whether stored."""
        step = max(1, math.ceil(total / PROGRESS_REPORTS))
        if index % step != 0 and index != total - 1:
            return False
        with _PROGRESS_LOCK:
            return self._count_progress(batch_id, total)

    def _count_progress(self, batch_id: str, total: int) -> bool:
        batch = self._job(batch_id)
        finished, page = 0, 0
        while True:
            found = self.store.list(
                app=batch.app,
                statuses=[JobStatus.SUCCEEDED, JobStatus.FAILED],
                workflows=[],
                batch_name=batch_id,
                offset=page * 100,
                limit=100,
            )
            finished += len(found)
            if len(found) < 100:
                break
            page += 1
        return self.jobs.report_progress(batch_id, 100.0 * min(finished, total) / max(total, 1))

    def summary(self, batch_id: str, result_writer: Mapping[str, Any]) -> dict[str, Any]:
        """Read the Map's ResultWriter manifest, write the ``items`` file; return the task output."""
        manifest_data = read_blob(self.blobs, str(result_writer["Key"]))
        if manifest_data is None:
            raise JobNotFoundError(f"the Map's result manifest {result_writer['Key']!r} is missing")
        manifest = json.loads(manifest_data)
        items: list[dict[str, Any]] = []
        for status, files in manifest["ResultFiles"].items():
            for entry_file in files:
                data = read_blob(self.blobs, str(entry_file["Key"]))
                for entry in json.loads(data or b"[]"):
                    key = str(json.loads(entry["Input"])["key"])
                    item: dict[str, Any] = {
                        "key": key,
                        "jobId": child_job_id(batch_id, key),
                        "status": status,
                    }
                    if status == "FAILED":
                        child = self.store.get(item["jobId"])
                        error = child.error.model_dump() if child and child.error else None
                        item["error"] = error or {
                            "code": "internal_error",
                            "message": str(entry.get("Error")),
                        }
                    items.append(item)
        items.sort(key=lambda item: item["key"])
        out = f"results/{batch_id}/items.json"
        self.blobs.put_bytes(out, json.dumps(items).encode(), content_type="application/json")
        succeeded = sum(1 for item in items if item["status"] == "SUCCEEDED")
        failed = sum(1 for item in items if item["status"] == "FAILED")
        return {
            "result": {"total": len(items), "succeeded": succeeded, "failed": failed},
            "outputs": {"items": out},
        }
