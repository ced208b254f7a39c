"""Invoking the template's functions in-process, as Lambda would: JSON in, JSON out."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from tonearm.local_stack.lambda_context import LocalLambdaContext
from tonearm.local_stack.template import FunctionDef, LocalTemplate, TemplateError

Handler = Callable[[Any, Any], Any]


class LocalFunctions:
    """Loads each function's handler module once (from its CodeUri or Docker context) and calls it."""

    def __init__(self, template: LocalTemplate) -> None:
        self.definitions: dict[str, FunctionDef] = template.functions()
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def handler(self, logical_id: str) -> Handler:
        """The handler callable of a function, importing its module on first use."""
        with self._lock:
            if logical_id not in self._handlers:
                self._handlers[logical_id] = self._load(logical_id)
            return self._handlers[logical_id]

    def _load(self, logical_id: str) -> Handler:
        definition = self.definitions.get(logical_id)
        if definition is None:
            raise TemplateError(f"no function {logical_id!r} in the template")
        if not definition.module_file.is_file():
            raise TemplateError(f"{logical_id}: handler module {definition.module_file} does not exist")
        name = f"tonearm_function_{logical_id}"
        spec = importlib.util.spec_from_file_location(name, definition.module_file)
        if spec is None or spec.loader is None:
            raise TemplateError(f"{logical_id}: cannot import {definition.module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        handler = getattr(module, definition.attribute, None)
        if not callable(handler):
            raise TemplateError(
                f"{logical_id}: {definition.module_file} has no callable {definition.attribute!r}"
            )
        return handler

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Call the function with a JSON copy of ``event``; return a JSON copy of its result."""
        payload = json.loads(json.dumps(event))
        result = self.handler(logical_id)(payload, LocalLambdaContext(function_name=logical_id))
        return json.loads(json.dumps(result))
