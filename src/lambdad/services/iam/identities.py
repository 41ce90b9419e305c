"""IAM: accounts, users, access keys, groups, roles, inline and managed policies (domain logic, no HTTP).

Everything is held in memory and written through to two tables: `iam_accounts` and `iam_entities`
(one JSON row per user, group, role, customer-managed policy or access key). Names are unique per
account regardless of case, as in IAM. Secret access keys are stored encrypted with the master key
(auth/keyring.py); the plain secret lives only in memory, in the CredentialStore that SigV4 asks.

Every change bumps `generation`, which the authorizer's policy cache compares to know its compiled
policy sets are stale. Errors, codes and messages are IAM's (see the aws-recorded IAM snapshots).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lambdad import safejson
from lambdad.auth import policy
from lambdad.auth.credentials import Credential, CredentialStore, new_key_id, new_secret
from lambdad.auth.keyring import Keyring
from lambdad.auth.policy_grammar import policy_size
from lambdad.errors import IamError
from lambdad.services.iam import managed_policies as aws_managed_policies
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_accounts (
    account TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_entities (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account, kind, key)
);
"""

KINDS = ("user", "group", "role", "policy", "key")
_ID_ALPHABET = string.ascii_uppercase + string.digits
_ID_PREFIX = {"user": "AIDA", "group": "AGPA", "role": "AROA", "policy": "ANPA"}
_NAME_RE = re.compile(r"[\w+=,.@-]+")
_PATH_RE = re.compile(r"(/)|(/[\x21-\x7e]+/)")
_POLICY_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy(/[\x21-\x7e]*)?/[\w+=,.@-]+")
_VERSION_RE = re.compile(r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")
MAX_POLICY_VERSIONS = 5
MAX_ACCESS_KEYS = 2
MAX_ATTACHED = 10  # IAM's default quota of managed policies per user, group or role
INLINE_LIMIT = {"user": 2048, "role": 10240, "group": 5120}  # aggregate inline size per identity
MANAGED_LIMIT = 6144  # one managed policy version
TRUST_LIMIT = 2048  # a role's trust policy (IAM's default ACLSizePerRole quota)
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": LAMBDA_PRINCIPAL}, "Action": "sts:AssumeRole"}]})


# -- errors ---------------------------------------------------------------------------------------

def no_such_entity(message: str) -> IamError:
    return IamError(message, code="NoSuchEntity", status=404)


def already_exists(message: str) -> IamError:
    return IamError(message, code="EntityAlreadyExists", status=409)


def delete_conflict(message: str) -> IamError:
    return IamError(message, code="DeleteConflict", status=409)


def limit_exceeded(message: str) -> IamError:
    return IamError(message, code="LimitExceeded", status=409)


def validation(message: str) -> IamError:
    return IamError(message, code="ValidationError", status=400)


def invalid_input(message: str) -> IamError:
    return IamError(message, code="InvalidInput", status=400)


def malformed(message: str) -> IamError:
    return IamError(message, code="MalformedPolicyDocument", status=400)


def _constraint(value: Any, field: str, rule: str) -> IamError:
    return validation(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
                      f"Member must {rule}")


def check_name(value: Any, field: str, max_len: int = 64) -> str:
    if not isinstance(value, str) or not value:
        raise _constraint(value, field, "have length greater than or equal to 1")
    if len(value) > max_len:
        raise _constraint(value, field, f"have length less than or equal to {max_len}")
    if not _NAME_RE.fullmatch(value):
        raise _constraint(value, field, "satisfy regular expression pattern: [\\w+=,.@-]+")
    return value


def check_path(value: Any, field: str = "path") -> str:
    if value is None:
        return "/"
    if not isinstance(value, str) or len(value) > 512 or not _PATH_RE.fullmatch(value):
        raise _constraint(value, field, "satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+"
                                        "\\u002F)")
    return value


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def parse_document(text: Any, kind: str) -> dict[str, Any]:
    """Check a policy document as IAM does when storing one of this kind (managed, inline, trust);
    the parsed form. Sizes count without whitespace, as IAM counts them."""
    if not isinstance(text, str) or not text.strip():
        raise malformed("Syntax errors in policy.")
    try:
        safejson.loads(text)
    except ValueError:
        # IAM words this one differently for trust policies (recorded from AWS) than for others.
        raise malformed("This policy contains invalid Json" if kind == "trust" else "Syntax errors in policy.") \
            from None
    try:
        parsed = policy.validate_policy_document(text, kind)
    except policy.PolicyError as exc:
        raise IamError(exc.message, code=exc.code, status=exc.status) from None
    if kind == "managed" and policy_size(text) > MANAGED_LIMIT:
        raise limit_exceeded(f"Cannot exceed quota for PolicySize: {MANAGED_LIMIT}")
    if kind == "trust" and policy_size(text) > TRUST_LIMIT:
        raise limit_exceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_LIMIT}")
    return parsed


@functools.lru_cache(maxsize=1)
def service_linked_roles() -> dict[str, dict[str, Any]]:
    """AWS service name -> the service-linked role IAM creates for it (RoleName, Policies), as IAM
    answered CreateServiceLinkedRole (data/service_linked_roles.json, from the recorded answers)."""
    data: dict[str, dict[str, Any]] = json.loads(
        (Path(__file__).parent / "data" / "service_linked_roles.json").read_text())
    return data


def check_tags(tags: Any) -> list[dict[str, str]]:
    """Tags as IAM takes them: at most 50, keys unique regardless of case (lengths are the model's)."""
    tags = tags or []
    if len(tags) > 50:
        raise _constraint("[...]", "tags", "have length less than or equal to 50")
    keys = [str(t.get("Key", "")).lower() for t in tags]
    if len(set(keys)) != len(keys):  # IAM tag keys are case-insensitive
        raise invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


