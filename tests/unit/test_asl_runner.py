"""The local ASL interpreter: execution semantics, error handling, and what it refuses to run."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tonearm.adapters.local.asl import (
    MAX_TRANSITIONS,
    AslDefinitionError,
    AslRunner,
    ExecutionResult,
    HistoryEvent,
    UnsupportedAslError,
    substitute,
)
from tonearm.adapters.local.asl_map import FolderBuckets
from tonearm.errors import ParameterError

REGION_ACCOUNT = "us-east-1:123456789012"
DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION_ACCOUNT}:function:{name}"


class FakeSleep:
    """Records requested delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def machine(states: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states, **top}


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields} | ({} if "Next" in fields else {"End": True})


Functions = Mapping[str, Callable[[Any], Any]]


def make(
    definition: dict[str, Any] | str, functions: Functions | None = None, **kwargs: Any
) -> tuple[AslRunner, FakeSleep]:
    """A runner whose tasks resolve by the last segment of the ARN (or the bare function name)."""
    sleep = FakeSleep()
    table = functions or {}

    def resolve(resource: str) -> Callable[[Any], Any]:
        return table[resource.split(":function:")[-1]]

    return AslRunner(definition, resolve, sleep=sleep, **kwargs), sleep


def run(definition: dict[str, Any], functions: Functions | None = None, data: Any = None) -> ExecutionResult:
    runner, _ = make(definition, functions)
    return runner.run({} if data is None else data)


def types(result: ExecutionResult) -> list[str]:
    return [event.type for event in result.history]


class Flaky:
    """A task that raises ``error`` for its first ``failures`` calls, then returns ``result``."""

    def __init__(self, failures: int, error: Exception | None = None, result: Any = "ok") -> None:
        self.failures = failures
        self.error = error or ValueError("flaky")
        self.result = result
        self.calls: list[Any] = []

    def __call__(self, payload: Any) -> Any:
        self.calls.append(payload)
        if len(self.calls) <= self.failures:
            raise self.error
        return self.result


# ------------------------------------------------------------------------------------------ happy paths


def test_pass_task_choice_wait_succeed_path() -> None:
    # GIVEN a machine touching Pass, Task, Choice, Wait and Succeed
    definition = machine(
        {
            "Seed": {"Type": "Pass", "Result": {"n": 3}, "ResultPath": "$.seed", "Next": "Double"},
            "Double": task(
                arn("double"), Parameters={"n.$": "$.seed.n"}, ResultPath="$.doubled", Next="Big?"
            ),
            "Big?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.doubled", "NumericGreaterThan": 5, "Next": "Pause"}],
                "Default": "Small",
            },
            "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
            "Small": {"Type": "Fail", "Error": "TooSmall"},
            "Done": {"Type": "Succeed", "OutputPath": "$.doubled"},
        }
    )
    runner, sleep = make(definition, {"double": lambda event: event["n"] * 2})
    # WHEN it runs
    result = runner.run({"id": "x"})
    # THEN every state ran in order, the wait used the injected sleep, and the output is selected
    assert (result.status, result.output, result.error, result.cause) == ("SUCCEEDED", 6, None, None)
    assert sleep.delays == [5]
    entered = [event.state for event in result.history if event.type.endswith("StateEntered")]
    assert entered == ["Seed", "Double", "Big?", "Pause", "Done"]
    assert types(result)[0] == "ExecutionStarted" and types(result)[-1] == "ExecutionSucceeded"
    assert {"TaskScheduled", "TaskStarted", "TaskSucceeded", "WaitStateExited"} <= set(types(result))


def test_parallel_runs_every_branch_on_the_same_input() -> None:
    branch = lambda name: machine({name: task(arn(name), ResultPath=f"$.{name}")})  # noqa: E731
    definition = machine(
        {
            "Fan": {
                "Type": "Parallel",
                "Branches": [branch("up"), branch("down")],
                "Parameters": {"v.$": "$.value"},
                "ResultSelector": {"up.$": "$[0].up", "down.$": "$[1].down"},
                "ResultPath": "$.fan",
                "End": True,
            }
        }
    )
    result = run(definition, {"up": lambda e: e["v"] + 1, "down": lambda e: e["v"] - 1}, {"value": 10})
    assert result.output == {"value": 10, "fan": {"up": 11, "down": 9}}
    assert "ParallelStateStarted" in types(result) and "ParallelStateSucceeded" in types(result)


def test_map_item_selector_sees_item_index_and_the_maps_input() -> None:
    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Mul",
                    "States": {"Mul": task(arn("mul"))},
                },
                "ResultPath": "$.out",
                "End": True,
            }
        }
    )
    result = run(definition, {"mul": lambda e: e["v"] * e["k"] + e["i"]}, {"items": [1, 2, 3], "k": 10})
    assert result.output == {"items": [1, 2, 3], "k": 10, "out": [10, 21, 32]}
    assert types(result).count("MapIterationSucceeded") == 3


def test_legacy_map_iterator_and_parameters() -> None:
    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "Parameters": {"x.$": "$$.Map.Item.Value"},
                "Iterator": {
                    "StartAt": "Id",
                    "States": {"Id": {"Type": "Pass", "OutputPath": "$.x", "End": True}},
                },
                "ResultSelector": {"count.$": "States.ArrayLength($)", "items.$": "$"},
                "End": True,
            }
        }
    )
    assert run(definition, data=["a", "b"]).output == {"count": 2, "items": ["a", "b"]}


def test_map_over_empty_array_and_non_array_fails() -> None:
    iterator = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    definition = machine({"M": {"Type": "Map", "Iterator": iterator, "End": True}})
    assert run(definition, data=[]).output == []
    result = run(definition, data={"not": "an array"})
    assert result.error == "States.Runtime" and "ItemsPath" in (result.cause or "")


def test_definition_given_as_json_text() -> None:
    definition = machine({"P": {"Type": "Pass", "Result": 1, "End": True}})
    runner, _ = make(json.dumps(definition))
    assert runner.run({}).output == 1
    with pytest.raises(AslDefinitionError, match="not valid JSON"):
        make("{not json")


# ------------------------------------------------------------------------------ input/output processing


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "RESULT"),
        ({"ResultPath": "$"}, "RESULT"),
        ({"ResultPath": None}, {"a": {"b": 1}, "keep": True}),
        ({"ResultPath": "$.a.c"}, {"a": {"b": 1, "c": "RESULT"}, "keep": True}),
        ({"ResultPath": "$.new.deep"}, {"a": {"b": 1}, "keep": True, "new": {"deep": "RESULT"}}),
        ({"ResultPath": "$['a']['b']"}, {"a": {"b": "RESULT"}, "keep": True}),
        ({"ResultPath": "$.r", "OutputPath": "$.r"}, "RESULT"),
        ({"ResultPath": "$.r", "OutputPath": None}, {}),
    ],
)
def test_result_path_and_output_path(fields: dict[str, Any], expected: Any) -> None:
    definition = machine({"T": task(arn("f"), **fields)})
    assert run(definition, {"f": lambda _e: "RESULT"}, {"a": {"b": 1}, "keep": True}).output == expected


