"""Layers: versioned zip archives of libraries and tools that functions mount at /opt.

A layer version's zip goes into the content-addressed BlobStore like function code, so it is
stored and unpacked once however many versions or functions use it. Functions name up to five
layer version ARNs; on create/update they resolve here into `Layers: [{Arn, CodeSize}]` (plus the
digests, kept in hidden keys so a function keeps working after a layer version is deleted, as on
AWS), and the merged /opt tree is prepared right away (runtime/opt.py).

Version numbers come from a per-layer counter that survives deleting every version.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from lambdad.config import Config
from lambdad.control.functions import FunctionRegistry, FunctionVersion, now_timestamp
from lambdad.control.names import validation_error
from lambdad.control.validation import AWS_RUNTIME_ENUM
from lambdad.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdad.runtime.opt import OptTrees, tree_size
from lambdad.store import BlobStore, Store
from lambdad.store.migrations import add_region_to_key

# Layers are scoped by account and region, as on AWS (a function may use only its own region's).
LAYERS_TABLE = """
CREATE TABLE IF NOT EXISTS layers (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    next_version INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);
"""
VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS layer_versions (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, region, name, version)
);
"""

MAX_LAYERS = 5
#: Every runtime identifier a layer may declare (AWS accepts deprecated ones here).
LAYER_RUNTIMES = (
    "ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7, python2.7-greengrass, dotnetcore2.0, "
    "python3.8, java21, dotnet6, dotnetcore2.1, python3.9, java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, "
    "java25, java17, nodejs, nodejs4.3, java8.al2, go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, "
    "provided.al2023, nodejs22.x, python3.10, java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, "
    "nodejs14.x, nodejs8.9, nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, "
    "nodejs4.3-edge, nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7"
)
_RUNTIME_SET = frozenset(LAYER_RUNTIMES.split(", "))
ARCHITECTURES = ("x86_64", "arm64")
LAYER_NAME_PATTERN = r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
LAYER_VERSION_ARN_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
    r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
_LAYER_NAME_RE = re.compile(LAYER_NAME_PATTERN)
_VERSION_ARN_RE = re.compile(LAYER_VERSION_ARN_PATTERN)
_STATEMENT_ID_RE = re.compile(r"([a-zA-Z0-9-_]+)")
_PRINCIPAL_RE = re.compile(r"\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root")
_ORG_RE = re.compile(r"o-[a-z0-9]{10,32}")
NOT_FOUND = "The resource you requested does not exist."


@dataclass(slots=True, eq=False)
class LayerVersion:
    account: str
    name: str
    version: int
    layer_arn: str
    digest: str
    code_size: int
    unzipped_size: int
    created: str
    description: str = ""
    runtimes: list[str] | None = None
    architectures: list[str] | None = None
    license_info: str | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)
    policy_revision: str = ""

    @property
    def arn(self) -> str:
        return f"{self.layer_arn}:{self.version}"

    @property
    def region(self) -> str:
        return self.layer_arn.split(":")[3]

    @property
    def code_sha256(self) -> str:
        return base64.b64encode(bytes.fromhex(self.digest)).decode()

    def listing(self) -> dict[str, Any]:
        """A LayerVersionsListItem."""
        out: dict[str, Any] = {"LayerVersionArn": self.arn, "Version": self.version,
                               "Description": self.description, "CreatedDate": self.created}
        if self.runtimes is not None:
            out["CompatibleRuntimes"] = list(self.runtimes)
        if self.architectures is not None:
            out["CompatibleArchitectures"] = list(self.architectures)
        if self.license_info is not None:
            out["LicenseInfo"] = self.license_info
        return out

    def to_api(self, location: str) -> dict[str, Any]:
        """The GetLayerVersion / PublishLayerVersion response."""
        out = self.listing()
        out["LayerArn"] = self.layer_arn
        out["Content"] = {"Location": location, "CodeSha256": self.code_sha256, "CodeSize": self.code_size}
        return out

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        return ((runtime is None or runtime in (self.runtimes or ()))
                and (architecture is None or architecture in (self.architectures or ())))

    def allows(self, account: str) -> bool:
        """May `account` use this layer version (its owner always may)?"""
        if account == self.account:
            return True
        for st in self.statements:
            if st.get("Condition"):
                continue  # organization grants: lambdad has no organizations
            principal = st.get("Principal")
            if principal == "*" or principal == {"AWS": f"arn:aws:iam::{account}:root"}:
                return True
        return False

    def body(self) -> str:
        return json.dumps({
            "digest": self.digest, "code_size": self.code_size, "unzipped_size": self.unzipped_size,
            "created": self.created, "description": self.description, "runtimes": self.runtimes,
            "architectures": self.architectures, "license_info": self.license_info,
            "statements": self.statements, "policy_revision": self.policy_revision,
        })