def paginate(items: list[Any], marker: str | None, max_items: int | None) -> tuple[list[Any], str | None]:
    """IAM's Marker/MaxItems: (page, next marker or None)."""
    start = 0
    if marker:
        try:
            start = int(base64.b64decode(marker).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise validation("Invalid Marker.") from None
    size = 100 if max_items is None else max_items
    if size < 1 or size > 1000:
        raise _constraint(size, "maxItems", "have value less than or equal to 1000" if size > 1000
                          else "have value greater than or equal to 1")
    end = start + size
    return items[start:end], base64.b64encode(str(end).encode()).decode() if end < len(items) else None


def _principal_id(cred: Credential) -> str:
    return cred.principal_id or cred.account


class Iam:
    """One IAM per server; every method takes the account it acts in."""

    def __init__(self, store: Store, keyring: Keyring, credentials: CredentialStore, first_account: str,
                 region: str) -> None:
        self.store = store
        self.keyring = keyring
        self.credentials = credentials
        self.first_account = first_account
        self.region = region
        self.generation = 0
        self.managed = aws_managed_policies.builtin()
        # account -> kind -> lower-case key -> record
        self._data: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self._listeners: list[Callable[[], None]] = []
        # Checks DeleteRole runs first (instance profiles holding the role): (account, role name) -> raise.
        self.role_guards: list[Callable[[str, str], None]] = []
        store.ensure_schema(SCHEMA)
        self._load()

    # -- persistence ------------------------------------------------------------------------
    def _load(self) -> None:
        for row in self.store.all("SELECT account, data FROM iam_accounts"):
            self.accounts[row["account"]] = json.loads(row["data"])
        if self.first_account not in self.accounts:
            self.accounts[self.first_account] = {"AccountId": self.first_account, "Name": "default",
                                                 "CreateDate": time.time()}
            self._save_account(self.first_account)
        for account, data in self.accounts.items():
            if data.get("RootKeyId") and data.get("RootSecret"):
                secret = self.keyring.decrypt_text(data["RootSecret"], data["RootKeyId"])
                self.credentials.add(self._root_credential(account, data["RootKeyId"], secret))
        for row in self.store.all("SELECT account, kind, key, data FROM iam_entities"):
            rec = json.loads(row["data"])
            self._table(row["account"], row["kind"])[row["key"]] = rec
            if row["kind"] == "key" and rec["Status"] == "Active":
                self._register_key(row["account"], rec)

    def _save_account(self, account: str) -> None:
        self.store.execute("INSERT INTO iam_accounts (account, data) VALUES (?, ?) "
                           "ON CONFLICT (account) DO UPDATE SET data=excluded.data",
                           (account, json.dumps(self.accounts[account])))

    def _table(self, account: str, kind: str) -> dict[str, dict[str, Any]]:
        return self._data.setdefault(account, {}).setdefault(kind, {})

    def _put(self, account: str, kind: str, key: str, rec: dict[str, Any]) -> None:
        self._table(account, kind)[key] = rec
        self.store.execute("INSERT INTO iam_entities (account, kind, key, data) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (account, kind, key) DO UPDATE SET data=excluded.data",
                           (account, kind, key, json.dumps(rec)))
        self._changed()

    def _delete(self, account: str, kind: str, key: str) -> None:
        self._table(account, kind).pop(key, None)
        self.store.execute("DELETE FROM iam_entities WHERE account=? AND kind=? AND key=?", (account, kind, key))
        self._changed()

    def _changed(self) -> None:
        self.generation += 1
        for listener in self._listeners:
            listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # -- accounts ---------------------------------------------------------------------------
    def _root_credential(self, account: str, key_id: str, secret: str) -> Credential:
        return Credential(key_id, secret, account, f"arn:aws:iam::{account}:root", is_root=True, principal_id=account)

    def create_account(self, name: object) -> tuple[str, str, str]:
        """A new account and its root keys: (account id, access key id, secret access key). The name is
        checked here: it comes straight from a request body."""
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise validation("An account name of 1 to 50 characters is required.")
        if any(a.get("Name") == name for a in self.accounts.values()):
            raise already_exists(f"An account named {name} already exists.")
        while True:
            account = "".join(secrets.choice(string.digits) for _ in range(12))
            if account[0] != "0" and account not in self.accounts:
                break
        key_id, secret = new_key_id("AKIA"), new_secret()
        self.accounts[account] = {"AccountId": account, "Name": name, "CreateDate": time.time(),
                                  "RootKeyId": key_id, "RootSecret": self.keyring.encrypt(secret, key_id)}
        self._save_account(account)
        self.credentials.add(self._root_credential(account, key_id, secret))
        return account, key_id, secret

    def list_accounts(self) -> list[dict[str, Any]]:
        first = [self.accounts[self.first_account]]
        rest = sorted((a for k, a in self.accounts.items() if k != self.first_account), key=lambda a: a["CreateDate"])
        return [{k: v for k, v in a.items() if k != "RootSecret"} for a in first + rest]

    # -- generic entity helpers -------------------------------------------------------------
    def _get(self, account: str, kind: str, name: str) -> dict[str, Any]:
        rec = self._table(account, kind).get(name.lower())
        if rec is None:
            raise no_such_entity(f"The {kind} with name {name} cannot be found.")
        return rec

    def _arn(self, account: str, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{account}:{kind}{path}{name}"

    def _new_entity(self, account: str, kind: str, name: str, path: str, extra: dict[str, Any]) -> dict[str, Any]:
        label = {"user": "User", "group": "Group", "role": "Role"}[kind]
        if name.lower() in self._table(account, kind):
            raise already_exists(f"{label} with name {name} already exists.")
        rec = {f"{label}Name": name, f"{label}Id": new_id(_ID_PREFIX[kind]),
               "Arn": self._arn(account, kind, path, name), "Path": path, "CreateDate": time.time(),
               "Inline": {}, "Attached": [], **extra}
        self._put(account, kind, name.lower(), rec)
        return rec

    @staticmethod
    def merged_tags(current: list[dict[str, str]], tags: Any) -> list[dict[str, str]]:
        """Tags after TagX: keys are case-insensitive, so "env" replaces "Env"."""
        merged = {t["Key"].lower(): t for t in current}
        for tag in check_tags(tags):
            merged[tag["Key"].lower()] = tag
        if len(merged) > 50:
            raise limit_exceeded("The number of tags has reached the maximum limit.")
        return list(merged.values())

    # -- users ------------------------------------------------------------------------------
    def create_user(self, account: str, name: str, path: str | None = None, tags: Any = None,
                    boundary: str | None = None) -> dict[str, Any]:
        check_name(name, "userName")
        extra: dict[str, Any] = {"Tags": check_tags(tags)}
        if boundary is not None:
            extra["PermissionsBoundary"] = self._boundary(account, boundary)
        return self._new_entity(account, "user", name, check_path(path), extra)

    def get_user(self, account: str, name: str) -> dict[str, Any]:
        return self._get(account, "user", name)

    def users(self, account: str, path_prefix: str = "/") -> list[dict[str, Any]]:
        return sorted((u for u in self._table(account, "user").values() if u["Path"].startswith(path_prefix)),
                      key=lambda u: u["UserName"].lower())

    def update_user(self, account: str, name: str, new_name: str | None, new_path: str | None) -> None:
        user = self.get_user(account, name)
        if new_name is not None:
            check_name(new_name, "newUserName")
            if new_name.lower() != name.lower() and new_name.lower() in self._table(account, "user"):
                raise already_exists(f"User with name {new_name} already exists.")
        if new_path is not None:
            user["Path"] = check_path(new_path, "newPath")
        old_key = name.lower()
        if new_name is not None:
            user["UserName"] = new_name
            for group in self._table(account, "group").values():
                group["Users"] = [new_name if u.lower() == old_key else u for u in group["Users"]]
                self._put(account, "group", group["GroupName"].lower(), group)
            for key in self._table(account, "key").values():
                if key["UserName"].lower() == old_key:
                    key["UserName"] = new_name
                    self._put(account, "key", key["AccessKeyId"], key)
                    self._register_key(account, key)
            self._delete(account, "user", old_key)
        user["Arn"] = self._arn(account, "user", user["Path"], user["UserName"])
        self._put(account, "user", user["UserName"].lower(), user)

    def delete_user(self, account: str, name: str) -> None:
        user = self.get_user(account, name)
        if any(k["UserName"].lower() == name.lower() for k in self._table(account, "key").values()):
            raise delete_conflict("Cannot delete entity, must delete access keys first.")
        if user.get("LoginProfile"):
            raise delete_conflict("Cannot delete entity, must delete login profile first.")
        if user["Inline"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if user["Attached"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        if self.groups_for_user(account, name):
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        self._delete(account, "user", name.lower())

    def tag(self, account: str, kind: str, name: str, tags: Any) -> None:
        rec = self._get(account, kind, name)
        rec["Tags"] = self.merged_tags(rec.get("Tags", []), tags)
        self._put(account, kind, name.lower(), rec)

    def untag(self, account: str, kind: str, name: str, keys: list[str]) -> None:
        rec = self._get(account, kind, name)
        drop = {k.lower() for k in keys or []}
        rec["Tags"] = [t for t in rec.get("Tags", []) if t["Key"].lower() not in drop]
        self._put(account, kind, name.lower(), rec)

    # -- access keys ------------------------------------------------------------------------
    def _register_key(self, account: str, rec: dict[str, Any]) -> None:
        user = self._table(account, "user").get(rec["UserName"].lower())
        if user is None:
            return
        secret = self.keyring.decrypt_text(rec["Secret"], rec["AccessKeyId"])
        self.credentials.add(Credential(rec["AccessKeyId"], secret, account, user["Arn"], user_name=user["UserName"],
                                        principal_id=user["UserId"]))

    def create_access_key(self, account: str, user_name: str) -> dict[str, Any]:
        user = self.get_user(account, user_name)
        owned = [k for k in self._table(account, "key").values() if k["UserName"].lower() == user_name.lower()]
        if len(owned) >= MAX_ACCESS_KEYS:
            raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
        key_id, secret = new_key_id("AKIA"), new_secret()
        rec = {"AccessKeyId": key_id, "UserName": user["UserName"], "Status": "Active", "CreateDate": time.time(),
               "Secret": self.keyring.encrypt(secret, key_id)}
        self._put(account, "key", key_id, rec)
        self._register_key(account, rec)
        return {"UserName": user["UserName"], "AccessKeyId": key_id, "Status": "Active", "SecretAccessKey": secret,
                "CreateDate": rec["CreateDate"]}

    def access_keys(self, account: str, user_name: str) -> list[dict[str, Any]]:
        self.get_user(account, user_name)
        return sorted(({"UserName": k["UserName"], "AccessKeyId": k["AccessKeyId"], "Status": k["Status"],
                        "CreateDate": k["CreateDate"]}
                       for k in self._table(account, "key").values() if k["UserName"].lower() == user_name.lower()),
                      key=lambda k: k["CreateDate"])

    def _key(self, account: str, user_name: str, key_id: str) -> dict[str, Any]:
        self.get_user(account, user_name)
        rec = self._table(account, "key").get(key_id)
        if rec is None or rec["UserName"].lower() != user_name.lower():
            raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
        return rec

    def update_access_key(self, account: str, user_name: str, key_id: str, status: str) -> None:
        if status not in ("Active", "Inactive"):
            raise _constraint(status, "status", "satisfy enum value set: [Active, Inactive]")
        rec = self._key(account, user_name, key_id)
        rec["Status"] = status
        self._put(account, "key", key_id, rec)
        if status == "Active":
            self._register_key(account, rec)
        else:
            self.credentials.revoke(key_id)

    def delete_access_key(self, account: str, user_name: str, key_id: str) -> None:
        self._key(account, user_name, key_id)
        self._delete(account, "key", key_id)
        self.credentials.revoke(key_id)

    def key_owner(self, account: str, key_id: str) -> str | None:
        rec = self._table(account, "key").get(key_id)
        return rec["UserName"] if rec else None

    # -- groups -----------------------------------------------------------------------------
    def create_group(self, account: str, name: str, path: str | None = None) -> dict[str, Any]:
        check_name(name, "groupName", 128)
        return self._new_entity(account, "group", name, check_path(path), {"Users": []})

    def get_group(self, account: str, name: str) -> dict[str, Any]:
        return self._get(account, "group", name)

    def update_group(self, account: str, name: str, new_name: str | None, new_path: str | None) -> None:
        group = self.get_group(account, name)
        if new_name is not None:
            check_name(new_name, "newGroupName", 128)
            if new_name.lower() != name.lower() and new_name.lower() in self._table(account, "group"):
                raise already_exists(f"Group with name {new_name} already exists.")
        if new_path is not None:
            group["Path"] = check_path(new_path, "newPath")
        if new_name is not None:
            self._delete(account, "group", name.lower())
            group["GroupName"] = new_name
        group["Arn"] = self._arn(account, "group", group["Path"], group["GroupName"])
        self._put(account, "group", group["GroupName"].lower(), group)

    # -- account aliases, the summary, the credential report -----------------------------------
    def create_alias(self, account: str, alias: str) -> None:
        if not re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", alias or "") or len(alias) < 3:
            raise _constraint(alias, "accountAlias", "satisfy regular expression pattern: "
                                                     "^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$")
        taken = any(a.get("Alias") == alias for k, a in self.accounts.items() if k != account)
        if taken:
            raise already_exists(f"The account alias {alias} already exists.")
        self.accounts[account]["Alias"] = alias  # one alias per account: a new one replaces it
        self._save_account(account)

    def aliases(self, account: str) -> list[str]:
        alias = self.accounts.get(account, {}).get("Alias")
        return [alias] if alias else []

    def delete_alias(self, account: str, alias: str) -> None:
        if self.accounts.get(account, {}).get("Alias") != alias:
            raise no_such_entity(f"The account alias {alias} cannot be found.")
        del self.accounts[account]["Alias"]
        self._save_account(account)

    def summary(self, account: str) -> dict[str, int]:
        """GetAccountSummary's SummaryMap: counts of what the account holds, and IAM's default quotas."""
        def count(kind: str) -> int:
            return len(self._table(account, kind))
        attached = sum(len(r["Attached"]) for kind in ("user", "group", "role") for r in self._table(account, kind)
                       .values())
        return {"Users": count("user"), "UsersQuota": 5000, "Groups": count("group"), "GroupsQuota": 300,
                "Roles": count("role"), "RolesQuota": 1000, "Policies": count("policy"), "PoliciesQuota": 1500,
                "InstanceProfiles": count("instance-profile"), "InstanceProfilesQuota": 1000,
                "Providers": count("oidc"), "PolicyVersionsInUse": attached, "PolicyVersionsInUseQuota": 10000,
                "AccessKeysPerUserQuota": MAX_ACCESS_KEYS, "AttachedPoliciesPerUserQuota": MAX_ATTACHED,
                "AttachedPoliciesPerGroupQuota": MAX_ATTACHED, "AttachedPoliciesPerRoleQuota": MAX_ATTACHED,
                "GroupsPerUserQuota": 10, "VersionsPerPolicyQuota": MAX_POLICY_VERSIONS,
                "PolicySizeQuota": MANAGED_LIMIT, "UserPolicySizeQuota": INLINE_LIMIT["user"],
                "GroupPolicySizeQuota": INLINE_LIMIT["group"], "RolePolicySizeQuota": INLINE_LIMIT["role"],
                "AssumeRolePolicySizeQuota": TRUST_LIMIT, "ServerCertificates": 0, "ServerCertificatesQuota": 20,
                "MFADevices": 0, "MFADevicesInUse": 0, "AccountMFAEnabled": 0,
                "AccountAccessKeysPresent": int(bool(self.accounts.get(account, {}).get("RootKeyId"))
                                                or account == self.first_account),
                "AccountSigningCertificatesPresent": 0, "GlobalEndpointTokenVersion": 1}

    def generate_credential_report(self, account: str) -> bool:
        """Build the report now; whether one already existed (IAM answers STARTED the first time)."""
        existed = "CredentialReport" in self.accounts[account]
        self.accounts[account]["CredentialReport"] = {"Content": self._credential_csv(account),
                                                      "GeneratedTime": time.time()}
        self._save_account(account)
        return existed

    def credential_report(self, account: str) -> dict[str, Any]:
        found = self.accounts.get(account, {}).get("CredentialReport")
        if found is None:
            raise IamError(f"Credential report not present for account {account}. Please generate one.",
                           code="ReportNotPresent", status=410)
        return dict(found)

    def _credential_csv(self, account: str) -> str:
        def stamp(t: float | None) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t)) if t else "N/A"
        columns = ["user", "arn", "user_creation_time", "password_enabled", "password_last_used",
                   "password_last_changed", "password_next_rotation", "mfa_active"]
        for n in (1, 2):
            columns += [f"access_key_{n}_active", f"access_key_{n}_last_rotated", f"access_key_{n}_last_used_date",
                        f"access_key_{n}_last_used_region", f"access_key_{n}_last_used_service"]
        columns += ["cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
        root = self.accounts[account]
        root_keys = bool(root.get("RootKeyId")) or account == self.first_account
        rows = [["<root_account>", f"arn:aws:iam::{account}:root", stamp(root.get("CreateDate")), "not_supported",
                 "N/A", "not_supported", "not_supported", "false", str(root_keys).lower(), "N/A", "N/A", "N/A",
                 "N/A", "false", "N/A", "N/A", "N/A", "N/A"]]
        for user in self.users(account):
            keys = self.access_keys(account, user["UserName"])
            login = user.get("LoginProfile")
            row = [user["UserName"], user["Arn"], stamp(user["CreateDate"]), "true" if login else "false", "N/A",
                   stamp(login["CreateDate"]) if login else "N/A", "N/A", "false"]
            for n in (0, 1):
                key = keys[n] if n < len(keys) else None
                row += [str(key is not None and key["Status"] == "Active").lower(),
                        stamp(key["CreateDate"]) if key else "N/A", "N/A", "N/A", "N/A"]
            rows.append(row)
        flat = [[*r, "false", "N/A", "false", "N/A"] for r in rows]  # no signing certificates
        return "\n".join(",".join(r) for r in [columns, *flat])

    def groups(self, account: str, path_prefix: str = "/") -> list[dict[str, Any]]:
        return sorted((g for g in self._table(account, "group").values() if g["Path"].startswith(path_prefix)),
                      key=lambda g: g["GroupName"].lower())

    def groups_for_user(self, account: str, user_name: str) -> list[dict[str, Any]]:
        key = user_name.lower()
        return [g for g in self.groups(account) if any(u.lower() == key for u in g["Users"])]

    def add_user_to_group(self, account: str, group_name: str, user_name: str) -> None:
        group = self.get_group(account, group_name)
        user = self.get_user(account, user_name)
        if not any(u.lower() == user_name.lower() for u in group["Users"]):
            group["Users"].append(user["UserName"])
            self._put(account, "group", group_name.lower(), group)

    def remove_user_from_group(self, account: str, group_name: str, user_name: str) -> None:
        group = self.get_group(account, group_name)
        self.get_user(account, user_name)
        kept = [u for u in group["Users"] if u.lower() != user_name.lower()]
        if len(kept) == len(group["Users"]):
            raise no_such_entity(f"The user with name {user_name} cannot be found.")
        group["Users"] = kept
        self._put(account, "group", group_name.lower(), group)

    def delete_group(self, account: str, name: str) -> None:
        group = self.get_group(account, name)
        if group["Users"]:
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        if group["Inline"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if group["Attached"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        self._delete(account, "group", name.lower())

    # -- roles ------------------------------------------------------------------------------
    def create_role(self, account: str, name: str, trust: str, path: str | None = None,
                    description: str | None = None, max_session: int | None = None, tags: Any = None,
                    boundary: str | None = None) -> dict[str, Any]:
        check_name(name, "roleName")
        path = check_path(path)
        self._check_trust_principals(parse_document(trust, "trust"))
        max_session = self._check_max_session(max_session)
        extra: dict[str, Any] = {"AssumeRolePolicyDocument": trust, "MaxSessionDuration": max_session,
                                 "Tags": check_tags(tags)}
        if description is not None:
            extra["Description"] = description
        if boundary is not None:
            extra["PermissionsBoundary"] = self._boundary(account, boundary)
        return self._new_entity(account, "role", name, path, extra)

    def _check_trust_principals(self, trust: dict[str, Any]) -> None:
        """IAM resolves the users and roles a trust policy names when it stores it: one that does
        not exist (in an account this server knows) is an invalid principal."""
        statements = trust["Statement"] if isinstance(trust["Statement"], list) else [trust["Statement"]]
        for statement in statements:
            element = statement.get("Principal", statement.get("NotPrincipal"))
            values = element.get("AWS", []) if isinstance(element, dict) else []
            for value in values if isinstance(values, list) else [values]:
                parts = value.split(":", 5)
                if len(parts) != 6 or parts[2] != "iam" or parts[4] not in self.accounts:
                    continue
                kind, _, rest = parts[5].partition("/")
                if kind not in ("user", "role"):
                    continue
                found = self._table(parts[4], kind).get(rest.rpartition("/")[2].lower())
                if found is None or found["Arn"] != value:
                    raise malformed(f'Invalid principal in policy: "AWS":"{value}"')

    # -- permissions boundaries (IAM User Guide, "Permissions boundaries for IAM entities") ----
    def _boundary(self, account: str, arn: str) -> dict[str, str]:
        self._check_arn(arn)
        if self.find_policy(account, arn) is None:
            raise no_such_entity(f"Scope ARN: {arn} does not exist or is not attachable.")
        return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}

    def put_boundary(self, account: str, kind: str, name: str, arn: str) -> None:
        rec = self._get(account, kind, name)
        if kind == "role":
            self._modifiable(rec)
        rec["PermissionsBoundary"] = self._boundary(account, arn)
        self._put(account, kind, name.lower(), rec)

    def delete_boundary(self, account: str, kind: str, name: str) -> None:
        rec = self._get(account, kind, name)
        rec.pop("PermissionsBoundary", None)
        self._put(account, kind, name.lower(), rec)

    def boundary_usage(self, account: str, arn: str) -> int:
        return sum((rec.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn") == arn
                   for kind in ("user", "role") for rec in self._table(account, kind).values())

    def boundary_policy(self, account: str, kind: str, name: str) -> dict[str, Any] | None:
        """The parsed boundary of a user or role (None: it has none), for the authorizer."""
        rec = self._table(account, kind).get(name.lower())
        arn = (rec or {}).get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        found = self.find_policy(account, arn) if arn else None
        if arn and found is None:
            return {"Version": "2012-10-17", "Statement": []}  # a boundary gone missing allows nothing
        return None if found is None else dict(json.loads(found["Versions"][found["DefaultVersionId"]]["Document"]))

    # -- the account password policy and console passwords -----------------------------------
    # lambdad has no console: passwords are checked against the policy and kept only as a salted
    # scrypt hash, so tooling that manages login profiles works and nothing can be read back.
    _PASSWORD_DEFAULTS: dict[str, Any] = {  # IAM's defaults for members UpdateAccountPasswordPolicy omits
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": False,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False, "AllowUsersToChangePassword": False,
        "HardExpiry": False}

    def set_password_policy(self, account: str, given: dict[str, Any]) -> None:
        stored = dict(self._PASSWORD_DEFAULTS)
        stored.update({k: v for k, v in given.items() if v is not None})
        stored["ExpirePasswords"] = bool(stored.get("MaxPasswordAge"))
        self.accounts[account]["PasswordPolicy"] = stored
        self._save_account(account)

    def password_policy(self, account: str) -> dict[str, Any]:
        found = self.accounts.get(account, {}).get("PasswordPolicy")
        if found is None:
            raise no_such_entity(f"The Password Policy with domain name {account} cannot be found.")
        return dict(found)

    def delete_password_policy(self, account: str) -> None:
        self.password_policy(account)
        del self.accounts[account]["PasswordPolicy"]
        self._save_account(account)

    def _check_password(self, account: str, password: Any) -> str:
        found = self.accounts.get(account, {}).get("PasswordPolicy") or self._PASSWORD_DEFAULTS
        if not isinstance(password, str) or not password:
            raise validation("Password is required.")
        rules = [(len(password) >= found["MinimumPasswordLength"],
                  f"Password should have at least {found['MinimumPasswordLength']} characters"),
                 (not found["RequireSymbols"] or any(not c.isalnum() for c in password),
                  "Password should have at least one symbol"),
                 (not found["RequireNumbers"] or any(c.isdigit() for c in password),
                  "Password should have at least one number"),
                 (not found["RequireUppercaseCharacters"] or any(c.isupper() for c in password),
                  "Password should have at least one uppercase letter"),
                 (not found["RequireLowercaseCharacters"] or any(c.islower() for c in password),
                  "Password should have at least one lowercase letter")]
        broken = [message for ok, message in rules if not ok]
        if broken:
            raise IamError("Password does not conform to the account password policy requirements: "
                           + ", ".join(broken), code="PasswordPolicyViolation", status=400)
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1)
        return f"scrypt:{salt.hex()}:{digest.hex()}"

    def create_login_profile(self, account: str, user_name: str, password: Any, reset: bool) -> dict[str, Any]:
        user = self.get_user(account, user_name)
        if user.get("LoginProfile"):
            raise already_exists(f"Login Profile for user {user['UserName']} already exists.")
        user["LoginProfile"] = {"Hash": self._check_password(account, password), "CreateDate": time.time(),
                                "PasswordResetRequired": reset}
        self._put(account, "user", user_name.lower(), user)
        return self.login_profile(account, user_name)

    def login_profile(self, account: str, user_name: str) -> dict[str, Any]:
        user = self.get_user(account, user_name)
        found = user.get("LoginProfile")
        if not found:
            raise no_such_entity(f"Login Profile for User {user['UserName']} cannot be found.")
        return {"UserName": user["UserName"], "CreateDate": found["CreateDate"],
                "PasswordResetRequired": found["PasswordResetRequired"]}

    def update_login_profile(self, account: str, user_name: str, password: Any, reset: bool | None) -> None:
        self.login_profile(account, user_name)
        user = self.get_user(account, user_name)
        if password is not None:
            user["LoginProfile"]["Hash"] = self._check_password(account, password)
        if reset is not None:
            user["LoginProfile"]["PasswordResetRequired"] = bool(reset)
        self._put(account, "user", user_name.lower(), user)

    def delete_login_profile(self, account: str, user_name: str) -> None:
        self.login_profile(account, user_name)
        user = self.get_user(account, user_name)
        del user["LoginProfile"]
        self._put(account, "user", user_name.lower(), user)

    # -- service-linked roles ---------------------------------------------------------------
    def create_service_linked_role(self, account: str, service: str, description: str | None,
                                   suffix: str | None) -> dict[str, Any]:
        known = service_linked_roles().get(service)
        if known is None and not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com", service or ""):
            raise invalid_input(f"Invalid service name: {service}")
        base = known["RoleName"] if known else "AWSServiceRoleFor" + "".join(
            part[:1].upper() + part[1:] for part in service.removesuffix(".amazonaws.com").split(".")[::-1])
        name = f"{base}_{suffix}" if suffix else base
        if name.lower() in self._table(account, "role"):
            raise invalid_input(f"Service role name {name} has been taken in this account, please try a different "
                                "suffix.")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}]})
        extra: dict[str, Any] = {"AssumeRolePolicyDocument": trust, "MaxSessionDuration": 3600, "Tags": [],
                                 "ServiceLinked": service}
        if description is not None:
            extra["Description"] = description
        rec = self._new_entity(account, "role", name, f"/aws-service-role/{service}/", extra)
        # The service's own policy is named, as IAM shows it; lambdad runs no such service to act with it.
        rec["Attached"] = list(known["Policies"]) if known else []
        self._put(account, "role", name.lower(), rec)
        return rec

    def delete_service_linked_role(self, account: str, name: str) -> str:
        role = self.get_role(account, name)
        if not role.get("ServiceLinked"):
            raise invalid_input(f"Role {name} is not a service-linked role.")
        self._table(account, "role").pop(name.lower())
        self.store.execute("DELETE FROM iam_entities WHERE account=? AND kind='role' AND key=?",
                           (account, name.lower()))
        self._changed()
        task = f"task/aws-service-role/{role['ServiceLinked']}/{role['RoleName']}/{uuid.uuid4()}"
        self.accounts[account].setdefault("DeletionTasks", {})[task] = "SUCCEEDED"
        self._save_account(account)
        return task

    def deletion_status(self, account: str, task: str) -> str:
        status = self.accounts.get(account, {}).get("DeletionTasks", {}).get(task)
        if status is None:
            raise no_such_entity(f"Deletion task {task} cannot be found.")
        return str(status)

    @staticmethod
    def _modifiable(role: dict[str, Any]) -> None:
        if role.get("ServiceLinked"):
            raise IamError(f"Cannot perform the operation on the protected role '{role['RoleName']}' - this role "
                           "is only modifiable by AWS", code="UnmodifiableEntity", status=400)

    @staticmethod
    def _check_max_session(value: int | None) -> int:
        if value is None:
            return 3600
        if value < 3600 or value > 43200:
            raise _constraint(value, "maxSessionDuration", "have value greater than or equal to 3600" if value < 3600
                              else "have value less than or equal to 43200")
        return value

    def get_role(self, account: str, name: str) -> dict[str, Any]:
        return self._get(account, "role", name)

    def find_role(self, account: str, name: str) -> dict[str, Any] | None:
        return self._table(account, "role").get(name.lower())

    def roles(self, account: str, path_prefix: str = "/") -> list[dict[str, Any]]:
        return sorted((r for r in self._table(account, "role").values() if r["Path"].startswith(path_prefix)),
                      key=lambda r: r["RoleName"].lower())

    def update_role(self, account: str, name: str, description: str | None, max_session: int | None) -> None:
        role = self.get_role(account, name)
        if description is not None:
            role["Description"] = description
        if max_session is not None:
            role["MaxSessionDuration"] = self._check_max_session(max_session)
        self._put(account, "role", name.lower(), role)

    def update_assume_role_policy(self, account: str, name: str, trust: str) -> None:
        role = self.get_role(account, name)
        self._modifiable(role)
        self._check_trust_principals(parse_document(trust, "trust"))
        role["AssumeRolePolicyDocument"] = trust
        self._put(account, "role", name.lower(), role)

    def delete_role(self, account: str, name: str) -> None:
        role = self.get_role(account, name)
        self._modifiable(role)
        for guard in self.role_guards:
            guard(account, name)
        if role["Inline"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if role["Attached"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        self._delete(account, "role", name.lower())

    def ensure_lambda_role(self, account: str, name: str) -> dict[str, Any]:
        """A role Lambda may assume, with the basic execution policy (for the demo and `lambdad deploy`)."""
        role = self.find_role(account, name)
        if role is None:
            role = self.create_role(account, name, LAMBDA_TRUST, description="Created by lambdad")
            self.attach(account, "role", name,
                        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        return role

    def role_trust(self, role: dict[str, Any]) -> dict[str, Any]:
        return json.loads(role["AssumeRolePolicyDocument"])

    def lambda_can_assume(self, account: str, role_arn: str) -> bool:
        """Whether a role exists at this ARN and its trust policy lets Lambda assume it."""
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or parts[4] != account or not parts[5].startswith("role/"):
            return False
        role = self.find_role(account, parts[5].rpartition("/")[2])
        if role is None or role["Arn"] != role_arn:
            return False
        ctx = policy.RequestContext("", "", "sts:AssumeRole", role["Arn"], account,
                                    {"aws:SourceAccount": account}, principal_service=LAMBDA_PRINCIPAL)
        return policy.evaluate(ctx, [], self.role_trust(role)) is policy.Decision.ALLOW

    # -- inline policies --------------------------------------------------------------------
    def put_inline(self, account: str, kind: str, owner: str, name: str, document: str) -> None:
        rec = self._get(account, kind, owner)
        check_name(name, "policyName", 128)
        parse_document(document, "inline")
        size = policy_size(document) + sum(policy_size(d) for n, d in rec["Inline"].items() if n != name)
        if size > INLINE_LIMIT[kind]:
            raise limit_exceeded(f"Maximum policy size of {INLINE_LIMIT[kind]} bytes exceeded for {kind} {owner}")
        rec["Inline"][name] = document
        self._put(account, kind, owner.lower(), rec)

    def get_inline(self, account: str, kind: str, owner: str, name: str) -> str:
        rec = self._get(account, kind, owner)
        document = rec["Inline"].get(name)
        if document is None:
            raise no_such_entity(f"The {kind} policy with name {name} cannot be found.")
        return document

    def delete_inline(self, account: str, kind: str, owner: str, name: str) -> None:
        rec = self._get(account, kind, owner)
        if name not in rec["Inline"]:
            raise no_such_entity(f"The {kind} policy with name {name} cannot be found.")
        del rec["Inline"][name]
        self._put(account, kind, owner.lower(), rec)

    def inline_names(self, account: str, kind: str, owner: str) -> list[str]:
        return sorted(self._get(account, kind, owner)["Inline"])

    # -- managed policies -------------------------------------------------------------------
    def create_policy(self, account: str, name: str, document: str, path: str | None = None,
                      description: str | None = None, tags: Any = None) -> dict[str, Any]:
        check_name(name, "policyName", 128)
        path = check_path(path, "path")
        parse_document(document, "managed")
        if name.lower() in self._table(account, "policy"):
            raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        now = time.time()
        rec = {"PolicyName": name, "PolicyId": new_id("ANPA"), "Arn": f"arn:aws:iam::{account}:policy{path}{name}",
               "Path": path, "CreateDate": now, "UpdateDate": now, "DefaultVersionId": "v1", "IsAttachable": True,
               "Versions": {"v1": {"Document": document, "CreateDate": now}}, "NextVersion": 2,
               "Tags": check_tags(tags)}
        if description is not None:
            rec["Description"] = description
        self._put(account, "policy", name.lower(), rec)
        return rec

    def _check_arn(self, arn: Any) -> str:
        if not isinstance(arn, str) or not _POLICY_ARN_RE.fullmatch(arn):
            raise validation("Invalid ARN:  Could not be parsed!" if not isinstance(arn, str) or
                             not arn.startswith("arn:") else f"ARN {arn} is not valid.")
        return arn

    def find_policy(self, account: str, arn: str) -> dict[str, Any] | None:
        if arn in self.managed:
            return self.managed[arn]
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[4] != account:
            return None
        rec = self._table(account, "policy").get(parts[5].rpartition("/")[2].lower())
        return rec if rec is not None and rec["Arn"] == arn else None

    def get_policy(self, account: str, arn: str) -> dict[str, Any]:
        rec = self.find_policy(account, self._check_arn(arn))
        if rec is None:
            raise no_such_entity(f"Policy {arn} was not found.")
        return rec

    def _customer_policy(self, account: str, arn: str) -> dict[str, Any]:
        rec = self.get_policy(account, arn)
        if arn in self.managed:
            raise IamError("Cannot modify an AWS managed policy.", code="AccessDenied", status=403)
        return rec

    def attachment_count(self, account: str, arn: str) -> int:
        return sum(arn in rec["Attached"] for kind in ("user", "group", "role")
                   for rec in self._table(account, kind).values())

    def policies(self, account: str, scope: str = "All", only_attached: bool = False, path_prefix: str = "/"
                 ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if scope in ("All", "AWS"):
            out.extend(sorted(self.managed.values(), key=lambda p: p["PolicyName"]))
        if scope in ("All", "Local"):
            out.extend(sorted(self._table(account, "policy").values(), key=lambda p: p["PolicyName"].lower()))
        out = [p for p in out if p["Path"].startswith(path_prefix)]
        if only_attached:
            out = [p for p in out if self.attachment_count(account, p["Arn"])]
        return out

    def tag_policy(self, account: str, arn: str, tags: Any) -> None:
        rec = self._customer_policy(account, arn)
        rec["Tags"] = self.merged_tags(rec.get("Tags", []), tags)
        self._put(account, "policy", rec["PolicyName"].lower(), rec)

    def untag_policy(self, account: str, arn: str, keys: list[str]) -> None:
        rec = self._customer_policy(account, arn)
        drop = {k.lower() for k in keys}
        rec["Tags"] = [t for t in rec.get("Tags", []) if t["Key"].lower() not in drop]
        self._put(account, "policy", rec["PolicyName"].lower(), rec)

    def delete_policy(self, account: str, arn: str) -> None:
        rec = self.get_policy(account, arn)
        if arn in self.managed:
            raise IamError("Cannot delete an AWS managed policy.", code="AccessDenied", status=403)
        if self.attachment_count(account, arn) or self.boundary_usage(account, arn):
            raise delete_conflict("Cannot delete a policy attached to entities.")
        if len(rec["Versions"]) > 1:
            raise delete_conflict("This policy has more than one version. Before you delete a policy, you must delete "
                                  "the policy's non-default versions.")
        self._delete(account, "policy", rec["PolicyName"].lower())

    def create_policy_version(self, account: str, arn: str, document: str, set_default: bool) -> dict[str, Any]:
        rec = self._customer_policy(account, arn)
        parse_document(document, "managed")
        if len(rec["Versions"]) >= MAX_POLICY_VERSIONS:
            raise limit_exceeded(f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create "
                                 "a new version, you must delete an existing version.")
        version = f"v{rec['NextVersion']}"
        rec["NextVersion"] += 1
        now = time.time()
        rec["Versions"][version] = {"Document": document, "CreateDate": now}
        if set_default:
            rec["DefaultVersionId"] = version
        rec["UpdateDate"] = now
        self._put(account, "policy", rec["PolicyName"].lower(), rec)
        return self.version_view(rec, version, with_document=False)

    def _version(self, rec: dict[str, Any], arn: str, version: str) -> dict[str, Any]:
        if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
            raise _constraint(version, "versionId",
                              "satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?")
        found = rec["Versions"].get(version)
        if found is None:
            raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
        return found

    def version_view(self, rec: dict[str, Any], version: str, with_document: bool = True) -> dict[str, Any]:
        found = rec["Versions"][version]
        out: dict[str, Any] = {"VersionId": version, "IsDefaultVersion": version == rec["DefaultVersionId"],
                               "CreateDate": found["CreateDate"]}
        if with_document:
            out["Document"] = found["Document"]
        return out

    def get_policy_version(self, account: str, arn: str, version: str) -> dict[str, Any]:
        rec = self.get_policy(account, arn)
        self._version(rec, arn, version)
        return self.version_view(rec, version)

    def policy_versions(self, account: str, arn: str) -> list[dict[str, Any]]:
        rec = self.get_policy(account, arn)
        return [self.version_view(rec, v) for v in sorted(rec["Versions"], key=lambda v: -int(v[1:].split(".")[0]))]

    def delete_policy_version(self, account: str, arn: str, version: str) -> None:
        rec = self._customer_policy(account, arn)
        self._version(rec, arn, version)
        if version == rec["DefaultVersionId"]:
            raise delete_conflict("Cannot delete the default version of a policy.")
        del rec["Versions"][version]
        self._put(account, "policy", rec["PolicyName"].lower(), rec)

    def set_default_version(self, account: str, arn: str, version: str) -> None:
        rec = self._customer_policy(account, arn)
        self._version(rec, arn, version)
        rec["DefaultVersionId"] = version
        rec["UpdateDate"] = time.time()
        self._put(account, "policy", rec["PolicyName"].lower(), rec)

    def attach(self, account: str, kind: str, owner: str, arn: str) -> None:
        rec = self._get(account, kind, owner)
        self._check_arn(arn)
        target = self.find_policy(account, arn)
        if target is None:
            raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
        if arn in rec["Attached"]:
            return
        if len(rec["Attached"]) >= MAX_ATTACHED:
            label = {"user": "PoliciesPerUser", "group": "PoliciesPerGroup", "role": "PoliciesPerRole"}[kind]
            raise limit_exceeded(f"Cannot exceed quota for {label}: {MAX_ATTACHED}")
        rec["Attached"].append(arn)
        self._put(account, kind, owner.lower(), rec)

    def detach(self, account: str, kind: str, owner: str, arn: str) -> None:
        rec = self._get(account, kind, owner)
        self._check_arn(arn)
        if arn not in rec["Attached"]:
            raise no_such_entity(f"Policy {arn} was not found.")
        rec["Attached"].remove(arn)
        self._put(account, kind, owner.lower(), rec)

    def attached(self, account: str, kind: str, owner: str, path_prefix: str = "/") -> list[dict[str, str]]:
        out = []
        for arn in self._get(account, kind, owner)["Attached"]:
            rec = self.find_policy(account, arn)
            if rec is not None and rec["Path"].startswith(path_prefix):
                out.append({"PolicyName": rec["PolicyName"], "PolicyArn": arn})
            elif rec is None and arn.startswith("arn:aws:iam::aws:policy/aws-service-role/"):
                out.append({"PolicyName": arn.rpartition("/")[2], "PolicyArn": arn})  # a service-linked role's
        return out

    def entities_for_policy(self, account: str, arn: str) -> dict[str, list[dict[str, str]]]:
        self.get_policy(account, arn)
        out: dict[str, list[dict[str, str]]] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
        for kind, key, label in (("group", "PolicyGroups", "Group"), ("user", "PolicyUsers", "User"),
                                 ("role", "PolicyRoles", "Role")):
            for rec in self._table(account, kind).values():
                if arn in rec["Attached"]:
                    out[key].append({f"{label}Name": rec[f"{label}Name"], f"{label}Id": rec[f"{label}Id"]})
        return out

    # -- what authorization needs -----------------------------------------------------------
    def _documents(self, account: str, rec: dict[str, Any]) -> Iterator[str]:
        yield from rec["Inline"].values()
        for arn in rec["Attached"]:
            managed = self.find_policy(account, arn)
            if managed is not None:
                yield managed["Versions"][managed["DefaultVersionId"]]["Document"]

    def user_policies(self, account: str, name: str) -> list[dict[str, Any]]:
        user = self._table(account, "user").get(name.lower())
        if user is None:
            return []
        docs = list(self._documents(account, user))
        for group in self.groups_for_user(account, name):
            docs.extend(self._documents(account, group))
        return [json.loads(d) for d in docs]

    def role_policies(self, account: str, name: str) -> list[dict[str, Any]]:
        role = self.find_role(account, name)
        return [] if role is None else [json.loads(d) for d in self._documents(account, role)]

    def caller_identity(self, cred: Credential) -> dict[str, str]:
        return {"UserId": _principal_id(cred), "Account": cred.account, "Arn": cred.principal_arn}
