"""API Gateway REQUEST authorizer: Music.AI clients send ``Authorization: <key>``, not ``x-api-key``.

The key is checked against the applications in the jobs table and returned as the usage-plan key
(``ApiKeySourceType: AUTHORIZER``), so API Gateway applies per-key throttling to it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from tonearm.bootstrap import get_services
from tonearm.jobs.errors import UnauthorizedError
from tonearm.jobs.service import parse_authorization

logger = Logger()


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    """Allow every route of this API for a valid key; deny otherwise."""
    arn = event.parsed_arn
    header = event.headers.get("Authorization") or event.headers.get("authorization")
    try:
        app = get_services().jobs.authenticate(header)
        key = parse_authorization(header)
    except UnauthorizedError:
        response = APIGatewayAuthorizerResponse(
            principal_id="anonymous",
            region=arn.region,
            aws_account_id=arn.aws_account_id,
            api_id=arn.api_id,
            stage=arn.stage,
        )
        response.deny_all_routes()
        return response.asdict()
    response = APIGatewayAuthorizerResponse(
        principal_id=app.id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"app": app.id},
        usage_identifier_key=key,
    )
    response.allow_all_routes()
    return response.asdict()
