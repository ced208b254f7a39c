"""Webhook subscriber: turns a job event into a signed delivery, or a dead letter with its attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from tonearm.events.callbacks import callback_body
from tonearm.events.delivery import DeliveryResult, RetryPolicy, deliver_webhook
from tonearm.jobs.model import Callback, Job, utc_now
from tonearm.jobs.service import DETAIL_TYPES, JobService
from tonearm.ports import DeadLetterSink


class WebhookService:
    """Delivers ``Job Succeeded``/``Job Failed`` events to the job's ``metadata.webhookUrl``.

    The URL falls back to the application's default; the signing secret is the application's.
    A job created with a callback (AcousticSense's ``/analyze-with-webhook``) is delivered to that
    callback instead: its body is the seed API's result shape and it is signed with the caller's secret.
    The webhook id is derived from the EventBridge event id, so a redelivered event carries the
    same ``webhook-id`` and receivers can deduplicate.
    """

    def __init__(
        self,
        *,
        jobs: JobService,
        dead_letters: DeadLetterSink,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.jobs = jobs
        self.dead_letters = dead_letters
        self.policy = policy
        self.sleep = sleep

    def handle(self, event: Mapping[str, Any]) -> DeliveryResult | None:
        """Deliver one bus event; return ``None`` when there is nowhere to deliver it."""
        detail = dict(event["detail"])
        job = self.jobs.store.get(str(detail["id"]))
        if job is not None and job.callback is not None:
            return self._deliver_callback(job, job.callback, message_id=f"msg_{event.get('id', job.id)}")
        if detail.get("truncated"):
            if job is None:
                return None
            detail = self.jobs.view(job).model_dump(mode="json")
        app = self.jobs.store.application_by_id(str(detail.get("app", "")))
        metadata = detail.get("metadata") or {}
        url = metadata.get("webhookUrl") or (app.webhook_url if app else None)
        if not url or app is None or not app.webhook_secret:
            return None
        body = json.dumps(detail, separators=(",", ":"), sort_keys=True).encode()
        message_id = f"msg_{event.get('id', detail['id'])}"
        result = deliver_webhook(
            str(url),
            body,
            secret=app.webhook_secret,
            message_id=message_id,
            http=self.jobs.http,
            policy=self.policy,
            sleep=self.sleep,
        )
        if not result.delivered:
            self._dead_letter(str(detail["id"]), event.get("detail-type"), detail, result)
        return result

    def _deliver_callback(self, job: Job, callback: Callback, *, message_id: str) -> DeliveryResult | None:
        if not job.status.terminal:
            return None
        body = callback_body(job)
        result = deliver_webhook(
            callback.url,
            body,
            secret=callback.secret.encode("utf-8"),
            message_id=message_id,
            http=self.jobs.http,
            policy=self.policy,
            sleep=self.sleep,
            timeout_s=callback.timeout_s,
        )
        if not result.delivered:
            # the body is kept so the result can be re-sent by hand; the secret never is
            self._dead_letter(job.id, DETAIL_TYPES[job.status], json.loads(body), result)
        return result

    def _dead_letter(
        self, job_id: str, event_type: str | None, body: dict[str, Any], result: DeliveryResult
    ) -> None:
        self.dead_letters.send(
            {
                "kind": "webhook",
                "jobId": job_id,
                "eventType": event_type,
                "deadLetteredAt": utc_now(),
                "body": body,
                **result.to_dict(),
            }
        )