def test_input_path_parameters_and_result_selector_order() -> None:
    seen: list[Any] = []

    def f(event: Any) -> Any:
        seen.append(event)
        return {"value": event["doubled"] * 2, "noise": True}

    definition = machine(
        {
            "T": task(
                arn("f"),
                InputPath="$.inner",
                Parameters={"doubled.$": "$.n", "const": [1, {"nested.$": "$.n"}], "literal": "$.n"},
                ResultSelector={"v.$": "$.value"},
                ResultPath="$.result",
            )
        }
    )
    result = run(definition, {"f": f}, {"inner": {"n": 4}, "other": 1})
    assert seen == [{"doubled": 4, "const": [1, {"nested": 4}], "literal": "$.n"}]
    # ResultPath merges into the raw input, not the InputPath selection
    assert result.output == {"inner": {"n": 4}, "other": 1, "result": {"v": 8}}


def test_input_path_null_gives_an_empty_object() -> None:
    definition = machine({"T": task(arn("f"), InputPath=None, ResultPath="$.got")})
    assert run(definition, {"f": lambda e: e}, {"x": 1}).output == {"x": 1, "got": {}}


def test_wildcards_and_indexes_in_parameters() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"ids.$": "$.items[*].id", "first.$": "$.items[0].id"},
                "End": True,
            }
        }
    )
    assert run(definition, data={"items": [{"id": 1}, {"id": 2}]}).output == {"ids": [1, 2], "first": 1}


def test_pass_result_is_static_and_parameters_apply_without_result() -> None:
    definition = machine(
        {
            "A": {"Type": "Pass", "Result": {"x.$": "$.not-evaluated"}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"copied.$": "$.a"}, "End": True},
        }
    )
    assert run(definition).output == {"copied": {"x.$": "$.not-evaluated"}}


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        (
            "States.Format('Hello, {}! You are {}.', $.name, $.age)",
            {"name": "Ana", "age": 7},
            "Hello, Ana! You are 7.",
        ),
        ("States.Format('literal \\{\\} and {}', $.name)", {"name": "x"}, "literal {} and x"),
        ("States.Format('it\\'s {}', true)", {}, "it's true"),
        ("States.StringToJson($.text)", {"text": '{"a": [1, 2]}'}, {"a": [1, 2]}),
        ("States.JsonToString($.obj)", {"obj": {"a": 1, "b": [True, None]}}, '{"a":1,"b":[true,null]}'),
        ("States.Array($.a, 'two', 3, null)", {"a": 1}, [1, "two", 3, None]),
        ("States.MathAdd($.n, -3)", {"n": 10}, 7),
        ("States.ArrayLength($.xs)", {"xs": [1, 2, 3]}, 3),
        ("States.ArrayPartition($.xs, 2)", {"xs": [1, 2, 3]}, [[1, 2], [3]]),
        ("States.ArrayContains($.xs, 2)", {"xs": [1, 2]}, True),
        ("States.ArrayRange(1, 9, 3)", {}, [1, 4, 7]),
        ("States.ArrayGetItem($.xs, 1)", {"xs": ["a", "b"]}, "b"),
        ("States.ArrayUnique($.xs)", {"xs": [1, 1, True, 2]}, [1, True, 2]),
        ("States.Base64Encode('hi')", {}, "aGk="),
        ("States.Base64Decode('aGk=')", {}, "hi"),
        ("States.Hash('abc', 'SHA-1')", {}, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("States.JsonMerge($.a, $.b, false)", {"a": {"x": 1, "y": 1}, "b": {"y": 2}}, {"x": 1, "y": 2}),
        ("States.StringSplit('a,b;;c', ',;')", {}, ["a", "b", "c"]),
        ("States.Format('{}', States.ArrayLength(States.Array(1, 2)))", {}, "2"),
        ("States.Format('{}', $$.State.Name)", {}, "P"),
    ],
)
def test_intrinsic_functions(expression: str, data: Any, expected: Any) -> None:
    definition = machine({"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}})
    result = run(definition, data=data)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"v": expected}


def test_uuid_and_math_random_intrinsics() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"id.$": "States.UUID()", "r.$": "States.MathRandom(1, 3)"},
                "End": True,
            }
        }
    )
    output = run(definition).output
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", output["id"])
    assert output["r"] in (1, 2)


def test_intrinsic_failure_at_run_time_fails_the_execution() -> None:
    definition = machine(
        {
            "P": {"Type": "Pass", "Parameters": {"v.$": "States.StringToJson($.text)"}, "End": True},
        }
    )
    result = run(definition, data={"text": "{broken"})
    assert result.error == "States.IntrinsicFailure"
    assert "States.StringToJson" in (result.cause or "") and "'P'" in (result.cause or "")


def test_missing_path_fails_with_states_runtime_even_under_catch_all() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                Parameters={"x.$": "$.missing"},
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                Next="Done",
            ),
            "Caught": {"Type": "Pass", "End": True},
            "Done": {"Type": "Succeed"},
        }
    )
    calls = Flaky(0)
    result = run(definition, {"f": calls})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "$.missing" in (result.cause or "") and "'T'" in (result.cause or "")
    assert calls.calls == []
    assert result.history[-1].type == "ExecutionFailed" and result.history[-1].state == "T"


def test_result_path_into_a_non_object_fails_with_states_runtime() -> None:
    definition = machine({"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}})
    result = run(definition, data={"a": "string"})
    assert result.error == "States.Runtime" and "ResultPath" in (result.cause or "")


# ------------------------------------------------------------------------------------------ context object


def test_context_object() -> None:
    definition = machine(
        {
            "Ctx": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$$.Execution.Id",
                    "name.$": "$$.Execution.Name",
                    "input.$": "$$.Execution.Input",
                    "start.$": "$$.Execution.StartTime",
                    "machine.$": "$$.StateMachine.Name",
                    "state.$": "$$.State.Name",
                    "entered.$": "$$.State.EnteredTime",
                    "retries.$": "$$.State.RetryCount",
                },
                "End": True,
            }
        }
    )
    runner, _ = make(definition)
    output = runner.run({"a": 1}, execution_name="exec-1", state_machine_name="AudioInfo").output
    assert output["id"] == f"arn:aws:states:{REGION_ACCOUNT}:execution:AudioInfo:exec-1"
    assert (output["name"], output["input"], output["machine"], output["state"]) == (
        "exec-1",
        {"a": 1},
        "AudioInfo",
        "Ctx",
    )
    assert output["retries"] == 0
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(iso, output["start"]) and re.fullmatch(iso, output["entered"])


