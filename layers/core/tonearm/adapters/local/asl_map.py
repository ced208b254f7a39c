"""Distributed Map for the local ASL runner: item readers, child executions in threads, the tolerated
failure threshold, and the result writer.

A distributed Map (``ItemProcessor.ProcessorConfig.Mode: DISTRIBUTED``) runs each item as a child
execution. Locally, children run in up to ``MaxConcurrency`` threads (``0`` or absent: one per item,
capped at ``LOCAL_MAX_CONCURRENCY``); each child has its own context object and transition count, as
in AWS, and a child's failure does not fail the Map unless the failures exceed
``ToleratedFailurePercentage``/``ToleratedFailureCount`` (``States.ExceedToleratedFailureThreshold``;
once exceeded, items not yet started are not started, as AWS stops the Map Run).

Supported: ``ItemReader`` with ``arn:aws:states:::s3:listObjectsV2`` (``Bucket``, ``Prefix``; items are
``{Key, Size, Etag, LastModified, StorageClass}``) or ``arn:aws:states:::s3:getObject`` with
``ReaderConfig.InputType: JSON`` (the object is a JSON array), ``ReaderConfig.MaxItems``; or
``ItemsPath``; ``ItemSelector``; ``MaxConcurrency(Path)``; ``ToleratedFailurePercentage(Path)`` and
``ToleratedFailureCount(Path)``; ``Label``; ``ResultWriter`` with ``arn:aws:states:::s3:putObject``
(``Bucket``, ``Prefix``), written in AWS's layout: ``<Prefix>/<map run id>/manifest.json`` and
``SUCCEEDED_0.json`` / ``FAILED_0.json``. S3 is whatever ``AslBuckets`` the runner was given (the local
runtime's bucket folder).

Not supported (refused at construction): ``ItemBatcher``, CSV/JSONL/manifest readers, ``ReaderConfig``
fields other than ``InputType`` and ``MaxItems``, ``WriterConfig``, and S3 readers or writers when the
runner has no ``AslBuckets``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tonearm.adapters.local.asl_paths import StatesError, apply_template, parse_path, read_path, runtime_error

S3_LIST_OBJECTS = re.compile(r"arn:aws[a-z-]*:states:::s3:listObjectsV2")
S3_GET_OBJECT = re.compile(r"arn:aws[a-z-]*:states:::s3:getObject")
S3_PUT_OBJECT = re.compile(r"arn:aws[a-z-]*:states:::s3:putObject")

#: the most threads one local Map Run uses, whatever MaxConcurrency says (AWS allows 10,000 children)
LOCAL_MAX_CONCURRENCY = 256

ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
EXCEED_TOLERATED_FAILURE = "States.ExceedToleratedFailureThreshold"


class AslBuckets(Protocol):
    """The S3 a local distributed Map reads items from and writes results to."""

    def list_objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``, in key order, shaped like an S3 listObjectsV2 ``Contents`` entry."""

    def get_object(self, bucket: str, key: str) -> bytes:
        """The object's bytes; raises ``KeyError`` if the bucket or the object does not exist."""

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; raises ``KeyError`` if the bucket does not exist."""


class FolderBuckets:
    """``AslBuckets`` on local folders: bucket name -> folder, object keys are paths below it."""

    def __init__(self, buckets: Mapping[str, Path]) -> None:
        self._roots = {name: root.resolve() for name, root in buckets.items()}

    def _root(self, bucket: str) -> Path:
        if bucket not in self._roots:
            raise KeyError(f"no local bucket {bucket!r} (known: {', '.join(sorted(self._roots))})")
        return self._roots[bucket]

    def _path(self, bucket: str, key: str) -> Path:
        root = self._root(bucket)
        path = (root / key).resolve()
        if not key or key.startswith("/") or not path.is_relative_to(root) or path == root:
            raise KeyError(f"invalid object key {key!r}")
        return path

    def list_objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        root = self._root(bucket)
        found = []
        for path in _files(root):
            key = path.relative_to(root).as_posix()
            if not key.startswith(prefix) or key.endswith(".part"):  # .part: a write in progress
                continue
            data = path.read_bytes()
            found.append(
                {
                    "Etag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
                    "Key": key,
                    "LastModified": int(path.stat().st_mtime),
                    "Size": len(data),
                    "StorageClass": "STANDARD",
                }
            )
        return sorted(found, key=lambda entry: str(entry["Key"]).encode())

    def get_object(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        if not path.is_file():
            raise KeyError(f"no object {key!r} in bucket {bucket!r}")
        return path.read_bytes()

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)


def _files(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file())


def is_distributed(state: Mapping[str, Any]) -> bool:
    """Whether a Map state is a distributed Map."""
    processor = state.get("ItemProcessor")
    if not isinstance(processor, dict):
        return False
    config = processor.get("ProcessorConfig")
    return isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"


def s3_fields(scope: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(state, field) of every ItemReader and ResultWriter in a definition, nested scopes included."""
    found: list[tuple[str, str]] = []
    for name, state in scope.get("States", {}).items():
        where = f"{prefix} > {name}" if prefix else name
        found += [(where, field) for field in ("ItemReader", "ResultWriter") if field in state]
        for index, branch in enumerate(state.get("Branches", [])):
            found += s3_fields(branch, f"{where} > Branches[{index}]")
        for inner in ("ItemProcessor", "Iterator"):
            if inner in state:
                found += s3_fields(state[inner], f"{where} > {inner}")
    return found


