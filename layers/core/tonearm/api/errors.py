"""The one place errors become HTTP responses: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tonearm.errors import TonearmError

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ErrorBody(BaseModel):
    """The error object."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body."""

    error: ErrorBody


@dataclass(frozen=True)
class ValidationFailure:
    """A request FastAPI could not validate, for the shaper of the API family that owns the path."""

    #: every problem as ``loc: msg``, joined by ``; `` (``loc`` starts with ``body``/``query``/...)
    message: str
    #: FastAPI's own error list, JSON-ready (what its default 422 puts under ``detail``)
    errors: list[dict[str, Any]]


#: Turns a validation failure into that API family's reply (registered per path in
#: ``app.state.validation_shapers``; paths without one get ``400 invalid_request``).
ValidationShaper = Callable[[ValidationFailure], Response]


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """Build the error envelope."""
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def install_error_handlers(app: FastAPI) -> None:
    """Map tonearm errors, validation errors, HTTP errors and crashes to the error envelope."""

    @app.exception_handler(TonearmError)
    async def _tonearm(_: Request, exc: TonearmError) -> JSONResponse:
        if exc.status >= 500:
            logger.error("request failed: %s", exc.message)
        response = error_response(exc.status, exc.code, exc.message)
        # An error that knows when to come back (503 busy: the decode slots were full) says so.
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(max(1, int(retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        failure = ValidationFailure(problems or "invalid request", jsonable_encoder(exc.errors()))
        return _shaped(request, failure) or error_response(400, "invalid_request", failure.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (not UTF-8, nested past the parser's depth, a broken
            # multipart form): a body that could not be read is invalid input, answered as a body that
            # does not validate is, in the envelope of the API family that owns the path
            failure = _unreadable_body(request, exc)
            return _shaped(request, failure) or error_response(400, "invalid_request", failure.message)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # every method the path answers, not only those of the first route that matched it
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; it has been logged")


def _shaped(request: Request, failure: ValidationFailure) -> Response | None:
    """The reply of the API family that owns the path (SAMI's, Sofy's, MusicFlow's register a shaper in
    ``app.state.validation_shapers``), or ``None`` for tonearm's own envelope."""
    shapers: dict[str, ValidationShaper] = getattr(request.app.state, "validation_shapers", {})
    shaper = shapers.get(request.url.path)
    return shaper(failure) if shaper is not None else None


def _unreadable_body(request: Request, exc: StarletteHTTPException) -> ValidationFailure:
    """A body FastAPI could not parse, as a validation failure at ``body`` (its JSON error's shape)."""
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        reason = "the JSON nests too deeply"
    elif isinstance(cause, UnicodeDecodeError):
        reason = "the body is not UTF-8 JSON"
    else:
        reason = str(exc.detail)
    json_body = "json" in request.headers.get("content-type", "").lower()
    error: dict[str, Any] = {
        "type": "json_invalid" if json_body else "body_invalid",
        "loc": ["body"],
        "msg": reason,
        "input": {},
    }
    return ValidationFailure(f"body: {reason}", [error])


#: The methods ``allowed_methods`` asks the routes about.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers at the request's path (``Allow`` of a 405).

    Each method is put to the routes as the router would (``matches``: included routers answer it too),
    rather than read from route objects whose layout is FastAPI's business.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
