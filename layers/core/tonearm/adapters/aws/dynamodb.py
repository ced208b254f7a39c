"""``JobStore`` on DynamoDB: one table (see template.yaml), jobs and applications as items.

Items: jobs ``pk = JOB#<id>`` with ``gsi1pk = APP#<app>#<shard>``, ``gsi1sk = <createdAt>#<id>`` and
``expiresAt`` for TTL; applications ``pk = KEY#<sha256 of the API key>`` and ``pk = APP#<id>``.

The sparse ``unfinished`` index (``openpk = OPEN#<shard>``, ``opensk = <createdAt>#<id>``, set only
while a job is QUEUED or STARTED) lets the watchdog find jobs left behind without a scan.

The ``byApp`` index lists an application's jobs newest first. Its partition key is spread over
``SHARDS`` shards (by job id): a drop of 10,000 files makes one application write thousands of jobs a
minute, and one partition key takes at most 1,000 writes a second, index writes included. The index
projects only what the list filters on (status, workflow, batchName): a status change rewrites a small
index entry, and a page's bodies are read from the table (BatchGetItem), fresh.
"""

from __future__ import annotations

import builtins
import hashlib
import heapq
import itertools
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from tonearm.jobs.model import Job, JobStatus
from tonearm.ports import Application

_INDEX = "byApp"
#: Sparse index of unfinished jobs: only QUEUED and STARTED jobs carry its keys (a job that ends is
#: rewritten without them), so the watchdog reads what is open, never the whole table.
_OPEN_INDEX = "unfinished"
#: Partitions of one application's index entries. Each listing queries all of them and merges.
SHARDS = 16


def _shard(job_id: str) -> int:
    return int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % SHARDS


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _newest(
    table: Any, partition: str, condition: Any, wanted: int, before: str | None = None
) -> list[dict[str, Any]]:
    """The first ``wanted`` index entries (``pk``, ``gsi1sk``) of one partition, newest first, filtered."""
    key: Any = Key("gsi1pk").eq(partition)
    if before is not None:  # keyset paging: only entries older than the previous page's last
        key = key & Key("gsi1sk").lt(before)
    kwargs: dict[str, Any] = {
        "IndexName": _INDEX,
        "KeyConditionExpression": key,
        "ScanIndexForward": False,
        "ProjectionExpression": "pk, gsi1sk",
    }
    if condition is not None:
        kwargs["FilterExpression"] = condition
    entries: list[dict[str, Any]] = []
    while len(entries) < wanted:
        page = table.query(**kwargs)
        entries.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return entries[:wanted]


