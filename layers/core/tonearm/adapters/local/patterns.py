"""EventBridge event-pattern matching, for the local bus to route events by the template's rules.

Supported: exact values (lists of strings, numbers, booleans, null), nested objects, and the
operators ``prefix``, ``suffix``, ``anything-but`` (value, list or ``{"prefix": ...}``), ``exists``,
``equals-ignore-case``, ``wildcard`` and ``numeric``. Anything else raises ``UnsupportedPatternError``
when the rule is loaded, so a rule is never silently ignored.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable, Mapping
from typing import Any

from tonearm.errors import TonearmError

_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case", "wildcard", "numeric"}


class UnsupportedPatternError(TonearmError):
    """An event pattern uses something the local bus cannot evaluate."""

    code = "unsupported_event_pattern"
    status = 500


def validate_pattern(pattern: Mapping[str, Any], path: str = "") -> None:
    """Raise ``UnsupportedPatternError`` if ``pattern`` uses an operator this module does not implement."""
    for key, spec in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(spec, Mapping):
            validate_pattern(spec, where)
            continue
        if not isinstance(spec, list):
            raise UnsupportedPatternError(f"pattern field {where!r} must be a list or an object")
        for item in spec:
            if isinstance(item, Mapping):
                unknown = set(item) - _OPERATORS
                if unknown or len(item) != 1:
                    raise UnsupportedPatternError(
                        f"pattern field {where!r} uses unsupported matcher {dict(item)!r}; "
                        f"supported: {', '.join(sorted(_OPERATORS))}"
                    )


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern``."""
    for key, spec in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(spec, Mapping):
            if not isinstance(value, Mapping) or not matches(spec, value):
                return False
        elif not _field_matches(spec, value):
            return False
    return True


def _field_matches(spec: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_matcher_matches(m, v) for m in spec for v in values) or (
        value is _MISSING and any(isinstance(m, Mapping) and m.get("exists") is False for m in spec)
    )


def _matcher_matches(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return value is not _MISSING and matcher == value
    (op, arg), *_ = matcher.items()
    if op == "exists":
        return bool(arg) == (value is not _MISSING)
    if value is _MISSING:
        return False
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, arg)
    if op == "anything-but":
        if isinstance(arg, Mapping):
            return not _matcher_matches(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    if op == "numeric":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        pairs = zip(arg[::2], arg[1::2], strict=True)
        return all(_NUMERIC_OPS[o](float(value), float(n)) for o, n in pairs)
    return False