def test_retry_count_in_context_grows_with_each_retry() -> None:
    flaky = Flaky(2)
    definition = machine(
        {
            "T": task(
                arn("f"), Parameters={"try.$": "$$.State.RetryCount"}, Retry=[{"ErrorEquals": ["ValueError"]}]
            )
        }
    )
    assert run(definition, {"f": flaky}).status == "SUCCEEDED"
    assert flaky.calls == [{"try": 0}, {"try": 1}, {"try": 2}]


def test_default_execution_name_is_unique() -> None:
    runner, _ = make(
        machine({"P": {"Type": "Pass", "Parameters": {"n.$": "$$.Execution.Name"}, "End": True}})
    )
    assert runner.run({}).output["n"] != runner.run({}).output["n"]


# ------------------------------------------------------------------------------------------ Choice


@pytest.mark.parametrize(
    ("rule", "data", "matches"),
    [
        ({"Variable": "$.s", "StringEquals": "abc"}, {"s": "abc"}, True),
        ({"Variable": "$.s", "StringEquals": "abc"}, {"s": 1}, False),
        ({"Variable": "$.s", "StringEqualsPath": "$.t"}, {"s": "a", "t": "a"}, True),
        ({"Variable": "$.s", "StringLessThan": "b"}, {"s": "a"}, True),
        ({"Variable": "$.s", "StringGreaterThanEquals": "b"}, {"s": "a"}, False),
        ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-2024.txt"}, True),
        ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "a*b"}, True),
        ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "axxb"}, False),
        ({"Variable": "$.n", "NumericEquals": 1}, {"n": 1.0}, True),
        ({"Variable": "$.n", "NumericEquals": 1}, {"n": True}, False),
        ({"Variable": "$.n", "NumericLessThan": 1}, {"n": 0.5}, True),
        ({"Variable": "$.n", "NumericGreaterThan": 1}, {"n": 1}, False),
        ({"Variable": "$.n", "NumericLessThanEquals": 1}, {"n": 1}, True),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 2}, {"n": 1}, False),
        ({"Variable": "$.n", "NumericLessThanPath": "$.m"}, {"n": 1, "m": 2}, True),
        ({"Variable": "$.n", "NumericEquals": 1}, {"n": "1"}, False),
        ({"Variable": "$.b", "BooleanEquals": True}, {"b": True}, True),
        ({"Variable": "$.b", "BooleanEquals": True}, {"b": 1}, False),
        ({"Variable": "$.b", "BooleanEqualsPath": "$.c"}, {"b": False, "c": False}, True),
        (
            {"Variable": "$.t", "TimestampEquals": "2024-01-01T00:00:00Z"},
            {"t": "2024-01-01T01:00:00+01:00"},
            True,
        ),
        (
            {"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:00Z"},
            {"t": "2023-12-31T23:59:59.5Z"},
            True,
        ),
        ({"Variable": "$.t", "TimestampGreaterThan": "2024-01-01T00:00:00Z"}, {"t": "not a time"}, False),
        (
            {"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u"},
            {"t": "2024-01-02T00:00:00Z", "u": "2024-01-01T00:00:00Z"},
            True,
        ),
        ({"Variable": "$.x", "IsPresent": True}, {"x": None}, True),
        ({"Variable": "$.x", "IsPresent": False}, {}, True),
        ({"Variable": "$.x", "IsNull": True}, {"x": None}, True),
        ({"Variable": "$.x", "IsString": True}, {"x": "s"}, True),
        ({"Variable": "$.x", "IsNumeric": True}, {"x": False}, False),
        ({"Variable": "$.x", "IsBoolean": True}, {"x": False}, True),
        ({"Variable": "$.x", "IsTimestamp": True}, {"x": "2024-01-01T00:00:00Z"}, True),
        ({"Variable": "$.x", "IsTimestamp": True}, {"x": "2024-01-01 00:00:00"}, False),
        (
            {"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "NumericEquals": 2}]},
            {"a": 1, "b": 2},
            True,
        ),
        (
            {"Or": [{"Variable": "$.a", "NumericEquals": 0}, {"Variable": "$.b", "NumericEquals": 2}]},
            {"a": 1, "b": 2},
            True,
        ),
        ({"Not": {"Variable": "$.a", "StringEquals": "x"}}, {"a": "y"}, True),
        ({"Variable": "$$.State.Name", "StringEquals": "C"}, {}, True),
    ],
)
def test_choice_operators(rule: dict[str, Any], data: Any, matches: bool) -> None:
    definition = machine(
        {
            "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": True},
            "No": {"Type": "Pass", "Result": "no", "End": True},
        }
    )
    result = run(definition, data=data)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == ("yes" if matches else "no")


def test_choice_first_match_wins_and_output_path_applies() -> None:
    definition = machine(
        {
            "C": {
                "Type": "Choice",
                "InputPath": "$.in",
                "OutputPath": "$.v",
                "Choices": [
                    {"Variable": "$.v", "NumericGreaterThan": 0, "Next": "First"},
                    {"Variable": "$.v", "NumericGreaterThan": 1, "Next": "Second"},
                ],
            },
            "First": {"Type": "Succeed"},
            "Second": {"Type": "Succeed"},
        }
    )
    result = run(definition, data={"in": {"v": 5}})
    assert result.output == 5
    assert [e.state for e in result.history if e.type == "SucceedStateEntered"] == ["First"]


def test_choice_without_match_or_default_fails() -> None:
    definition = machine(
        {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "StringEquals": "x", "Next": "S"}]},
            "S": {"Type": "Succeed"},
        }
    )
    result = run(definition, data={"v": "y"})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_choice_on_missing_variable_fails_with_states_runtime() -> None:
    definition = machine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.nope", "StringEquals": "x", "Next": "S"}],
                "Default": "S",
            },
            "S": {"Type": "Succeed"},
        }
    )
    assert run(definition).error == "States.Runtime"


# ------------------------------------------------------------------------------------------ Wait


def test_wait_seconds_path_and_timestamps() -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    definition = machine(
        {
            "A": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "B"},
            "B": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "Next": "C"},
            "C": {"Type": "Wait", "TimestampPath": "$.until", "End": True},
        }
    )
    runner, sleep = make(definition)
    result = runner.run({"delay": 7, "until": future})
    assert result.status == "SUCCEEDED"
    # the past timestamp does not wait; the future one waits about an hour (minus the 7 virtual seconds)
    assert sleep.delays[0] == 7 and len(sleep.delays) == 2
    assert 3590 - 7 < sleep.delays[1] <= 3600 - 7


