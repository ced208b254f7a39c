"""Choice state rules for the local ASL interpreter: comparison operators and And/Or/Not."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tonearm.adapters.local.asl_paths import json_equal, parse_path, parse_timestamp, path_exists, read_path

_COMPARISONS: dict[str, str] = {
    **{
        f"{family}{relation}": kind
        for family, kind in (("String", "string"), ("Numeric", "number"), ("Timestamp", "timestamp"))
        for relation in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
    },
    "BooleanEquals": "boolean",
}

# Every Choice operator and the kind of operand it takes (checked when the runner is built).
CHOICE_OPERATORS: dict[str, str] = {
    **_COMPARISONS,
    **{f"{test}Path": "path" for test in _COMPARISONS},
    "StringMatches": "string",
    **{
        test: "boolean"
        for test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
    },
}

_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": _is_number,
    "IsString": lambda value: isinstance(value, str),
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: parse_timestamp(value) is not None,
}


def rule_matches(rule: dict[str, Any], data: Any, context: Any) -> bool:
    """Whether a Choice rule matches the effective input ``data`` (``context`` is ``$$``)."""
    if "And" in rule:
        return all(rule_matches(nested, data, context) for nested in rule["And"])
    if "Or" in rule:
        return any(rule_matches(nested, data, context) for nested in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], data, context)
    variable = parse_path(rule["Variable"])
    test = next(key for key in rule if key in CHOICE_OPERATORS)
    expected = rule[test]
    if test == "IsPresent":
        return path_exists(variable, data, context) == expected
    # Every other operator fails the execution when the Variable is missing, as in AWS.
    value = read_path(variable, data, context)
    if test in _TYPE_TESTS:
        return _TYPE_TESTS[test](value) == expected
    if test.endswith("Path"):
        test, expected = test.removesuffix("Path"), read_path(parse_path(expected), data, context)
    return _compare(test, value, expected)


def _compare(test: str, value: Any, expected: Any) -> bool:
    """A typed comparison; operands of the wrong type simply do not match."""
    if test == "StringMatches":
        return isinstance(value, str) and _wildcard(expected).fullmatch(value) is not None
    family = next(
        prefix for prefix in ("String", "Numeric", "Boolean", "Timestamp") if test.startswith(prefix)
    )
    relation = _RELATIONS[test.removeprefix(family)]
    if family == "String":
        return isinstance(value, str) and isinstance(expected, str) and relation(value, expected)
    if family == "Numeric":
        return _is_number(value) and _is_number(expected) and relation(value, expected)
    if family == "Boolean":
        return isinstance(value, bool) and isinstance(expected, bool) and json_equal(value, expected)
    left, right = parse_timestamp(value), parse_timestamp(expected)
    return left is not None and right is not None and relation(left, right)


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literal."""
    parts: list[str] = []
    pos = 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\" and pos + 1 < len(pattern):
            parts.append(re.escape(pattern[pos + 1]))
            pos += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        pos += 1
    return re.compile("".join(parts), re.DOTALL)
