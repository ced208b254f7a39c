"""``Orchestrator`` for the local runtime: runs the real ASL files with the ASL runner, in threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from tonearm.adapters.local.asl import AslBuckets, AslRunner, ExecutionResult, TaskCallable, substitute
from tonearm.adapters.local.journal import JournalledExecution, RuntimeJournal

logger = logging.getLogger(__name__)

#: (logical id of a state machine) -> (ASL text, DefinitionSubstitutions)
DefinitionSource = Callable[[str], tuple[str, Mapping[str, str]]]
#: Told (state machine, execution name, input, outcome) when an execution ends, like Step Functions'
#: "Execution Status Change" events; the outcome is the result, or the exception that crashed it.
ExecutionListener = Callable[[str, str, Mapping[str, Any], "ExecutionResult | BaseException"], None]


class LocalOrchestrator:
    """Starts each execution once per name, like Step Functions' name-based idempotency.

    With a ``journal`` an execution is recorded before its thread starts and marked ended after its end
    was announced (``on_finished``), so one that a crash interrupted is known at the next start-up
    (:meth:`resume`), and a name used before the crash is still used.
    """

    def __init__(
        self,
        *,
        definitions: DefinitionSource,
        resolve_task: Callable[[str], TaskCallable],
        executor: Executor,
        sleep: Callable[[float], None] = time.sleep,
        on_finished: ExecutionListener | None = None,
        buckets: AslBuckets | None = None,
        journal: RuntimeJournal | None = None,
    ) -> None:
        self._journal = journal
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
            if self._journal is not None and not self._journal.begin_execution(
                execution_name, state_machine, execution_input
            ):
                return  # the name was used before a restart: recovery resumes it if it had not ended
            self._submit(runner, state_machine, execution_name, execution_input)

    def resume(self, execution: JournalledExecution) -> bool:
        """Run again, from its start, an execution a crash interrupted; ``False`` if it runs already.

        Step Functions would carry on from the state it was in; the local runner starts over, which the
        workflows allow: every task is idempotent by job id (a state change repeated is a no-op, outputs
        are written again under the same keys).
        """
        with self._lock:
            if execution.name in self.executions:
                return False
            runner = self.runner(execution.machine)
            self._submit(runner, execution.machine, execution.name, execution.execution_input)
            return True

    def execution_status(self, *, state_machine: str, execution_name: str) -> str | None:
        """``RUNNING`` while this process runs it (or it waits in the journal to be resumed), its
        outcome once it ended here, ``ENDED`` when an earlier process ended it, ``None`` if never started."""
        with self._lock:
            future = self.executions.get(execution_name)
        if future is not None:
            if not future.done():
                return "RUNNING"
            return "FAILED" if future.exception() is not None else future.result().status
        journalled = self._journal.execution(execution_name) if self._journal is not None else None
        if journalled is None:
            return None
        return "RUNNING" if journalled.status == "RUNNING" else "ENDED"

    def _submit(self, runner: AslRunner, machine: str, name: str, execution_input: Mapping[str, Any]) -> None:
        future = self._executor.submit(
            runner.run, dict(execution_input), execution_name=name, state_machine_name=machine
        )
        self.executions[name] = future
        future.add_done_callback(lambda f: self._finished(machine, name, execution_input, f))

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
        if self._journal is not None:  # after the end event is journalled: a crash between replays it
            self._journal.end_execution(name)