def test_wait_seconds_path_must_be_a_non_negative_integer() -> None:
    definition = machine({"A": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}})
    assert run(definition, data={"delay": "soon"}).error == "States.Runtime"


# ------------------------------------------------------------------------------------------ Retry


def test_retry_backoff_delays_then_failure() -> None:
    always = Flaky(99)
    definition = machine(
        {"T": task(arn("f"), Retry=[{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "BackoffRate": 2}])}
    )
    runner, sleep = make(definition, {"f": always})
    result = runner.run({})
    assert sleep.delays == [1, 2, 4]  # MaxAttempts defaults to 3
    assert len(always.calls) == 4
    assert (result.status, result.error) == ("FAILED", "ValueError")
    retries = [event for event in result.history if event.type == "TaskRetry"]
    assert [event.detail["attempt"] for event in retries] == [1, 2, 3]
    assert [event.detail["delaySeconds"] for event in retries] == [1, 2, 4]


def test_retry_then_success() -> None:
    flaky = Flaky(2, result={"done": True})
    definition = machine({"T": task(arn("f"), Retry=[{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3}])})
    runner, sleep = make(definition, {"f": flaky})
    result = runner.run({})
    assert (result.status, result.output) == ("SUCCEEDED", {"done": True})
    assert sleep.delays == [3, 6]
    assert types(result).count("TaskFailed") == 2 and types(result).count("TaskSucceeded") == 1


def test_max_attempts_zero_never_retries_and_max_delay_caps() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                Retry=[
                    {"ErrorEquals": ["KeyError"], "MaxAttempts": 0},
                    {
                        "ErrorEquals": ["ValueError"],
                        "IntervalSeconds": 4,
                        "BackoffRate": 3,
                        "MaxDelaySeconds": 10,
                    },
                ],
            )
        }
    )
    runner, sleep = make(definition, {"f": Flaky(99, KeyError("k"))})
    assert runner.run({}).error == "KeyError" and sleep.delays == []
    runner, sleep = make(definition, {"f": Flaky(99)})
    runner.run({})
    assert sleep.delays == [4, 10, 10]


def test_full_jitter_stays_within_the_backoff() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                Retry=[{"ErrorEquals": ["ValueError"], "IntervalSeconds": 8, "JitterStrategy": "FULL"}],
            )
        }
    )
    runner, sleep = make(definition, {"f": Flaky(99)}, rng=random.Random(7))
    runner.run({})
    assert len(sleep.delays) == 3
    assert all(0 <= delay <= cap for delay, cap in zip(sleep.delays, [8, 16, 32], strict=True))
    assert sleep.delays != [8, 16, 32]


def test_each_retrier_counts_its_own_attempts_and_first_match_wins() -> None:
    errors = iter([KeyError("a"), ValueError("b"), KeyError("c"), ValueError("d")])

    def f(_event: Any) -> Any:
        error = next(errors, None)
        if error:
            raise error
        return "finally"

    definition = machine(
        {
            "T": task(
                arn("f"),
                Retry=[
                    {"ErrorEquals": ["KeyError"], "MaxAttempts": 2, "IntervalSeconds": 1},
                    {"ErrorEquals": ["ValueError", "KeyError"], "MaxAttempts": 2, "IntervalSeconds": 10},
                ],
            )
        }
    )
    runner, sleep = make(definition, {"f": f})
    assert runner.run({}).output == "finally"
    assert sleep.delays == [1, 10, 2, 20]


def test_exhausted_retrier_does_not_fall_through_to_a_later_one() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                Retry=[
                    {"ErrorEquals": ["ValueError"], "MaxAttempts": 1},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5},
                ],
            )
        }
    )
    flaky = Flaky(99)
    runner, sleep = make(definition, {"f": flaky})
    assert runner.run({}).error == "ValueError"
    assert len(flaky.calls) == 2 and sleep.delays == [1]


def test_retry_on_parallel_reruns_the_branches() -> None:
    flaky = Flaky(1)
    definition = machine(
        {
            "Par": {
                "Type": "Parallel",
                "Branches": [machine({"T": task(arn("f"))})],
                "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
                "End": True,
            }
        }
    )
    result = run(definition, {"f": flaky})
    assert result.output == ["ok"] and "ParallelRetry" in types(result)


# ------------------------------------------------------------------------------------------ Catch


def test_catch_puts_the_error_at_result_path_and_continues() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                InputPath="$.ignored",
                Catch=[
                    {"ErrorEquals": ["KeyError"], "Next": "Wrong"},
                    {"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Handle"},
                ],
                Next="Wrong",
            ),
            "Handle": {"Type": "Pass", "End": True},
            "Wrong": {"Type": "Fail"},
        }
    )
    result = run(definition, {"f": Flaky(99, ValueError("bad input"))}, {"job": 1, "ignored": {}})
    assert result.status == "SUCCEEDED"
    assert result.output["job"] == 1 and result.output["ignored"] == {}
    assert result.output["error"]["Error"] == "ValueError"
    assert json.loads(result.output["error"]["Cause"])["errorMessage"] == "bad input"


def test_catch_default_result_path_replaces_and_null_discards() -> None:
    def build(catcher: dict[str, Any]) -> dict[str, Any]:
        return machine(
            {
                "T": task(
                    arn("f"), Catch=[{"ErrorEquals": ["States.ALL"], "Next": "H", **catcher}], Next="H"
                ),
                "H": {"Type": "Pass", "End": True},
            }
        )

    failing = {"f": Flaky(99, RuntimeError("x"))}
    assert run(build({}), failing, {"a": 1}).output["Error"] == "RuntimeError"
    assert run(build({"ResultPath": None}), failing, {"a": 1}).output == {"a": 1}


def test_states_all_catches_custom_errors_from_fail_states_in_branches() -> None:
    definition = machine(
        {
            "Par": {
                "Type": "Parallel",
                "Branches": [machine({"Boom": {"Type": "Fail", "Error": "Custom.Error", "Cause": "why"}})],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "H"}],
                "Next": "H",
            },
            "H": {"Type": "Pass", "End": True},
        }
    )
    result = run(definition, data={"a": 1})
    assert result.output == {"a": 1, "err": {"Error": "Custom.Error", "Cause": "why"}}
    assert "ParallelStateFailed" in types(result)


def test_map_iteration_failure_is_caught_on_the_map() -> None:
    definition = machine(
        {
            "M": {
                "Type": "Map",
                "Iterator": machine({"T": task(arn("f"))}),
                "Catch": [{"ErrorEquals": ["ZeroDivisionError"], "Next": "H"}],
                "End": True,
            },
            "H": {"Type": "Pass", "End": True},
        }
    )
    result = run(definition, {"f": lambda n: 1 / n}, [1, 0, 2])
    assert result.output["Error"] == "ZeroDivisionError"
    assert types(result).count("MapIterationSucceeded") == 1 and "MapIterationFailed" in types(result)


