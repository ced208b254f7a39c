"""A local interpreter for AWS Step Functions state machines (Amazon States Language, JSONPath).

The local runtime executes the project's real ``statemachines/*.asl.json`` with it; Task resources
resolve to in-process Python callables (the same Lambda handlers that run in AWS). The whole
definition is validated when an ``AslRunner`` is built (see ``asl_validate``): anything the runner
cannot execute faithfully is rejected then, naming the state and the field, never skipped.

Supported: Task, Pass, Choice, Wait, Succeed, Fail, Parallel, inline Map and distributed Map states
(``asl_map``: ItemReader over S3 listObjectsV2 or a JSON object, ResultWriter, tolerated failures, child
executions in threads, on the ``AslBuckets`` the runner is given); InputPath,
Parameters (paths, ``$$`` context paths, intrinsic functions), ResultSelector, ResultPath and
OutputPath; Retry (backoff, MaxDelaySeconds, jitter) and Catch; Task resources that are Lambda
function ARNs or ``arn:aws:states:::lambda:invoke`` (request-response), with TimeoutSeconds(Path).

Rejected: JSONata, workflow variables (Assign), heartbeats, Credentials, ItemBatcher, a distributed
Map's S3 reader or writer when the runner has no buckets, and every other Task resource (``.sync``,
``.waitForTaskToken``, other services, activities).

Modules: ``asl`` (this one, the interpreter and public API), ``asl_validate`` (construction-time
checks and the two errors), ``asl_paths`` (JSONPath, payload templates, intrinsic functions),
``asl_choice`` (Choice rules) and ``asl_lambda`` (calling a function the way Lambda does).

Where this differs from the cloud, deliberately:

- Parallel branches and inline Map iterations run one after another; MaxConcurrency is accepted.
  A distributed Map's children do run concurrently, in up to MaxConcurrency threads.
- Time is virtual: real time plus whatever the injected ``sleep`` was asked to wait, so tests can
  skip waits. The top-level ``TimeoutSeconds`` is enforced at every state entry and exit against
  that clock (the execution fails with ``States.Timeout``); it cannot interrupt a running task.
- A Task ``TimeoutSeconds`` runs the callable in a daemon worker thread. On timeout the state fails
  with ``States.Timeout``, but Python cannot kill the thread: it finishes in the background.
- States.Runtime, States.IntrinsicFailure, States.NoChoiceMatched and States.DataLimitExceeded are
  terminal, as AWS reports them: no Retry or Catch handles them.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tonearm.adapters.local.asl_choice import rule_matches
from tonearm.adapters.local.asl_lambda import (
    TIMEOUT,
    TaskCallable,
    invoke_function,
    invoke_response,
    json_copy,
)
from tonearm.adapters.local.asl_map import (
    EXCEED_TOLERATED_FAILURE,
    AslBuckets,
    ChildOutcome,
    Limits,
    is_distributed,
    read_items,
    run_children,
    s3_fields,
    write_results,
)
from tonearm.adapters.local.asl_paths import (
    DATA_LIMIT_EXCEEDED,
    INTRINSIC_FAILURE,
    NO_CHOICE_MATCHED,
    RUNTIME,
    StatesError,
    apply_template,
    evaluate_text,
    parse_path,
    parse_timestamp,
    read_path,
    runtime_error,
    to_json,
    write_path,
)
from tonearm.adapters.local.asl_validate import (
    LAMBDA_INVOKE,
    AslDefinitionError,
    AslError,
    UnsupportedAslError,
    validate_definition,
)
from tonearm.errors import ParameterError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_TRANSITIONS",
    "AslBuckets",
    "AslDefinitionError",
    "AslError",
    "AslRunner",
    "ExecutionResult",
    "HistoryEvent",
    "TaskCallable",
    "UnsupportedAslError",
    "substitute",
]

MAX_TRANSITIONS = 25_000  # AWS's execution history limit, as a guard against infinite loops
MAX_PAYLOAD_BYTES = 256 * 1024  # AWS's limit on any state's input or output
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f]{1,80}")


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of an execution's history, shaped after Step Functions' GetExecutionHistory."""

    type: str
    state: str | None
    timestamp: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionResult:
    """The outcome of one execution: ``status`` is ``SUCCEEDED`` or ``FAILED``."""

    status: str
    output: Any | None
    error: str | None
    cause: str | None
    history: list[HistoryEvent]

    @property
    def succeeded(self) -> bool:
        """True when the execution succeeded."""
        return self.status == "SUCCEEDED"


