"""Published versions: numbered, immutable snapshots of $LATEST's code and configuration.

Numbers come from a per-function counter kept with the function (FunctionRecord.next_version), so a deleted version's
number is never given out again. Publishing when nothing changed since the last publish returns
that version instead of a new one (AWS compares what $LATEST holds, not the request).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from lambdad.control.functions import ENV_REVISION, LATEST, FunctionRegistry, FunctionVersion, now_timestamp
from lambdad.control.names import function_arn
from lambdad.control.records import Published
from lambdad.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException

if TYPE_CHECKING:
    from lambdad.control.aliases import Aliases

#: Fields that differ between snapshots of the same code and configuration.
_VOLATILE = frozenset({
    "FunctionArn", "Version", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode",
    "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode", ENV_REVISION,
})
#: ListVersionsByFunction (like ListFunctions) leaves out the state and runtime-version fields.
_NOT_LISTED = ("RuntimeVersionConfig", "State", "StateReason", "StateReasonCode", "LastUpdateStatus",
               "LastUpdateStatusReason", "LastUpdateStatusReasonCode")
_STATE_FIELDS = ("StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode")
VERSION_RE = re.compile(r"[0-9]+")
ALIAS_NAME_RE = re.compile(r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
LATEST_ONLY = ("Current operation does not support versions other than $LATEST. Please set the version to "
               "$LATEST or do not set a version in your request.")


#: A published SnapStart version while its snapshot is made (Active, or Failed, once it is done).
SNAPSHOT_PENDING = {"State": "Pending", "StateReason": "The function is being created.", "StateReasonCode": "Creating",
                    "LastUpdateStatus": "InProgress", "LastUpdateStatusReason": "The function is being created.",
                    "LastUpdateStatusReasonCode": "Creating"}


class SnapshotMaker(Protocol):
    """Makes SnapStart snapshots of published versions (invoke/snapstart.py)."""

    def wants(self, fv: FunctionVersion) -> bool:
        """Whether a snapshot will be made of this version (it is published Pending then)."""

    def make(self, fv: FunctionVersion) -> None:
        """Start making it (in the background); it sets the version's State when done."""


def is_version(qualifier: str) -> bool:
    return qualifier == LATEST or VERSION_RE.fullmatch(qualifier) is not None


def require_latest(qualifier: str | None) -> None:
    """Operations that change a function act on $LATEST only (published versions are immutable)."""
    if qualifier is not None and qualifier != LATEST:
        raise InvalidParameterValueException(LATEST_ONLY)


def fingerprint(fv: FunctionVersion) -> str:
    """What a version would freeze: configuration (without per-snapshot fields) and code."""
    stable = {k: v for k, v in fv.config.items() if k not in _VOLATILE}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":")) + fv.code_digest
    return hashlib.sha256(text.encode()).hexdigest()


def listing_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in _NOT_LISTED}


def qualified_view(fv: FunctionVersion, arn: str) -> FunctionVersion:
    """The same version shown under another ARN ($LATEST qualified, or an alias): reads only."""
    cfg = dict(fv.config)
    cfg["FunctionArn"] = arn
    return FunctionVersion(fv.account, fv.name, fv.version, cfg, fv.code_digest, fv.function)


class Versions:
    def __init__(self, registry: FunctionRegistry, aliases: Aliases, snapshots: SnapshotMaker | None = None) -> None:
        self.registry = registry
        self.aliases = aliases
        self.snapshots = snapshots

    def publish(self, account: str, region: str, name: str, *, description: str | None = None,
                code_sha256: str | None = None, revision_id: str | None = None) -> FunctionVersion:
        rec = self.registry.get_record(account, region, name)
        latest = rec.latest
        self.registry.check_revision(latest, revision_id)
        current_sha = latest.config["CodeSha256"]
        if code_sha256 is not None and code_sha256 != current_sha:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST ({current_sha}). "
                "Please try again with the CodeSHA256 in $LATEST.")
        print_ = fingerprint(latest)
        last = rec.published
        if last is not None and last.fingerprint == print_ and last.version in rec.versions:
            return rec.versions[last.version]
        number = str(rec.next_version)
        cfg = dict(latest.config)
        for key in _STATE_FIELDS:
            cfg.pop(key, None)
        cfg.update(FunctionArn=function_arn(region, account, name, number), Version=number,
                   RevisionId=str(uuid.uuid4()), LastModified=now_timestamp(), State="Active",
                   LastUpdateStatus="Successful")
        cfg.pop(ENV_REVISION, None)
        if description is not None:
            cfg["Description"] = description
        snap = cfg.get("SnapStart")
        if snap and snap.get("ApplyOn") == "PublishedVersions":
            cfg["SnapStart"] = {**snap, "OptimizationStatus": "On"}
        fv = FunctionVersion(account, name, number, cfg, latest.code_digest, rec)
        snapshot = self.snapshots is not None and self.snapshots.wants(fv)
        if snapshot:
            cfg.update(SNAPSHOT_PENDING)
        rec.next_version = int(number) + 1
        rec.published = Published(print_, number)
        with self.registry.store.transaction():
            self.registry.add_version(fv)
            self.registry.save_meta(rec)
            # Publishing moves $LATEST's RevisionId on AWS; its warm environments stay.
            self.registry.touch_revision(latest)
        if snapshot:
            assert self.snapshots is not None
            self.snapshots.make(fv)
        return fv

    def list(self, account: str, region: str, name: str) -> list[dict[str, Any]]:
        rec = self.registry.get_record(account, region, name)
        ordered = sorted(rec.versions.values(), key=lambda fv: -1 if fv.version == LATEST else int(fv.version))
        out = []
        for fv in ordered:
            cfg = listing_config(fv.config)
            if fv.version == LATEST:
                cfg["FunctionArn"] = function_arn(region, account, name, LATEST)
            out.append(cfg)
        return out

    def delete(self, account: str, region: str, name: str, qualifier: str) -> None:
        """DeleteFunction with a qualifier: one published version, never $LATEST or an alias."""
        if qualifier == LATEST:
            raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
        if ALIAS_NAME_RE.fullmatch(qualifier):
            raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
        rec = self.registry.find(account, region, name)
        if rec is None:
            raise ResourceNotFoundException(f"Function not found: {function_arn(region, account, name)}")
        if qualifier not in rec.versions:
            return  # AWS answers success for a version that is not there
        names = self.aliases.referencing(account, region, name, qualifier)
        if names:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: [{', '.join(names)}]")
        self.registry.delete(account, region, name, qualifier)