# ------------------------------------------------------------------------------------------ timeouts


def _blocking() -> tuple[Callable[[Any], Any], threading.Event]:
    release = threading.Event()

    def block(_event: Any) -> Any:
        release.wait(5)
        return "late"

    return block, release


@pytest.mark.parametrize(
    ("error_equals", "caught"), [(["States.TaskFailed"], False), (["States.Timeout"], True)]
)
def test_task_timeout_is_not_a_task_failure(error_equals: list[str], caught: bool) -> None:
    block, release = _blocking()
    definition = machine(
        {
            "T": task(
                arn("slow"), TimeoutSeconds=1, Catch=[{"ErrorEquals": error_equals, "Next": "H"}], Next="H"
            ),
            "H": {"Type": "Pass", "End": True},
        }
    )
    runner, _ = make(definition, {"slow": block}, timeout_scale=0.01)  # 1 s behaves as 10 ms
    try:
        result = runner.run({})
    finally:
        release.set()
    assert "TaskTimedOut" in types(result)
    if caught:
        assert result.output["Error"] == "States.Timeout"
    else:
        assert (result.status, result.error) == ("FAILED", "States.Timeout")


def test_states_task_failed_catches_function_errors_and_timeout_path() -> None:
    definition = machine(
        {
            "T": task(
                arn("f"),
                TimeoutSecondsPath="$.timeout",
                Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}],
                Next="H",
            ),
            "H": {"Type": "Pass", "End": True},
        }
    )
    result = run(definition, {"f": Flaky(99, OSError("disk"))}, {"timeout": 30})
    assert result.output["Error"] == "OSError"
    assert run(definition, {"f": Flaky(0)}, {"timeout": 0}).error == "States.Runtime"


def test_fast_task_with_timeout_returns_its_result() -> None:
    definition = machine({"T": task(arn("f"), TimeoutSeconds=5)})
    assert run(definition, {"f": lambda e: {"got": e}}, {"x": 1}).output == {"got": {"x": 1}}


def test_execution_timeout_on_the_virtual_clock_cannot_be_caught() -> None:
    definition = machine(
        {
            "Long": {"Type": "Wait", "Seconds": 100, "Next": "After"},
            "After": {"Type": "Pass", "End": True},
        },
        TimeoutSeconds=10,
    )
    result = run(definition)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert result.history[-1].type == "ExecutionTimedOut"


# ------------------------------------------------------------------------------------------ Fail


def test_fail_state_with_static_error_and_cause() -> None:
    result = run(machine({"F": {"Type": "Fail", "Error": "Job.Invalid", "Cause": "missing id"}}))
    assert (result.status, result.error, result.cause, result.output) == (
        "FAILED",
        "Job.Invalid",
        "missing id",
        None,
    )
    assert types(result)[-2:] == ["FailStateEntered", "ExecutionFailed"]


def test_fail_state_with_error_path_and_intrinsic_cause_path() -> None:
    definition = machine(
        {
            "F": {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "States.Format('job {} failed', $.id)",
            }
        }
    )
    result = run(definition, data={"id": 9, "error": {"Error": "Upstream"}})
    assert (result.error, result.cause) == ("Upstream", "job 9 failed")


def test_fail_state_error_path_must_select_a_string() -> None:
    result = run(machine({"F": {"Type": "Fail", "ErrorPath": "$.code"}}), data={"code": 3})
    assert result.error == "States.Runtime"


# ------------------------------------------------------------------------------------------ Lambda shapes


def _raise_value_error(_event: Any) -> Any:
    raise ValueError("sample rate 0 is invalid")


def test_function_errors_have_the_lambda_shaped_cause() -> None:
    result = run(machine({"T": task(arn("f"))}), {"f": _raise_value_error})
    assert result.error == "ValueError"
    cause = json.loads(result.cause or "")
    assert set(cause) == {"errorMessage", "errorType", "stackTrace"}
    assert cause["errorMessage"] == "sample rate 0 is invalid" and cause["errorType"] == "ValueError"
    assert isinstance(cause["stackTrace"], list) and "_raise_value_error" in cause["stackTrace"][0]
    assert not any("adapters/local/asl" in line for line in cause["stackTrace"])  # no interpreter frames


def test_lambda_invoke_wraps_the_result_and_resolves_the_function_name() -> None:
    resolved: list[str] = []

    def resolve(name: str) -> Callable[[Any], Any]:
        resolved.append(name)
        return lambda event: {"echo": event}

    definition = machine(
        {
            "Invoke": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName.$": "$.fn", "Payload": {"id.$": "$.id", "static": 1}},
                "ResultSelector": {"body.$": "$.Payload", "code.$": "$.StatusCode"},
                "Next": "Raw",
            },
            "Raw": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName": arn("other"), "Payload.$": "$.body"},
                "End": True,
            },
        }
    )
    result = AslRunner(definition, resolve).run({"fn": "analyze", "id": 5})
    assert resolved == ["analyze", arn("other")]
    response = result.output
    assert response["Payload"] == {"echo": {"echo": {"id": 5, "static": 1}}}
    assert (response["ExecutedVersion"], response["StatusCode"]) == ("$LATEST", 200)
    assert response["SdkHttpMetadata"]["HttpStatusCode"] == 200


