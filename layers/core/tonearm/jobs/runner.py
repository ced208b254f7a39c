"""Running a workflow's task: fetch the input (if it takes one), compute, store or copy the outputs.

The task functions (each capability's ``workflow.py``) are pure: input file in, values and files out,
progress reported through a callback. ``TaskRunner`` does the I/O around them so every workflow gets
the same input handling, limits, progress throttling and ``copyResultsTo`` rules.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.errors import TonearmError
from tonearm.jobs.catalogue import Catalogue
from tonearm.jobs.errors import JobNotFoundError
from tonearm.jobs.model import CUSTOM_STORAGE, Job, JobStatus
from tonearm.jobs.service import copy_target_key
from tonearm.jobs.spec import MAX_PARAMS_FILE_BYTES, Progress, WorkflowSpec, no_progress
from tonearm.jobs.store import JobStore
from tonearm.net.safe_http import SafeHttpClient
from tonearm.ports import BlobStore

logger = logging.getLogger(__name__)


class WrongTaskFunctionError(TonearmError):
    """A task function was handed a job of a workflow it does not run (a wiring fault)."""

    code = "wrong_task_function"
    status = 500


class CopyResultsError(TonearmError):
    """An output could not be PUT to the caller's ``copyResultsTo`` URL."""

    code = "copy_results_failed"
    status = 502


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
        workflows: Catalogue,
        store: JobStore,
        blobs: BlobStore,
        http: SafeHttpClient,
        report_progress: Callable[[str, float], object] | None = None,
        progress_step: float = 5.0,
        progress_interval_s: float = 1.0,
    ) -> None:
        self.workflows = workflows
        self.store = store
        self.blobs = blobs
        self.http = http
        #: ``report_progress(job_id, percent)``, e.g. ``JobService.report_progress``; None: not recorded
        self.report_progress = report_progress
        self.progress_step = progress_step
        self.progress_interval_s = progress_interval_s

    def run(
        self, job_id: str, *, workflows: Collection[str] | None = None
    ) -> tuple[WorkflowSpec, dict[str, Any]]:
        """Run the job's task; return its workflow and ``{"result": {...}, "outputs": {name: key}}``.

        The second is the state machine's task output; the first says whose (for the handler's metrics).

        ``workflows`` restricts which workflows this caller runs (a function serving several workflows
        refuses a job of any other).
        """
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        if workflows is not None and job.workflow not in workflows:
            raise WrongTaskFunctionError(
                f"job {job_id} is a {job.workflow} job; this function runs {', '.join(sorted(workflows))}"
            )
        spec = self.workflows.get(job.workflow)
        with tempfile.TemporaryDirectory(prefix="tonearm-") as tmp:
            work_dir = Path(tmp)
            input_path = work_dir / "input"
            params: Mapping[str, Any] = job.workflow_params
            if spec.takes_input:
                self._fetch_input(job, input_path)
            elif job.source is not None:
                params = self._params_from_drop(job, spec, work_dir / "params.json")
            produced = spec.task(input_path, work_dir, params, self._progress(job.id))
            for hook in spec.result_hooks:
                produced.values.update(
                    hook(
                        blobs=self.blobs,
                        job=job,
                        params=params,
                        input_path=input_path,
                        values=produced.values,
                    )
                )
            result: dict[str, Any] = {}
            outputs: dict[str, str] = {}
            for name, value in produced.values.items():
                if name in job.copy_results_to:
                    self._copy(job, job.copy_results_to[name], json.dumps(value).encode(), "application/json")
                    result[name] = CUSTOM_STORAGE
                else:
                    result[name] = value
            for name, path in produced.files.items():
                out = spec.outputs[name]
                if name in job.copy_results_to:
                    self._copy(job, job.copy_results_to[name], path.read_bytes(), out.content_type)
                    result[name] = CUSTOM_STORAGE
                else:
                    key = f"results/{job.id}/{out.file_name(name)}"
                    self.blobs.put_file(key, path, content_type=out.content_type)
                    outputs[name] = key
        return spec, {"result": result, "outputs": outputs}

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
        # a file over the limit is not read at all
        params = spec.params_from_drop(key, path.read_bytes() if size <= MAX_PARAMS_FILE_BYTES else None)
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

    def _copy(self, job: Job, url: str, body: bytes, content_type: str) -> None:
        key = copy_target_key(self.blobs, url, app_id=job.app)  # checked again: the job may predate the rule
        if key is not None:
            self.blobs.put_bytes(key, body, content_type=content_type)
            return
        response = self.http.request("PUT", url, body=body, headers={"Content-Type": content_type})
        if not 200 <= response.status < 300:
            raise CopyResultsError(f"PUT to copyResultsTo URL answered HTTP {response.status}")