def substitute(definition_text: str, substitutions: Mapping[str, str]) -> str:
    """Replace ``${Name}`` placeholders like SAM's ``DefinitionSubstitutions``.

    Raises ``AslDefinitionError`` listing any placeholder left without a substitution.
    """
    missing: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in substitutions:
            return substitutions[name]
        missing.add(name)
        return match.group(0)

    text = _PLACEHOLDER.sub(replace, definition_text)
    if missing:
        names = ", ".join(f"${{{name}}}" for name in sorted(missing))
        raise AslDefinitionError(f"State machine: unsubstituted placeholder(s) {names}")
    return text


@dataclass(frozen=True)
class _Settings:
    resolve_task: Callable[[str], TaskCallable]
    sleep: Callable[[float], None]
    on_event: Callable[[HistoryEvent], None] | None
    rng: random.Random
    timeout_scale: float
    max_transitions: int
    max_payload_bytes: int | None
    execution_timeout: int | None
    buckets: AslBuckets | None = None


class AslRunner:
    """Runs one state machine definition; reusable, and safe to run from several threads at once."""

    def __init__(
        self,
        definition: dict[str, Any] | str,
        resolve_task: Callable[[str], TaskCallable],
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[HistoryEvent], None] | None = None,
        rng: random.Random | None = None,
        timeout_scale: float = 1.0,
        max_transitions: int = MAX_TRANSITIONS,
        max_payload_bytes: int | None = MAX_PAYLOAD_BYTES,
        buckets: AslBuckets | None = None,
    ) -> None:
        """Validate ``definition`` (raising ``AslDefinitionError``/``UnsupportedAslError``).

        ``resolve_task`` maps a Lambda ARN (or a lambda:invoke ``FunctionName``) to a callable; it is
        called at run time, each time a task runs. ``sleep`` performs Wait states and retry delays;
        ``on_event`` sees every history event as it happens; ``rng`` drives FULL retry jitter;
        ``timeout_scale`` multiplies Task TimeoutSeconds (tests use a small factor);
        ``max_transitions`` stops runaway loops (``States.Runtime``); ``max_payload_bytes`` is the
        per-state data limit (``States.DataLimitExceeded``; None disables it); ``buckets`` is the S3
        a distributed Map's ItemReader and ResultWriter use (without it, a definition that has one is
        refused).
        """
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except json.JSONDecodeError as exc:
                raise AslDefinitionError(f"State machine: the definition is not valid JSON: {exc}") from None
        try:
            # A private JSON copy: later changes to the caller's dict cannot affect the runner.
            self._definition: dict[str, Any] = json.loads(json.dumps(validate_definition(definition)))
        except (TypeError, ValueError) as exc:
            raise AslDefinitionError(f"State machine: the definition is not JSON data: {exc}") from None
        if buckets is None:
            for state, field in s3_fields(self._definition):
                raise UnsupportedAslError(
                    f"State '{state}', field '{field}': reads or writes S3, and this runner has no local "
                    "buckets (AslRunner(buckets=...))",
                    state=state,
                    field=field,
                )
        self._settings = _Settings(
            resolve_task=resolve_task,
            sleep=sleep,
            on_event=on_event,
            rng=rng or random.Random(),
            timeout_scale=timeout_scale,
            max_transitions=max_transitions,
            max_payload_bytes=max_payload_bytes,
            execution_timeout=self._definition.get("TimeoutSeconds"),
            buckets=buckets,
        )

    @property
    def definition(self) -> dict[str, Any]:
        """The validated definition (a copy; changing it does not affect the runner)."""
        copy: dict[str, Any] = json.loads(json.dumps(self._definition))
        return copy

    def run(
        self, execution_input: Any, *, execution_name: str | None = None, state_machine_name: str = "local"
    ) -> ExecutionResult:
        """Execute the state machine to completion and return its outcome and history.

        State failures never raise: they come back as a ``FAILED`` result. An input that is not
        JSON-serialisable, too large, or a malformed name raises ``ParameterError``, as
        StartExecution would reject it.
        """
        name = execution_name if execution_name is not None else str(uuid.uuid4())
        for label, value in (("execution name", name), ("state machine name", state_machine_name)):
            if not _NAME.fullmatch(value):
                raise ParameterError(f"invalid {label} {value!r}: 1-80 characters, no whitespace or symbols")
        try:
            data = json_copy(execution_input)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"the execution input is not JSON-serialisable: {exc}") from None
        limit = self._settings.max_payload_bytes
        if limit is not None and len(to_json(data).encode()) > limit:
            raise ParameterError(f"the execution input is larger than {limit} bytes")
        return _Execution(self._settings, name, state_machine_name, data).execute(self._definition)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Clock:
    """Execution time as AWS would see it: real time plus waits that the injected sleep may skip."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._wall_start = datetime.now(UTC)
        self._start = time.monotonic()
        self._skipped = 0.0  # requested sleep time the injected sleep did not really spend

    def sleep(self, seconds: float) -> None:
        before = time.monotonic()
        self._sleep(seconds)
        self._skipped += max(0.0, seconds - (time.monotonic() - before))

    def elapsed(self) -> float:
        return time.monotonic() - self._start + self._skipped

    def now(self) -> datetime:
        return self._wall_start + timedelta(seconds=self.elapsed())


class _ExecutionTimedOut(StatesError):
    """The top-level TimeoutSeconds elapsed; nothing inside the execution can handle it."""

    def __init__(self, seconds: int) -> None:
        super().__init__(TIMEOUT, f"The execution exceeded its TimeoutSeconds of {seconds}", terminal=True)


StateOutcome = tuple[Any, str | None]  # (output, next state name or None when the scope ends)


class _Execution:
    """The mutable state of one run: clock, history, transition count and context object."""

    def __init__(self, settings: _Settings, name: str, machine_name: str, execution_input: Any) -> None:
        self.settings = settings
        self.clock = _Clock(settings.sleep)
        self.history: list[HistoryEvent] = []
        self.transitions = 0
        self.input = execution_input
        prefix = f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}"
        self.execution_context = {
            "Id": f"{prefix}:execution:{machine_name}:{name}",
            "Input": execution_input,
            "Name": name,
            "RoleArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:role/tonearm-local-stepfunctions",
            "StartTime": _iso(self.clock.now()),
            "RedriveCount": 0,
        }
        self.machine_context = {"Id": f"{prefix}:stateMachine:{machine_name}", "Name": machine_name}
        self.handlers: dict[str, Callable[[str, dict[str, Any], Any, datetime], StateOutcome]] = {
            "Pass": self.run_pass,
            "Task": self.run_task,
            "Choice": self.run_choice,
            "Wait": self.run_wait,
            "Succeed": self.run_succeed,
            "Fail": self.run_fail,
            "Parallel": self.run_parallel,
            "Map": self.run_map,
        }

    # ------------------------------------------------------------------------------ execution and scopes

    def execute(self, definition: dict[str, Any]) -> ExecutionResult:
        detail = {"input": self.input, "executionArn": self.execution_context["Id"]}
        self.emit("ExecutionStarted", None, detail)
        try:
            output = self.run_scope(definition, self.input)
        except StatesError as err:
            kind = "ExecutionTimedOut" if isinstance(err, _ExecutionTimedOut) else "ExecutionFailed"
            self.emit(kind, err.state, {"error": err.error, "cause": err.cause})
            return ExecutionResult("FAILED", None, err.error, err.cause, self.history)
        self.emit("ExecutionSucceeded", None, {"output": output})
        return ExecutionResult("SUCCEEDED", output, None, None, self.history)

    def run_scope(self, scope: dict[str, Any], scope_input: Any) -> Any:
        """Run a StartAt/States machine (the top level, a branch or a Map iteration) to its end."""
        name: str | None = scope["StartAt"]
        data = scope_input
        while name is not None:
            data, name = self.run_state(name, scope["States"][name], data)
        return data

    def run_state(self, name: str, state: dict[str, Any], raw_input: Any) -> StateOutcome:
        self.enter_state()
        entered = self.clock.now()
        kind = state["Type"]
        self.emit(f"{kind}StateEntered", name, {"input": raw_input})
        try:
            output, next_name = self.handlers[kind](name, state, raw_input, entered)
            self.check_size(output, f"the output of state '{name}'")
            self.check_deadline()
        except StatesError as err:
            _locate(err, name)
            raise
        self.emit(f"{kind}StateExited", name, {"output": output})
        return output, next_name

    def enter_state(self) -> None:
        self.transitions += 1
        if self.transitions > self.settings.max_transitions:
            raise runtime_error(
                f"The execution exceeded {self.settings.max_transitions} state transitions "
                "(the AWS history limit); is there an infinite loop?"
            )
        self.check_deadline()

    def check_deadline(self) -> None:
        limit = self.settings.execution_timeout
        if limit is not None and self.clock.elapsed() > limit:
            raise _ExecutionTimedOut(limit)

    def check_size(self, value: Any, what: str) -> None:
        limit = self.settings.max_payload_bytes
        if limit is None:
            return
        size = len(to_json(value).encode())
        if size > limit:
            raise StatesError(DATA_LIMIT_EXCEEDED, f"{what} is {size} bytes, over the {limit}-byte limit")

    def emit(self, kind: str, state: str | None, detail: dict[str, Any]) -> None:
        event = HistoryEvent(kind, state, _iso(self.clock.now()), detail)
        self.history.append(event)
        if self.settings.on_event is not None:
            self.settings.on_event(event)

    def context(
        self, name: str, entered: datetime, retry_count: int = 0, item: tuple[int, Any] | None = None
    ) -> dict[str, Any]:
        """The context object (``$$``) as a state sees it."""
        context: dict[str, Any] = {
            "Execution": self.execution_context,
            "StateMachine": self.machine_context,
            "State": {"EnteredTime": _iso(entered), "Name": name, "RetryCount": retry_count},
        }
        if item is not None:
            context["Map"] = {"Item": {"Index": item[0], "Value": item[1]}}
        return context

    # ------------------------------------------------------------------------------ input/output processing

    def effective_input(self, state: dict[str, Any], raw_input: Any, context: Any) -> Any:
        """InputPath: absent selects everything, null selects nothing (``{}``)."""
        return _select(state, "InputPath", raw_input, context)

    def parameters(self, state: dict[str, Any], effective: Any, context: Any) -> Any:
        if "Parameters" not in state:
            return effective
        built = apply_template(state["Parameters"], effective, context)
        self.check_size(built, "the input after Parameters")
        return built

    def finish(self, state: dict[str, Any], raw_input: Any, result: Any, context: Any) -> Any:
        """ResultSelector, then ResultPath (into the raw input), then OutputPath."""
        if "ResultSelector" in state:
            result = apply_template(state["ResultSelector"], result, context)
        combined = _place_result(state.get("ResultPath", "$"), raw_input, result)
        return _select(state, "OutputPath", combined, context)

    # ------------------------------------------------------------------------------------- state types

    def run_pass(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        context = self.context(name, entered)
        effective = self.effective_input(state, raw_input, context)
        result = state["Result"] if "Result" in state else self.parameters(state, effective, context)
        return self.finish(state, raw_input, result, context), state.get("Next")

    def run_succeed(
        self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime
    ) -> StateOutcome:
        context = self.context(name, entered)
        effective = self.effective_input(state, raw_input, context)
        return _select(state, "OutputPath", effective, context), None

    def run_fail(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        context = self.context(name, entered)
        error = _fail_field(state, "Error", raw_input, context)
        cause = _fail_field(state, "Cause", raw_input, context)
        raise StatesError(error, cause)

    def run_choice(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        context = self.context(name, entered)
        effective = self.effective_input(state, raw_input, context)
        target = next(
            (rule["Next"] for rule in state["Choices"] if rule_matches(rule, effective, context)),
            state.get("Default"),
        )
        if target is None:
            raise StatesError(
                NO_CHOICE_MATCHED, f"No choice rule matched and there is no Default in '{name}'"
            )
        return _select(state, "OutputPath", effective, context), target

    def run_wait(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        context = self.context(name, entered)
        effective = self.effective_input(state, raw_input, context)
        seconds = self.wait_seconds(state, effective, context)
        if seconds > 0:
            self.clock.sleep(seconds)
        return _select(state, "OutputPath", effective, context), state.get("Next")

    def wait_seconds(self, state: dict[str, Any], effective: Any, context: Any) -> float:
        if "Seconds" in state:
            return float(state["Seconds"])
        if "SecondsPath" in state:
            seconds = read_path(parse_path(state["SecondsPath"]), effective, context)
            if not _is_int(seconds) or seconds < 0:
                raise runtime_error(f"SecondsPath must select a non-negative integer, got {seconds!r}")
            return float(seconds)
        if "Timestamp" in state:
            text = state["Timestamp"]
        else:
            text = read_path(parse_path(state["TimestampPath"]), effective, context)
        moment = parse_timestamp(text)
        if moment is None:
            raise runtime_error(f"TimestampPath must select an RFC 3339 timestamp, got {text!r}")
        return (moment - self.clock.now()).total_seconds()

    def run_task(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        def attempt(retry_count: int) -> Any:
            context = self.context(name, entered, retry_count)
            effective = self.effective_input(state, raw_input, context)
            parameters = self.parameters(state, effective, context)
            timeout = _task_timeout(state, effective, context)
            result = self.invoke(name, state["Resource"], parameters, timeout)
            return self.finish(state, raw_input, result, context)

        return self.with_error_handling(name, state, raw_input, attempt)

    def run_parallel(
        self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime
    ) -> StateOutcome:
        def attempt(retry_count: int) -> Any:
            context = self.context(name, entered, retry_count)
            effective = self.effective_input(state, raw_input, context)
            branch_input = self.parameters(state, effective, context)
            self.emit("ParallelStateStarted", name, {})
            try:
                results = [self.run_scope(branch, branch_input) for branch in state["Branches"]]
            except StatesError as err:
                self.emit("ParallelStateFailed", name, {"error": err.error, "cause": err.cause})
                raise
            self.emit("ParallelStateSucceeded", name, {})
            return self.finish(state, raw_input, results, context)

        return self.with_error_handling(name, state, raw_input, attempt)

    def run_map(self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime) -> StateOutcome:
        if is_distributed(state):
            return self.run_distributed_map(name, state, raw_input, entered)

        def attempt(retry_count: int) -> Any:
            context = self.context(name, entered, retry_count)
            effective = self.effective_input(state, raw_input, context)
            items = read_path(parse_path(state.get("ItemsPath", "$")), effective, context)
            if not isinstance(items, list):
                raise runtime_error(f"ItemsPath must select an array, got {to_json(items)[:200]}")
            _check_max_concurrency(state, effective, context)
            self.emit("MapStateStarted", name, {"length": len(items)})
            try:
                results = [
                    self.run_iteration(name, state, index, item, effective, (entered, retry_count))
                    for index, item in enumerate(items)
                ]
            except StatesError as err:
                self.emit("MapStateFailed", name, {"error": err.error, "cause": err.cause})
                raise
            self.emit("MapStateSucceeded", name, {})
            return self.finish(state, raw_input, results, context)

        return self.with_error_handling(name, state, raw_input, attempt)

    def run_iteration(
        self,
        name: str,
        state: dict[str, Any],
        index: int,
        item: Any,
        effective: Any,
        entry: tuple[datetime, int],
    ) -> Any:
        # ItemSelector (or the legacy Parameters) sees the Map's effective input as `$`, the item as `$$.Map`.
        selector = state.get("ItemSelector", state.get("Parameters"))
        if selector is not None:
            item = apply_template(selector, effective, self.context(name, *entry, item=(index, item)))
        self.emit("MapIterationStarted", name, {"index": index})
        try:
            output = self.run_scope(state.get("ItemProcessor") or state["Iterator"], item)
        except StatesError as err:
            self.emit("MapIterationFailed", name, {"index": index, "error": err.error, "cause": err.cause})
            raise
        self.emit("MapIterationSucceeded", name, {"index": index})
        return output

    def run_distributed_map(
        self, name: str, state: dict[str, Any], raw_input: Any, entered: datetime
    ) -> StateOutcome:
        """Each item runs as a child execution (``asl_map``), in up to MaxConcurrency threads."""
        machine_arn = self.machine_context["Id"]
        processor = state["ItemProcessor"]
        selector = state.get("ItemSelector", state.get("Parameters"))

        def attempt(retry_count: int) -> Any:
            context = self.context(name, entered, retry_count)
            effective = self.effective_input(state, raw_input, context)
            items = read_items(state, effective, context, self.settings.buckets)
            limits = Limits.of(state, effective, context, len(items))
            label = state.get("Label", name).replace(" ", "_")[:40]
            run_id = f"{label}:{uuid.uuid4()}"
            map_run_arn = machine_arn.replace(":stateMachine:", ":mapRun:") + f"/{run_id}"
            self.emit("MapRunStarted", name, {"mapRunArn": map_run_arn, "length": len(items)})

            def run_one(outcome: ChildOutcome) -> None:
                item = outcome.input
                if selector is not None:
                    item_context = self.context(name, entered, retry_count, item=(outcome.index, item))
                    item = apply_template(selector, effective, item_context)
                outcome.input = item
                child = _Execution(self.settings, outcome.name, self.machine_context["Name"], item)
                outcome.started = _iso(self.clock.now())
                self.emit("MapIterationStarted", name, {"index": outcome.index})
                try:
                    outcome.output = child.run_scope(processor, item)
                except StatesError as err:
                    outcome.error, outcome.cause = err.error, err.cause
                    detail = {"index": outcome.index, "error": err.error, "cause": err.cause}
                    self.emit("MapIterationFailed", name, detail)
                else:
                    self.emit("MapIterationSucceeded", name, {"index": outcome.index})
                outcome.stopped = _iso(self.clock.now())

            outcomes, exceeded = run_children(items, limits, run_one, thread_name=f"asl-map-{label}")
            if "ResultWriter" in state:
                result: Any = write_results(
                    state,
                    effective,
                    context,
                    self.settings.buckets,
                    outcomes,
                    map_run_arn=map_run_arn,
                    machine_arn=machine_arn,
                )
            else:
                result = [o.output if o.succeeded else {"Error": o.error, "Cause": o.cause} for o in outcomes]
            failed = sum(1 for o in outcomes if o.ran and not o.succeeded)
            if exceeded:
                cause = f"The Map Run {map_run_arn} had {failed} failed item(s) of {len(items)}: too many"
                self.emit("MapRunFailed", name, {"error": EXCEED_TOLERATED_FAILURE, "cause": cause})
                raise StatesError(EXCEED_TOLERATED_FAILURE, cause)
            self.emit("MapRunSucceeded", name, {"failed": failed, "length": len(items)})
            return self.finish(state, raw_input, result, context)

        return self.with_error_handling(name, state, raw_input, attempt)

    # ---------------------------------------------------------------------------------------- tasks

    def invoke(self, name: str, resource: str, parameters: Any, timeout: int | None) -> Any:
        """Call the task's function; lambda:invoke wraps the result as the Lambda Invoke API does."""
        if not LAMBDA_INVOKE.fullmatch(resource):
            return self.call_function(name, resource, resource, parameters, timeout)
        function_name = parameters.get("FunctionName") if isinstance(parameters, dict) else None
        if not isinstance(function_name, str) or not function_name:
            raise runtime_error(
                f"lambda:invoke FunctionName must be a non-empty string, got {function_name!r}"
            )
        # Invoking a function without a payload hands it an empty JSON object.
        payload = parameters.get("Payload", {})
        return invoke_response(self.call_function(name, resource, function_name, payload, timeout))

    def call_function(self, name: str, resource: str, target: str, payload: Any, timeout: int | None) -> Any:
        detail = {"resource": resource, "function": target, "parameters": payload, "timeoutSeconds": timeout}
        self.emit("TaskScheduled", name, detail)
        try:
            function = self.settings.resolve_task(target)
        except Exception as exc:
            missing = StatesError("Lambda.ResourceNotFoundException", f"Function not found: {target}: {exc}")
            raise self.task_failed(name, missing) from None
        self.emit("TaskStarted", name, {"resource": resource})
        seconds = None if timeout is None else timeout * self.settings.timeout_scale
        try:
            result = invoke_function(function, payload, seconds)
        except StatesError as err:
            if err.error == TIMEOUT:
                self.emit("TaskTimedOut", name, {"error": err.error, "cause": err.cause})
                raise
            raise self.task_failed(name, err) from None
        self.check_size(result, f"the result of task '{name}'")
        self.emit("TaskSucceeded", name, {"output": result})
        return result

    def task_failed(self, name: str, error: StatesError) -> StatesError:
        self.emit("TaskFailed", name, {"error": error.error, "cause": error.cause})
        return error

    # ------------------------------------------------------------------------------------ Retry and Catch

    def with_error_handling(
        self, name: str, state: dict[str, Any], raw_input: Any, attempt: Callable[[int], Any]
    ) -> StateOutcome:
        """Run ``attempt`` under the state's retriers and catchers, as AWS evaluates them."""
        retriers: list[dict[str, Any]] = state.get("Retry", [])
        attempts = [0] * len(retriers)  # every retrier counts its own attempts
        while True:
            try:
                return attempt(sum(attempts)), state.get("Next")
            except StatesError as err:
                # Only the first matching retrier applies; once it is exhausted, Catch takes over.
                index = _first_match(retriers, err)
                if index is not None and attempts[index] < retriers[index].get("MaxAttempts", 3):
                    delay = self.retry_delay(retriers[index], attempts[index])
                    attempts[index] += 1
                    detail = {"error": err.error, "cause": err.cause, "retrier": index, "delaySeconds": delay}
                    self.emit(f"{state['Type']}Retry", name, {**detail, "attempt": attempts[index]})
                    self.clock.sleep(delay)
                    self.check_deadline()
                    continue
                catchers: list[dict[str, Any]] = state.get("Catch", [])
                catcher_index = _first_match(catchers, err)
                if catcher_index is None:
                    raise
                catcher = catchers[catcher_index]
                error_output = {"Error": err.error, "Cause": err.cause}
                return _place_result(catcher.get("ResultPath", "$"), raw_input, error_output), catcher["Next"]

    def retry_delay(self, retrier: dict[str, Any], attempt: int) -> float:
        delay = float(retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempt)
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, float(retrier["MaxDelaySeconds"]))
        if retrier.get("JitterStrategy") == "FULL":
            delay = self.settings.rng.uniform(0.0, delay)
        return delay


