"""Construction-time validation of an ASL definition for the local interpreter.

The local runner must never silently skip part of a state machine, so every field of every state
(recursively, into Parallel branches and Map processors) is checked here before anything runs:
malformed definitions raise ``AslDefinitionError``; valid ASL that the runner cannot execute
faithfully (JSONata, variables, heartbeats, distributed Map, non-Lambda resources...) raises
``UnsupportedAslError``. Both name the state and the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, NoReturn

from tonearm.adapters.local.asl_choice import CHOICE_OPERATORS
from tonearm.adapters.local.asl_paths import (
    AslSyntaxError,
    check_template,
    parse_expression,
    parse_path,
    parse_timestamp,
)
from tonearm.errors import TonearmError


class AslError(TonearmError):
    """A state machine definition the local runner refuses; ``state``/``field`` locate the problem."""

    def __init__(self, message: str, *, state: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.field = field


class AslDefinitionError(AslError):
    """The definition is not valid ASL (missing Next, unknown state target, unknown field...)."""

    code = "invalid_asl"
    status = 500


class UnsupportedAslError(AslError):
    """Valid ASL that the local runner cannot execute faithfully."""

    code = "unsupported_asl"
    status = 500


LAMBDA_INVOKE = re.compile(r"arn:aws[a-z-]*:states:::lambda:invoke")
LAMBDA_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]*:\d*:function:[A-Za-z0-9_-]+(:[\w$-]+)?")

_MAX_INT = 99_999_999  # the largest value AWS accepts for seconds and attempt counts

_IO = frozenset({"Type", "Comment", "QueryLanguage", "InputPath", "OutputPath"})
_FLOW = frozenset({"Next", "End"})
_RESULT = frozenset({"ResultPath", "Parameters"})
_HANDLED = frozenset({"ResultSelector", "Retry", "Catch"})
#: fields only a distributed Map may have; a tuple so an inline Map's error names the same one each run
_DISTRIBUTED_ONLY = (
    "ItemReader",
    "ResultWriter",
    "Label",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
)

_FIELDS: dict[str, frozenset[str]] = {
    "Pass": _IO | _FLOW | _RESULT | {"Result"},
    "Task": _IO | _FLOW | _RESULT | _HANDLED | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath"},
    "Choice": _IO | {"Choices", "Default"},
    "Wait": _IO | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _IO,
    "Fail": frozenset({"Type", "Comment", "QueryLanguage", "Error", "ErrorPath", "Cause", "CausePath"}),
    "Parallel": _IO | _FLOW | _RESULT | _HANDLED | {"Branches"},
    "Map": _IO
    | _FLOW
    | _RESULT
    | _HANDLED
    | {"ItemSelector", "ItemsPath", "MaxConcurrency", "MaxConcurrencyPath", "Iterator", "ItemProcessor"}
    | set(_DISTRIBUTED_ONLY),
}

_JSONATA = "is JSONata-only; the local runner supports the JSONPath query language only"
_BATCHING = "batches a distributed Map's items, which the local runner does not support"

# Real ASL fields the runner deliberately does not implement, with the reason shown to the user.
_UNSUPPORTED_FIELDS = {
    "Assign": "sets workflow variables, which the local runner does not support",
    "Arguments": _JSONATA,
    "Output": _JSONATA,
    "Items": _JSONATA,
    "Condition": _JSONATA,
    "HeartbeatSeconds": "needs task heartbeats, which the local runner does not support",
    "HeartbeatSecondsPath": "needs task heartbeats, which the local runner does not support",
    "Credentials": "assumes another role, which the local runner does not support",
    "ItemBatcher": _BATCHING,
}

_RETRIER_FIELDS = frozenset(
    {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
)
_LAMBDA_INVOKE_PARAMETERS = frozenset({"FunctionName", "Payload", "InvocationType"})


def _where(prefix: str, name: str) -> str:
    return f"{prefix} > {name}" if prefix else name


def _describe(state: str | None, field: str | None) -> str:
    place = f"State '{state}'" if state else "State machine"
    return f"{place}, field '{field}'" if field else place


def definition_error(message: str, state: str | None = None, field: str | None = None) -> NoReturn:
    """Raise ``AslDefinitionError`` with a message that names the state and the field."""
    raise AslDefinitionError(f"{_describe(state, field)}: {message}", state=state, field=field)


def unsupported(message: str, state: str | None = None, field: str | None = None) -> NoReturn:
    """Raise ``UnsupportedAslError`` with a message that names the state and the field."""
    raise UnsupportedAslError(f"{_describe(state, field)}: {message}", state=state, field=field)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= _MAX_INT


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_definition(definition: Any) -> dict[str, Any]:
    """Check a whole state machine and return it; raises ``AslDefinitionError``/``UnsupportedAslError``."""
    if not isinstance(definition, dict):
        definition_error("the definition must be a JSON object")
    allowed = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
    _check_fields(definition, allowed, None)
    if "Version" in definition and not isinstance(definition["Version"], str):
        definition_error("must be a string", None, "Version")
    if "TimeoutSeconds" in definition and not _is_int(definition["TimeoutSeconds"], 1):
        definition_error("must be a positive integer", None, "TimeoutSeconds")
    _check_scope(definition, "")
    return definition


def _check_fields(
    node: dict[str, Any], allowed: Collection[str], state: str | None, prefix: str = ""
) -> None:
    for field in node:
        label = f"{prefix}.{field}" if prefix else field
        if field == "QueryLanguage" and not prefix:
            _check_query_language(node[field], state)
        elif field in _UNSUPPORTED_FIELDS:
            unsupported(f"'{field}' {_UNSUPPORTED_FIELDS[field]}", state, label)
        elif field not in allowed and field != "Comment":
            definition_error(f"unknown field '{field}' here", state, label)


def _check_query_language(value: Any, state: str | None) -> None:
    if value == "JSONata":
        unsupported("JSONata is not supported by the local runner; use JSONPath", state, "QueryLanguage")
    if value != "JSONPath":
        definition_error(f"must be 'JSONPath' or 'JSONata', got {value!r}", state, "QueryLanguage")


def _check_scope(scope: dict[str, Any], prefix: str) -> None:
    """Check a StartAt/States pair: the top level, a Parallel branch or a Map processor."""
    states = scope.get("States")
    owner = prefix or None
    if not isinstance(states, dict) or not states:
        definition_error("'States' must be a non-empty object", owner, "States")
    start = scope.get("StartAt")
    if not isinstance(start, str):
        definition_error("'StartAt' is required and must be a string", owner, "StartAt")
    if start not in states:
        definition_error(f"'StartAt' names '{start}', which is not a state here", owner, "StartAt")
    for name, state in states.items():
        _check_state(_where(prefix, name), state, states)


def _check_state(where: str, state: Any, siblings: dict[str, Any]) -> None:
    if not isinstance(state, dict):
        definition_error("a state must be a JSON object", where)
    kind = state.get("Type")
    if kind not in _FIELDS:
        definition_error(f"unknown state type {kind!r} (expected one of {sorted(_FIELDS)})", where, "Type")
    _check_fields(state, _FIELDS[kind], where)
    _check_transition(where, kind, state, siblings)
    _check_io(where, state)
    _CHECKS[kind](where, state, siblings)
    if "Retry" in state:
        _check_retriers(where, state["Retry"])
    if "Catch" in state:
        _check_catchers(where, state["Catch"], siblings)


def _check_transition(where: str, kind: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    if "Next" not in _FIELDS[kind]:
        return
    has_next, end = "Next" in state, state.get("End")
    if "End" in state and end is not True:
        definition_error("'End' must be true when present", where, "End")
    if has_next == bool(end):
        definition_error("exactly one of 'Next' or 'End: true' is required", where, "Next")
    if has_next:
        _check_target(where, "Next", state["Next"], siblings)


def _check_target(where: str, field: str, target: Any, siblings: dict[str, Any]) -> None:
    if not isinstance(target, str) or target not in siblings:
        definition_error(f"{target!r} is not a state in the same scope", where, field)


def _check_io(where: str, state: dict[str, Any]) -> None:
    for field in ("InputPath", "OutputPath"):
        if state.get(field) is not None:
            _check_path(where, field, state[field])
    if state.get("ResultPath") is not None:
        path = _check_path(where, "ResultPath", state["ResultPath"])
        if not path.is_reference:
            definition_error(
                "must be a reference path such as '$.a.b' (field names only)", where, "ResultPath"
            )
    for field in ("Parameters", "ResultSelector"):
        if field in state:
            _check_template(where, field, state[field])
    if "ResultSelector" in state and not isinstance(state["ResultSelector"], dict):
        definition_error("must be a JSON object", where, "ResultSelector")


def _check_path(where: str, field: str, value: Any) -> Any:
    if not isinstance(value, str):
        definition_error(f"must be a JSONPath string, got {value!r}", where, field)
    try:
        return parse_path(value)
    except AslSyntaxError as exc:
        definition_error(str(exc), where, field)


def _check_template(where: str, field: str, template: Any) -> None:
    try:
        check_template(template)
    except AslSyntaxError as exc:
        definition_error(str(exc), where, field)


def _check_expression(where: str, field: str, value: Any) -> None:
    try:
        parse_expression(value)
    except AslSyntaxError as exc:
        definition_error(str(exc), where, field)


# ------------------------------------------------------------------------------------- per state type


def _check_nothing(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    """Pass and Succeed need no checks beyond the common ones."""


def _check_task(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    resource = state.get("Resource")
    if not isinstance(resource, str):
        definition_error("'Resource' is required and must be a string", where, "Resource")
    if "${" in resource:
        definition_error(f"unsubstituted placeholder in {resource!r}", where, "Resource")
    if LAMBDA_INVOKE.fullmatch(resource):
        _check_lambda_invoke(where, state.get("Parameters"))
    elif not LAMBDA_FUNCTION_ARN.fullmatch(resource):
        unsupported(
            f"resource {resource!r} is not supported locally; only Lambda function ARNs and "
            "'arn:aws:states:::lambda:invoke' (request-response) are",
            where,
            "Resource",
        )
    if "TimeoutSeconds" in state and "TimeoutSecondsPath" in state:
        definition_error("'TimeoutSeconds' and 'TimeoutSecondsPath' are exclusive", where, "TimeoutSeconds")
    if "TimeoutSeconds" in state and not _is_int(state["TimeoutSeconds"], 1):
        definition_error("must be a positive integer", where, "TimeoutSeconds")
    if "TimeoutSecondsPath" in state:
        _check_path(where, "TimeoutSecondsPath", state["TimeoutSecondsPath"])


def _check_lambda_invoke(where: str, parameters: Any) -> None:
    if not isinstance(parameters, dict):
        definition_error("lambda:invoke needs 'Parameters' with a 'FunctionName'", where, "Parameters")
    names = {key.removesuffix(".$") for key in parameters}
    if "FunctionName" not in names:
        definition_error("lambda:invoke needs 'FunctionName'", where, "Parameters.FunctionName")
    for name in sorted(names - _LAMBDA_INVOKE_PARAMETERS):
        unsupported(f"lambda:invoke parameter '{name}' is not supported locally", where, f"Parameters.{name}")
    if "InvocationType.$" in parameters or parameters.get("InvocationType", "RequestResponse") != (
        "RequestResponse"
    ):
        unsupported(
            "only the 'RequestResponse' invocation type is supported", where, "Parameters.InvocationType"
        )
    function_name = parameters.get("FunctionName", "")
    if not isinstance(function_name, str):
        definition_error("must be a string", where, "Parameters.FunctionName")
    if "${" in function_name:
        definition_error(f"unsubstituted placeholder in {function_name!r}", where, "Parameters.FunctionName")


def _check_choice(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        definition_error("'Choices' must be a non-empty array", where, "Choices")
    for index, rule in enumerate(choices):
        _check_rule(where, f"Choices[{index}]", rule, siblings, top=True)
    if "Default" in state:
        _check_target(where, "Default", state["Default"], siblings)


def _check_rule(where: str, field: str, rule: Any, siblings: dict[str, Any], *, top: bool) -> None:
    if not isinstance(rule, dict):
        definition_error("a choice rule must be a JSON object", where, field)
    for key in rule:
        if key in _UNSUPPORTED_FIELDS:
            unsupported(f"'{key}' {_UNSUPPORTED_FIELDS[key]}", where, f"{field}.{key}")
    if top:
        if "Next" not in rule:
            definition_error("a top-level choice rule needs 'Next'", where, f"{field}.Next")
        _check_target(where, f"{field}.Next", rule["Next"], siblings)
    elif "Next" in rule:
        definition_error("only top-level choice rules may have 'Next'", where, f"{field}.Next")
    body = {key: value for key, value in rule.items() if key not in ("Next", "Comment")}
    combinators = [key for key in ("And", "Or", "Not") if key in body]
    if combinators:
        _check_combinator(where, field, body, combinators, siblings)
    else:
        _check_comparison(where, field, body)


def _check_combinator(
    where: str, field: str, body: dict[str, Any], combinators: list[str], siblings: dict[str, Any]
) -> None:
    key = combinators[0]
    if len(body) != 1:
        definition_error(f"'{key}' cannot be combined with {sorted(set(body) - {key})}", where, field)
    if key == "Not":
        _check_rule(where, f"{field}.Not", body["Not"], siblings, top=False)
        return
    if not isinstance(body[key], list) or not body[key]:
        definition_error(f"'{key}' must be a non-empty array of rules", where, f"{field}.{key}")
    for index, nested in enumerate(body[key]):
        _check_rule(where, f"{field}.{key}[{index}]", nested, siblings, top=False)


def _check_comparison(where: str, field: str, body: dict[str, Any]) -> None:
    if "Variable" not in body:
        definition_error("a choice rule needs 'Variable' (or And/Or/Not)", where, f"{field}.Variable")
    _check_path(where, f"{field}.Variable", body["Variable"])
    operators = [key for key in body if key != "Variable"]
    unknown = [key for key in operators if key not in CHOICE_OPERATORS]
    if unknown:
        definition_error(f"unknown choice operator '{unknown[0]}'", where, f"{field}.{unknown[0]}")
    if len(operators) != 1:
        definition_error(f"needs exactly one comparison operator, got {operators}", where, field)
    operator = operators[0]
    _check_operand(where, f"{field}.{operator}", CHOICE_OPERATORS[operator], body[operator])


def _check_operand(where: str, field: str, kind: str, value: Any) -> None:
    valid = {
        "string": isinstance(value, str),
        "number": _is_number(value),
        "boolean": isinstance(value, bool),
        "timestamp": parse_timestamp(value) is not None,
        "path": isinstance(value, str),
    }[kind]
    if not valid:
        definition_error(f"must be a {kind}, got {value!r}", where, field)
    if kind == "path":
        _check_path(where, field, value)


def _check_wait(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    given = [key for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if key in state]
    if len(given) != 1:
        definition_error(
            f"exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required, got {given}", where
        )
    field = given[0]
    value = state[field]
    if field == "Seconds" and not _is_int(value, 0):
        definition_error("must be a non-negative integer", where, field)
    if field == "Timestamp" and parse_timestamp(value) is None:
        definition_error(f"{value!r} is not an RFC 3339 timestamp", where, field)
    if field.endswith("Path"):
        _check_path(where, field, value)


def _check_fail(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    for field in ("Error", "Cause"):
        if field in state and f"{field}Path" in state:
            definition_error(f"'{field}' and '{field}Path' are exclusive", where, field)
        if field in state and not isinstance(state[field], str):
            definition_error("must be a string", where, field)
        if f"{field}Path" in state:
            _check_expression(where, f"{field}Path", state[f"{field}Path"])


def _check_parallel(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        definition_error("'Branches' must be a non-empty array", where, "Branches")
    for index, branch in enumerate(branches):
        _check_sub_machine(f"{where} > Branches[{index}]", branch, frozenset())


def _check_map(where: str, state: dict[str, Any], siblings: dict[str, Any]) -> None:
    if "ItemSelector" in state and "Parameters" in state:
        definition_error("'ItemSelector' and 'Parameters' are exclusive", where, "ItemSelector")
    if "ItemSelector" in state:
        _check_template(where, "ItemSelector", state["ItemSelector"])
    if "ItemsPath" in state:
        _check_path(where, "ItemsPath", state["ItemsPath"])
    if "MaxConcurrency" in state and "MaxConcurrencyPath" in state:
        definition_error("'MaxConcurrency' and 'MaxConcurrencyPath' are exclusive", where, "MaxConcurrency")
    if "MaxConcurrency" in state and not _is_int(state["MaxConcurrency"], 0):
        definition_error("must be a non-negative integer", where, "MaxConcurrency")
    if "MaxConcurrencyPath" in state:
        _check_path(where, "MaxConcurrencyPath", state["MaxConcurrencyPath"])
    if ("Iterator" in state) == ("ItemProcessor" in state):
        definition_error("exactly one of 'ItemProcessor' or 'Iterator' is required", where, "ItemProcessor")
    distributed = False
    if "Iterator" in state:
        _check_sub_machine(f"{where} > Iterator", state["Iterator"], frozenset())
    else:
        processor = state["ItemProcessor"]
        if isinstance(processor, dict) and "ProcessorConfig" in processor:
            distributed = _check_processor_config(where, processor["ProcessorConfig"])
        _check_sub_machine(f"{where} > ItemProcessor", processor, frozenset({"ProcessorConfig"}))
    if distributed:
        _check_distributed(where, state)
    else:
        for field in _DISTRIBUTED_ONLY:
            if field in state:
                definition_error(f"'{field}' needs a distributed Map (ProcessorConfig.Mode)", where, field)


def _check_processor_config(where: str, config: Any) -> bool:
    """Check a ProcessorConfig; return whether it makes the Map distributed."""
    field = "ItemProcessor.ProcessorConfig"
    if not isinstance(config, dict):
        definition_error("must be a JSON object", where, field)
    mode = config.get("Mode", "INLINE")
    if mode not in ("INLINE", "DISTRIBUTED"):
        definition_error(f"Mode must be INLINE or DISTRIBUTED, got {mode!r}", where, f"{field}.Mode")
    allowed = ("Mode", "Comment", "ExecutionType") if mode == "DISTRIBUTED" else ("Mode", "Comment")
    for key in config:
        if key not in allowed:
            definition_error(f"unknown field '{key}' for an {mode} processor", where, f"{field}.{key}")
    if mode == "DISTRIBUTED" and config.get("ExecutionType") not in ("STANDARD", "EXPRESS"):
        definition_error(
            "a DISTRIBUTED processor needs ExecutionType STANDARD or EXPRESS", where, f"{field}.ExecutionType"
        )
    return bool(mode == "DISTRIBUTED")


_S3_ARN = "arn:aws[a-z-]*:states:::s3:"


def _check_distributed(where: str, state: dict[str, Any]) -> None:
    """The distributed Map's own fields: ItemReader, ResultWriter, tolerated failures, Label."""
    if "ItemReader" in state and "ItemsPath" in state:
        definition_error("'ItemReader' and 'ItemsPath' are exclusive", where, "ItemsPath")
    for field in ("ToleratedFailurePercentage", "ToleratedFailureCount"):
        if field in state and f"{field}Path" in state:
            definition_error(f"'{field}' and '{field}Path' are exclusive", where, field)
        if f"{field}Path" in state:
            _check_path(where, f"{field}Path", state[f"{field}Path"])
    percent = state.get("ToleratedFailurePercentage", 0)
    if not _is_number(percent) or not 0 <= percent <= 100:
        definition_error("must be a number from 0 to 100", where, "ToleratedFailurePercentage")
    if "ToleratedFailureCount" in state and not _is_int(state["ToleratedFailureCount"], 0):
        definition_error("must be a non-negative integer", where, "ToleratedFailureCount")
    if "Label" in state and not (isinstance(state["Label"], str) and 0 < len(state["Label"]) <= 40):
        definition_error("must be a string of 1-40 characters", where, "Label")
    if "ItemReader" in state:
        _check_item_reader(where, state["ItemReader"])
    if "ResultWriter" in state:
        _check_result_writer(where, state["ResultWriter"])


