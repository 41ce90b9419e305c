"""Authorization of CloudWatch Logs calls: the log group (or stream) ARN each operation acts on.

A group named by ARN in another account is that account's resource: root of the caller's own
account passes at once only for its own groups, and log groups carry no resource policy, so
another account's groups are always denied (AWS shares them only through OAM links).
"""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import LogsError
from lambdad.services.logs.groups import parse_identifier

_STREAM_OPS = {"GetLogEvents", "PutLogEvents", "CreateLogStream", "DeleteLogStream"}


def hook(authz: Authorizer) -> Authorize:

    def resources(request: ApiRequest, op: str, params: dict[str, Any], account: str) -> list[tuple[str, str]]:
        """(owner account, ARN) of every resource the call touches."""
        region = request.region
        idents: list[str] = []
        if op == "StartLiveTail":
            idents = [i for i in params.get("logGroupIdentifiers") or [] if isinstance(i, str)]
        elif op in ("TagResource", "UntagResource", "ListTagsForResource"):
            arn = params.get("resourceArn")
            idents = [arn] if isinstance(arn, str) else []
        else:
            one = params.get("logGroupIdentifier") or params.get("logGroupName")
            idents = [one] if isinstance(one, str) and one else []
        out = []
        for ident in idents:
            try:
                owner, name = parse_identifier(account, ident)
            except LogsError:
                owner, name = account, ident
            arn = f"arn:aws:logs:{region}:{owner}:log-group:{name}"
            stream = params.get("logStreamName")
            if op in _STREAM_OPS and isinstance(stream, str):
                arn += f":log-stream:{stream}"
            else:
                arn += ":*"
            out.append((owner, arn))
        return out or [(account, "*")]

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account = principal.account
        touched = resources(request, op, params, account)
        request.action, request.resource = "logs:" + op, touched[0][1]
        for owner, arn in touched:
            if principal.is_root and owner == account:
                continue
            authz.authorize(principal, request.action, arn, owner, None, request_context(request))

    return authorize
