"""``DeadLetterSink`` on SQS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class SqsDeadLetterSink:
    """Sends each dead letter as one JSON message."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, message: Mapping[str, Any]) -> None:
        """SendMessage."""
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(dict(message)))