def _check_compatibility(runtimes: Any, architectures: Any) -> None:
    errors = []
    if runtimes is not None:
        if len(runtimes) > 15:
            errors.append(f"Value '[{', '.join(map(str, runtimes))}]' at 'compatibleRuntimes' failed to satisfy "
                          "constraint: Member must have length less than or equal to 15")
        elif any(r not in _RUNTIME_SET for r in runtimes):
            errors.append(f"Value '[{', '.join(map(str, runtimes))}]' at 'compatibleRuntimes' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: [{AWS_RUNTIME_ENUM}]")
    if architectures is not None:
        if len(architectures) > 2:
            errors.append(f"Value '[{', '.join(map(str, architectures))}]' at 'compatibleArchitectures' failed to "
                          "satisfy constraint: Member must have length less than or equal to 2")
        elif any(a not in ARCHITECTURES for a in architectures):
            errors.append(f"Value '[{', '.join(map(str, architectures))}]' at 'compatibleArchitectures' failed to "
                          "satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value "
                          "set: [x86_64, arm64], Member must not be null]")
    if errors:
        raise validation_error(errors)


def check_filters(runtime: str | None, architecture: str | None) -> None:
    """The CompatibleRuntime / CompatibleArchitecture filters of the list operations."""
    errors = []
    if runtime is not None and runtime not in _RUNTIME_SET:
        errors.append(f"Value '{runtime}' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy "
                      f"enum value set: [{LAYER_RUNTIMES}]")
    if architecture is not None and architecture not in ARCHITECTURES:
        errors.append(f"Value '{architecture}' at 'compatibleArchitecture' failed to satisfy constraint: Member "
                      "must satisfy enum value set: [x86_64, arm64]")
    if errors:
        raise validation_error(errors)


