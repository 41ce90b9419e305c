"""Authorization of API Gateway's management calls, as IAM names them: the action is the HTTP
method (`apigateway:GET`, `apigateway:POST`, ...) and the resource the path under
`arn:aws:apigateway:<region>::` (`/apis/<id>/routes/<id>` for HTTP APIs, whose `/v2` prefix IAM drops;
`/restapis/<id>/...` for REST APIs). The ARN carries no account: a caller only ever reaches its own
account's APIs, so another account's API id is simply not found."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer


def resource_arn(region: str, raw_path: str) -> str:
    path = raw_path.split("?", 1)[0]
    if path.startswith("/v2/"):
        path = path[3:]
    return f"arn:aws:apigateway:{region}::{path}"


def hook(authz: Authorizer) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        request.action = "apigateway:" + request.method
        request.resource = resource_arn(request.region, request.raw_path)
        if principal.is_root:
            return
        authz.authorize(principal, request.action, request.resource, principal.account, None,
                        request_context(request), code="AccessDeniedException")

    return authorize
