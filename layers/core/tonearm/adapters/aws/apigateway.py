"""API Gateway API keys that mirror tonearm application keys, on the stack's usage plan.

The REST API takes its API key from the Lambda authorizer (``ApiKeySourceType: AUTHORIZER``): the
authorizer checks ``Authorization: <key>`` against the applications and hands the same value to API
Gateway, which then applies the usage plan's per-key throttling and quota. That value must therefore
also exist as an API Gateway API key on the usage plan, or every call is 403: ``tonearm app create``
registers it here in the same step as the application.
"""

from __future__ import annotations

import hashlib
from typing import Any


class UsagePlanKeys:
    """Creates API Gateway API keys and attaches them to one usage plan."""

    def __init__(self, client: Any, usage_plan_id: str) -> None:
        self.client = client
        self.usage_plan_id = usage_plan_id

    def register(self, *, app_id: str, key: str) -> str:
        """Create the API key ``key`` for application ``app_id`` on the usage plan; return its id."""
        # the name carries a digest of the key, never the key: it shows in the console and in logs
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        created = self.client.create_api_key(
            name=f"tonearm-{app_id}-{digest}",
            description=f"tonearm application {app_id}",
            enabled=True,
            value=key,
        )
        self.client.create_usage_plan_key(
            usagePlanId=self.usage_plan_id, keyId=created["id"], keyType="API_KEY"
        )
        return str(created["id"])
