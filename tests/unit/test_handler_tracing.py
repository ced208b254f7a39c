"""tonearm.handlers.tracing: the X-Ray SDK only when the deployment asks for it (issue 21)."""

from __future__ import annotations

from typing import Any

import pytest

from tonearm.handlers import tracing


def _handler(event: dict[str, Any], context: object) -> str:
    return "done"


@pytest.mark.parametrize("value", [None, "false", "0", "no", ""])
def test_without_the_sdk_the_handler_is_returned_as_is(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(tracing.XRAY_SDK_ENV, raising=False)
    else:
        monkeypatch.setenv(tracing.XRAY_SDK_ENV, value)
    assert not tracing.xray_sdk_enabled()
    assert tracing.handler_tracer().capture_lambda_handler(_handler) is _handler


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_with_the_sdk_the_handlers_get_powertools_tracer(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from aws_lambda_powertools import Tracer

    monkeypatch.setenv(tracing.XRAY_SDK_ENV, value)
    assert tracing.xray_sdk_enabled()
    tracer = tracing.handler_tracer()
    assert isinstance(tracer, Tracer)
    wrapped = tracer.capture_lambda_handler(_handler)
    assert wrapped is not _handler  # outside Lambda Powertools disables tracing, the wrapper still runs
    assert wrapped({}, None) == "done"