def test_lambda_invoke_errors_have_the_same_shape() -> None:
    definition = machine(
        {"I": {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": {"FunctionName": "f"}, "End": True}}
    )
    result = run(definition, {"f": _raise_value_error})
    assert result.error == "ValueError" and json.loads(result.cause or "")["errorType"] == "ValueError"


def test_lambda_invoke_without_payload_sends_an_empty_object() -> None:
    definition = machine(
        {"I": {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": {"FunctionName": "f"}, "End": True}}
    )
    assert run(definition, {"f": lambda event: event}, {"ignored": True}).output["Payload"] == {}


def test_functions_get_a_copy_and_must_return_json() -> None:
    original = {"items": [1]}

    def mutate(event: Any) -> Any:
        event["items"].append(2)
        return event

    definition = machine({"T": task(arn("f"), ResultPath="$.r")})
    result = run(definition, {"f": mutate}, original)
    assert result.output == {"items": [1], "r": {"items": [1, 2]}}
    result = run(machine({"T": task(arn("f"))}), {"f": lambda _e: {1, 2}})
    assert result.error == "Runtime.MarshalError"


def test_resolve_task_is_lazy_and_a_missing_function_fails_the_task() -> None:
    def resolve(name: str) -> Callable[[Any], Any]:
        raise KeyError(name)

    runner = AslRunner(machine({"T": task(arn("ghost"))}), resolve)  # not called while building
    result = runner.run({})
    assert result.error == "Lambda.ResourceNotFoundException" and "ghost" in (result.cause or "")


# ------------------------------------------------------------------------------------------ history & limits


def test_on_event_sees_the_history_as_it_happens() -> None:
    seen: list[HistoryEvent] = []
    runner = AslRunner(
        machine({"P": {"Type": "Pass", "End": True}}), lambda _r: lambda _e: None, on_event=seen.append
    )
    result = runner.run({"a": 1})
    assert seen == result.history
    assert types(result) == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert result.history[1].detail == {"input": {"a": 1}} and result.history[1].state == "P"
    assert all(re.fullmatch(r"\d{4}-.*T.*\.\d{3}Z", event.timestamp) for event in result.history)


def test_infinite_loop_is_stopped_by_the_transition_limit() -> None:
    assert MAX_TRANSITIONS == 25_000
    definition = machine({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}})
    runner, _ = make(definition, max_transitions=50)
    result = runner.run({})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "50 state transitions" in (result.cause or "")
    assert types(result).count("PassStateEntered") == 50


def test_payload_limit_fails_with_data_limit_exceeded() -> None:
    definition = machine({"P": {"Type": "Pass", "Result": "x" * 200, "End": True}})
    runner, _ = make(definition, max_payload_bytes=100)
    assert runner.run({}).error == "States.DataLimitExceeded"


def test_bad_execution_input_or_name_is_rejected_before_running() -> None:
    runner, _ = make(machine({"P": {"Type": "Pass", "End": True}}))
    with pytest.raises(ParameterError):
        runner.run({"x": object()})
    with pytest.raises(ParameterError):
        runner.run({}, execution_name="has space")


# ------------------------------------------------------------------------------------------ rejected ASL


def _in_branch(state: dict[str, Any]) -> dict[str, Any]:
    return machine({"Outer": {"Type": "Parallel", "Branches": [machine({"Inner": state})], "End": True}})


def _in_map(state: dict[str, Any]) -> dict[str, Any]:
    processor = {"ProcessorConfig": {"Mode": "INLINE"}, **machine({"Inner": state})}
    return machine({"Outer": {"Type": "Map", "ItemProcessor": processor, "End": True}})


PASS = {"Type": "Pass", "End": True}
LAMBDA = task(arn("f"))


@pytest.mark.parametrize(
    ("definition", "state", "field"),
    [
        (machine({"P": PASS}, QueryLanguage="JSONata"), None, "QueryLanguage"),
        (machine({"P": {**PASS, "QueryLanguage": "JSONata"}}), "P", "QueryLanguage"),
        (machine({"P": {**PASS, "Assign": {"x": 1}}}), "P", "Assign"),
        (machine({"P": {**PASS, "Output": {"x": 1}}}), "P", "Output"),
        (machine({"T": {**LAMBDA, "Arguments": {}}}), "T", "Arguments"),
        (machine({"T": {**LAMBDA, "HeartbeatSeconds": 10}}), "T", "HeartbeatSeconds"),
        (machine({"T": {**LAMBDA, "HeartbeatSecondsPath": "$.h"}}), "T", "HeartbeatSecondsPath"),
        (machine({"T": {**LAMBDA, "Credentials": {"RoleArn": "r"}}}), "T", "Credentials"),
        (machine({"T": task("arn:aws:states:::lambda:invoke.waitForTaskToken")}), "T", "Resource"),
        (machine({"T": task("arn:aws:states:::states:startExecution.sync:2")}), "T", "Resource"),
        (machine({"T": task("arn:aws:states:::dynamodb:putItem")}), "T", "Resource"),
        (machine({"T": task(f"arn:aws:states:{REGION_ACCOUNT}:activity:work")}), "T", "Resource"),
        (
            machine({"T": task(LAMBDA_INVOKE, Parameters={"FunctionName": "f", "InvocationType": "Event"})}),
            "T",
            "Parameters.InvocationType",
        ),
        (
            machine({"T": task(LAMBDA_INVOKE, Parameters={"FunctionName": "f", "Qualifier": "v1"})}),
            "T",
            "Parameters.Qualifier",
        ),
        (
            machine(
                {
                    "M": {
                        "Type": "Map",
                        "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **machine({"P": PASS})},
                        "ItemBatcher": {"MaxItemsPerBatch": 10},
                        "End": True,
                    }
                }
            ),
            "M",
            "ItemBatcher",
        ),
        (
            machine(
                {
                    "M": {
                        "Type": "Map",
                        "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **machine({"P": PASS})},
                        "ItemReader": {
                            "Resource": "arn:aws:states:::s3:getObject",
                            "ReaderConfig": {"InputType": "CSV"},
                            "Parameters": {"Bucket": "b", "Key": "k"},
                        },
                        "End": True,
                    }
                }
            ),
            "M",
            "ItemReader.ReaderConfig.InputType",
        ),
        (
            machine(
                {
                    "C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "S"}]},
                    "S": {"Type": "Succeed"},
                }
            ),
            "C",
            "Choices[0].Condition",
        ),
        (_in_branch({**LAMBDA, "HeartbeatSeconds": 5}), "Outer > Branches[0] > Inner", "HeartbeatSeconds"),
        (_in_map(task("arn:aws:states:::sqs:sendMessage")), "Outer > ItemProcessor > Inner", "Resource"),
    ],
)
def test_unsupported_constructs_are_rejected_at_construction(
    definition: dict[str, Any], state: str | None, field: str
) -> None:
    resolved: list[str] = []

    def resolve(name: str) -> Callable[[Any], Any]:
        resolved.append(name)
        return lambda _e: None

    with pytest.raises(UnsupportedAslError) as info:
        AslRunner(definition, resolve)
    assert (info.value.state, info.value.field) == (state, field)
    assert f"'{field}'" in info.value.message
    if state:
        assert f"'{state}'" in info.value.message
    assert info.value.code == "unsupported_asl" and info.value.status == 500
    assert resolved == []


@pytest.mark.parametrize(
    ("definition", "state", "field"),
    [
        (machine({"P": {"Type": "Pass", "Next": "Nowhere"}}), "P", "Next"),
        (machine({"P": {"Type": "Pass"}}), "P", "Next"),
        (machine({"P": {"Type": "Pass", "Next": "P", "End": True}}), "P", "Next"),
        (machine({"P": {"Type": "Pass", "End": False}}), "P", "End"),
        (machine({"P": {**PASS, "Bogus": 1}}), "P", "Bogus"),
        (machine({"P": {**PASS, "ResultSelector": {}}}), "P", "ResultSelector"),
        (machine({"C": {"Type": "Choice", "Choices": [], "ResultPath": "$"}}), "C", "ResultPath"),
        (machine({"P": {"Type": "Passs", "End": True}}), "P", "Type"),
        ({"States": {"P": PASS}}, None, "StartAt"),
        ({"StartAt": "Q", "States": {"P": PASS}}, None, "StartAt"),
        ({"StartAt": "P", "States": {"P": PASS}, "Extra": 1}, None, "Extra"),
        (
            machine(
                {
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "S"}],
                        "Default": "Z",
                    },
                    "S": {"Type": "Succeed"},
                }
            ),
            "C",
            "Default",
        ),
        (
            machine(
                {
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.x", "NumericEquals": "1", "Next": "S"}],
                    },
                    "S": {"Type": "Succeed"},
                }
            ),
            "C",
            "Choices[0].NumericEquals",
        ),
        (
            machine(
                {
                    "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "S"}]},
                    "S": {"Type": "Succeed"},
                }
            ),
            "C",
            "Choices[0]",
        ),
        (
            machine({"T": {**LAMBDA, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}}),
            "T",
            "Catch[0].Next",
        ),
        (
            machine(
                {"T": {**LAMBDA, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["ValueError"]}]}}
            ),
            "T",
            "Retry[0].ErrorEquals",
        ),
        (
            machine({"T": {**LAMBDA, "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}),
            "T",
            "Retry[0].ErrorEquals",
        ),
        (
            machine({"T": {**LAMBDA, "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}}),
            "T",
            "Retry[0].BackoffRate",
        ),
        (
            machine({"T": {**LAMBDA, "Retry": [{"ErrorEquals": ["X"], "Interval": 1}]}}),
            "T",
            "Retry[0].Interval",
        ),
        (machine({"T": {**LAMBDA, "TimeoutSeconds": 0}}), "T", "TimeoutSeconds"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "States.Nope($)"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "States.ArrayLength($.a, $.b)"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "States.Format('{} {}', $.a)"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "$..deep"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "$.a[?(@.b)]"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "Parameters": {"x.$": "plain"}}}), "P", "Parameters"),
        (machine({"P": {**PASS, "ResultPath": "$$.State"}}), "P", "ResultPath"),
        (machine({"P": {**PASS, "InputPath": "a.b"}}), "P", "InputPath"),
        (machine({"W": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}}), "W", None),
        (machine({"W": {"Type": "Wait", "Timestamp": "tomorrow", "End": True}}), "W", "Timestamp"),
        (machine({"F": {"Type": "Fail", "Error": "A", "ErrorPath": "$.e"}}), "F", "Error"),
        (machine({"T": task("${AnalyzeFunctionArn}")}), "T", "Resource"),
        (machine({"T": task(LAMBDA_INVOKE)}), "T", "Parameters"),
        (
            machine({"T": task(LAMBDA_INVOKE, Parameters={"FunctionName": "${Fn}"})}),
            "T",
            "Parameters.FunctionName",
        ),
        (machine({"M": {"Type": "Map", "End": True}}), "M", "ItemProcessor"),
        (machine({"Par": {"Type": "Parallel", "Branches": [], "End": True}}), "Par", "Branches"),
        (_in_branch({"Type": "Pass", "Next": "Outer"}), "Outer > Branches[0] > Inner", "Next"),
        (_in_map({**PASS, "Oops": True}), "Outer > ItemProcessor > Inner", "Oops"),
    ],
)
def test_malformed_definitions_are_rejected_at_construction(
    definition: dict[str, Any], state: str | None, field: str | None
) -> None:
    with pytest.raises(AslDefinitionError) as info:
        AslRunner(definition, lambda _name: lambda _e: None)
    assert (info.value.state, info.value.field) == (state, field)
    if state:
        assert f"'{state}'" in info.value.message
    if field:
        assert f"'{field}'" in info.value.message


