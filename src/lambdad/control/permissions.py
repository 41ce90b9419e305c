"""Resource-based policies of functions (AddPermission / RemovePermission / GetPolicy).

A policy belongs to one function version or alias (the unqualified function is `$LATEST`'s).
Statements are built exactly as AWS renders them, so `GetPolicy` output matches, and the same
documents feed the IAM policy evaluator when a caller or an AWS service principal invokes.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from lambdad.control.functions import FunctionRecord, FunctionRegistry
from lambdad.control.names import function_arn, validation_error
from lambdad.control.records import ResourcePolicy
from lambdad.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)

_SID_RE = re.compile(r"([a-zA-Z0-9-_]+)")
_ACCOUNT_RE = re.compile(r"\d{12}")
_ACTION_RE = re.compile(r"(lambda:[*]|lambda:[a-zA-Z]+|[*])")
_SERVICE_RE = re.compile(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?|[a-z0-9.-]+\.amazon\.com")


def _key(qualifier: str | None) -> str:
    return qualifier or ""


def principal_of(raw: str) -> Any:
    if raw == "*":
        return "*"
    if _ACCOUNT_RE.fullmatch(raw):
        return {"AWS": f"arn:aws:iam::{raw}:root"}
    if raw.startswith("arn:aws:iam::") or raw.startswith("arn:aws:sts::"):
        return {"AWS": raw}
    if _SERVICE_RE.fullmatch(raw):
        return {"Service": raw}
    raise InvalidParameterValueException(
        "The provided principal was invalid. Please check the principal and try again.")


class Permissions:
    def __init__(self, registry: FunctionRegistry) -> None:
        self.registry = registry

    def add(self, rec: FunctionRecord, qualifier: str | None, params: dict[str, Any]) -> dict[str, Any]:
        sid = params.get("StatementId") or ""
        if not _SID_RE.fullmatch(sid) or len(sid) > 100:
            raise validation_error([f"Value '{sid}' at 'statementId' failed to satisfy constraint: Member must "
                                    "satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"])
        action = params.get("Action") or ""
        if not _ACTION_RE.fullmatch(action):
            raise validation_error([f"Value '{action}' at 'action' failed to satisfy constraint: Member must "
                                    "satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])"])
        if qualifier == "$LATEST":
            raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
        policy = rec.policies.get(_key(qualifier)) or ResourcePolicy((), str(uuid.uuid4()))
        self._check_revision(policy, params.get("RevisionId"))
        if any(s["Sid"] == sid for s in policy.statements):
            raise ResourceConflictException(
                f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove "
                "the existing statement.")
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal_of(params.get("Principal") or ""),
            "Action": action,
            "Resource": function_arn(rec.region, rec.account, rec.name, qualifier),
        }
        condition: dict[str, dict[str, str]] = {}
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("EventSourceToken"):
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params["EventSourceToken"]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if params.get("PrincipalOrgID"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if params.get("InvokedViaFunctionUrl"):
            condition.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
        if params.get("SourceArn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if condition:
            statement["Condition"] = condition
        rec.policies[_key(qualifier)] = ResourcePolicy((*policy.statements, statement), str(uuid.uuid4()))
        self.registry.save_meta(rec)
        return statement

    def remove(self, rec: FunctionRecord, qualifier: str | None, sid: str, revision_id: str | None) -> None:
        policy = rec.policies.get(_key(qualifier))
        if not policy or not policy.statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        self._check_revision(policy, revision_id)
        kept = tuple(s for s in policy.statements if s["Sid"] != sid)
        if len(kept) == len(policy.statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        rec.policies[_key(qualifier)] = ResourcePolicy(kept, str(uuid.uuid4()))
        self.registry.save_meta(rec)

    def document(self, rec: FunctionRecord, qualifier: str | None) -> tuple[dict[str, Any], str] | None:
        policy = rec.policies.get(_key(qualifier))
        if not policy or not policy.statements:
            return None
        return {"Version": "2012-10-17", "Id": "default", "Statement": list(policy.statements)}, policy.revision

    @staticmethod
    def _check_revision(policy: ResourcePolicy, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != policy.revision:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to "
                "retrieve the latest Revision Id")
