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
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        # An API family with its own error envelope (SAMI's, Sofy's) registers a shaper for its paths.
        shapers: dict[str, ValidationShaper] = getattr(request.app.state, "validation_shapers", {})
        shaper = shapers.get(request.url.path)
        if shaper is not None:
            return shaper(ValidationFailure(problems or "invalid request", jsonable_encoder(exc.errors())))
        return error_response(400, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; it has been logged")
