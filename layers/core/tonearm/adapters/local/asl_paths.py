"""JSONPath, payload templates and intrinsic functions for the local ASL interpreter.

Everything here is pure data manipulation shared by the validator (``asl_validate``) and the
interpreter (``asl``). Parsing happens once per distinct expression string (cached) and raises
``AslSyntaxError``, which the validator turns into a definition error naming the state and field;
evaluation raises ``StatesError`` with the ASL error name the state fails with, as AWS would.

Supported JSONPath: ``$``, ``$$`` (context object), ``.name``, ``['name']``, ``[0]``, ``[*]`` and ``.*``.
Recursive descent, filters and slices are rejected at construction time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

RUNTIME = "States.Runtime"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"

# AWS reports these as States.Runtime-class failures: no Retry or Catch (not even States.ALL) handles them.
TERMINAL_ERRORS = frozenset({RUNTIME, INTRINSIC_FAILURE, NO_CHOICE_MATCHED, DATA_LIMIT_EXCEEDED})


class StatesError(Exception):
    """A state failed at run time with an ASL error name and an optional cause."""

    def __init__(self, error: str | None, cause: str | None = None, *, terminal: bool = False) -> None:
        super().__init__(f"{error}: {cause}" if cause else str(error))
        self.error = error
        self.cause = cause
        self.terminal = terminal or error in TERMINAL_ERRORS
        self.state: str | None = None  # the innermost state that failed, set by the interpreter


class AslSyntaxError(ValueError):
    """A path, payload template or intrinsic function is malformed."""


def runtime_error(message: str) -> StatesError:
    """A ``States.Runtime`` failure (bad path, wrong type), which fails the whole execution."""
    return StatesError(RUNTIME, message)


# --------------------------------------------------------------------------------------------- JSONPath

# None is the wildcard segment; str a field name; int an array index.
Segment = str | int | None


@dataclass(frozen=True)
class JsonPath:
    """A parsed JSONPath; ``context`` is true for ``$$`` paths into the context object."""

    text: str
    context: bool
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        """True when the path selects at most one node (no wildcard)."""
        return None not in self.segments

    @property
    def is_reference(self) -> bool:
        """True for a ``$``-rooted path of field names only, the form ResultPath accepts."""
        return not self.context and all(isinstance(segment, str) for segment in self.segments)


_NAME = re.compile(r"[^.\[\]\s'\"()]+")
_BRACKET = re.compile(r"\[\s*(?:'([^']*)'|\"([^\"]*)\"|(\d+)|(\*))\s*\]")


@lru_cache(maxsize=4096)
def parse_path(text: str) -> JsonPath:
    """Parse a JSONPath; raises ``AslSyntaxError`` for anything outside the supported subset."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise AslSyntaxError(f"{text!r} is not a JSONPath (it must start with '$')")
    context = text.startswith("$$")
    pos = 2 if context else 1
    segments: list[Segment] = []
    while pos < len(text):
        if text.startswith("..", pos):
            raise AslSyntaxError(f"{text!r}: recursive descent '..' is not supported")
        if text.startswith(".*", pos):
            segments.append(None)
            pos += 2
        elif text[pos] == ".":
            name = _NAME.match(text, pos + 1)
            if name is None:
                raise AslSyntaxError(f"{text!r}: expected a field name at position {pos + 1}")
            segments.append(name.group())
            pos = name.end()
        elif text[pos] == "[":
            pos = _parse_bracket(text, pos, segments)
        else:
            raise AslSyntaxError(f"{text!r}: unexpected {text[pos]!r} at position {pos}")
    return JsonPath(text, context, tuple(segments))


def _parse_bracket(text: str, pos: int, segments: list[Segment]) -> int:
    match = _BRACKET.match(text, pos)
    if match is None:
        raise AslSyntaxError(
            f"{text!r}: unsupported bracket expression at position {pos} "
            "(only ['name'], [index] and [*] are supported; no filters or slices)"
        )
    single, double, index, star = match.groups()
    if star:
        segments.append(None)
    elif index is not None:
        segments.append(int(index))
    else:
        segments.append(single if single is not None else double)
    return match.end()


_MISSING: Any = object()


def _step(node: Any, segment: str | int) -> Any:
    if isinstance(segment, str):
        return node.get(segment, _MISSING) if isinstance(node, dict) else _MISSING
    if isinstance(node, list) and 0 <= segment < len(node):
        return node[segment]
    return _MISSING