class Layers:
    def __init__(self, store: Store, blobs: BlobStore, registry: FunctionRegistry, config: Config) -> None:
        self.store = store
        self.blobs = blobs
        self.registry = registry
        self.config = config
        self.trees = OptTrees(blobs)
        self._versions: dict[tuple[str, str, str], dict[int, LayerVersion]] = {}  # by (account, region, name)
        self._next: dict[tuple[str, str, str], int] = {}
        self._code_sizes: dict[str, int] = {}
        add_region_to_key(store, "layers", LAYERS_TABLE, ("account", "name", "next_version"), config.region)
        add_region_to_key(store, "layer_versions", VERSIONS_TABLE, ("account", "name", "version", "body"),
                          config.region)
        for row in store.all("SELECT account, region, name, next_version FROM layers"):
            self._next[(row["account"], row["region"], row["name"])] = row["next_version"]
        for row in store.all("SELECT account, region, name, version, body FROM layer_versions"):
            b = json.loads(row["body"])
            lv = LayerVersion(row["account"], row["name"], row["version"],
                              self.layer_arn(row["account"], row["region"], row["name"]),
                              b["digest"], b["code_size"], b["unzipped_size"], b["created"], b["description"],
                              b["runtimes"], b["architectures"], b["license_info"], b["statements"],
                              b["policy_revision"])
            self._versions.setdefault((lv.account, lv.region, lv.name), {})[lv.version] = lv
        registry.add_config_hook(self._complete_function)

    # -- names ------------------------------------------------------------------------------
    @staticmethod
    def layer_arn(account: str, region: str, name: str) -> str:
        return f"arn:aws:lambda:{region}:{account}:layer:{name}"

    def parse_name(self, raw: Any, account: str, region: str) -> tuple[str, str]:
        """LayerName is a name or a layer ARN; returns (owner account, name). A layer of another region
        than the request's is not there."""
        if not isinstance(raw, str) or not 1 <= len(raw) <= 140 or not _LAYER_NAME_RE.fullmatch(raw):
            raise validation_error([f"Value '{raw}' at 'layerName' failed to satisfy constraint: Member must satisfy "
                                    f"regular expression pattern: {LAYER_NAME_PATTERN}"])
        if raw.startswith("arn:"):
            parts = raw.split(":")
            if parts[3] != region:
                raise ResourceNotFoundException(NOT_FOUND)
            return parts[4], parts[6]
        return account, raw

    def require_owner(self, caller: str, account: str, region: str, name: str, action: str) -> None:
        """Layer version policies grant lambda:GetLayerVersion only; everything else is the owner's."""
        if caller != account:
            raise AccessDeniedException(
                f"User: arn:aws:iam::{caller}:root is not authorized to perform: lambda:{action} on resource: "
                f"{self.layer_arn(account, region, name)}")

    @staticmethod
    def check_version_number(version: Any) -> int:
        if not isinstance(version, int) or version < 1:
            raise InvalidParameterValueException("Layer Version Cannot be less than 1")
        return version

    # -- reads ------------------------------------------------------------------------------
    def find(self, account: str, region: str, name: str, version: int) -> LayerVersion | None:
        return (self._versions.get((account, region, name)) or {}).get(version)

    def get(self, caller: str, account: str, region: str, name: str, version: int) -> LayerVersion:
        lv = self.find(account, region, name, self.check_version_number(version))
        if lv is None:
            raise ResourceNotFoundException(NOT_FOUND)
        self._check_access(caller, lv)
        return lv

    def get_by_arn(self, caller: str, region: str, arn: Any) -> LayerVersion:
        if not isinstance(arn, str) or not 1 <= len(arn) <= 140 or not _VERSION_ARN_RE.fullmatch(arn):
            raise validation_error([f"Value '{arn}' at 'arn' failed to satisfy constraint: Member must satisfy "
                                    f"regular expression pattern: {LAYER_VERSION_ARN_PATTERN}"])
        parts = arn.split(":")
        if parts[3] != region or parts[5] != "layer":
            raise ResourceNotFoundException(NOT_FOUND)
        return self.get(caller, parts[4], region, parts[6], int(parts[7]))

    def list_versions(self, account: str, region: str, name: str, runtime: str | None = None,
                      architecture: str | None = None) -> list[LayerVersion]:
        check_filters(runtime, architecture)
        versions = (self._versions.get((account, region, name)) or {}).values()
        return sorted((lv for lv in versions if lv.matches(runtime, architecture)), key=lambda lv: -lv.version)

    def list_layers(self, account: str, region: str, runtime: str | None = None,
                    architecture: str | None = None) -> list[LayerVersion]:
        """The latest matching version of each of the account's layers, by layer name."""
        check_filters(runtime, architecture)
        out = []
        for (acct, reg, name) in sorted(self._versions):
            if (acct, reg) != (account, region):
                continue
            matching = self.list_versions(acct, reg, name, runtime, architecture)
            if matching:
                out.append(matching[0])
        return out

    # -- writes -----------------------------------------------------------------------------
    def stage_content(self, params: dict[str, Any]) -> tuple[str, int]:
        """Check, store and unpack a PublishLayerVersion's Content (digest, size). Blocking and
        touching no layer state: the server runs it on its worker pool."""
        _check_compatibility(params.get("CompatibleRuntimes"), params.get("CompatibleArchitectures"))
        content = params.get("Content") or {}
        if not isinstance(content, dict):
            raise InvalidParameterValueException("Content must be an object with ZipFile.")
        if content.get("S3Bucket") or content.get("S3Key") or content.get("S3ObjectVersion"):
            raise InvalidParameterValueException(
                "Content.S3Bucket is not supported by this lambdad server yet; upload the layer with Content.ZipFile.")
        if not content.get("ZipFile"):
            raise InvalidParameterValueException("Please provide a source for the layer content (Content.ZipFile).")
        digest, size = self.registry.store_zip(content["ZipFile"])
        self.unzipped_size(digest)  # measured here, off the loop, not by `publish`
        return digest, size

    def publish(self, account: str, region: str, name: str, params: dict[str, Any],
                content: tuple[str, int] | None = None) -> LayerVersion:
        """A new layer version; `content` is what `stage_content` made of params (staged here if None)."""
        runtimes = params.get("CompatibleRuntimes")
        architectures = params.get("CompatibleArchitectures")
        digest, size = content if content is not None else self.stage_content(params)
        key = (account, region, name)
        number = self._next.get(key, 1)
        lv = LayerVersion(account, name, number, self.layer_arn(account, region, name), digest, size,
                          self.unzipped_size(digest), now_timestamp(), params.get("Description") or "",
                          list(runtimes) if runtimes is not None else None,
                          list(architectures) if architectures is not None else None, params.get("LicenseInfo"))
        with self.store.transaction():
            self.store.execute("INSERT INTO layers (account, region, name, next_version) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT (account, region, name) DO UPDATE SET next_version=excluded.next_version",
                               (account, region, name, number + 1))
            self._save(lv)
        self._next[key] = number + 1
        self._versions.setdefault(key, {})[number] = lv
        return lv

    def delete(self, account: str, region: str, name: str, version: int) -> None:
        """Idempotent. Functions using the version keep it: their config holds its digest."""
        self.check_version_number(version)
        if self.find(account, region, name, version) is None:
            return
        self.store.execute("DELETE FROM layer_versions WHERE account=? AND region=? AND name=? AND version=?",
                           (account, region, name, version))
        del self._versions[(account, region, name)][version]

    # -- layer version policies -------------------------------------------------------------
    def _policy_target(self, account: str, region: str, name: str, version: int) -> LayerVersion:
        lv = self.find(account, region, name, self.check_version_number(version))
        if lv is None:
            raise ResourceNotFoundException(
                f"Layer version {self.layer_arn(account, region, name)}:{version} does not exist.")
        return lv

    def add_permission(self, account: str, region: str, name: str, version: int,
                       params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        errors = []
        sid, action, principal = params.get("StatementId"), params.get("Action"), params.get("Principal")
        org = params.get("OrganizationId")
        if not isinstance(sid, str) or not 1 <= len(sid) <= 100 or not _STATEMENT_ID_RE.fullmatch(sid):
            errors.append(f"Value '{sid}' at 'statementId' failed to satisfy constraint: Member must satisfy "
                          "regular expression pattern: ([a-zA-Z0-9-_]+)")
        if action != "lambda:GetLayerVersion":
            errors.append(f"Value '{action}' at 'action' failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: lambda:GetLayerVersion")
        if not isinstance(principal, str) or not _PRINCIPAL_RE.fullmatch(principal):
            errors.append(f"Value '{principal}' at 'principal' failed to satisfy constraint: Member must satisfy "
                          r"regular expression pattern: \d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root")
        if org is not None and (not isinstance(org, str) or not _ORG_RE.fullmatch(org)):
            errors.append(f"Value '{org}' at 'organizationId' failed to satisfy constraint: Member must satisfy "
                          "regular expression pattern: o-[a-z0-9]{10,32}")
        if errors:
            raise validation_error(errors)
        assert isinstance(principal, str)  # checked above
        lv = self._policy_target(account, region, name, version)
        self._check_policy_revision(lv, params.get("RevisionId"))
        if any(st["Sid"] == sid for st in lv.statements):
            raise ResourceConflictException(
                f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove "
                "the existing statement.")
        if principal != "*" and principal.isdigit():
            principal_json: Any = {"AWS": f"arn:aws:iam::{principal}:root"}
        elif principal != "*":
            principal_json = {"AWS": principal}
        else:
            principal_json = "*"
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": principal_json,
                                     "Action": "lambda:GetLayerVersion", "Resource": lv.arn}
        if org is not None:
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": org}}
        lv.statements.append(statement)
        lv.policy_revision = str(uuid.uuid4())
        self._save(lv)
        return statement, lv.policy_revision

    def remove_permission(self, account: str, region: str, name: str, version: int, sid: str,
                          revision: str | None) -> None:
        lv = self._policy_target(account, region, name, version)
        if not any(st["Sid"] == sid for st in lv.statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        self._check_policy_revision(lv, revision)
        lv.statements = [st for st in lv.statements if st["Sid"] != sid]
        lv.policy_revision = str(uuid.uuid4())
        self._save(lv)

    def get_policy(self, account: str, region: str, name: str, version: int) -> tuple[dict[str, Any], str]:
        lv = self._policy_target(account, region, name, version)
        if not lv.statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        return {"Version": "2012-10-17", "Id": "default", "Statement": list(lv.statements)}, lv.policy_revision

    @staticmethod
    def _check_policy_revision(lv: LayerVersion, revision: str | None) -> None:
        if revision is not None and revision != lv.policy_revision:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to "
                "retrieve the latest Revision Id")

    # -- functions that use layers ----------------------------------------------------------
    def _complete_function(self, account: str, region: str, cfg: dict[str, Any], code_digest: str) -> None:
        """Config hook: resolve `Layers` ARNs, enforce AWS's rules and the unzipped-size limit."""
        layers = cfg.get("Layers")
        if layers is None:
            return
        if not layers:
            cfg.pop("Layers")
            return
        known = {entry["Arn"]: entry for entry in layers if isinstance(entry, dict)}
        arns = [entry if isinstance(entry, str) else entry["Arn"] for entry in layers]
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValueException("Cannot reference more than 5 layers.")
        if any(not isinstance(a, str) or not 1 <= len(a) <= 2048 or not _VERSION_ARN_RE.fullmatch(a) for a in arns):
            raise validation_error([
                f"Value '[{', '.join(map(str, arns))}]' at 'layers' failed to satisfy constraint: Member must "
                "satisfy constraint: [Member must have length less than or equal to 2048, Member must have length "
                "greater than or equal to 1, Member must satisfy regular expression pattern: "
                f"{LAYER_VERSION_ARN_PATTERN}, Member must not be null]"])
        if any(a.split(":")[3] != region for a in arns):
            raise InvalidParameterValueException(
                f"Layers are not in the same region as the function. Layers are expected to be in region "
                f"{region}.")
        seen: dict[str, str] = {}
        for arn in arns:
            layer = arn.rsplit(":", 1)[0]
            if layer in seen:
                raise InvalidParameterValueException(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. "
                    f"{seen[layer]} and {arn} are versions of the same layer.")
            seen[layer] = arn
        resolved = []
        for arn in arns:
            entry = known.get(arn)
            if entry is None:
                parts = arn.split(":")
                lv = self.find(parts[4], parts[3], parts[6], int(parts[7]))
                if lv is None:
                    raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
                self._check_access(account, lv)
                entry = {"Arn": arn, "CodeSize": lv.code_size, "_digest": lv.digest, "_unzipped": lv.unzipped_size}
            resolved.append(entry)
        total = self.unzipped_size(code_digest) + sum(entry["_unzipped"] for entry in resolved)
        limit = self.config.max_unzipped_bytes
        if total > limit:
            raise InvalidParameterValueException(
                f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. The actual "
                f"size is {total} bytes.")
        cfg["Layers"] = resolved
        # Merge /opt now, in the background, so the first cold start does not pay for it.
        self.trees.prepare(tuple(entry["_digest"] for entry in resolved))

    def opt_dir(self, fv: FunctionVersion) -> str | None:
        """The merged layer tree an environment of `fv` mounts at /opt (None without layers)."""
        layers = fv.config.get("Layers")
        if not layers:
            return None
        return self.trees.path(tuple(entry["_digest"] for entry in layers))

    # -- helpers ----------------------------------------------------------------------------
    def _check_access(self, caller: str, lv: LayerVersion) -> None:
        if not lv.allows(caller):
            raise AccessDeniedException(
                f"User: arn:aws:iam::{caller}:root is not authorized to perform: lambda:GetLayerVersion on "
                f"resource: {lv.arn} because no resource-based policy allows the lambda:GetLayerVersion action")

    def unzipped_size(self, digest: str) -> int:
        """Bytes of an unpacked package (walks its tree once: blocking for a large one)."""
        size = self._code_sizes.get(digest)
        if size is None:
            size = self._code_sizes[digest] = tree_size(self.blobs.tree(digest))
        return size

    def _save(self, lv: LayerVersion) -> None:
        self.store.execute(
            "INSERT INTO layer_versions (account, region, name, version, body) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (account, region, name, version) DO UPDATE SET body=excluded.body",
            (lv.account, lv.region, lv.name, lv.version, lv.body()))
