"""The OpenAPI document says which errors really come back: no FastAPI default that tonearm never sends.

FastAPI documents a ``422`` with its own body (``HTTPValidationError``) on every route that takes
parameters or a body. tonearm answers a request that does not validate with ``400 invalid_request`` in its
envelope (``tonearm.api.errors``), or in the shape of the API that owns the path: SAMI's is a 400, and
Sofy's and MusicFlow's routes document their own 422 on the route. So the default 422 is replaced by the
400 that is really sent, where a request can fail validation at all (a body, or a parameter that is
required or more than an optional string), and the schemas only it used are dropped. Every other status
is documented on its route (``responses=``), next to the code that answers it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

#: FastAPI's own 422 entry, recognised by the body it documents.
_DEFAULT_422_REF = "#/components/schemas/HTTPValidationError"
_DEFAULT_SCHEMAS = ("HTTPValidationError", "ValidationError")
_ERROR_REF = "#/components/schemas/ErrorResponse"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _is_default_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _DEFAULT_422_REF)


#: Keywords that make a string parameter refusable.
_STRING_CONSTRAINTS = frozenset({"minLength", "maxLength", "pattern", "enum", "const", "format"})


def _any_string(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` takes any string (or null): what an optional header or path text is."""
    variants = schema.get("anyOf", [schema])
    return all(v.get("type") in ("string", "null") and not _STRING_CONSTRAINTS & v.keys() for v in variants)


def can_fail_validation(operation: dict[str, Any]) -> bool:
    """Whether some request to ``operation`` could fail FastAPI's validation."""
    if "requestBody" in operation:
        return True
    return any(
        (p.get("required", False) and p.get("in") != "path") or not _any_string(p.get("schema", {}))
        for p in operation.get("parameters", [])
    )


def _invalid_request_400(schema: dict[str, Any]) -> dict[str, Any]:
    has_error_model = "ErrorResponse" in schema.get("components", {}).get("schemas", {})
    body = {"$ref": _ERROR_REF} if has_error_model else {"type": "object"}
    return {
        "description": "invalid_request: a parameter or the body does not validate",
        "content": {"application/json": {"schema": body}},
    }


def replace_default_422(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with FastAPI's default 422s replaced by tonearm's 400s."""
    for path_item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            default = responses.get("422")
            if default is None or not _is_default_422(default):
                continue
            del responses["422"]
            if can_fail_validation(operation):
                responses.setdefault("400", _invalid_request_400(schema))
    if _DEFAULT_422_REF not in json.dumps(schema.get("paths", {})):
        schemas = schema.get("components", {}).get("schemas", {})
        for name in _DEFAULT_SCHEMAS:  # only FastAPI's default 422 used them
            schemas.pop(name, None)
    return schema


def install_openapi_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the validation errors tonearm sends (see the module doc)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = replace_default_422(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
