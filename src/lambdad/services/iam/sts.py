"""STS: who am I (GetCallerIdentity), temporary credentials (AssumeRole, GetSessionToken).

AssumeRole is authorized like any cross-principal call: the caller's identity policies must allow
`sts:AssumeRole` on the role unless its trust policy names the caller directly, and the trust policy
(the role's resource-based policy) must admit the caller; across accounts both must allow. The
sessions are CredentialStore sessions: ``ASIA`` keys with a session token and an expiry, persisted
(encrypted) so they outlive a restart, acting with the role's policies.
"""

from __future__ import annotations

import re
from typing import Any

from lambdad.auth import policy
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.credentials import CredentialStore
from lambdad.auth.policy_grammar import policy_size
from lambdad.auth.principal import Principal
from lambdad.errors import AccessDeniedException, IamError
from lambdad.services.iam import web_identity
from lambdad.services.iam.identities import Iam, parse_document
from lambdad.services.iam.oidc import OidcProviders

_SESSION_NAME_RE = re.compile(r"[\w+=,.@-]*")
CHAINED_MAX = 3600  # a role session assuming a role gets at most an hour


def _constraint(value: Any, field: str, rule: str) -> IamError:
    return IamError(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
                    f"Member must {rule}", code="ValidationError", status=400)


def _denied(message: str) -> AccessDeniedException:
    return AccessDeniedException(message, code="AccessDenied")


def _check_session(session_name: str, duration: int | None) -> None:
    if len(session_name) < 2:
        raise _constraint(session_name, "roleSessionName", "have length greater than or equal to 2")
    if len(session_name) > 64:
        raise _constraint(session_name, "roleSessionName", "have length less than or equal to 64")
    if not _SESSION_NAME_RE.fullmatch(session_name):
        raise _constraint(session_name, "roleSessionName", "satisfy regular expression pattern: [\\w+=,.@-]*")
    if duration is not None and duration < 900:
        raise _constraint(duration, "durationSeconds", "have value greater than or equal to 900")
    if duration is not None and duration > 43200:
        raise _constraint(duration, "durationSeconds", "have value less than or equal to 43200")


