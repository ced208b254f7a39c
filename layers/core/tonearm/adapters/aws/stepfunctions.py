"""``Orchestrator`` on Step Functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError


class StepFunctionsOrchestrator:
    """Starts executions named after the job id, so a repeated start cannot run a job twice."""

    def __init__(self, client: Any, state_machine_arns: Mapping[str, str]) -> None:
        self.client = client
        self.arns = dict(state_machine_arns)

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        """StartExecution; ``ExecutionAlreadyExists`` means it was started already, which is fine."""
        try:
            arn = self.arns[state_machine]
        except KeyError:
            raise RuntimeError(f"no ARN configured for state machine {state_machine!r}") from None
        try:
            self.client.start_execution(
                stateMachineArn=arn, name=execution_name, input=json.dumps(dict(execution_input))
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
