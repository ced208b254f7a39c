"""Webhook subscriber: turns a job event into a signed delivery, or a dead letter with its attempts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tonearm.events.callbacks import callback_body
from tonearm.events.delivery import DeliveryResult, RetryPolicy, deliver_webhook
from tonearm.events.sealing import open_callback_secret, open_webhook_secret, sealer_of
from tonearm.jobs.model import Callback, Job, utc_now
from tonearm.jobs.service import DETAIL_TYPES, JobService
from tonearm.ports import DeadLetterSink, SecretSealer

#: Namespace of webhook ids: one job event, one id, however often the event is published or delivered.
_WEBHOOK_ID_NAMESPACE = uuid.UUID("0b6f3f5e-4a8e-4c1e-9d0e-7b1f2c9a5d31")


def webhook_message_id(event: Mapping[str, Any]) -> str:
    """The ``webhook-id`` of a job event: derived from the job id and the event's type, not the event id.

    A job ends once, so its ``Job Succeeded``/``Job Failed`` webhook has one id even when the event is
    published again (the local runtime replays the end of an execution a crash interrupted; in AWS a
    retried state-change task may publish twice) or delivered twice (EventBridge is at-least-once):
    receivers deduplicate on it, as Standard Webhooks asks.
    """
    detail = event.get("detail") or {}
    key = f"{detail.get('id', event.get('id', ''))}\n{event.get('detail-type', '')}"
    return f"msg_{uuid.uuid5(_WEBHOOK_ID_NAMESPACE, key).hex}"


def url_without_secrets(url: str) -> str:
    """``url`` without what may carry a credential: its query (a receiver's token), fragment and userinfo.

    What a dead letter records as the webhook's address.
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class WebhookService:
    """Delivers ``Job Succeeded``/``Job Failed`` events to the job's ``metadata.webhookUrl``.

    The URL falls back to the application's default; the signing secret is the application's.
    A job created with a callback (AcousticSense's ``/analyze-with-webhook``) is delivered to that
    callback instead: its body is the seed API's result shape and it is signed with the caller's secret.
    The webhook id is derived from the job and the event type (:func:`webhook_message_id`), so a
    redelivered or republished event carries the same ``webhook-id`` and receivers can deduplicate.

    Secrets are stored sealed (``tonearm.events.sealing``) and opened here, just before signing, with
    ``sealer`` (default: the one of the store that sealed them). A delivery that fails every attempt is
    dead-lettered as a reference to its job (id, status, event type, the URL without its query), never
    with the body: an application webhook's body carries signed download URLs.
    """

    def __init__(
        self,
        *,
        jobs: JobService,
        dead_letters: DeadLetterSink,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        sealer: SecretSealer | None = None,
    ) -> None:
        self.jobs = jobs
        self.dead_letters = dead_letters
        self.policy = policy
        self.sleep = sleep
        self.sealer = sealer if sealer is not None else sealer_of(jobs.store)

    def handle(self, event: Mapping[str, Any]) -> DeliveryResult | None:
        """Deliver one bus event; return ``None`` when there is nowhere to deliver it."""
        detail = dict(event["detail"])
        job = self.jobs.store.get(str(detail["id"]))
        if job is not None and job.callback is not None:
            return self._deliver_callback(job, job.callback, message_id=webhook_message_id(event))
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
        message_id = webhook_message_id(event)
        result = deliver_webhook(
            str(url),
            body,
            secret=open_webhook_secret(app, self.sealer),
            message_id=message_id,
            http=self.jobs.http,
            policy=self.policy,
            sleep=self.sleep,
        )
        if not result.delivered:
            self._dead_letter(
                str(detail["id"]), event.get("detail-type"), result, status=detail.get("status"), body=None
            )
        return result

    def _deliver_callback(self, job: Job, callback: Callback, *, message_id: str) -> DeliveryResult | None:
        if not job.status.terminal:
            return None
        body = callback_body(job)
        result = deliver_webhook(
            callback.url,
            body,
            secret=open_callback_secret(job, self.sealer).encode("utf-8"),
            message_id=message_id,
            http=self.jobs.http,
            policy=self.policy,
            sleep=self.sleep,
            # the caller's timeout: for each read, and for each attempt as a whole
            timeout_s=callback.timeout_s,
            deadline_s=callback.timeout_s,
        )
        if not result.delivered:
            # AcousticSense's body (genres, or the error) holds no URL and no secret: kept so the result
            # can be re-sent by hand
            self._dead_letter(
                job.id, DETAIL_TYPES[job.status], result, status=job.status.value, body=json.loads(body)
            )
        return result

    def _dead_letter(
        self,
        job_id: str,
        event_type: str | None,
        result: DeliveryResult,
        *,
        status: Any,
        body: dict[str, Any] | None,
    ) -> None:
        """Record a delivery that failed every attempt: a reference to the job, never a signed URL (the
        job, its results and fresh URLs are one ``GET /v1/job/{jobId}`` away while it is kept)."""
        letter: dict[str, Any] = {
            "kind": "webhook",
            "jobId": job_id,
            "status": status,
            "eventType": event_type,
            "deadLetteredAt": utc_now(),
            **result.to_dict(),
            "url": url_without_secrets(result.url),
        }
        if body is not None:
            letter["body"] = body
        self.dead_letters.send(letter)