# ------------------------------------------------------------------------------------------ helpers


def _locate(err: StatesError, name: str) -> None:
    """Record the innermost failing state; Runtime-class causes name it, as AWS's do."""
    if err.state is not None:
        return
    err.state = name
    if err.error in (RUNTIME, INTRINSIC_FAILURE, DATA_LIMIT_EXCEEDED):
        err.cause = f"An error occurred while executing the state '{name}'. {err.cause or ''}".strip()


def _select(state: dict[str, Any], field: str, data: Any, context: Any) -> Any:
    """InputPath/OutputPath: absent keeps ``data``, null gives ``{}``, a path selects from it."""
    if field not in state:
        return data
    if state[field] is None:
        return {}
    return read_path(parse_path(state[field]), data, context)


def _place_result(result_path: str | None, raw_input: Any, result: Any) -> Any:
    """ResultPath: null keeps the raw input, ``$`` replaces it, ``$.a.b`` merges into a copy of it."""
    if result_path is None:
        return raw_input
    return write_path(parse_path(result_path), raw_input, result)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail_field(state: dict[str, Any], field: str, raw_input: Any, context: Any) -> str | None:
    if field in state:
        return str(state[field])
    if f"{field}Path" not in state:
        return None
    value = evaluate_text(state[f"{field}Path"], raw_input, context)
    if not isinstance(value, str):
        raise runtime_error(f"{field}Path must select a string, got {value!r}")
    return value