def test_comments_are_allowed_everywhere_and_top_level_extras_are_fine() -> None:
    definition = {
        "Comment": "top",
        "Version": "1.0",
        "TimeoutSeconds": 60,
        "QueryLanguage": "JSONPath",
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Comment": "state",
                "Choices": [
                    {
                        "Comment": "rule",
                        "And": [{"Variable": "$.a", "IsPresent": True, "Comment": "nested"}],
                        "Next": "T",
                    }
                ],
            },
            "T": task(
                arn("f"),
                Retry=[{"ErrorEquals": ["X"], "Comment": "retrier"}],
                Catch=[{"ErrorEquals": ["Y"], "Next": "T", "Comment": "catcher"}],
            ),
        },
    }
    assert run(definition, {"f": lambda _e: 1}, {"a": 1}).output == 1


# ------------------------------------------------------------------------------------------ substitutions


def test_substitute_replaces_placeholders() -> None:
    text = '{"Resource": "${Fn}", "Other": "${Fn}-${Stage}"}'
    assert json.loads(substitute(text, {"Fn": arn("x"), "Stage": "dev"})) == {
        "Resource": arn("x"),
        "Other": f"{arn('x')}-dev",
    }


def test_substitute_rejects_a_placeholder_left_unsubstituted() -> None:
    with pytest.raises(AslDefinitionError, match=r"\$\{Missing\}"):
        substitute('{"a": "${Known}", "b": "${Missing}"}', {"Known": "k"})


def test_project_state_machines_are_supported() -> None:
    from tests.conftest import PROJECT_ROOT

    files = sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json"))
    for path in files:
        text = path.read_text()
        names = set(re.findall(r"\$\{([^}]*)\}", text))
        definition = substitute(text, {name: arn(name) for name in names})
        AslRunner(definition, lambda _r: lambda _e: None, buckets=FolderBuckets({}))


# ------------------------------------------------------------------------------------- distributed Map


def _distributed(processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **processor},
                "End": True,
                **fields,
            }
        }
    )


class Gauge:
    """A task that records how many calls run at once, and fails for items named in ``fail``."""

    def __init__(self, fail: frozenset[int] = frozenset(), delay: float = 0.02) -> None:
        self.fail, self.delay = fail, delay
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0

    def __call__(self, payload: Any) -> Any:
        import time

        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            if payload in self.fail:
                raise ValueError(f"item {payload} is broken")
            return payload * 10
        finally:
            with self.lock:
                self.running -= 1


def test_distributed_map_respects_max_concurrency_and_keeps_item_order() -> None:
    gauge = Gauge()
    definition = _distributed(machine({"T": task(arn("g"))}), ItemsPath="$.items", MaxConcurrencyPath="$.n")
    runner, _ = make(definition, {"g": gauge})
    result = runner.run({"items": list(range(24)), "n": 4})
    assert result.succeeded, result.cause
    assert result.output == [i * 10 for i in range(24)]
    assert gauge.peak == 4 and gauge.calls == 24
    assert "MapRunStarted" in types(result) and "MapRunSucceeded" in types(result)