def _check_s3_parameters(where: str, field: str, parameters: Any, allowed: Collection[str]) -> None:
    if not isinstance(parameters, dict):
        definition_error("'Parameters' must be a JSON object with a 'Bucket'", where, f"{field}.Parameters")
    names = {key.removesuffix(".$") for key in parameters}
    if "Bucket" not in names:
        definition_error("needs 'Bucket'", where, f"{field}.Parameters.Bucket")
    for name in sorted(names - set(allowed)):
        unsupported(f"parameter '{name}' is not supported locally", where, f"{field}.Parameters.{name}")
    _check_template(where, f"{field}.Parameters", parameters)


def _check_item_reader(where: str, reader: Any) -> None:
    if not isinstance(reader, dict):
        definition_error("must be a JSON object", where, "ItemReader")
    _check_fields(reader, {"Resource", "Parameters", "ReaderConfig"}, where, "ItemReader")
    resource = reader.get("Resource")
    config = reader.get("ReaderConfig", {})
    if not isinstance(config, dict):
        definition_error("must be a JSON object", where, "ItemReader.ReaderConfig")
    for key in config:
        if key not in ("InputType", "MaxItems"):
            unsupported(f"'{key}' is not supported locally", where, f"ItemReader.ReaderConfig.{key}")
    if "MaxItems" in config and not _is_int(config["MaxItems"], 1):
        definition_error("must be a positive integer", where, "ItemReader.ReaderConfig.MaxItems")
    if isinstance(resource, str) and re.fullmatch(_S3_ARN + "listObjectsV2", resource):
        if "InputType" in config:
            definition_error("listObjectsV2 takes no InputType", where, "ItemReader.ReaderConfig.InputType")
        _check_s3_parameters(where, "ItemReader", reader.get("Parameters"), ("Bucket", "Prefix"))
    elif isinstance(resource, str) and re.fullmatch(_S3_ARN + "getObject", resource):
        if config.get("InputType") != "JSON":
            unsupported(
                f"only InputType JSON is supported locally, got {config.get('InputType')!r}",
                where,
                "ItemReader.ReaderConfig.InputType",
            )
        _check_s3_parameters(where, "ItemReader", reader.get("Parameters"), ("Bucket", "Key"))
    else:
        unsupported(
            f"ItemReader resource {resource!r} is not supported locally; only "
            "'arn:aws:states:::s3:listObjectsV2' and 'arn:aws:states:::s3:getObject' (JSON) are",
            where,
            "ItemReader.Resource",
        )


