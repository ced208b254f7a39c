"""``JobStore`` on DynamoDB: one table (see template.yaml), jobs and applications as items.

Items: jobs ``pk = JOB#<id>`` with ``gsi1pk = APP#<app>``, ``gsi1sk = <createdAt>#<id>`` (index
``byApp`` lists an application's jobs newest first) and ``expiresAt`` for TTL; applications
``pk = KEY#<sha256 of the API key>`` and ``pk = APP#<id>``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from tonearm.jobs.model import Job, JobStatus
from tonearm.ports import Application

_INDEX = "byApp"


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoJobStore:
    """Jobs are stored as a JSON ``body`` plus the few attributes that are queried or conditioned on."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @staticmethod
    def _item(job: Job) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"JOB#{job.id}",
            "gsi1pk": f"APP#{job.app}",
            "gsi1sk": f"{job.created_at}#{job.id}",
            "status": job.status.value,
            "workflow": job.workflow,
            "body": job.model_dump_json(),
            "expiresAt": Decimal(job.expires_at),
        }
        if job.batch_name is not None:
            item["batchName"] = job.batch_name
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
    ) -> list[Job]:
        """Query the ``byApp`` index newest first, filter, and page by offset."""
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
        kwargs: dict[str, Any] = {
            "IndexName": _INDEX,
            "KeyConditionExpression": Key("gsi1pk").eq(f"APP#{app}"),
            "ScanIndexForward": False,
        }
        if condition is not None:
            kwargs["FilterExpression"] = condition
        jobs: list[Job] = []
        while len(jobs) < offset + limit:
            page = self.table.query(**kwargs)
            jobs.extend(Job.model_validate_json(i["body"]) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return jobs[offset : offset + limit]

    def put_application(self, app: Application) -> None:
        """Create or replace: one item by key hash (authentication), one by id (webhook settings)."""
        body = app.model_dump_json()
        with self.table.batch_writer() as batch:
            batch.put_item(Item={"pk": f"KEY#{app.key_sha256}", "body": body})
            batch.put_item(Item={"pk": f"APP#{app.id}", "body": body})

    def application_by_key_hash(self, key_sha256: str) -> Application | None:
        """Lookup by key hash."""
        item = self.table.get_item(Key={"pk": f"KEY#{key_sha256}"}).get("Item")
        return Application.model_validate(json.loads(item["body"])) if item else None

    def application_by_id(self, app_id: str) -> Application | None:
        """Lookup by id."""
        item = self.table.get_item(Key={"pk": f"APP#{app_id}"}).get("Item")
        return Application.model_validate(json.loads(item["body"])) if item else None
