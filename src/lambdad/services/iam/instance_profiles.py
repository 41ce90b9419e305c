"""IAM instance profiles (domain logic, no HTTP): a named container for one role, which EC2-minded
tooling (and infrastructure code that manages Lambda beside it) creates, lists and deletes.

Entities of kind ``instance-profile`` in IAM's table, keyed by lower-case name; roles are held by
name and shown with their current view. Messages are IAM's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lambdad.services.iam.identities import (
    Iam,
    already_exists,
    check_name,
    check_path,
    check_tags,
    delete_conflict,
    limit_exceeded,
    new_id,
    no_such_entity,
)

KIND = "instance-profile"
ROLES_PER_PROFILE = 1  # IAM's quota InstanceSessionsPerInstanceProfile


class InstanceProfiles:
    def __init__(self, iam: Iam) -> None:
        self.iam = iam
        iam.role_guards.append(self._role_in_use)

    def _role_in_use(self, account: str, role_name: str) -> None:
        """DeleteRole's check: a role still in a profile cannot go."""
        if any(role_name.lower() in (r.lower() for r in p["Roles"]) for p in self.iam._table(account, KIND).values()):
            raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")

    def create(self, account: str, name: Any, path: Any, tags: Any) -> dict[str, Any]:
        check_name(name, "instanceProfileName", 128)
        path = check_path(path)
        if name.lower() in self.iam._table(account, KIND):
            raise already_exists(f"Instance Profile {name} already exists.")
        rec = {"Path": path, "InstanceProfileName": name, "InstanceProfileId": new_id("AIPA"),
               "Arn": f"arn:aws:iam::{account}:instance-profile{path}{name}", "CreateDate": time.time(),
               "Roles": [], "Tags": check_tags(tags)}
        self.iam._put(account, KIND, name.lower(), rec)
        return rec

    def get(self, account: str, name: str) -> dict[str, Any]:
        rec = self.iam._table(account, KIND).get(name.lower())
        if rec is None:
            raise no_such_entity(f"Instance Profile {name} cannot be found.")
        return rec

    def profiles(self, account: str, path_prefix: str = "/") -> list[dict[str, Any]]:
        return sorted((p for p in self.iam._table(account, KIND).values() if p["Path"].startswith(path_prefix)),
                      key=lambda p: p["InstanceProfileName"].lower())

    def for_role(self, account: str, role_name: str) -> list[dict[str, Any]]:
        self.iam.get_role(account, role_name)
        return [p for p in self.profiles(account) if role_name.lower() in (r.lower() for r in p["Roles"])]

    def delete(self, account: str, name: str) -> None:
        rec = self.get(account, name)
        if rec["Roles"]:
            raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
        self.iam._delete(account, KIND, name.lower())

    def add_role(self, account: str, name: str, role_name: str) -> None:
        rec = self.get(account, name)
        role = self.iam.get_role(account, role_name)
        if role["RoleName"] in rec["Roles"]:
            raise limit_exceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_PROFILE}")
        if len(rec["Roles"]) >= ROLES_PER_PROFILE:
            raise limit_exceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_PROFILE}")
        rec["Roles"].append(role["RoleName"])
        self.iam._put(account, KIND, name.lower(), rec)

    def remove_role(self, account: str, name: str, role_name: str) -> None:
        rec = self.get(account, name)
        self.iam.get_role(account, role_name)
        kept = [r for r in rec["Roles"] if r.lower() != role_name.lower()]
        if len(kept) == len(rec["Roles"]):
            raise no_such_entity(f"The role with name {role_name} cannot be found.")
        rec["Roles"] = kept
        self.iam._put(account, KIND, name.lower(), rec)

    def tag(self, account: str, name: str, tags: Any) -> None:
        rec = self.get(account, name)
        rec["Tags"] = self.iam.merged_tags(rec.get("Tags", []), tags)
        self.iam._put(account, KIND, name.lower(), rec)

    def untag(self, account: str, name: str, keys: list[str]) -> None:
        rec = self.get(account, name)
        drop = {k.lower() for k in keys}
        rec["Tags"] = [t for t in rec.get("Tags", []) if t["Key"].lower() not in drop]
        self.iam._put(account, KIND, name.lower(), rec)

    def view(self, account: str, rec: dict[str, Any], role_view: Callable[[dict[str, Any]], dict[str, Any]],
             *, tags: bool = True) -> dict[str, Any]:
        out = {k: rec[k] for k in ("Path", "InstanceProfileName", "InstanceProfileId", "Arn", "CreateDate")}
        roles = [self.iam.find_role(account, r) for r in rec["Roles"]]
        out["Roles"] = [role_view(r) for r in roles if r is not None]
        if tags and rec.get("Tags"):
            out["Tags"] = rec["Tags"]
        return out
