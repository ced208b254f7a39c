"""A small typed client of a tonearm deployment (local or AWS), on the standard library's urllib.

It speaks three of the deployment's APIs: Music.AI's job API under ``/v1`` (uploads, jobs, workflows;
``Authorization: <key>``), SAMI MusicTagging's ``POST /api/v1/invoke`` (the key as ``token``) and
Sofy's generation routes (``Authorization`` too, so the tasks are the key's application's). Wire formats
are the server's own pydantic models where the core defines them (:mod:`tonearm.jobs.model`).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from tonearm.client.config import ClientConfig, load_config
from tonearm.jobs.model import JobStatus, JobView, UploadView

__all__ = [
    "ApiError",
    "Client",
    "GenerationStatus",
    "JobStatus",
    "JobView",
    "RunResult",
    "TagResult",
    "TaskTags",
    "Workflow",
]

#: ``on_bytes(done, total)``: bytes moved so far and the total (``None`` when unknown).
ByteProgress = Callable[[int, int | None], None]
_CHUNK = 1 << 16
NO_KEY = "no API key: pass --api-key, set TONEARM_API_KEY or put api_key in the config file"


class ApiError(Exception):
    """The deployment refused or failed a request (``status`` 0: it could not be reached, or no API key
    was configured, ``code`` ``no_api_key``).

    ``code`` is the server's machine-readable code (``unauthorized``, ``job_not_found``, ...);
    ``message`` its explanation.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """``{"error": {"code", "message", "status"}}``, what ``--json`` prints."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class WorkflowOutput(BaseModel):
    """One output a workflow declares: ``value`` (in ``result``) or ``file`` (a download URL there)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    description: str = ""
    contentType: str = ""  # noqa: N815 - wire name


class Workflow(BaseModel):
    """A ``GET /v1/workflow`` item."""

    model_config = ConfigDict(extra="ignore")

    slug: str
    name: str = ""
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, WorkflowOutput] = Field(default_factory=dict)

    @property
    def file_outputs(self) -> list[str]:
        """The names of the outputs that are files."""
        return [name for name, out in self.outputs.items() if out.type == "file"]


class TaskTags(BaseModel):
    """One task type's answer from SAMI's route: labels with probabilities, most probable first."""

    task_type: str
    tags: list[tuple[str, float]] = Field(default_factory=list)
    error: str | None = None


class TagResult(BaseModel):
    """What ``Client.tag`` returns: the duration and every task type's tags."""

    task_id: str
    duration: float | None = None
    tasks: list[TaskTags]
    status_text: str = "OK"


class GenerationStatus(BaseModel):
    """Sofy's ``GET /music-status/{task_id}``."""

    model_config = ConfigDict(extra="ignore")

    task_id: str
    status: str
    progress_percentage: float = 0.0
    filename: str | None = None
    download_url: str | None = None
    error: str | None = None


@dataclass
class RunResult:
    """What ``Client.run`` did: the finished job and the files it downloaded (output name → path)."""

    job: JobView
    files: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The job as the API shows it plus ``files`` (output name → local path)."""
        return {**self.job.model_dump(mode="json"), "files": {k: str(v) for k, v in self.files.items()}}


class _ProgressReader:
    """A file wrapper urllib reads the request body from, reporting the bytes read."""

    def __init__(self, f: IO[bytes], total: int, on_bytes: ByteProgress | None) -> None:
        self._f, self._total, self._on_bytes, self._done = f, total, on_bytes, 0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size if size and size > 0 else _CHUNK)
        self._done += len(data)
        if self._on_bytes is not None and data:
            self._on_bytes(self._done, self._total)
        return data


class _NoAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry ``Authorization`` to another host (S3 presigned URLs refuse a
    second authentication; the key is not theirs to see)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


def _error_from(status: int, body: bytes) -> ApiError:
    """The error a reply's body names: tonearm's ``{"error": {...}}``, SAMI's ``error_code`` and
    ``status_text``, or FastAPI's ``detail``."""
    try:
        doc = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()[:300]
        return ApiError(status, f"http_{status}", text or f"HTTP {status}")
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and "code" in err:
            return ApiError(status, str(err["code"]), str(err.get("message", "")))
        if "error_code" in doc:
            return ApiError(status, str(doc["error_code"]), str(doc.get("status_text", "")))
        if "detail" in doc:
            return ApiError(status, f"http_{status}", str(doc["detail"]))
    return ApiError(status, f"http_{status}", str(doc)[:300])


