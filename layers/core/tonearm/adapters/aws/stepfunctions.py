"""``Orchestrator`` on Step Functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError


class StepFunctionsOrchestrator:
    """Starts executions named after the job id, so a repeated start cannot run a job twice.

    The template names every workflow's state machine ``<stack>-<logical id>``, so one ARN prefix
    (``STATE_MACHINE_ARN_PREFIX``) addresses them all: adding a workflow adds no configuration here.
    """

    def __init__(self, client: Any, arn_prefix: str) -> None:
        self.client = client
        self.arn_prefix = arn_prefix

    def _machine_arn(self, state_machine: str) -> str:
        if not self.arn_prefix:
            raise RuntimeError("STATE_MACHINE_ARN_PREFIX is not set: the template sets it for this function")
        return f"{self.arn_prefix}{state_machine}"

    def execution_status(self, *, state_machine: str, execution_name: str) -> str | None:
        """DescribeExecution's status; ``None`` when no execution of that name exists."""
        # arn:aws:states:<region>:<account>:stateMachine:<name> -> ...:execution:<name>:<execution>
        execution_arn = self._machine_arn(state_machine).replace(":stateMachine:", ":execution:", 1)
        try:
            answer = self.client.describe_execution(executionArn=f"{execution_arn}:{execution_name}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise
        return str(answer["status"])

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        """StartExecution; ``ExecutionAlreadyExists`` means it was started already, which is fine."""
        arn = self._machine_arn(state_machine)
        try:
            self.client.start_execution(
                stateMachineArn=arn, name=execution_name, input=json.dumps(dict(execution_input))
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
