"""``Orchestrator`` for the local runtime: runs the real ASL files with the ASL runner, in threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from tonearm.adapters.local.asl import AslBuckets, AslRunner, ExecutionResult, TaskCallable, substitute

logger = logging.getLogger(__name__)

#: (logical id of a state machine) -> (ASL text, DefinitionSubstitutions)
DefinitionSource = Callable[[str], tuple[str, Mapping[str, str]]]
#: Told (state machine, execution name, input, outcome) when an execution ends, like Step Functions'
#: "Execution Status Change" events; the outcome is the result, or the exception that crashed it.
ExecutionListener = Callable[[str, str, Mapping[str, Any], "ExecutionResult | BaseException"], None]


class LocalOrchestrator:
    """Starts each execution once per name, like Step Functions' name-based idempotency."""

    def __init__(
        self,
        *,
        definitions: DefinitionSource,
        resolve_task: Callable[[str], TaskCallable],
        executor: Executor,
        sleep: Callable[[float], None] = time.sleep,
        on_finished: ExecutionListener | None = None,
        buckets: AslBuckets | None = None,
    ) -> None:
        self._sleep = sleep
        self._buckets = buckets  # the local bucket, for distributed Maps' ItemReader and ResultWriter
        self._on_finished = on_finished
        self._definitions = definitions
        self._resolve_task = resolve_task
        self._executor = executor
        self._lock = threading.Lock()
        self.executions: dict[str, Future[ExecutionResult]] = {}

    def runner(self, state_machine: str) -> AslRunner:
        """A runner for the state machine; raises if the definition uses unsupported ASL."""
        text, substitutions = self._definitions(state_machine)
        return AslRunner(
            substitute(text, substitutions), self._resolve_task, sleep=self._sleep, buckets=self._buckets
        )

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        """Validate the definition now (so a bad one fails the start), then run it in the background."""
        with self._lock:
            if execution_name in self.executions:
                return
            runner = self.runner(state_machine)
            future = self._executor.submit(
                runner.run,
                dict(execution_input),
                execution_name=execution_name,
                state_machine_name=state_machine,
            )
            self.executions[execution_name] = future
        future.add_done_callback(lambda f: self._finished(state_machine, execution_name, execution_input, f))

    def _finished(
        self, machine: str, name: str, execution_input: Mapping[str, Any], future: Future[ExecutionResult]
    ) -> None:
        exc = future.exception()
        outcome: ExecutionResult | BaseException = exc if exc is not None else future.result()
        if exc is not None:
            logger.error("execution %s crashed: %s", name, exc)
        elif future.result().status != "SUCCEEDED":
            logger.info("execution %s %s: %s", name, future.result().status, future.result().error)
        if self._on_finished is not None:
            self._on_finished(machine, name, execution_input, outcome)