def _check_result_writer(where: str, writer: Any) -> None:
    if not isinstance(writer, dict):
        definition_error("must be a JSON object", where, "ResultWriter")
    if "WriterConfig" in writer:
        unsupported("'WriterConfig' is not supported locally", where, "ResultWriter.WriterConfig")
    _check_fields(writer, {"Resource", "Parameters"}, where, "ResultWriter")
    resource = writer.get("Resource")
    if not (isinstance(resource, str) and re.fullmatch(_S3_ARN + "putObject", resource)):
        unsupported(
            f"ResultWriter resource {resource!r} is not supported locally; only "
            "'arn:aws:states:::s3:putObject' is",
            where,
            "ResultWriter.Resource",
        )
    _check_s3_parameters(where, "ResultWriter", writer.get("Parameters"), ("Bucket", "Prefix"))


def _check_sub_machine(where: str, machine: Any, extra: frozenset[str]) -> None:
    if not isinstance(machine, dict):
        definition_error("must be a JSON object with StartAt and States", where)
    _check_fields(machine, {"StartAt", "States"} | extra, where)
    _check_scope(machine, where)


# ------------------------------------------------------------------------------------- Retry and Catch


def _check_error_equals(where: str, field: str, handler: dict[str, Any], is_last: bool) -> None:
    names = handler.get("ErrorEquals")
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        definition_error("'ErrorEquals' must be a non-empty array of strings", where, f"{field}.ErrorEquals")
    if "States.ALL" in names and (len(names) != 1 or not is_last):
        definition_error(
            "'States.ALL' must appear alone and in the last retrier/catcher", where, f"{field}.ErrorEquals"
        )


