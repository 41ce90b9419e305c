"""Authorization of DynamoDB calls: `dynamodb:<Operation>` on the table's (or index's) ARN.

Tables are `arn:aws:dynamodb:<region>:<account>:table/<name>`, indexes `<table ARN>/index/<name>`
(Query and Scan with IndexName), as DynamoDB's Service Authorization Reference names them. Batch and
transaction calls are judged per table they touch; a transaction's parts as the actions they are
(TransactWriteItems' Put needs dynamodb:PutItem on its table, TransactGetItems' Get dynamodb:GetItem),
as AWS requires. A table named by ARN in another account is that account's: tables carry no resource
policy here, so another account's tables are denied. Item calls carry the condition key
`dynamodb:LeadingKeys` (the partition key values they touch), for fine-grained access policies.
"""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth import policy
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb.tables import Tables, resolve

_NO_RESOURCE = frozenset({"ListTables", "DescribeLimits", "DescribeEndpoints"})
_TAG_OPS = frozenset({"TagResource", "UntagResource", "ListTagsOfResource"})
_TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem"}


def table_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def hook(authz: Authorizer, tables: Tables) -> Authorize:

    def leading_key(owner: str, region: str, name: str, item: Any) -> str | None:
        """The partition key value an item or key names, as the condition key compares it (a string)."""
        t = tables.find(owner, region, name)
        if t is None or not isinstance(item, dict):
            return None
        av = item.get(t.hash_key)
        if isinstance(av, dict) and len(av) == 1:
            value = next(iter(av.values()))
            return value if isinstance(value, str) else value.hex() if isinstance(value, bytes) else None
        return None

    def targets(request: ApiRequest, op: str, p: dict[str, Any], account: str
                ) -> list[tuple[str, str, str, list[str]]]:
        """(action, owner account, resource ARN, leading keys) of everything the call touches."""
        region = request.region
        action = "dynamodb:" + op

        def one(name: Any, act: str = action, items: list[Any] | None = None,
                index: Any = None) -> tuple[str, str, str, list[str]]:
            owner, reg, table = resolve(account, region, str(name))
            arn = table_arn(reg, owner, table)
            if isinstance(index, str) and index:
                arn += f"/index/{index}"
            leading = [k for k in (leading_key(owner, reg, table, i) for i in items or []) if k is not None]
            return act, owner, arn, leading

        if op in _NO_RESOURCE:
            return [(action, account, "*", [])]
        if op in _TAG_OPS:
            arn = str(p.get("ResourceArn", ""))
            parts = arn.split(":")
            return [(action, parts[4] if len(parts) > 5 else account, arn, [])]
        if op == "BatchGetItem":
            return [one(name, items=list((spec or {}).get("Keys") or []))
                    for name, spec in (p.get("RequestItems") or {}).items()]
        if op == "BatchWriteItem":
            out = []
            for name, requests in (p.get("RequestItems") or {}).items():
                items = [(r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key")
                         for r in requests or [] if isinstance(r, dict)]
                out.append(one(name, items=items))
            return out
        if op == "TransactWriteItems":
            out = []
            for entry in p.get("TransactItems") or []:
                for kind, act in _TRANSACT_WRITE.items():
                    part = entry.get(kind) if isinstance(entry, dict) else None
                    if isinstance(part, dict):
                        out.append(one(part.get("TableName", ""), "dynamodb:" + act,
                                       [part.get("Item") or part.get("Key")]))
            return out
        if op == "TransactGetItems":
            return [one(e["Get"].get("TableName", ""), "dynamodb:GetItem", [e["Get"].get("Key")])
                    for e in p.get("TransactItems") or [] if isinstance(e, dict) and isinstance(e.get("Get"), dict)]
        items = [p.get("Key") or p.get("Item")] if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem") else []
        return [one(p.get("TableName", ""), items=items, index=p.get("IndexName"))]

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account = principal.account
        touched = targets(request, op, params, account)
        request.action = "dynamodb:" + op
        request.resource = touched[0][2] if touched else "*"
        for action, owner, arn, leading in touched:
            if principal.is_root and owner == account:
                continue
            context = request_context(request)
            if leading:
                context["dynamodb:LeadingKeys"] = leading
            decision = authz.decide(principal, action, arn, owner, None, context)
            if decision is not policy.Decision.ALLOW:
                # DynamoDB answers AccessDeniedException with status 400, not 403.
                raise DynamoDbError(authz.denial_message(principal, action, arn, owner, None, context, decision),
                                    code="AccessDeniedException")

    return authorize