def _task_timeout(state: dict[str, Any], effective: Any, context: Any) -> int | None:
    if "TimeoutSeconds" in state:
        return int(state["TimeoutSeconds"])
    if "TimeoutSecondsPath" not in state:
        return None
    seconds = read_path(parse_path(state["TimeoutSecondsPath"]), effective, context)
    if not _is_int(seconds) or seconds < 1:
        raise runtime_error(f"TimeoutSecondsPath must select a positive integer, got {seconds!r}")
    return int(seconds)


def _check_max_concurrency(state: dict[str, Any], effective: Any, context: Any) -> None:
    # Iterations run sequentially anyway; the path is still read so a bad value fails as in AWS.
    if "MaxConcurrencyPath" in state:
        value = read_path(parse_path(state["MaxConcurrencyPath"]), effective, context)
        if not _is_int(value) or value < 0:
            raise runtime_error(f"MaxConcurrencyPath must select a non-negative integer, got {value!r}")


def _first_match(handlers: list[dict[str, Any]], err: StatesError) -> int | None:
    for index, handler in enumerate(handlers):
        if _error_matches(handler["ErrorEquals"], err):
            return index
    return None


def _error_matches(names: list[str], err: StatesError) -> bool:
    if err.terminal:
        return False
    for name in names:
        if name == err.error or name == "States.ALL":
            return True
        if name == "States.TaskFailed" and err.error != TIMEOUT:
            return True
    return False