def _check_handler_list(where: str, field: str, handlers: Any) -> list[dict[str, Any]]:
    if not isinstance(handlers, list):
        definition_error("must be an array", where, field)
    for index, handler in enumerate(handlers):
        if not isinstance(handler, dict):
            definition_error("must be a JSON object", where, f"{field}[{index}]")
    return handlers


def _check_retriers(where: str, retriers: Any) -> None:
    retriers = _check_handler_list(where, "Retry", retriers)
    for index, retrier in enumerate(retriers):
        field = f"Retry[{index}]"
        _check_fields(retrier, _RETRIER_FIELDS, where, field)
        _check_error_equals(where, field, retrier, index == len(retriers) - 1)
        checks = {
            "IntervalSeconds": (_is_int(retrier.get("IntervalSeconds", 1), 1), "a positive integer"),
            "MaxAttempts": (_is_int(retrier.get("MaxAttempts", 3), 0), "a non-negative integer"),
            "BackoffRate": (
                _is_number(retrier.get("BackoffRate", 2.0)) and retrier.get("BackoffRate", 2.0) >= 1.0,
                "a number >= 1.0",
            ),
            "MaxDelaySeconds": (_is_int(retrier.get("MaxDelaySeconds", 1), 1), "a positive integer"),
            "JitterStrategy": (retrier.get("JitterStrategy", "NONE") in ("FULL", "NONE"), "FULL or NONE"),
        }
        for key, (valid, expected) in checks.items():
            if not valid:
                definition_error(f"must be {expected}, got {retrier[key]!r}", where, f"{field}.{key}")


def _check_catchers(where: str, catchers: Any, siblings: dict[str, Any]) -> None:
    catchers = _check_handler_list(where, "Catch", catchers)
    for index, catcher in enumerate(catchers):
        field = f"Catch[{index}]"
        _check_fields(catcher, {"ErrorEquals", "Next", "ResultPath"}, where, field)
        _check_error_equals(where, field, catcher, index == len(catchers) - 1)
        _check_target(where, f"{field}.Next", catcher.get("Next"), siblings)
        if catcher.get("ResultPath") is not None:
            path = _check_path(where, f"{field}.ResultPath", catcher["ResultPath"])
            if not path.is_reference:
                definition_error("must be a reference path such as '$.error'", where, f"{field}.ResultPath")


_CHECKS = {
    "Pass": _check_nothing,
    "Succeed": _check_nothing,
    "Task": _check_task,
    "Choice": _check_choice,
    "Wait": _check_wait,
    "Fail": _check_fail,
    "Parallel": _check_parallel,
    "Map": _check_map,
}