def _bodies(table: Any, keys: list[str]) -> list[Job]:
    """The jobs ``keys`` (``JOB#<id>``) name, in that order; one BatchGetItem per 100 (its limit)."""
    found: dict[str, Job] = {}
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {
            table.name: {
                "Keys": [{"pk": k} for k in keys[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        while request:
            answer = table.meta.client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table.name, []):
                found[str(item["pk"])] = Job.model_validate_json(item["body"])
            request = answer.get("UnprocessedKeys") or {}
    # a job deleted between the index read and this one is left out
    return [found[k] for k in keys if k in found]


class DynamoJobStore:
    """Jobs are stored as a JSON ``body`` plus the few attributes that are queried or conditioned on."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @staticmethod
    def _item(job: Job) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"JOB#{job.id}",
            "gsi1pk": f"APP#{job.app}#{_shard(job.id)}",
            "gsi1sk": f"{job.created_at}#{job.id}",
            "status": job.status.value,
            "workflow": job.workflow,
            "body": job.model_dump_json(),
            "expiresAt": Decimal(job.expires_at),
        }
        if job.batch_name is not None:
            item["batchName"] = job.batch_name
        if not job.status.terminal:
            item["openpk"] = f"OPEN#{_shard(job.id)}"
            item["opensk"] = f"{job.created_at}#{job.id}"
        return item

    def create(self, job: Job) -> bool:
        """Conditional put: an existing id is left alone (idempotent ingest)."""
        try:
            self.table.put_item(Item=self._item(job), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get(self, job_id: str) -> Job | None:
        """Strongly consistent read."""
        item = self.table.get_item(Key={"pk": f"JOB#{job_id}"}, ConsistentRead=True).get("Item")
        return Job.model_validate_json(item["body"]) if item else None

    def replace(self, job: Job, *, expected_status: JobStatus) -> bool:
        """Put conditioned on the stored status (compare-and-set)."""
        try:
            self.table.put_item(
                Item=self._item(job),
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":expected": expected_status.value},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def delete(self, job_id: str) -> bool:
        """Delete; whether it existed."""
        response = self.table.delete_item(Key={"pk": f"JOB#{job_id}"}, ReturnValues="ALL_OLD")
        return "Attributes" in response

    def list(
        self,
        *,
        app: str,
        statuses: list[JobStatus],
        workflows: list[str],
        batch_name: str | None,
        offset: int,
        limit: int,
        older_than: tuple[str, str] | None = None,
    ) -> list[Job]:
        """Query every shard of the ``byApp`` index newest first, filter, merge, page by offset, then read
        the page's jobs from the table."""
        clauses: list[Any] = []
        if statuses:
            clauses.append(Attr("status").is_in([s.value for s in statuses]))
        if workflows:
            clauses.append(Attr("workflow").is_in(workflows))
        if batch_name is not None:
            clauses.append(Attr("batchName").eq(batch_name))
        condition = None
        for clause in clauses:
            condition = clause if condition is None else condition & clause
        wanted = offset + limit
        # each shard's first `wanted` entries hold the merged first `wanted` (every shard is sorted)
        before = None if older_than is None else f"{older_than[0]}#{older_than[1]}"
        shards = [
            _newest(self.table, f"APP#{app}#{shard}", condition, wanted, before) for shard in range(SHARDS)
        ]
        merged = heapq.merge(*shards, key=lambda entry: str(entry["gsi1sk"]), reverse=True)
        page = [str(entry["pk"]) for entry in itertools.islice(merged, offset, wanted)]
        return _bodies(self.table, page)

    def unfinished(self, *, created_before: str, limit: int) -> builtins.list[Job]:
        """Query every shard of the sparse ``unfinished`` index oldest first, merge, then read the bodies."""
        shards: list[list[dict[str, Any]]] = []
        for shard in range(SHARDS):
            key = Key("openpk").eq(f"OPEN#{shard}") & Key("opensk").lt(created_before)
            kwargs: dict[str, Any] = {
                "IndexName": _OPEN_INDEX,
                "KeyConditionExpression": key,
                "ScanIndexForward": True,
                "ProjectionExpression": "pk, opensk",
                "Limit": limit,
            }
            shards.append(self.table.query(**kwargs).get("Items", []))
        merged = heapq.merge(*shards, key=lambda entry: str(entry["opensk"]))
        keys = [str(entry["pk"]) for entry in itertools.islice(merged, limit)]
        return [job for job in _bodies(self.table, keys) if not job.status.terminal]

    def put_application(self, app: Application) -> None:
        """Create or replace: one item by key hash (authentication), one by id (webhook settings); a new
        key also counts in ``META#keys`` (what ``count_keys`` reads: no scan of the table)."""
        body = app.model_dump_json()
        old = self.table.put_item(Item={"pk": f"KEY#{app.key_sha256}", "body": body}, ReturnValues="ALL_OLD")
        self.table.put_item(Item={"pk": f"APP#{app.id}", "body": body})
        if "Attributes" not in old:
            self.table.update_item(
                Key={"pk": "META#keys"},
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": "count"},
                ExpressionAttributeValues={":one": 1},
            )

    def count_keys(self) -> int:
        """The ``META#keys`` counter."""
        item = self.table.get_item(Key={"pk": "META#keys"}).get("Item")
        return int(item["count"]) if item else 0

    def application_by_key_hash(self, key_sha256: str) -> Application | None:
        """Lookup by key hash."""
        item = self.table.get_item(Key={"pk": f"KEY#{key_sha256}"}).get("Item")
        return Application.model_validate(json.loads(item["body"])) if item else None

    def application_by_id(self, app_id: str) -> Application | None:
        """Lookup by id."""
        item = self.table.get_item(Key={"pk": f"APP#{app_id}"}).get("Item")
        return Application.model_validate(json.loads(item["body"])) if item else None


class DynamoRateCounter:
    """``RateCounter`` in the jobs table: ``pk = RATE#<client>#<window s>#<window start>``, expiring by TTL.

    One conditional ``UpdateItem`` per request and window: ``ADD`` when below the limit, refused
    (``ConditionalCheckFailed``) when full, so concurrent Lambda instances never count past it.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def add(self, client: str, *, window_s: int, window_start: int, limit: int) -> int | None:
        """The window's new count, or ``None`` when it already holds ``limit`` requests."""
        try:
            answer = self.table.update_item(
                Key={"pk": f"RATE#{client}#{window_s}#{window_start}"},
                UpdateExpression="ADD #n :one SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "requests"},
                ExpressionAttributeValues={
                    ":one": 1,
                    ":limit": limit,
                    # DynamoDB deletes expired items within days: the key's window start keeps them apart
                    ":expires": window_start + window_s + 60,
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return int(answer["Attributes"]["requests"])