def test_distributed_map_without_tolerance_fails_on_any_failure_and_stops_starting_items() -> None:
    gauge = Gauge(fail=frozenset({0}))
    definition = _distributed(machine({"T": task(arn("g"))}), ItemsPath="$", MaxConcurrency=1)
    result = run(definition, {"g": gauge}, list(range(10)))
    assert result.status == "FAILED" and result.error == "States.ExceedToleratedFailureThreshold"
    assert gauge.calls == 1  # the Map Run stopped once over the threshold


@pytest.mark.parametrize(("percent", "succeeds"), [(100, True), (20, True), (19, False), (0, False)])
def test_distributed_map_tolerated_failure_percentage(percent: int, succeeds: bool) -> None:
    gauge = Gauge(fail=frozenset({1, 3}), delay=0)
    definition = _distributed(
        machine({"T": task(arn("g"))}), ItemsPath="$.items", ToleratedFailurePercentagePath="$.p"
    )
    result = run(definition, {"g": gauge}, {"items": list(range(10)), "p": percent})
    assert result.succeeded is succeeds, result.cause
    if succeeds:
        assert result.output[1]["Error"] == "ValueError" and result.output[2] == 20


def test_distributed_map_tolerated_failure_count_and_catch() -> None:
    gauge = Gauge(fail=frozenset({1, 3}), delay=0)
    definition = machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **machine({"T": task(arn("g"))})},
                "ItemsPath": "$.items",
                "ToleratedFailureCount": 1,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
            "Caught": {"Type": "Pass", "End": True},
        }
    )
    result = run(definition, {"g": gauge}, {"items": list(range(6))})
    assert result.succeeded
    assert result.output["error"]["Error"] == "States.ExceedToleratedFailureThreshold"


def test_distributed_map_reads_s3_and_writes_results_in_the_aws_layout(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    for name in ("a", "b", "c"):
        (bucket / "in" / "x").mkdir(parents=True, exist_ok=True)
        (bucket / "in" / "x" / f"{name}.txt").write_text(name)
    (bucket / "other.txt").write_text("not under the prefix")
    seen: list[Any] = []

    def echo(payload: Any) -> Any:
        seen.append(payload)
        if payload["key"].endswith("b.txt"):
            raise RuntimeError("b is bad")
        return {"size": payload["size"]}

    definition = _distributed(
        machine({"T": task(arn("echo"))}),
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": "local", "Prefix.$": "$.prefix"},
        },
        ItemSelector={"key.$": "$$.Map.Item.Value.Key", "size.$": "$$.Map.Item.Value.Size", "run.$": "$.run"},
        ToleratedFailurePercentage=50,
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "local", "Prefix.$": "States.Format('results/{}', $.run)"},
        },
        ResultPath="$.map",
    )
    runner, _ = make(definition, {"echo": echo}, buckets=FolderBuckets({"local": bucket}))
    result = runner.run({"prefix": "in/", "run": "r1"})
    assert result.succeeded, result.cause
    assert sorted(item["key"] for item in seen) == ["in/x/a.txt", "in/x/b.txt", "in/x/c.txt"]
    details = result.output["map"]["ResultWriterDetails"]
    assert details["Bucket"] == "local" and details["Key"].startswith("results/r1/")
    manifest = json.loads((bucket / details["Key"]).read_text())
    assert manifest["MapRunArn"] == result.output["map"]["MapRunArn"]
    succeeded = json.loads((bucket / manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]).read_text())
    failed = json.loads((bucket / manifest["ResultFiles"]["FAILED"][0]["Key"]).read_text())
    assert manifest["ResultFiles"]["SUCCEEDED"][0]["Key"].endswith("/SUCCEEDED_0.json")
    assert [json.loads(e["Output"]) for e in succeeded] == [{"size": 1}, {"size": 1}]
    assert len(failed) == 1 and failed[0]["Error"] == "RuntimeError" and failed[0]["Status"] == "FAILED"
    assert json.loads(failed[0]["Input"])["key"] == "in/x/b.txt"


def test_distributed_map_reads_a_json_manifest(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps([1, 2, 3]))
    definition = _distributed(
        machine({"T": task(arn("g"))}),
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON", "MaxItems": 2},
            "Parameters": {"Bucket": "local", "Key": "m.json"},
        },
    )
    runner, _ = make(definition, {"g": Gauge(delay=0)}, buckets=FolderBuckets({"local": tmp_path}))
    result = runner.run({})
    assert result.succeeded and result.output == [10, 20]
    missing = make(
        _distributed(
            machine({"T": task(arn("g"))}),
            ItemReader={
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": "local", "Key": "nope.json"},
            },
        ),
        {"g": Gauge(delay=0)},
        buckets=FolderBuckets({"local": tmp_path}),
    )[0].run({})
    assert missing.error == "States.ItemReaderFailed"


@pytest.mark.parametrize(
    ("fields", "processor_config", "error", "field"),
    [
        ({}, {"Mode": "DISTRIBUTED"}, AslDefinitionError, "ItemProcessor.ProcessorConfig.ExecutionType"),
        (
            {"ToleratedFailurePercentage": 5},
            {"Mode": "INLINE"},
            AslDefinitionError,
            "ToleratedFailurePercentage",
        ),
        ({"ToleratedFailurePercentage": 101}, DISTRIBUTED, AslDefinitionError, "ToleratedFailurePercentage"),
        ({"ItemsPath": "$", "ItemReader": {}}, DISTRIBUTED, AslDefinitionError, "ItemsPath"),
        (
            {"ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Prefix": "p"}}},
            DISTRIBUTED,
            AslDefinitionError,
            "ItemReader.Parameters.Bucket",
        ),
        (
            {"ItemReader": {"Resource": "arn:aws:states:::dynamodb:scan", "Parameters": {"Bucket": "b"}}},
            DISTRIBUTED,
            UnsupportedAslError,
            "ItemReader.Resource",
        ),
        (
            {
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "b"},
                    "WriterConfig": {"OutputType": "JSONL"},
                }
            },
            DISTRIBUTED,
            UnsupportedAslError,
            "ResultWriter.WriterConfig",
        ),
    ],
)
def test_distributed_map_refusals_name_the_field(
    fields: dict[str, Any], processor_config: dict[str, Any], error: type[Exception], field: str
) -> None:
    definition = machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": processor_config, **machine({"P": PASS})},
                "End": True,
                **fields,
            }
        }
    )
    with pytest.raises(error) as info:
        make(definition, buckets=FolderBuckets({}))
    assert getattr(info.value, "field", None) == field and field in str(info.value)


def test_a_distributed_map_reading_s3_needs_buckets() -> None:
    definition = _distributed(
        machine({"P": PASS}),
        ItemReader={"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "b"}},
    )
    with pytest.raises(UnsupportedAslError, match=r"'M', field 'ItemReader'.*no local buckets"):
        make(definition)
