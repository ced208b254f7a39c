"""``EventBus`` on EventBridge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class EventBridgePublishError(RuntimeError):
    """EventBridge accepted the call but rejected the entry."""


class EventBridgeBus:
    """PutEvents on the deployment's bus."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def put(self, *, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish one event; a rejected entry raises (PutEvents reports failures per entry)."""
        response = self.client.put_events(
            Entries=[
                {
                    "EventBusName": self.bus_name,
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(dict(detail)),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise EventBridgePublishError(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