def _collect(node: Any, segments: tuple[Segment, ...]) -> list[Any]:
    if not segments:
        return [node]
    head, rest = segments[0], segments[1:]
    if head is None:
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        return [found for child in children for found in _collect(child, rest)]
    child = _step(node, head)
    return [] if child is _MISSING else _collect(child, rest)


def read_path(path: JsonPath, data: Any, context: Any) -> Any:
    """The node ``path`` selects (a list of matches for wildcard paths).

    A definite path that selects nothing fails with ``States.Runtime``, as AWS does.
    """
    root = context if path.context else data
    if not path.definite:
        return _collect(root, path.segments)
    node = root
    for segment in path.segments:
        assert segment is not None  # definite paths have no wildcard
        node = _step(node, segment)
        if node is _MISSING:
            raise runtime_error(f"Invalid path '{path.text}': no results for the path in the input")
    return node


def path_exists(path: JsonPath, data: Any, context: Any) -> bool:
    """Whether a definite path selects a node (Choice ``IsPresent``)."""
    try:
        read_path(path, data, context)
    except StatesError:
        return False
    return True


def write_path(path: JsonPath, data: Any, value: Any) -> Any:
    """A copy of ``data`` with ``value`` placed at the reference path (ResultPath semantics).

    Missing intermediate objects are created; a non-object in the way fails with ``States.Runtime``.
    """
    if not path.segments:
        return value
    return _assign(data, path, 0, value)


def _assign(node: Any, path: JsonPath, depth: int, value: Any) -> dict[str, Any]:
    if not isinstance(node, dict):
        shown = "$" + "".join(f".{segment}" for segment in path.segments[:depth])
        raise runtime_error(f"Unable to apply ResultPath '{path.text}': '{shown}' is not a JSON object")
    key = path.segments[depth]
    assert isinstance(key, str)  # the validator only lets reference paths through
    updated = dict(node)  # copy along the path only; everything else is shared, never mutated
    if depth == len(path.segments) - 1:
        updated[key] = value
    else:
        updated[key] = _assign(node.get(key, {}), path, depth + 1, value)
    return updated


# --------------------------------------------------------------------------------- intrinsic functions


@dataclass(frozen=True)
class Literal:
    """A literal argument; ``raw`` keeps a string's escapes, which ``States.Format`` interprets."""

    value: Any
    raw: str | None = None


@dataclass(frozen=True)
class Call:
    """An intrinsic function call such as ``States.Format('{}', $.name)``."""

    name: str
    args: tuple[Argument, ...]


Argument = Literal | JsonPath | Call
Expression = JsonPath | Call

# name -> (minimum, maximum) argument count; None is unbounded.
_ARITY: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}

INTRINSIC_FUNCTIONS = frozenset(_ARITY)


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> Expression:
    """Parse the value of a ``.$`` field: a JSONPath (``$``/``$$``) or an intrinsic function call."""
    if not isinstance(text, str):
        raise AslSyntaxError(f"{text!r} must be a string holding a JSONPath or an intrinsic function")
    stripped = text.strip()
    if stripped.startswith("States."):
        return _IntrinsicParser(stripped).parse()
    if stripped.startswith("$"):
        return parse_path(stripped)
    raise AslSyntaxError(f"{text!r} is neither a JSONPath nor an intrinsic function")


_CALL_START = re.compile(r"(States\.[A-Za-z0-9]+)\s*\(")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEYWORD = re.compile(r"(true|false|null)\b")


