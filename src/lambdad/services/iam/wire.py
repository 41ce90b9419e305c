"""IAM and STS on the wire (query protocol, the shared codec in api/query.py): thin adapters from
form parameters to services/iam/identities.py and services/iam/sts.py, rendering IAM's field sets.

Policy documents go out URL-encoded, as IAM sends them (botocore unquotes and parses fields of
type policyDocumentType); they are stored exactly as the caller wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from lambdad import botocore_models
from lambdad.api import query
from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.errors import ApiError
from lambdad.services.iam import simulate
from lambdad.services.iam.identities import Iam, paginate, parse_document, validation
from lambdad.services.iam.instance_profiles import InstanceProfiles
from lambdad.services.iam.oidc import OidcProviders
from lambdad.services.iam.saml import SamlProviders
from lambdad.services.iam.sts import Sts

Handler = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | None]]


# A policy document is parsed by the handler, whose MalformedPolicyDocument AWS answers first (and
# without echoing a 128 KiB value).
_OWN_WORDS = frozenset({"policyDocumentType"})

def _missing(op: str, name: str) -> ApiError:
    return validation(f"1 validation error detected: Value null at '{name[:1].lower() + name[1:]}' failed to satisfy "
                      "constraint: Member must not be null")


def _doc(text: str) -> str:
    return quote(text, safe="")


# -- views: IAM's field sets per operation (see the aws-recorded IAM snapshots) -------------------

def user_view(u: dict[str, Any], *, tags: bool = True) -> dict[str, Any]:
    out = {k: u[k] for k in ("Path", "UserName", "UserId", "Arn", "CreateDate")}
    if tags and u.get("PermissionsBoundary"):
        out["PermissionsBoundary"] = u["PermissionsBoundary"]
    if tags and u.get("Tags"):
        out["Tags"] = u["Tags"]
    return out


def group_view(g: dict[str, Any]) -> dict[str, Any]:
    return {k: g[k] for k in ("Path", "GroupName", "GroupId", "Arn", "CreateDate")}


def role_view(r: dict[str, Any], *, get: bool = False, listing: bool = False) -> dict[str, Any]:
    out = {k: r[k] for k in ("Path", "RoleName", "RoleId", "Arn", "CreateDate")}
    out["AssumeRolePolicyDocument"] = _doc(r["AssumeRolePolicyDocument"])
    if r.get("Description") is not None:
        out["Description"] = r["Description"]
    if get or listing:
        out["MaxSessionDuration"] = r["MaxSessionDuration"]
    if get:
        out["RoleLastUsed"] = {}
    if not listing and r.get("PermissionsBoundary"):
        out["PermissionsBoundary"] = r["PermissionsBoundary"]
    if not listing and r.get("Tags"):
        out["Tags"] = r["Tags"]
    return out


def policy_view(iam: Iam, account: str, p: dict[str, Any], *, description: bool = False) -> dict[str, Any]:
    out = {k: p[k] for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId")}
    out.update(AttachmentCount=iam.attachment_count(account, p["Arn"]),
               PermissionsBoundaryUsageCount=iam.boundary_usage(account, p["Arn"]),
               IsAttachable=True, CreateDate=p["CreateDate"], UpdateDate=p["UpdateDate"])
    if description and p.get("Description") is not None:
        out["Description"] = p["Description"]
    if p.get("Tags") and description:
        out["Tags"] = p["Tags"]
    return out


def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {key: page, "IsTruncated": marker is not None}
    if marker is not None:
        out["Marker"] = marker
    return out


def build_iam(iam: Iam, authorize: Authorize | None) -> query.QueryService:
    oidc = OidcProviders(iam)
    profiles = InstanceProfiles(iam)
    saml = SamlProviders(iam)
    model = botocore_models.service_model("iam")
    svc = query.QueryService(model, missing_parameter=_missing, validation_code="ValidationError",
                             unchecked=_OWN_WORDS,
                             authorize=authorize)

    def op(name: str) -> Callable[[Handler], Handler]:
        return svc.operation(name)

    principal = signer

    def acct(request: ApiRequest) -> str:
        return principal(request).account

    def own_user(request: ApiRequest, params: dict[str, Any]) -> str:
        """UserName, or the calling user's own name (IAM's default for key and user operations)."""
        if params.get("UserName"):
            return str(params["UserName"])
        p = principal(request)
        if p.user_name is None:
            if p.is_root:
                raise validation("Must specify userName when calling with non-User credentials")
            raise validation("Must specify userName when calling with non-User credentials")
        return p.user_name

    # -- users ------------------------------------------------------------------------------
    @op("CreateUser")
    async def create_user(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"User": user_view(iam.create_user(acct(request), p["UserName"], p.get("Path"), p.get("Tags"),
                                                  p.get("PermissionsBoundary")))}

    @op("GetUser")
    async def get_user(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        caller = principal(request)
        if not p.get("UserName") and caller.is_root:
            created = iam.accounts.get(caller.account, {}).get("CreateDate", 0)
            return {"User": {"UserId": caller.account, "Arn": caller.arn, "CreateDate": created}}
        return {"User": user_view(iam.get_user(acct(request), own_user(request, p)))}

    @op("ListUsers")
    async def list_users(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        users = [user_view(u, tags=False) for u in iam.users(acct(request), p.get("PathPrefix") or "/")]
        return _page(users, p, "Users")

    @op("UpdateUser")
    async def update_user(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.update_user(acct(request), p["UserName"], p.get("NewUserName"), p.get("NewPath"))

    @op("DeleteUser")
    async def delete_user(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_user(acct(request), p["UserName"])

    for kind, label in (("user", "User"), ("role", "Role")):
        def _tags(kind: str = kind, label: str = label) -> None:
            @op(f"Tag{label}")
            async def tag(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.tag(acct(request), kind, p[f"{label}Name"], p.get("Tags"))

            @op(f"Untag{label}")
            async def untag(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.untag(acct(request), kind, p[f"{label}Name"], p.get("TagKeys") or [])

            @op(f"List{label}Tags")
            async def list_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
                rec = iam._get(acct(request), kind, p[f"{label}Name"])
                return _page(list(rec.get("Tags", [])), p, "Tags")
        _tags()

    # -- access keys ------------------------------------------------------------------------
    @op("CreateAccessKey")
    async def create_access_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"AccessKey": iam.create_access_key(acct(request), own_user(request, p))}

    @op("ListAccessKeys")
    async def list_access_keys(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(iam.access_keys(acct(request), own_user(request, p)), p, "AccessKeyMetadata")

    @op("UpdateAccessKey")
    async def update_access_key(request: ApiRequest, p: dict[str, Any]) -> None:
        account = acct(request)
        user = p.get("UserName") or iam.key_owner(account, p["AccessKeyId"]) or own_user(request, p)
        iam.update_access_key(account, user, p["AccessKeyId"], p["Status"])

    @op("DeleteAccessKey")
    async def delete_access_key(request: ApiRequest, p: dict[str, Any]) -> None:
        account = acct(request)
        user = p.get("UserName") or iam.key_owner(account, p["AccessKeyId"]) or own_user(request, p)
        iam.delete_access_key(account, user, p["AccessKeyId"])

    # -- groups -----------------------------------------------------------------------------
    @op("CreateGroup")
    async def create_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Group": group_view(iam.create_group(acct(request), p["GroupName"], p.get("Path")))}

    @op("GetGroup")
    async def get_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        group = iam.get_group(account, p["GroupName"])
        users = [user_view(iam.get_user(account, u), tags=False) for u in group["Users"]]
        out = _page(users, p, "Users")
        out["Group"] = group_view(group)
        return out

    @op("ListGroups")
    async def list_groups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page([group_view(g) for g in iam.groups(acct(request), p.get("PathPrefix") or "/")], p, "Groups")

    @op("ListGroupsForUser")
    async def list_groups_for_user(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        name = own_user(request, p)
        iam.get_user(account, name)
        return _page([group_view(g) for g in iam.groups_for_user(account, name)], p, "Groups")

    @op("AddUserToGroup")
    async def add_user_to_group(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.add_user_to_group(acct(request), p["GroupName"], p["UserName"])

    @op("RemoveUserFromGroup")
    async def remove_user_from_group(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.remove_user_from_group(acct(request), p["GroupName"], p["UserName"])

    @op("DeleteGroup")
    async def delete_group(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_group(acct(request), p["GroupName"])

    # -- roles ------------------------------------------------------------------------------
    @op("CreateRole")
    async def create_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        role = iam.create_role(acct(request), p["RoleName"], p["AssumeRolePolicyDocument"], p.get("Path"),
                               p.get("Description"), p.get("MaxSessionDuration"), p.get("Tags"),
                               p.get("PermissionsBoundary"))
        return {"Role": role_view(role)}

    @op("GetRole")
    async def get_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Role": role_view(iam.get_role(acct(request), p["RoleName"]), get=True)}

    @op("ListRoles")
    async def list_roles(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        roles = [role_view(r, listing=True) for r in iam.roles(acct(request), p.get("PathPrefix") or "/")]
        return _page(roles, p, "Roles")

    @op("UpdateRole")
    async def update_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        iam.update_role(acct(request), p["RoleName"], p.get("Description"), p.get("MaxSessionDuration"))
        return {}

    @op("UpdateRoleDescription")
    async def update_role_description(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        iam.update_role(acct(request), p["RoleName"], p["Description"], None)
        return {"Role": role_view(iam.get_role(acct(request), p["RoleName"]), get=True)}

    @op("UpdateAssumeRolePolicy")
    async def update_assume_role_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.update_assume_role_policy(acct(request), p["RoleName"], p["PolicyDocument"])

    @op("DeleteRole")
    async def delete_role(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_role(acct(request), p["RoleName"])

    # -- inline and attached policies, for users, groups and roles ---------------------------
    for kind, label in (("user", "User"), ("group", "Group"), ("role", "Role")):
        def _policies(kind: str = kind, label: str = label) -> None:
            owner_key = f"{label}Name"

            @op(f"Put{label}Policy")
            async def put(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.put_inline(acct(request), kind, p[owner_key], p["PolicyName"], p["PolicyDocument"])

            @op(f"Get{label}Policy")
            async def get(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
                document = iam.get_inline(acct(request), kind, p[owner_key], p["PolicyName"])
                owner = iam._get(acct(request), kind, p[owner_key])[owner_key]
                return {owner_key: owner, "PolicyName": p["PolicyName"], "PolicyDocument": _doc(document)}

            @op(f"Delete{label}Policy")
            async def delete(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.delete_inline(acct(request), kind, p[owner_key], p["PolicyName"])

            @op(f"List{label}Policies")
            async def list_inline(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
                owner = own_user(request, p) if kind == "user" else p[owner_key]
                return _page(iam.inline_names(acct(request), kind, owner), p, "PolicyNames")

            @op(f"Attach{label}Policy")
            async def attach(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.attach(acct(request), kind, p[owner_key], p["PolicyArn"])

            @op(f"Detach{label}Policy")
            async def detach(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.detach(acct(request), kind, p[owner_key], p["PolicyArn"])

            @op(f"ListAttached{label}Policies")
            async def list_attached(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
                owner = own_user(request, p) if kind == "user" else p[owner_key]
                return _page(iam.attached(acct(request), kind, owner, p.get("PathPrefix") or "/"), p,
                             "AttachedPolicies")
        _policies()

    # -- managed policies -------------------------------------------------------------------
    @op("CreatePolicy")
    async def create_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        rec = iam.create_policy(account, p["PolicyName"], p["PolicyDocument"], p.get("Path"), p.get("Description"),
                                p.get("Tags"))
        view = policy_view(iam, account, rec)
        if rec.get("Tags"):
            view["Tags"] = rec["Tags"]
        return {"Policy": view}

    @op("GetPolicy")
    async def get_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        return {"Policy": policy_view(iam, account, iam.get_policy(account, p["PolicyArn"]), description=True)}

    @op("ListPolicies")
    async def list_policies(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        scope = p.get("Scope") or "All"
        if scope not in ("All", "AWS", "Local"):
            raise validation(f"1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: "
                             "Member must satisfy enum value set: [All, AWS, Local]")
        found = iam.policies(account, scope, bool(p.get("OnlyAttached")), p.get("PathPrefix") or "/")
        return _page([policy_view(iam, account, rec) for rec in found], p, "Policies")

    @op("DeletePolicy")
    async def delete_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_policy(acct(request), p["PolicyArn"])

    @op("CreatePolicyVersion")
    async def create_policy_version(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"PolicyVersion": iam.create_policy_version(acct(request), p["PolicyArn"], p["PolicyDocument"],
                                                           bool(p.get("SetAsDefault")))}

    @op("GetPolicyVersion")
    async def get_policy_version(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        version = iam.get_policy_version(acct(request), p["PolicyArn"], p["VersionId"])
        version["Document"] = _doc(version["Document"])
        return {"PolicyVersion": version}

    @op("ListPolicyVersions")
    async def list_policy_versions(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        versions = iam.policy_versions(acct(request), p["PolicyArn"])
        for v in versions:
            v.pop("Document", None)
        return _page(versions, p, "Versions")

    @op("DeletePolicyVersion")
    async def delete_policy_version(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_policy_version(acct(request), p["PolicyArn"], p["VersionId"])

    @op("SetDefaultPolicyVersion")
    async def set_default_policy_version(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.set_default_version(acct(request), p["PolicyArn"], p["VersionId"])

    @op("ListEntitiesForPolicy")
    async def list_entities_for_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = dict(iam.entities_for_policy(acct(request), p["PolicyArn"]))
        out["IsTruncated"] = False
        return out

    # -- permissions boundaries ---------------------------------------------------------------
    for kind, label in (("user", "User"), ("role", "Role")):
        def _boundaries(kind: str = kind, label: str = label) -> None:
            @op(f"Put{label}PermissionsBoundary")
            async def put(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.put_boundary(acct(request), kind, p[f"{label}Name"], p["PermissionsBoundary"])

            @op(f"Delete{label}PermissionsBoundary")
            async def delete(request: ApiRequest, p: dict[str, Any]) -> None:
                iam.delete_boundary(acct(request), kind, p[f"{label}Name"])
        _boundaries()

    # -- service-linked roles -----------------------------------------------------------------
    @op("CreateServiceLinkedRole")
    async def create_service_linked_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        role = iam.create_service_linked_role(acct(request), p["AWSServiceName"], p.get("Description"),
                                              p.get("CustomSuffix"))
        return {"Role": role_view(role)}

    @op("DeleteServiceLinkedRole")
    async def delete_service_linked_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"DeletionTaskId": iam.delete_service_linked_role(acct(request), p["RoleName"])}

    @op("GetServiceLinkedRoleDeletionStatus")
    async def deletion_status(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Status": iam.deletion_status(acct(request), p["DeletionTaskId"])}

    # -- instance profiles -----------------------------------------------------------------------
    def profile_view(request: ApiRequest, rec: dict[str, Any], tags: bool = True) -> dict[str, Any]:
        return profiles.view(acct(request), rec, role_view, tags=tags)

    @op("CreateInstanceProfile")
    async def create_instance_profile(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rec = profiles.create(acct(request), p["InstanceProfileName"], p.get("Path"), p.get("Tags"))
        return {"InstanceProfile": profile_view(request, rec)}

    @op("GetInstanceProfile")
    async def get_instance_profile(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"InstanceProfile": profile_view(request, profiles.get(acct(request), p["InstanceProfileName"]))}

    @op("ListInstanceProfiles")
    async def list_instance_profiles(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = profiles.profiles(acct(request), p.get("PathPrefix") or "/")
        return _page([profile_view(request, r, tags=False) for r in found], p, "InstanceProfiles")

    @op("ListInstanceProfilesForRole")
    async def list_instance_profiles_for_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = profiles.for_role(acct(request), p["RoleName"])
        return _page([profile_view(request, r, tags=False) for r in found], p, "InstanceProfiles")

    @op("DeleteInstanceProfile")
    async def delete_instance_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        profiles.delete(acct(request), p["InstanceProfileName"])

    @op("AddRoleToInstanceProfile")
    async def add_role_to_instance_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        profiles.add_role(acct(request), p["InstanceProfileName"], p["RoleName"])

    @op("RemoveRoleFromInstanceProfile")
    async def remove_role_from_instance_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        profiles.remove_role(acct(request), p["InstanceProfileName"], p["RoleName"])

    @op("TagInstanceProfile")
    async def tag_instance_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        profiles.tag(acct(request), p["InstanceProfileName"], p["Tags"])

    @op("UntagInstanceProfile")
    async def untag_instance_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        profiles.untag(acct(request), p["InstanceProfileName"], p["TagKeys"])

    @op("ListInstanceProfileTags")
    async def list_instance_profile_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(list(profiles.get(acct(request), p["InstanceProfileName"]).get("Tags", [])), p, "Tags")

    # -- the policy simulator and the account's whole picture --------------------------------
    def named_policies(account: str, kind: str, rec: dict[str, Any]) -> list[simulate.NamedPolicy]:
        out = [simulate.NamedPolicy(name, "IAM Policy", json.loads(doc)) for name, doc in rec["Inline"].items()]
        for arn in rec["Attached"]:
            found = iam.find_policy(account, arn)
            if found is not None:
                out.append(simulate.NamedPolicy(found["PolicyName"], "IAM Policy",
                                                json.loads(found["Versions"][found["DefaultVersionId"]]["Document"])))
        return out

    def inputs(p: dict[str, Any], key: str, kind: str = "inline") -> list[simulate.NamedPolicy]:
        return [simulate.NamedPolicy(f"{key}.{n}", "IAM Policy", parse_document(text, kind))
                for n, text in enumerate(p.get(key) or [], 1)]

    def _results(p: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        return _page(results, p, "EvaluationResults")

    @op("SimulatePrincipalPolicy")
    async def simulate_principal_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        source = str(p["PolicySourceArn"])
        kind, _, path_name = source.partition(":iam::")[2].partition(":")[2].partition("/")
        name = path_name.rpartition("/")[2]
        if kind not in ("user", "group", "role") or source.split(":")[4:5] != [account]:
            raise validation(f"Invalid ARN: {source}")
        rec = iam._get(account, kind, name)
        policies = named_policies(account, kind, rec)
        if kind == "user":
            for group in iam.groups_for_user(account, name):
                policies.extend(named_policies(account, "group", group))
        policies.extend(inputs(p, "PolicyInputList"))
        boundary = iam.boundary_policy(account, kind, name) if kind != "group" else None
        for extra in inputs(p, "PermissionsBoundaryPolicyInputList"):
            boundary = extra.document
        resource_policy = parse_document(p["ResourcePolicy"], "resource") if p.get("ResourcePolicy") else None
        return _results(p, simulate.simulate(p.get("CallerArn") or source, account, policies, p["ActionNames"],
                                             p.get("ResourceArns") or ["*"],
                                             simulate.context_keys(p.get("ContextEntries")), boundary,
                                             resource_policy))

    @op("SimulateCustomPolicy")
    async def simulate_custom_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        boundaries = inputs(p, "PermissionsBoundaryPolicyInputList")
        resource_policy = parse_document(p["ResourcePolicy"], "resource") if p.get("ResourcePolicy") else None
        return _results(p, simulate.simulate(p.get("CallerArn") or f"arn:aws:iam::{account}:user/simulated",
                                             account, inputs(p, "PolicyInputList"), p["ActionNames"],
                                             p.get("ResourceArns") or ["*"],
                                             simulate.context_keys(p.get("ContextEntries")),
                                             boundaries[0].document if boundaries else None, resource_policy))

    @op("GetAccountAuthorizationDetails")
    async def get_account_authorization_details(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        wanted = set(p.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"])

        def inline(rec: dict[str, Any]) -> list[dict[str, str]]:
            return [{"PolicyName": n, "PolicyDocument": _doc(d)} for n, d in sorted(rec["Inline"].items())]

        def extras(rec: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {"Tags": rec.get("Tags", [])}
            if rec.get("PermissionsBoundary"):
                out["PermissionsBoundary"] = rec["PermissionsBoundary"]
            return out

        out: dict[str, Any] = {"IsTruncated": False}
        if "User" in wanted:
            out["UserDetailList"] = [
                user_view(u, tags=False) | {"UserPolicyList": inline(u),
                                            "GroupList": [g["GroupName"] for g in iam.groups_for_user(
                                                account, u["UserName"])],
                                            "AttachedManagedPolicies": iam.attached(account, "user", u["UserName"])}
                | extras(u) for u in iam.users(account)]
        if "Group" in wanted:
            out["GroupDetailList"] = [
                group_view(g) | {"GroupPolicyList": inline(g),
                                 "AttachedManagedPolicies": iam.attached(account, "group", g["GroupName"])}
                for g in iam.groups(account)]
        if "Role" in wanted:
            out["RoleDetailList"] = [
                role_view(r, listing=True) | {
                    "InstanceProfileList": [profile_view(request, ip, tags=False)
                                            for ip in profiles.for_role(account, r["RoleName"])],
                    "RolePolicyList": inline(r),
                    "AttachedManagedPolicies": iam.attached(account, "role", r["RoleName"]),
                    "RoleLastUsed": {}} | extras(r)
                for r in iam.roles(account)]
        scopes = {"LocalManagedPolicy": "Local", "AWSManagedPolicy": "AWS"}
        policies = [rec for key, scope in scopes.items() if key in wanted
                    for rec in iam.policies(account, scope, only_attached=scope == "AWS")]
        out["Policies"] = [policy_view(iam, account, rec) | {"PolicyVersionList": [
            iam.version_view(rec, v) | {"Document": _doc(rec["Versions"][v]["Document"])}
            for v in sorted(rec["Versions"])]} for rec in policies]
        return out

    # -- the account password policy and login profiles -------------------------------------
    @op("UpdateAccountPasswordPolicy")
    async def update_password_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.set_password_policy(acct(request), {k: v for k, v in p.items() if k != "Action"})

    @op("GetAccountPasswordPolicy")
    async def get_password_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"PasswordPolicy": iam.password_policy(acct(request))}

    @op("DeleteAccountPasswordPolicy")
    async def delete_password_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_password_policy(acct(request))

    @op("CreateLoginProfile")
    async def create_login_profile(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"LoginProfile": iam.create_login_profile(acct(request), own_user(request, p), p.get("Password"),
                                                         bool(p.get("PasswordResetRequired")))}

    @op("GetLoginProfile")
    async def get_login_profile(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"LoginProfile": iam.login_profile(acct(request), own_user(request, p))}

    @op("UpdateLoginProfile")
    async def update_login_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.update_login_profile(acct(request), p["UserName"], p.get("Password"), p.get("PasswordResetRequired"))

    @op("DeleteLoginProfile")
    async def delete_login_profile(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_login_profile(acct(request), own_user(request, p))

    # -- groups, policy tags, the account ------------------------------------------------------
    @op("UpdateGroup")
    async def update_group(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.update_group(acct(request), p["GroupName"], p.get("NewGroupName"), p.get("NewPath"))

    @op("TagPolicy")
    async def tag_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.tag_policy(acct(request), p["PolicyArn"], p["Tags"])

    @op("UntagPolicy")
    async def untag_policy(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.untag_policy(acct(request), p["PolicyArn"], p["TagKeys"])

    @op("ListPolicyTags")
    async def list_policy_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(list(iam.get_policy(acct(request), p["PolicyArn"]).get("Tags", [])), p, "Tags")

    @op("CreateAccountAlias")
    async def create_account_alias(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.create_alias(acct(request), p["AccountAlias"])

    @op("ListAccountAliases")
    async def list_account_aliases(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(iam.aliases(acct(request)), p, "AccountAliases")

    @op("DeleteAccountAlias")
    async def delete_account_alias(request: ApiRequest, p: dict[str, Any]) -> None:
        iam.delete_alias(acct(request), p["AccountAlias"])

    @op("GetAccountSummary")
    async def get_account_summary(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"SummaryMap": iam.summary(acct(request))}

    @op("GenerateCredentialReport")
    async def generate_credential_report(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        existed = iam.generate_credential_report(acct(request))
        return {"State": "COMPLETE" if existed else "STARTED",
                "Description": "No report exists. Starting a new report generation task" if not existed else ""}

    @op("GetCredentialReport")
    async def get_credential_report(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        report = iam.credential_report(acct(request))
        return {"Content": report["Content"].encode(), "ReportFormat": "text/csv",
                "GeneratedTime": report["GeneratedTime"]}

    @op("GetContextKeysForCustomPolicy")
    async def context_keys_custom(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        docs = [parse_document(text, "inline") for text in p["PolicyInputList"]]
        return {"ContextKeyNames": simulate.condition_key_names(docs)}

    @op("GetContextKeysForPrincipalPolicy")
    async def context_keys_principal(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account = acct(request)
        source = str(p["PolicySourceArn"])
        kind, _, path_name = source.partition(":iam::")[2].partition(":")[2].partition("/")
        if kind not in ("user", "group", "role") or source.split(":")[4:5] != [account]:
            raise validation(f"Invalid ARN: {source}")
        rec = iam._get(account, kind, path_name.rpartition("/")[2])
        docs = [n.document for n in named_policies(account, kind, rec)]
        docs += [parse_document(text, "inline") for text in p.get("PolicyInputList") or []]
        return {"ContextKeyNames": simulate.condition_key_names(docs)}

    # -- SAML providers (AssumeRoleWithSAML is not served: services/iam/saml.py says why) -------
    @op("CreateSAMLProvider")
    async def create_saml(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rec = saml.create(acct(request), p["Name"], p["SAMLMetadataDocument"], p.get("Tags"))
        return {"SAMLProviderArn": rec["Arn"], "Tags": rec["Tags"]}

    @op("GetSAMLProvider")
    async def get_saml(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rec = saml.get(acct(request), p["SAMLProviderArn"])
        return {k: rec[k] for k in ("SAMLProviderUUID", "SAMLMetadataDocument", "CreateDate", "ValidUntil", "Tags")
                if k in rec}

    @op("ListSAMLProviders")
    async def list_saml(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"SAMLProviderList": [{k: r[k] for k in ("Arn", "CreateDate", "ValidUntil") if k in r}
                                     for r in saml.providers(acct(request))]}

    @op("UpdateSAMLProvider")
    async def update_saml(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"SAMLProviderArn": saml.update(acct(request), p["SAMLProviderArn"], p.get("SAMLMetadataDocument"))[
            "Arn"]}

    @op("DeleteSAMLProvider")
    async def delete_saml(request: ApiRequest, p: dict[str, Any]) -> None:
        saml.delete(acct(request), p["SAMLProviderArn"])

    @op("TagSAMLProvider")
    async def tag_saml(request: ApiRequest, p: dict[str, Any]) -> None:
        saml.tag(acct(request), p["SAMLProviderArn"], p["Tags"])

    @op("UntagSAMLProvider")
    async def untag_saml(request: ApiRequest, p: dict[str, Any]) -> None:
        saml.untag(acct(request), p["SAMLProviderArn"], p["TagKeys"])

    @op("ListSAMLProviderTags")
    async def list_saml_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(list(saml.get(acct(request), p["SAMLProviderArn"]).get("Tags", [])), p, "Tags")

    # -- OpenID Connect providers -----------------------------------------------------------
    @op("CreateOpenIDConnectProvider")
    async def create_oidc(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rec = oidc.create(acct(request), p["Url"], p.get("ClientIDList"), p.get("ThumbprintList"), p.get("Tags"))
        return {"OpenIDConnectProviderArn": rec["Arn"], "Tags": rec["Tags"]}

    @op("GetOpenIDConnectProvider")
    async def get_oidc(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rec = oidc.get(acct(request), p["OpenIDConnectProviderArn"])
        return {k: rec[k] for k in ("Url", "ClientIDList", "ThumbprintList", "CreateDate", "Tags")}

    @op("ListOpenIDConnectProviders")
    async def list_oidc(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"OpenIDConnectProviderList": [{"Arn": r["Arn"]} for r in oidc.providers(acct(request))]}

    @op("DeleteOpenIDConnectProvider")
    async def delete_oidc(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.delete(acct(request), p["OpenIDConnectProviderArn"])

    @op("AddClientIDToOpenIDConnectProvider")
    async def add_client_id(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.add_client_id(acct(request), p["OpenIDConnectProviderArn"], p["ClientID"])

    @op("RemoveClientIDFromOpenIDConnectProvider")
    async def remove_client_id(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.remove_client_id(acct(request), p["OpenIDConnectProviderArn"], p["ClientID"])

    @op("UpdateOpenIDConnectProviderThumbprint")
    async def update_thumbprint(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.update_thumbprints(acct(request), p["OpenIDConnectProviderArn"], p["ThumbprintList"])

    @op("TagOpenIDConnectProvider")
    async def tag_oidc(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.tag(acct(request), p["OpenIDConnectProviderArn"], p["Tags"])

    @op("UntagOpenIDConnectProvider")
    async def untag_oidc(request: ApiRequest, p: dict[str, Any]) -> None:
        oidc.untag(acct(request), p["OpenIDConnectProviderArn"], p["TagKeys"])

    @op("ListOpenIDConnectProviderTags")
    async def list_oidc_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return _page(list(oidc.get(acct(request), p["OpenIDConnectProviderArn"]).get("Tags", [])), p, "Tags")

    return svc


# Unsigned on AWS too; AssumeRoleWithSAML is then answered "not implemented" in STS's own words.
_STS_ANONYMOUS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


def sts_anonymous(request: ApiRequest) -> bool:
    """An unsigned STS call AWS serves unsigned (the token in it is the proof of identity)."""
    if request.method == "POST":
        params = parse_qs(request.body.decode("latin-1"), max_num_fields=64)
    else:
        params = {k: list(v) for k, v in request.query.items()}
    return params.get("Action", [""])[0] in _STS_ANONYMOUS


def build_sts(sts: Sts, authorize: Authorize | None) -> query.QueryService:
    model = botocore_models.service_model("sts")
    svc = query.QueryService(model, missing_parameter=_missing, validation_code="ValidationError",
                             unchecked=_OWN_WORDS,
                             authorize=authorize)

    principal = signer

    @svc.operation("GetCallerIdentity")
    async def get_caller_identity(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        # No permission is needed to ask who one is (and a Deny cannot stop it), as on AWS.
        return sts.caller_identity(principal(request))

    @svc.operation("AssumeRole")
    async def assume_role(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return sts.assume_role(principal(request), p["RoleArn"], p["RoleSessionName"], p.get("DurationSeconds"),
                               request_context(request))

    @svc.operation("AssumeRoleWithWebIdentity")
    async def assume_role_with_web_identity(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        # Unsigned, as on AWS: the web identity token is the caller's proof (server.py serves it anonymously).
        return await sts.assume_role_with_web_identity(p["RoleArn"], p["RoleSessionName"], p["WebIdentityToken"],
                                                       p.get("DurationSeconds"), request_context(request))

    @svc.operation("GetFederationToken")
    async def get_federation_token(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return sts.get_federation_token(principal(request), p["Name"], p.get("Policy"), p.get("PolicyArns"),
                                        p.get("DurationSeconds"), request_context(request))

    @svc.operation("DecodeAuthorizationMessage")
    async def decode_authorization_message(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        # Only EC2-style denials carry encoded messages; lambdad's services (like Lambda's) say why in
        # plain words, so no message lambdad is given can be one of its own.
        caller = principal(request)
        if not caller.is_root:
            sts.authorizer.authorize(caller, "sts:DecodeAuthorizationMessage", "*", caller.account, None,
                                     request_context(request), code="AccessDenied")
        raise ApiError("The encoded authorization message is invalid or was not issued by this server.",
                       code="InvalidAuthorizationMessageException")

    @svc.operation("GetAccessKeyInfo")
    async def get_access_key_info(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return sts.access_key_info(p["AccessKeyId"])

    @svc.operation("GetSessionToken")
    async def get_session_token(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return sts.get_session_token(principal(request), p.get("DurationSeconds"))

    return svc