# ------------------------------------------------------------------------------------- reading items


def read_items(
    state: Mapping[str, Any], effective: Any, context: Any, buckets: AslBuckets | None
) -> list[Any]:
    """The Map's items: from its ItemReader, else from ItemsPath."""
    reader = state.get("ItemReader")
    if reader is None:
        selected = read_path(parse_path(state.get("ItemsPath", "$")), effective, context)
        if not isinstance(selected, list):
            raise runtime_error(f"ItemsPath must select an array, got {json.dumps(selected)[:200]}")
        return selected
    assert buckets is not None  # AslRunner refuses readers without buckets at construction
    parameters = apply_template(reader.get("Parameters", {}), effective, context)
    config = reader.get("ReaderConfig", {})
    bucket = parameters.get("Bucket")
    if not isinstance(bucket, str) or not bucket:
        raise StatesError(ITEM_READER_FAILED, f"ItemReader Bucket must be a non-empty string, got {bucket!r}")
    try:
        if S3_LIST_OBJECTS.fullmatch(reader["Resource"]):
            items: Any = buckets.list_objects(bucket, str(parameters.get("Prefix", "")))
        else:
            key = str(parameters.get("Key", ""))
            try:
                items = json.loads(buckets.get_object(bucket, key))
            except ValueError as exc:
                raise StatesError(ITEM_READER_FAILED, f"s3://{bucket}/{key} is not JSON: {exc}") from None
            if not isinstance(items, list):
                raise StatesError(ITEM_READER_FAILED, f"s3://{bucket}/{key} must hold a JSON array")
    except KeyError as exc:
        raise StatesError(ITEM_READER_FAILED, f"ItemReader: {exc.args[0]}") from None
    if "MaxItems" in config:
        items = items[: config["MaxItems"]]
    return list(items)


# --------------------------------------------------------------------------------- running children


@dataclass
class ChildOutcome:
    """One item's child execution."""

    index: int
    name: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    started: str = ""
    stopped: str = ""
    ran: bool = False

    @property
    def succeeded(self) -> bool:
        return self.ran and self.error is None


def _int_setting(state: Mapping[str, Any], field: str, effective: Any, context: Any) -> int | float | None:
    if field in state:
        value = state[field]
    elif f"{field}Path" in state:
        value = read_path(parse_path(state[f"{field}Path"]), effective, context)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise runtime_error(f"{field}Path must select a non-negative number, got {value!r}")
    else:
        return None
    return value


@dataclass(frozen=True)
class Limits:
    """How many children run at once, and how many may fail before the Map does."""

    concurrency: int
    tolerated_percent: float | None
    tolerated_count: int | None

    @classmethod
    def of(cls, state: Mapping[str, Any], effective: Any, context: Any, total: int) -> Limits:
        concurrency = _int_setting(state, "MaxConcurrency", effective, context) or 0
        percent = _int_setting(state, "ToleratedFailurePercentage", effective, context)
        if percent is not None and percent > 100:
            raise runtime_error(f"ToleratedFailurePercentage must be 0-100, got {percent}")
        count = _int_setting(state, "ToleratedFailureCount", effective, context)
        threads = min(int(concurrency) or total, total, LOCAL_MAX_CONCURRENCY)
        return cls(max(1, threads), percent, None if count is None else int(count))

    def exceeded(self, failed: int, total: int) -> bool:
        """Whether ``failed`` of ``total`` items is over the threshold (no setting: any failure is)."""
        if failed == 0:
            return False
        over_percent = self.tolerated_percent is not None and failed * 100 > self.tolerated_percent * total
        over_count = self.tolerated_count is not None and failed > self.tolerated_count
        if self.tolerated_percent is None and self.tolerated_count is None:
            return True
        return over_percent or over_count


