"""JSON that arrives as text inside a request (SAMI's ``payload`` string), parsed only once it is known to
be small and shallow.

Python's parser recurses once per level: a string nested a thousand deep ends in a ``RecursionError`` (a
500, as SAMI's ``payload`` once did), and anything it does parse is then walked again by validation. So
the depth is counted on the text first, without recursion, and the bounds are those of every other
free-form JSON tonearm takes (``tonearm.jobs.model.MAX_JSON_DEPTH``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tonearm.errors import ParameterError
from tonearm.jobs.model import MAX_JSON_DEPTH

#: A JSON string literal (escapes included): what the depth count skips, brackets in text not counting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def text_depth(text: str) -> int:
    """How deeply the JSON ``text`` nests (``{"a": [1]}`` is 2), counted without parsing it.

    For text that is not JSON the count is only an estimate; the parser then refuses it anyway.
    """
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def loads_bounded(text: str, *, what: str, max_chars: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)`` once ``text`` is at most ``max_chars`` long and nests at most ``max_depth``
    deep; else (or for text that is not JSON) a ``ParameterError`` naming ``what``."""
    if len(text) > max_chars:
        raise ParameterError(f"{what} is {len(text)} characters; the limit is {max_chars}")
    if text_depth(text) > max_depth:
        raise ParameterError(f"{what} nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ParameterError(f"{what} is not valid JSON: {exc}") from exc