class Client:
    """A tonearm deployment.

    >>> from tonearm.client import Client
    >>> api = Client.from_config()          # flags > TONEARM_URL/TONEARM_API_KEY > config file > local
    >>> done = api.run("tonearm/analyze", "song.mp3", out_dir="out/")
    >>> done.job.result["bpm"], done.files
    """

    def __init__(self, url: str, api_key: str | None = None, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoAuthOnRedirect())
        self._workflows: dict[str, Workflow] | None = None

    @classmethod
    def from_config(cls, config: ClientConfig | None = None, **overrides: Any) -> Client:
        """A client for ``config`` (default: :func:`tonearm.client.load_config` with ``overrides``)."""
        config = config or load_config(**overrides)
        return cls(config.url, config.api_key, timeout_s=config.timeout_s)

    def __repr__(self) -> str:  # never the key
        return f"Client({self.url!r}, api_key={'set' if self.api_key else 'none'})"

    # --- transport ----------------------------------------------------------------------------
    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "tonearm-client"}
        if auth and self.api_key:
            headers["Authorization"] = self.api_key
        return headers

    def _open(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        try:
            return self._opener.open(request, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _error_from(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            where = urllib.parse.urlsplit(url)
            raise ApiError(
                0, "connection_failed", f"cannot reach {where.scheme}://{where.netloc}: {reason}"
            ) from None

    def _json(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Iterable[tuple[str, str]] = (),
        auth: bool = True,
        key_required: bool = True,
    ) -> Any:
        headers = self._headers(auth)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        qs = urllib.parse.urlencode(list(query))
        url = f"{self.url}{path}" + (f"?{qs}" if qs else "")
        if auth and key_required and not self.api_key:
            raise ApiError(0, "no_api_key", NO_KEY)
        with self._open(method, url, body=data, headers=headers) as response:
            raw = response.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise ApiError(response.status, "bad_response", f"{method} {path} answered non-JSON") from None

    # --- workflows and uploads ----------------------------------------------------------------
    def workflows(self) -> list[Workflow]:
        """The deployment's workflows (``GET /v1/workflow``)."""
        found = [Workflow.model_validate(w) for w in self._json("GET", "/v1/workflow")]
        self._workflows = {w.slug: w for w in found}
        return found

    def workflow(self, slug: str) -> Workflow:
        """One workflow; ``ApiError`` ``unknown_workflow`` when the deployment has none by that slug."""
        if self._workflows is None:
            self.workflows()
        assert self._workflows is not None
        if slug not in self._workflows:
            known = ", ".join(sorted(self._workflows))
            raise ApiError(400, "unknown_workflow", f"no workflow {slug!r} here; known: {known}")
        return self._workflows[slug]

    def upload(self, path: str | Path, *, on_bytes: ByteProgress | None = None) -> str:
        """Upload a file (``GET /v1/upload``, then a PUT to its ``uploadUrl``); returns the
        ``downloadUrl`` to pass as a job's ``inputUrl``."""
        path = Path(path)
        size = path.stat().st_size
        urls = UploadView.model_validate(self._json("GET", "/v1/upload"))
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        with (
            path.open("rb") as f,
            self._open(
                "PUT", urls.uploadUrl, body=_ProgressReader(f, size, on_bytes), headers=headers, timeout_s=600
            ) as response,
        ):
            response.read()
        return urls.downloadUrl

    # --- jobs ---------------------------------------------------------------------------------
    def create_job(
        self,
        workflow: str,
        params: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a job (``POST /v1/job``); returns its id."""
        body = {"name": name or workflow, "workflow": workflow, "params": dict(params or {})}
        if metadata:
            body["metadata"] = dict(metadata)
        return str(self._json("POST", "/v1/job", body=body)["id"])

    def job(self, job_id: str) -> JobView:
        """One job, with fresh download URLs for its file outputs (``GET /v1/job/{id}``)."""
        return JobView.model_validate(self._json("GET", f"/v1/job/{urllib.parse.quote(job_id, safe='')}"))

    def jobs(
        self,
        *,
        status: Iterable[JobStatus | str] = (),
        workflow: Iterable[str] = (),
        size: int = 100,
        after: str | None = None,
    ) -> list[JobView]:
        """The key's jobs, newest first (``GET /v1/job``); ``after``: the last id of the previous page."""
        query = [("status", str(JobStatus(s).value)) for s in status] + [("workflow", w) for w in workflow]
        query.append(("size", str(size)))
        if after:
            query.append(("after", after))
        return [JobView.model_validate(j) for j in self._json("GET", "/v1/job", query=query)]

    def delete_job(self, job_id: str) -> None:
        """Delete a job and its stored outputs (``DELETE /v1/job/{id}``)."""
        self._json("DELETE", f"/v1/job/{urllib.parse.quote(job_id, safe='')}")

    def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        interval_s: float = 0.5,
        on_update: Callable[[JobView], None] | None = None,
    ) -> JobView:
        """Poll a job until it SUCCEEDED or FAILED (``TimeoutError`` after ``timeout_s``); ``on_update``
        sees every poll's view (status and ``progress``)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay = min(interval_s, 0.1)
        while True:
            view = self.job(job_id)
            if on_update is not None:
                on_update(view)
            if view.status.terminal:
                return view
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {view.status.value} after {timeout_s:g} s")
            time.sleep(delay)
            delay = min(interval_s, delay * 1.5)

    def download(self, url: str, target: Path, *, on_bytes: ByteProgress | None = None) -> Path:
        """Download a (presigned) URL to ``target``, through a ``.part`` file."""
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        with self._open("GET", url, headers={"User-Agent": "tonearm-client"}, timeout_s=600) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            with part.open("wb") as f:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(done, total)
        part.replace(target)
        return target

    def download_outputs(
        self, job: JobView, out_dir: str | Path, *, on_file: Callable[[str, Path], None] | None = None
    ) -> dict[str, Path]:
        """Download every file output of a succeeded job into ``out_dir`` (named as the server stores
        them, e.g. ``chords.mid``); returns output name → path."""
        out = Path(out_dir)
        try:
            names = self.workflow(job.workflow).file_outputs
        except ApiError:
            names = []
        files: dict[str, Path] = {}
        for name, value in job.result.items():
            is_url = isinstance(value, str) and value.startswith(("http://", "https://"))
            if not is_url or (names and name not in names):
                continue
            basename = Path(urllib.parse.unquote(urllib.parse.urlsplit(value).path)).name or name
            target = out / basename
            if target in files.values():
                target = out / f"{name}-{basename}"
            files[name] = self.download(value, target)
            if on_file is not None:
                on_file(name, files[name])
        return files

    def run(
        self,
        workflow: str,
        path: str | Path,
        params: Mapping[str, Any] | None = None,
        *,
        out_dir: str | Path | None = None,
        name: str | None = None,
        timeout_s: float | None = None,
        on_update: Callable[[JobView], None] | None = None,
        on_bytes: ByteProgress | None = None,
    ) -> RunResult:
        """Upload ``path``, run ``workflow`` on it, wait, and (``out_dir``) download every file output.

        A job that FAILED is returned as such (``result.job.error``), without downloads.
        """
        self.workflow(workflow)  # an unknown slug fails before the upload
        input_url = self.upload(path, on_bytes=on_bytes)
        job_id = self.create_job(
            workflow, {**dict(params or {}), "inputUrl": input_url}, name=name or Path(path).name
        )
        job = self.wait(job_id, timeout_s=timeout_s, on_update=on_update)
        files: dict[str, Path] = {}
        if out_dir is not None and job.status is JobStatus.SUCCEEDED:
            files = self.download_outputs(job, out_dir)
        return RunResult(job=job, files=files)

    # --- SAMI tagging -------------------------------------------------------------------------
    def tag(
        self, path: str | Path, *, task_types: Iterable[str] = ("Genre", "Mood"), top_num: int | None = 5
    ) -> TagResult:
        """Tag a clip synchronously (SAMI's ``POST /api/v1/invoke``): each task type's most probable
        labels. Long files are refused (``audio_too_long``): run the ``tonearm/tagging`` workflow."""
        path = Path(path)
        tasks = list(task_types)
        payload: dict[str, Any] = {"task_flow": {"type": "merge", "task": [{"task_type": t} for t in tasks]}}
        if top_num is not None:
            payload["extra"] = {"top_num": top_num}
        fmt = path.suffix.lower().lstrip(".")
        if fmt in ("wav", "mp3", "aac", "flac", "ogg", "m4a"):
            payload["audio_info"] = {"format": fmt}
        if not self.api_key:
            raise ApiError(0, "no_api_key", NO_KEY)
        body = {
            "token": self.api_key,
            "namespace": "MusicTagging",
            "payload": json.dumps(payload),
            "data": base64.b64encode(path.read_bytes()).decode(),
        }
        reply = self._json("POST", "/api/v1/invoke", body=body, auth=False)
        try:
            decoded = json.loads(reply.get("payload") or "{}")
        except ValueError:
            raise ApiError(502, "bad_response", "the tagging reply's payload is not JSON") from None
        pred = decoded.get("pred", [])
        answers, offset = [], 0
        for entry in decoded.get("task_flow", {}).get("result", []):
            dim = int(entry.get("pred_dim", 0))
            labels = entry.get("task_output", {}).get("tags", [])
            probs = pred[offset : offset + dim]
            offset += dim
            pairs = sorted(zip(labels, probs, strict=False), key=lambda p: -p[1])
            error = entry.get("status_text") if entry.get("status_code") != 20000000 else None
            answers.append(TaskTags(task_type=entry.get("task_type", "?"), tags=pairs, error=error))
        return TagResult(
            task_id=str(reply.get("task_id", uuid.uuid4())),
            duration=decoded.get("duration"),
            tasks=answers,
            status_text=str(reply.get("status_text", "OK")),
        )

    # --- Sofy generation ----------------------------------------------------------------------
    def start_generation(self, prompt: str, **params: Any) -> str:
        """Start generating a track (Sofy's ``POST /generate-music``; ``params``: ``duration_seconds``,
        ``bpm``, ``scale``, ``seed``, ...); returns the task id (a job id)."""
        body = {"prompt": prompt, **{k: v for k, v in params.items() if v is not None}}
        # Sofy's routes take no key (the public application) unless the deployment requires one
        return str(self._json("POST", "/generate-music", body=body, key_required=False)["task_id"])

    def generation_status(self, task_id: str) -> GenerationStatus:
        """Sofy's ``GET /music-status/{task_id}``."""
        quoted = urllib.parse.quote(task_id, safe="")
        path = f"/music-status/{quoted}"
        return GenerationStatus.model_validate(self._json("GET", path, key_required=False))

    def generate(
        self,
        prompt: str,
        out: str | Path,
        *,
        timeout_s: float | None = None,
        on_update: Callable[[GenerationStatus], None] | None = None,
        **params: Any,
    ) -> tuple[GenerationStatus, Path | None]:
        """Generate a track from ``prompt`` and write its WAV to ``out``; returns the last status and the
        path (``None`` when the generation failed: the status's ``error`` says why)."""
        task_id = self.start_generation(prompt, **params)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay = 0.1
        while True:
            status = self.generation_status(task_id)
            if on_update is not None:
                on_update(status)
            if status.status in ("completed", "failed"):
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"generation {task_id} is still running after {timeout_s:g} s")
            time.sleep(delay)
            delay = min(0.5, delay * 1.5)
        if status.status == "failed":
            return status, None
        quoted = urllib.parse.quote(task_id, safe="")
        headers = {**self._headers(True), "Accept": "audio/wav"}
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        url = f"{self.url}/download-music/{quoted}"
        with self._open("GET", url, headers=headers, timeout_s=600) as r, part.open("wb") as f:
            while chunk := r.read(_CHUNK):
                f.write(chunk)
        part.replace(target)
        return status, target