class _IntrinsicParser:
    """A recursive-descent parser for one intrinsic function call."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> AslSyntaxError:
        return AslSyntaxError(f"{self.text!r}: {message} at position {self.pos}")

    def parse(self) -> Call:
        call = self.call()
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the closing parenthesis")
        return call

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> Call:
        start = _CALL_START.match(self.text, self.pos)
        if start is None:
            raise self.fail("expected an intrinsic function call like States.Format(...)")
        name = start.group(1)
        if name not in _ARITY:
            raise self.fail(f"unknown intrinsic function {name}")
        self.pos = start.end()
        args = self.arguments()
        _check_call(name, args)
        return Call(name, tuple(args))

    def arguments(self) -> list[Argument]:
        args: list[Argument] = []
        self.skip_space()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return args
        while True:
            self.skip_space()
            args.append(self.argument())
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.text.startswith(")", self.pos):
                self.pos += 1
                return args
            else:
                raise self.fail("expected ',' or ')'")

    def argument(self) -> Argument:
        if self.text.startswith("'", self.pos):
            return self.string()
        if self.text.startswith("States.", self.pos):
            return self.call()
        if self.text.startswith("$", self.pos):
            return self.path()
        number = _NUMBER.match(self.text, self.pos)
        if number is not None:
            self.pos = number.end()
            return Literal(json.loads(number.group()))
        keyword = _KEYWORD.match(self.text, self.pos)
        if keyword is not None:
            self.pos = keyword.end()
            return Literal(json.loads(keyword.group()))
        raise self.fail("expected a string, number, boolean, null, path or intrinsic function")

    def string(self) -> Literal:
        self.pos += 1
        start = self.pos
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return Literal("".join(chars), raw)
            else:
                chars.append(char)
                self.pos += 1
        raise self.fail("unterminated string literal")

    def path(self) -> JsonPath:
        start, depth, quote = self.pos, 0, ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif depth == 0 and (char in ",)" or char.isspace()):
                break
            self.pos += 1
        return parse_path(self.text[start : self.pos])


def _check_call(name: str, args: list[Argument]) -> None:
    low, high = _ARITY[name]
    if len(args) < low or (high is not None and len(args) > high):
        expected = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        raise AslSyntaxError(f"{name} takes {expected} argument(s), got {len(args)}")
    template = args[0] if args else None
    if name == "States.Format" and isinstance(template, Literal):
        if template.raw is None:
            raise AslSyntaxError("States.Format's first argument must be a string")
        placeholders = _count_placeholders(template.raw)
        if placeholders != len(args) - 1:
            raise AslSyntaxError(
                f"States.Format template has {placeholders} placeholder(s) but {len(args) - 1} argument(s)"
            )


def _count_placeholders(raw: str) -> int:
    count, pos = 0, 0
    while pos < len(raw):
        if raw[pos] == "\\":
            pos += 2
        elif raw.startswith("{}", pos):
            count += 1
            pos += 2
        else:
            pos += 1
    return count


def evaluate(expression: Expression, data: Any, context: Any) -> Any:
    """Evaluate a parsed ``.$`` expression against the effective input and the context object."""
    if isinstance(expression, JsonPath):
        return read_path(expression, data, context)
    return _call(expression, data, context)


def _call(call: Call, data: Any, context: Any) -> Any:
    values = [_argument(arg, data, context) for arg in call.args]
    try:
        if call.name == "States.Format":
            first = call.args[0]
            raw = first.raw if isinstance(first, Literal) and first.raw is not None else values[0]
            return _format(raw, values[1:])
        return _FUNCTIONS[call.name](*values)
    except _IntrinsicArgumentError as exc:
        raise StatesError(INTRINSIC_FAILURE, f"Invalid arguments in {call.name}: {exc}") from None


def _argument(arg: Argument, data: Any, context: Any) -> Any:
    if isinstance(arg, Literal):
        return arg.value
    return evaluate(arg, data, context)


class _IntrinsicArgumentError(Exception):
    """An intrinsic got a value of the wrong type or range; becomes States.IntrinsicFailure."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _IntrinsicArgumentError(message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any, what: str) -> int:
    is_integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    _require(_is_number(value) and is_integral, f"{what} must be an integer, got {value!r}")
    return int(value)


def _string(value: Any, what: str) -> str:
    _require(isinstance(value, str), f"{what} must be a string, got {value!r}")
    return str(value)


