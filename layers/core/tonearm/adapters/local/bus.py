"""The local event bus: routes events to subscriber handlers by the template's rules, asynchronously."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from tonearm.adapters.local.journal import PendingDelivery, RuntimeJournal
from tonearm.adapters.local.patterns import matches, validate_pattern
from tonearm.jobs.model import utc_now

logger = logging.getLogger(__name__)

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "local-1"


@dataclass(frozen=True)
class Rule:
    """An EventBridge rule from the template: bus, pattern, and the function it targets.

    ``queue``: the rule targets that SQS queue, whose event source is ``target`` (IngestQueue ->
    IngestFunction). Locally the event goes straight to the function as a one-record SQS batch, and an
    item the function reports failed (``batchItemFailures``) is delivered again, up to
    ``max_receives`` times, as the queue's redrive policy would.
    """

    name: str
    bus: str
    pattern: Mapping[str, Any]
    target: str
    queue: str | None = None
    max_receives: int = 5

    def __post_init__(self) -> None:
        validate_pattern(self.pattern)


#: The pool a rule's target runs in: one per target function, as each Lambda function has its own
#: concurrency, so a slow webhook receiver never holds up the watchdog, ingest, or any execution.
ExecutorFor = Callable[[str], Executor]


class LocalBus:
    """``EventBus`` for one bus name; ``publish_raw`` also serves the default bus (S3 notifications).

    With a ``journal`` every (event, rule) pair is recorded before it is handed to a thread and forgotten
    when its target is done, so what a crash interrupted is delivered after the restart
    (:meth:`redeliver`): at least once, as EventBridge does, with the same event id.
    """

    def __init__(
        self,
        *,
        bus_name: str,
        rules: list[Rule],
        invoke: Callable[[str, dict[str, Any]], Any],
        executor: Executor | ExecutorFor,
        journal: RuntimeJournal | None = None,
    ) -> None:
        self.bus_name = bus_name
        self.rules = rules
        self._invoke = invoke
        self._executor_for: ExecutorFor = executor if callable(executor) else (lambda _target: executor)
        self._journal = journal

    def put(self, *, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish on this deployment's bus."""
        self.publish_raw(bus=self.bus_name, source=source, detail_type=detail_type, detail=detail)

    def publish_raw(
        self,
        *,
        bus: str,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        resources: list[str] | None = None,
    ) -> dict[str, Any]:
        """Wrap ``detail`` in the EventBridge envelope and deliver it to every matching rule's target."""
        event: dict[str, Any] = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": LOCAL_ACCOUNT,
            "time": utc_now()[:19] + "Z",
            "region": LOCAL_REGION,
            "resources": resources or [],
            # a JSON round trip so subscribers get plain data, as they would from EventBridge
            "detail": json.loads(json.dumps(detail)),
        }
        targets = [rule for rule in self.rules if rule.bus == bus and matches(rule.pattern, event)]
        deliveries = [
            PendingDelivery(id=f"{event['id']}/{rule.name}", rule=rule.name, event=event) for rule in targets
        ]
        if self._journal is not None:
            self._journal.add_deliveries(deliveries)
        for rule, delivery in zip(targets, deliveries, strict=True):
            self._executor_for(rule.target).submit(self._deliver, rule, event, delivery.id)
        return event

    def redeliver(self, delivery: PendingDelivery) -> bool:
        """Hand a journalled delivery to its target again; ``False`` if its rule no longer exists."""
        rule = next((r for r in self.rules if r.name == delivery.rule), None)
        if rule is None:
            logger.error("dropping delivery %s: no rule %s in the template", delivery.id, delivery.rule)
            if self._journal is not None:
                self._journal.finish_delivery(delivery.id)
            return False
        self._executor_for(rule.target).submit(self._deliver, rule, delivery.event, delivery.id)
        return True

    def _deliver(self, rule: Rule, event: dict[str, Any], delivery_id: str) -> None:
        try:
            if rule.queue is not None:
                self._deliver_through_queue(rule, event)
                return
            try:
                self._invoke(rule.target, event)
            except Exception:  # a failing subscriber must not take the bus down; AWS would retry then DLQ
                logger.exception("subscriber %s of rule %s failed", rule.target, rule.name)
        finally:
            if self._journal is not None:
                self._journal.finish_delivery(delivery_id)

    def _deliver_through_queue(self, rule: Rule, event: dict[str, Any]) -> None:
        message_id = str(uuid.uuid4())
        for receive in range(1, rule.max_receives + 1):
            batch = {
                "Records": [sqs_record(message_id, json.dumps(event), queue=str(rule.queue), receive=receive)]
            }
            try:
                answer = self._invoke(rule.target, batch)
            except Exception:
                logger.exception("subscriber %s of queue %s failed", rule.target, rule.queue)
                continue
            if not (isinstance(answer, dict) and answer.get("batchItemFailures")):
                return
            logger.warning("subscriber %s reported %s failed, receive %d", rule.target, message_id, receive)
        logger.error(
            "message %s of queue %s left after %d receives", message_id, rule.queue, rule.max_receives
        )


def sqs_record(message_id: str, body: str, *, queue: str, receive: int = 1) -> dict[str, Any]:
    """One record of a Lambda SQS event, as the event source mapping delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"local-{message_id}-{receive}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive),
            "SentTimestamp": "0",
            "SenderId": LOCAL_ACCOUNT,
            "ApproximateFirstReceiveTimestamp": "0",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{queue}",
        "awsRegion": LOCAL_REGION,
    }