class Sts:
    def __init__(self, iam: Iam, credentials: CredentialStore, authorizer: Authorizer,
                 oidc: OidcProviders | None = None, keys: web_identity.KeyCache | None = None) -> None:
        self.iam = iam
        self.credentials = credentials
        self.authorizer = authorizer
        self.oidc = oidc or OidcProviders(iam)
        self.keys = keys or web_identity.KeyCache()

    def caller_identity(self, principal: Principal) -> dict[str, str]:
        return {"UserId": principal.principal_id or principal.account, "Account": principal.account,
                "Arn": principal.arn}

    def assume_role(self, principal: Principal, role_arn: str, session_name: str, duration: int | None,
                    context: dict[str, str | list[str]]) -> dict[str, Any]:
        if len(role_arn) < 20:
            raise _constraint(role_arn, "roleArn", "have length greater than or equal to 20")
        if len(session_name) < 2:
            raise _constraint(session_name, "roleSessionName", "have length greater than or equal to 2")
        if len(session_name) > 64:
            raise _constraint(session_name, "roleSessionName", "have length less than or equal to 64")
        if not _SESSION_NAME_RE.fullmatch(session_name):
            raise _constraint(session_name, "roleSessionName", "satisfy regular expression pattern: [\\w+=,.@-]*")
        if duration is not None and duration < 900:
            raise _constraint(duration, "durationSeconds", "have value greater than or equal to 900")
        if duration is not None and duration > 43200:
            raise _constraint(duration, "durationSeconds", "have value less than or equal to 43200")
        if principal.is_root:
            raise _denied("Roles may not be assumed by root accounts.")
        parts = role_arn.split(":", 5)
        account = parts[4] if len(parts) == 6 else ""
        role = self.iam.find_role(account, parts[5].rpartition("/")[2]) if len(parts) == 6 and \
            parts[5].startswith("role/") else None
        if role is not None and role["Arn"] != role_arn:
            role = None
        trust = self.iam.role_trust(role) if role is not None else {"Statement": []}
        # An unknown role is refused exactly like one whose trust policy does not admit the caller.
        self.authorizer.authorize_assume_role(principal, role_arn, account, trust, context)
        assert role is not None
        if principal.role_name is not None:
            if duration is not None and duration > CHAINED_MAX:
                raise IamError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
                               "role chaining.", code="ValidationError", status=400)
        elif duration is not None and duration > role["MaxSessionDuration"]:
            raise IamError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                           code="ValidationError", status=400)
        seconds = duration or 3600
        session_arn = f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/{session_name}"
        assumed_id = f"{role['RoleId']}:{session_name}"
        cred = self.credentials.issue_session(account, session_arn, seconds, role_name=role["RoleName"],
                                              principal_id=assumed_id, source_identity=principal.arn)
        return {"Credentials": self._credentials_view(cred),
                "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": session_arn}}

    def _role_at(self, role_arn: str) -> tuple[str, dict[str, Any] | None]:
        parts = role_arn.split(":", 5)
        account = parts[4] if len(parts) == 6 else ""
        role = self.iam.find_role(account, parts[5].rpartition("/")[2]) if len(parts) == 6 and \
            parts[5].startswith("role/") else None
        return account, role if role is not None and role["Arn"] == role_arn else None

    async def assume_role_with_web_identity(self, role_arn: str, session_name: str, token: str,
                                            duration: int | None, context: dict[str, str | list[str]]
                                            ) -> dict[str, Any]:
        """An unsigned call: the token is the caller's proof, checked against the OIDC provider of the
        role's account; the role's trust policy must admit that provider with these claims."""
        if len(role_arn) < 20:
            raise _constraint(role_arn, "roleArn", "have length greater than or equal to 20")
        _check_session(session_name, duration)
        account, role = self._role_at(role_arn)
        _, claims = web_identity.unverified_claims(token)
        provider = self.oidc.for_issuer(account, claims["iss"]) if account else None
        if provider is None:
            raise web_identity.invalid_token(f"No OpenIDConnect provider found in your account for {claims['iss']}")
        claims = await web_identity.verify(token, provider, self.keys)
        denied = AccessDeniedException("Not authorized to perform sts:AssumeRoleWithWebIdentity",
                                       code="AccessDenied")
        if role is None:
            raise denied
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        audience = next(a for a in audiences if a in provider["ClientIDList"])
        url = provider["Url"]
        keys: dict[str, str | list[str]] = dict(context)
        keys.update({f"{url}:aud": audience, f"{url}:sub": str(claims.get("sub", ""))})
        for claim in ("azp", "amr", "oaud", "email"):
            if isinstance(claims.get(claim), str | list):
                keys[f"{url}:{claim}"] = claims[claim]
        ctx = policy.RequestContext("", "", "sts:AssumeRoleWithWebIdentity", role_arn, account, keys,
                                    principal_federated=provider["Arn"])
        if policy.evaluate(ctx, [], self.iam.role_trust(role)) is not policy.Decision.ALLOW:
            raise denied
        if duration is not None and duration > role["MaxSessionDuration"]:
            raise IamError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                           code="ValidationError", status=400)
        session_arn = f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/{session_name}"
        assumed_id = f"{role['RoleId']}:{session_name}"
        cred = self.credentials.issue_session(account, session_arn, duration or 3600, role_name=role["RoleName"],
                                              principal_id=assumed_id, source_identity=provider["Arn"])
        return {"Credentials": self._credentials_view(cred),
                "SubjectFromWebIdentityToken": str(claims.get("sub", "")),
                "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": session_arn},
                "Provider": provider["Arn"], "Audience": audience}

    def get_federation_token(self, principal: Principal, name: str, document: str | None,
                             policy_arns: list[dict[str, str]] | None, duration: int | None,
                             context: dict[str, str | list[str]]) -> dict[str, Any]:
        """Credentials for a federated user: the calling IAM user's permissions, capped by the session
        policies passed (none passed: no permissions), as "Requesting temporary security credentials"
        describes."""
        if principal.role_name is not None or principal.session_token is not None:
            raise _denied("Cannot call GetFederationToken with session credentials")
        if len(name) < 2 or len(name) > 32 or not _SESSION_NAME_RE.fullmatch(name):
            raise _constraint(name, "name", "satisfy regular expression pattern: [\\w+=,.@-]*" if len(name) >= 2
                              and len(name) <= 32 else f"have length {'greater' if len(name) < 2 else 'less'} than "
                              f"or equal to {2 if len(name) < 2 else 32}")
        if duration is not None and duration < 900:
            raise _constraint(duration, "durationSeconds", "have value greater than or equal to 900")
        if duration is not None and duration > 129600:
            raise _constraint(duration, "durationSeconds", "have value less than or equal to 129600")
        arn = f"arn:aws:sts::{principal.account}:federated-user/{name}"
        if not principal.is_root:
            self.authorizer.authorize(principal, "sts:GetFederationToken", arn, principal.account, None, context,
                                      code="AccessDenied")
        session: list[str] = []
        if document:
            parse_document(document, "inline")
            session.append(document)
        for entry in policy_arns or []:
            found = self.iam.find_policy(principal.account, entry.get("arn", ""))
            if found is None:
                raise IamError(f"Policy {entry.get('arn')} does not exist or is not attachable.",
                               code="InvalidParameterValue", status=400)
            session.append(found["Versions"][found["DefaultVersionId"]]["Document"])
        size = sum(policy_size(text) for text in session)
        if size > 2048:
            raise IamError("Packed policy consumes 100% or more of allotted space, please use smaller policy.",
                           code="PackedPolicyTooLarge", status=400)
        seconds = min(duration or 43200, 3600) if principal.is_root else duration or 43200
        cred = self.credentials.issue_session(
            principal.account, arn, seconds, user_name=principal.user_name,
            principal_id=f"{principal.account}:{name}",
            session_policies=tuple(session) or ('{"Version": "2012-10-17", "Statement": []}',))
        return {"Credentials": self._credentials_view(cred),
                "FederatedUser": {"FederatedUserId": f"{principal.account}:{name}", "Arn": arn},
                "PackedPolicySize": size * 100 // 2048}

    def access_key_info(self, key_id: str) -> dict[str, str]:
        cred = self.credentials.lookup(key_id)
        if cred is None:
            raise IamError("The security token included in the request is invalid.", code="InvalidClientTokenId",
                           status=403)
        return {"Account": cred.account}

    def get_session_token(self, principal: Principal, duration: int | None) -> dict[str, Any]:
        if principal.role_name is not None or principal.session_token is not None:
            raise _denied("Cannot call GetSessionToken with session credentials")
        if duration is not None and duration < 900:
            raise _constraint(duration, "durationSeconds", "have value greater than or equal to 900")
        if duration is not None and duration > 129600:
            raise _constraint(duration, "durationSeconds", "have value less than or equal to 129600")
        seconds = duration or 43200
        if principal.is_root:
            seconds = min(seconds, 3600)  # root sessions last at most an hour
        cred = self.credentials.issue_session(principal.account, principal.arn, seconds, is_root=principal.is_root,
                                              user_name=principal.user_name, principal_id=principal.principal_id)
        return {"Credentials": self._credentials_view(cred)}

    @staticmethod
    def _credentials_view(cred: Any) -> dict[str, Any]:
        return {"AccessKeyId": cred.access_key_id, "SecretAccessKey": cred.secret_access_key,
                "SessionToken": cred.session_token, "Expiration": cred.expires}