def run_children(
    items: list[Any], limits: Limits, run_one: Callable[[ChildOutcome], None], *, thread_name: str
) -> tuple[list[ChildOutcome], bool]:
    """Run every item in at most ``limits.concurrency`` threads; return outcomes and whether the
    failure threshold was exceeded (then the items not yet started were never run)."""
    outcomes = [ChildOutcome(index, uuid.uuid4().hex, item) for index, item in enumerate(items)]
    if not outcomes:
        return outcomes, False
    stop = threading.Event()
    lock = threading.Lock()
    failed = 0

    def child(outcome: ChildOutcome) -> None:
        nonlocal failed
        if stop.is_set():
            return
        run_one(outcome)
        outcome.ran = True
        if outcome.error is not None:
            with lock:
                failed += 1
                if limits.exceeded(failed, len(outcomes)):
                    stop.set()

    with ThreadPoolExecutor(max_workers=limits.concurrency, thread_name_prefix=thread_name) as pool:
        pending: set[Future[None]] = {pool.submit(child, outcome) for outcome in outcomes}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # run_one records StatesErrors; anything else is a runner bug
    return outcomes, stop.is_set() or limits.exceeded(failed, len(outcomes))


# ---------------------------------------------------------------------------------- writing results


def _entry(outcome: ChildOutcome, map_run_arn: str, machine_arn: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ExecutionArn": f"{map_run_arn.replace(':mapRun:', ':execution:')}:{outcome.name}",
        "Input": json.dumps(outcome.input),
        "InputDetails": {"Included": True},
        "Name": outcome.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": outcome.started,
        "StateMachineArn": machine_arn,
        "Status": "SUCCEEDED" if outcome.succeeded else "FAILED",
        "StopDate": outcome.stopped,
    }
    if outcome.succeeded:
        entry |= {"Output": json.dumps(outcome.output), "OutputDetails": {"Included": True}}
    else:
        entry |= {"Error": outcome.error, "Cause": outcome.cause}
    return entry


def write_results(
    state: Mapping[str, Any],
    effective: Any,
    context: Any,
    buckets: AslBuckets | None,
    outcomes: list[ChildOutcome],
    *,
    map_run_arn: str,
    machine_arn: str,
) -> dict[str, Any]:
    """Write the ResultWriter's files; return the Map's result (``MapRunArn``, ``ResultWriterDetails``)."""
    assert buckets is not None
    parameters = apply_template(state["ResultWriter"].get("Parameters", {}), effective, context)
    bucket = parameters.get("Bucket")
    if not isinstance(bucket, str) or not bucket:
        raise StatesError(
            RESULT_WRITER_FAILED, f"ResultWriter Bucket must be a non-empty string, got {bucket!r}"
        )
    prefix = str(parameters.get("Prefix", "")).strip("/")
    folder = f"{prefix}/{map_run_arn.rsplit(':', 1)[-1]}" if prefix else map_run_arn.rsplit(":", 1)[-1]
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    groups = {
        "SUCCEEDED": [o for o in outcomes if o.succeeded],
        "FAILED": [o for o in outcomes if o.ran and not o.succeeded],
        "PENDING": [o for o in outcomes if not o.ran],
    }
    try:
        for status, group in groups.items():
            if not group:
                continue
            body = json.dumps([_entry(o, map_run_arn, machine_arn) for o in group]).encode()
            key = f"{folder}/{status}_0.json"
            buckets.put_object(bucket, key, body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
        buckets.put_object(bucket, f"{folder}/manifest.json", json.dumps(manifest).encode())
    except KeyError as exc:
        raise StatesError(RESULT_WRITER_FAILED, f"ResultWriter: {exc.args[0]}") from None
    return {
        "MapRunArn": map_run_arn,
        "ResultWriterDetails": {"Bucket": bucket, "Key": f"{folder}/manifest.json"},
    }