def _array(value: Any, what: str) -> list[Any]:
    _require(isinstance(value, list), f"{what} must be an array, got {value!r}")
    return list(value)


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's ``==``, ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def to_json(value: Any) -> str:
    """Compact JSON text, as ``States.JsonToString`` and AWS's own serialisation produce."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _format(raw: Any, values: list[Any]) -> str:
    template = _string(raw, "the template")
    out: list[str] = []
    remaining = iter(values)
    pos = 0
    while pos < len(template):
        if template[pos] == "\\" and pos + 1 < len(template):
            out.append(template[pos + 1])
            pos += 2
        elif template.startswith("{}", pos):
            value = next(remaining, _MISSING)
            _require(value is not _MISSING, "more placeholders than arguments")
            _require(not isinstance(value, dict | list), f"cannot format an object or array: {value!r}")
            out.append(value if isinstance(value, str) else to_json(value))
            pos += 2
        else:
            out.append(template[pos])
            pos += 1
    _require(next(remaining, _MISSING) is _MISSING, "more arguments than placeholders")
    return "".join(out)


def _string_to_json(text: Any) -> Any:
    try:
        return json.loads(_string(text, "the argument"))
    except json.JSONDecodeError as exc:
        raise _IntrinsicArgumentError(f"not valid JSON: {exc}") from None


def _array_partition(array: Any, size: Any) -> list[Any]:
    items, chunk = _array(array, "the array"), _integer(size, "the chunk size")
    _require(chunk > 0, "the chunk size must be positive")
    return [items[start : start + chunk] for start in range(0, len(items), chunk)]


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    first, last, stride = _integer(start, "start"), _integer(end, "end"), _integer(step, "step")
    _require(stride != 0, "step must not be 0")
    values = list(range(first, last + (1 if stride > 0 else -1), stride))
    _require(len(values) <= 1000, "the range has more than 1000 items")
    return values


def _array_get_item(array: Any, index: Any) -> Any:
    items, position = _array(array, "the array"), _integer(index, "the index")
    _require(0 <= position < len(items), f"index {position} is out of range")
    return items[position]


def _array_unique(array: Any) -> list[Any]:
    unique: list[Any] = []
    for item in _array(array, "the array"):
        if not any(json_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _base64_decode(text: Any) -> str:
    try:
        return base64.b64decode(_string(text, "the argument"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _IntrinsicArgumentError(f"not valid base64 text: {exc}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any) -> str:
    name = _string(algorithm, "the algorithm")
    _require(name in _HASHES, f"unsupported algorithm {name!r} (use one of {sorted(_HASHES)})")
    return hashlib.new(_HASHES[name], _string(data, "the data").encode("utf-8")).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    _require(isinstance(left, dict) and isinstance(right, dict), "both arguments must be objects")
    _require(deep is False, "only shallow merges (false) are supported, as in AWS")
    return {**left, **right}


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    low, high = _integer(start, "start"), _integer(end, "end")
    _require(low < high, "start must be less than end")
    generator = random.Random(_integer(seed, "seed")) if seed is not None else random
    return generator.randrange(low, high)


def _round_half_up(value: Any, what: str) -> int:
    _require(_is_number(value), f"{what} must be a number, got {value!r}")
    # AWS rounds non-integer operands to the nearest integer (Java's Math.round: halves go up).
    return math.floor(value + 0.5)


def _math_add(left: Any, right: Any) -> int:
    return _round_half_up(left, "the first value") + _round_half_up(right, "the second value")


def _string_split(text: Any, delimiters: Any) -> list[str]:
    source, separators = _string(text, "the string"), _string(delimiters, "the delimiter")
    _require(separators != "", "the delimiter must not be empty")
    # Every character of the delimiter separates, and empty pieces are dropped (Java StringTokenizer).
    pattern = "[" + re.escape(separators) + "]"
    return [piece for piece in re.split(pattern, source) if piece]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.StringToJson": _string_to_json,
    "States.JsonToString": to_json,
    "States.Array": lambda *values: list(values),
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": lambda array, value: any(
        json_equal(item, value) for item in _array(array, "the array")
    ),
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": lambda array: len(_array(array, "the array")),
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": lambda text: base64.b64encode(_string(text, "the argument").encode()).decode(),
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": lambda: str(uuid.uuid4()),
}


# ----------------------------------------------------------------------------------- payload templates


def check_template(template: Any) -> None:
    """Parse every ``.$`` expression in a payload template; raises ``AslSyntaxError`` naming the key."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                try:
                    parse_expression(value)
                except AslSyntaxError as exc:
                    raise AslSyntaxError(f"key {key!r}: {exc}") from None
            else:
                check_template(value)
    elif isinstance(template, list):
        for item in template:
            check_template(item)


def apply_template(template: Any, data: Any, context: Any) -> Any:
    """Build a payload: ``key.$`` fields are evaluated, everything else is copied as is."""
    if isinstance(template, dict):
        built: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                built[key[:-2]] = evaluate(parse_expression(value), data, context)
            else:
                built[key] = apply_template(value, data, context)
        return built
    if isinstance(template, list):
        return [apply_template(item, data, context) for item in template]
    return template


def evaluate_text(text: str, data: Any, context: Any) -> Any:
    """Evaluate a path-or-intrinsic string field such as a Fail state's ``ErrorPath``."""
    return evaluate(parse_expression(text), data, context)


# ------------------------------------------------------------------------------------------ timestamps

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:Z|[+-]\d{2}:\d{2})")


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (uppercase ``T`` and ``Z``, as ASL requires) as an aware datetime, else None."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    fraction = match.group(1)
    # fromisoformat wants exactly 3 or 6 fraction digits; ASL allows any number.
    text = value.replace(f".{fraction}", f".{fraction[:6].ljust(6, '0')}", 1) if fraction else value
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
