"""The web page and the docs in AWS: API Gateway routes them to ApiFunction, public, and they work behind
the stage path through Mangum as they do locally."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.contract.test_contract import EVENTS, _api_events, runtime  # noqa: F401
from tonearm.local_stack.lambda_context import LocalLambdaContext
from tonearm.local_stack.runtime import LocalRuntime


@pytest.mark.parametrize("path", ["/", "/ui/{proxy+}", "/docs", "/redoc", "/openapi.json"])
def test_the_page_and_the_docs_have_public_api_gateway_events(path: str) -> None:
    event = _api_events("ApiFunction").get(("GET", path))
    assert event is not None, f"ApiFunction needs an Api event for GET {path}"
    assert event["RestApiId"] == {"Ref": "Api"}
    assert event["Auth"] == {"Authorizer": "NONE", "ApiKeyRequired": False}


def test_the_page_and_its_files_behind_the_stage(runtime: LocalRuntime) -> None:  # noqa: F811
    from tonearm.api.app import create_app
    from tonearm.handlers.api import Mangum

    settings = runtime.services.settings.model_copy(update={"api_root_path": "/prod"})
    handler = Mangum(create_app(dataclasses.replace(runtime.services, settings=settings)), lifespan="off")
    context = LocalLambdaContext(function_name="ApiFunction")

    def get(path: str, resource: str, proxy: str | None = None) -> dict[str, object]:
        event = json.loads((EVENTS / "ApiFunction" / "get_workflows.json").read_text())
        event.update(path=path, resource=resource, httpMethod="GET")
        event["pathParameters"] = {"proxy": proxy} if proxy else None
        event["requestContext"].update(path="/prod" + path, resourcePath=resource, httpMethod="GET")
        reply: dict[str, object] = handler(event, context)
        return reply

    page = get("/", "/")
    assert page["statusCode"] == 200 and '<base href="/prod/">' in str(page["body"])
    script = get("/ui/app.js", "/ui/{proxy+}", "app.js")
    headers = script["multiValueHeaders"] or script["headers"]
    assert script["statusCode"] == 200 and not script["isBase64Encoded"]
    assert "text/javascript" in json.dumps(headers)
    swagger = get("/ui/vendor/swagger-ui-bundle.js", "/ui/{proxy+}", "vendor/swagger-ui-bundle.js")
    assert swagger["statusCode"] == 200 and len(str(swagger["body"])) < 6_000_000  # Lambda's payload limit
    assert "/prod/ui/vendor/redoc.standalone.js" in str(get("/redoc", "/redoc")["body"])
