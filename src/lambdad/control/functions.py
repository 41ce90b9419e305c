"""Functions and their versions: validation, persistence, and the in-memory view the invoke path reads.

Environment variables are encrypted in the stored configuration (`Environment.EncryptedVariables`,
AES-GCM with the master key, auth/keyring.py) and decrypted when loaded; always write versions
through `_save_version` so they never reach the store in clear.

Every function lives in two tables: `functions` (one row per function: tags, counters, per-function
settings) and `function_versions` (one row per `$LATEST` or published version: the configuration as
the API returns it plus the code digest). Reads on the hot path never touch SQLite: the registry
keeps every version in memory and updates it on each change, then tells its listeners (the
environment pools) so stale environments retire.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.auth.keyring import Keyring
from lambdad.config import Config
from lambdad.control import validation as v
from lambdad.control.codezip import CodeZipError, inspect_zip
from lambdad.control.env_keys import EnvironmentKeys
from lambdad.control.names import function_arn
from lambdad.control.records import EventInvokeConfig, Published, ResourcePolicy, UrlConfig
from lambdad.control.validation import check_tags
from lambdad.errors import (
    ApiError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdad.store import BlobStore, Store
from lambdad.store.migrations import add_region_to_key

LATEST = "$LATEST"
#: Hidden configuration key (never rendered: outputs are filtered by the botocore shape).
ENV_REVISION = "_EnvRevision"

# A function is scoped by account and region (the SigV4 credential scope's): the same name in two
# regions is two functions. Data dirs from before regions are migrated into the default region.
FUNCTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS functions (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (account, region, name)
);
"""
VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS function_versions (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    config TEXT NOT NULL,
    code_digest TEXT NOT NULL,
    PRIMARY KEY (account, region, name, version)
);
"""


def now_timestamp() -> str:
    """Lambda's LastModified format: 2024-01-31T12:34:56.789+0000."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+0000"


@dataclass(slots=True, eq=False)
class FunctionVersion:
    """One immutable snapshot the invoke path runs (a new object replaces it on every change).

    `config` is the AWS-shaped FunctionConfiguration the API renders; what the invoke path and the
    runtime read of it is parsed once here, into typed attributes with AWS's defaults."""

    account: str
    name: str
    version: str
    config: dict[str, Any]
    code_digest: str
    function: FunctionRecord
    timeout_s: int = field(init=False)
    memory_mb: int = field(init=False)
    ephemeral_mb: int = field(init=False)
    handler: str = field(init=False)
    log_group: str = field(init=False)
    log_format: str = field(init=False)  # LoggingConfig: "Text" or "JSON", and JSON's two levels
    application_log_level: str = field(init=False)
    system_log_level: str = field(init=False)
    dead_letter_target: str | None = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        self.timeout_s = int(cfg.get("Timeout", 3))
        self.memory_mb = int(cfg.get("MemorySize", 128))
        self.ephemeral_mb = int((cfg.get("EphemeralStorage") or {}).get("Size", 512))
        self.handler = cfg.get("Handler", "")
        logging_cfg = cfg.get("LoggingConfig") or {}
        self.log_group = logging_cfg.get("LogGroup") or f"/aws/lambda/{self.name}"
        self.log_format = logging_cfg.get("LogFormat", "Text")
        self.application_log_level = logging_cfg.get("ApplicationLogLevel", "INFO")
        self.system_log_level = logging_cfg.get("SystemLogLevel", "INFO")
        self.dead_letter_target = (cfg.get("DeadLetterConfig") or {}).get("TargetArn") or None

    @property
    def variables(self) -> dict[str, str]:
        """The environment variables (decrypted; the caller must not change them)."""
        return (self.config.get("Environment") or {}).get("Variables") or {}

    @property
    def arn(self) -> str:
        return self.config["FunctionArn"]

    @property
    def revision(self) -> str:
        return self.config["RevisionId"]

    @property
    def runtime(self) -> str:
        return self.config.get("Runtime", "")

    @property
    def role(self) -> str:
        return self.config.get("Role") or ""

    @property
    def region(self) -> str:
        return self.function.region

    @property
    def pool_key(self) -> tuple[str, str, str, str]:
        return (self.account, self.function.region, self.name, self.version)

    @property
    def env_revision(self) -> str:
        """The revision environments are built from. Changes that do not alter what runs (tags,
        publishing, provisioned concurrency) move RevisionId as AWS does, but keep this, so warm
        environments survive them."""
        return self.config.get(ENV_REVISION) or self.config["RevisionId"]


@dataclass(slots=True, eq=False)
class FunctionRecord:
    """A function's per-function settings (each owned by one module, which replaces its entry on a
    change and then calls `FunctionRegistry.save_meta`) and its versions."""

    account: str
    name: str
    region: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None  # invoke/reservations.py
    #: by qualifier ($LATEST, a version or an alias): api/lambda_async_api.py
    event_invoke_configs: dict[str, EventInvokeConfig] = field(default_factory=dict)
    url_configs: dict[str, UrlConfig] = field(default_factory=dict)  # by qualifier: control/function_urls.py
    policies: dict[str, ResourcePolicy] = field(default_factory=dict)  # by qualifier, "" unqualified
    next_version: int = 1  # control/versions.py: numbers are never reused
    published: Published | None = None
    created: float = 0.0
    #: stored keys this server does not know (written by a newer one): kept, so saving loses nothing
    unknown: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, FunctionVersion] = field(default_factory=dict)

    def to_stored(self) -> dict[str, Any]:
        """The JSON object of the `functions.meta` column (the keys it has always had)."""
        out: dict[str, Any] = dict(self.unknown)
        out.update(next_version=self.next_version, tags=self.tags, created=self.created)
        if self.reserved_concurrency is not None:
            out["reserved_concurrency"] = self.reserved_concurrency
        if self.event_invoke_configs:
            out["event_invoke_configs"] = {q: c.to_stored() for q, c in self.event_invoke_configs.items()}
        if self.url_configs:
            out["url_configs"] = {q: c.to_stored() for q, c in self.url_configs.items()}
        if self.policies:
            out["policies"] = {q: p.to_stored() for q, p in self.policies.items()}
        if self.published is not None:
            out["published"] = self.published.to_stored()
        return out

    @classmethod
    def from_stored(cls, account: str, region: str, name: str, raw: dict[str, Any]) -> FunctionRecord:
        raw = dict(raw)
        reserved = raw.pop("reserved_concurrency", None)
        published = raw.pop("published", None)
        return cls(
            account, name, region,
            tags=dict(raw.pop("tags", None) or {}),
            reserved_concurrency=None if reserved is None else int(reserved),
            event_invoke_configs={q: EventInvokeConfig.from_stored(c)
                                  for q, c in (raw.pop("event_invoke_configs", None) or {}).items()},
            url_configs={q: UrlConfig.from_stored(c) for q, c in (raw.pop("url_configs", None) or {}).items()},
            policies={q: ResourcePolicy.from_stored(p) for q, p in (raw.pop("policies", None) or {}).items()},
            next_version=int(raw.pop("next_version", 1)),
            published=Published.from_stored(published) if published else None,
            created=float(raw.pop("created", 0.0)),
            unknown=raw)

    @property
    def latest(self) -> FunctionVersion:
        return self.versions[LATEST]


ChangeListener = Callable[[str, str, str, str | None], None]  # (account, region, name, version or None=all)
#: Completes a configuration before it is saved (account, region, config, code digest); may raise an API error.
ConfigHook = Callable[[str, str, dict[str, Any], str], None]


class FunctionRegistry:
    def __init__(self, store: Store, blobs: BlobStore, config: Config, keyring: Keyring | None = None,
                 role_check: Callable[[str, str], None] | None = None,
                 env_keys: EnvironmentKeys | None = None,
                 runtime_check: v.RuntimeCheck | None = None) -> None:
        self.store = store
        #: runtime -> None, or raise: whether this host can run a runtime (an interpreter of its version)
        self.runtime_check = runtime_check
        #: Customer managed KMS keys (KMSKeyArn) for environment variables; None: KMSKeyArn is refused
        self.env_keys = env_keys
        self.blobs = blobs
        self.config = config
        #: for what has no region of its own (a request that was not signed)
        self.default_region = config.region
        self.keyring = keyring
        #: (account, role ARN) -> None or raise: checks a function's execution role
        self.role_check = role_check
        #: (role ARN, function name, target ARN) -> the API the role may not call on it, or None
        self.delivery_check: Callable[[str, str, str], str | None] | None = None
        #: by (account, region, name): what the invoke path looks a function up in
        self._functions: dict[tuple[str, str, str], FunctionRecord] = {}
        self._listeners: list[ChangeListener] = []
        self._config_hooks: list[ConfigHook] = []
        add_region_to_key(store, "functions", FUNCTIONS_TABLE, ("account", "name", "meta"), config.region)
        add_region_to_key(store, "function_versions", VERSIONS_TABLE,
                          ("account", "name", "version", "config", "code_digest"), config.region)
        self._load()

    # -- loading and notification -----------------------------------------------------------
    def _load(self) -> None:
        for row in self.store.all("SELECT account, region, name, meta FROM functions"):
            rec = FunctionRecord.from_stored(row["account"], row["region"], row["name"], json.loads(row["meta"]))
            self._functions[(rec.account, rec.region, rec.name)] = rec
        for row in self.store.all("SELECT account, region, name, version, config, code_digest FROM function_versions"):
            owner = self._functions.get((row["account"], row["region"], row["name"]))
            if owner is None:
                continue
            owner.versions[row["version"]] = FunctionVersion(
                row["account"], row["name"], row["version"], self.decode_config(owner, row["config"]),
                row["code_digest"], owner)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def check_deliveries_with(self, check: Callable[[str, str, str], str | None]) -> None:
        """How a dead-letter queue is checked against the execution role (invoke/delivery_access.py).
        Given after construction: that check reads other functions' resource policies from here."""
        self.delivery_check = check

    def add_config_hook(self, hook: ConfigHook) -> None:
        """Run `hook` on every new or updated $LATEST configuration (layers resolve their ARNs here)."""
        self._config_hooks.append(hook)

    def _complete(self, account: str, region: str, cfg: dict[str, Any], digest: str) -> None:
        for hook in self._config_hooks:
            hook(account, region, cfg, digest)

    def _changed(self, account: str, region: str, name: str, version: str | None) -> None:
        for listener in self._listeners:
            listener(account, region, name, version)

    def _save_meta(self, rec: FunctionRecord) -> None:
        self.store.execute("INSERT INTO functions (account, region, name, meta) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (account, region, name) DO UPDATE SET meta=excluded.meta",
                           (rec.account, rec.region, rec.name, json.dumps(rec.to_stored())))

    def _save_version(self, fv: FunctionVersion) -> None:
        self.store.execute(
            "INSERT INTO function_versions (account, region, name, version, config, code_digest) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account, region, name, version) DO UPDATE SET config=excluded.config, "
            "code_digest=excluded.code_digest",
            (fv.account, fv.region, fv.name, fv.version, self.encode_config(fv), fv.code_digest))

    # -- environment variables at rest ------------------------------------------------------
    def encode_config(self, fv: FunctionVersion) -> str:
        """The configuration as stored: environment variables sealed under the function's KMS key
        (KMSKeyArn), else with the master key."""
        env = fv.config.get("Environment")
        if self.keyring is None or not env or not env.get("Variables"):
            return json.dumps(fv.config)
        sealed = dict(env)
        plaintext = json.dumps(sealed.pop("Variables"))
        key_arn = fv.config.get("KMSKeyArn")
        if key_arn and self.env_keys is not None:
            sealed["EncryptedVariables"] = self.env_keys.seal(fv.account, fv.region, key_arn, plaintext.encode(),
                                                              {"LambdaFunctionName": fv.name})
        else:
            sealed["EncryptedVariables"] = self.keyring.encrypt(plaintext, f"{fv.account}:{fv.name}")
        return json.dumps({**fv.config, "Environment": sealed})

    def decode_config(self, rec: FunctionRecord, text: str) -> dict[str, Any]:
        cfg = json.loads(text)
        env = cfg.get("Environment")
        if env and "EncryptedVariables" in env:
            if self.keyring is None:
                raise ValueError("stored environment variables are encrypted but no master key is loaded")
            env = dict(env)
            sealed = env.pop("EncryptedVariables")
            if sealed.startswith("kms:") and self.env_keys is not None:
                opened = self.env_keys.open(sealed, {"LambdaFunctionName": rec.name})
                if opened is None:  # the key was deleted: the variables are gone with it, as on AWS
                    env["Error"] = {"ErrorCode": "KMSNotFoundException",
                                    "Message": "Lambda was unable to decrypt the environment variables because "
                                               "the KMS key was not found."}
                else:
                    env["Variables"] = json.loads(opened)
            else:
                env["Variables"] = json.loads(self.keyring.decrypt(sealed, f"{rec.account}:{rec.name}"))
            cfg["Environment"] = env
        return cfg

    def _check_kms_key(self, account: str, region: str, cfg: dict[str, Any]) -> None:
        """KMSKeyArn: "" removes it; a key must exist and be usable now (AWS checks it when it is set)."""
        if "KMSKeyArn" not in cfg:
            return
        if not cfg["KMSKeyArn"]:
            del cfg["KMSKeyArn"]
            return
        if self.env_keys is None:
            raise InvalidParameterValueException("KMSKeyArn is not supported: this lambdad server has no KMS.")
        self.env_keys.check(account, region, cfg["KMSKeyArn"])

    # -- reads ------------------------------------------------------------------------------
    def find(self, account: str, region: str, name: str) -> FunctionRecord | None:
        return self._functions.get((account, region, name))

    def find_arn(self, arn: str) -> FunctionRecord | None:
        """The function a (possibly qualified) function ARN names, in the ARN's own region."""
        parts = arn.split(":")
        if len(parts) < 7 or parts[5] != "function":
            return None
        return self._functions.get((parts[4], parts[3], parts[6]))

    def get_record(self, account: str, region: str, name: str, qualifier: str | None = None) -> FunctionRecord:
        rec = self._functions.get((account, region, name))
        if rec is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(region, account, name, qualifier)}")
        return rec

    def get_version(self, account: str, region: str, name: str, qualifier: str | None) -> FunctionVersion:
        """Resolve a qualifier that names a version ($LATEST or a number)."""
        rec = self.get_record(account, region, name, qualifier)
        fv = rec.versions.get(qualifier or LATEST)
        if fv is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(region, account, name, qualifier)}")
        return fv

    def list_latest(self, account: str, region: str) -> list[FunctionVersion]:
        return [rec.latest for rec in self.list_records(account, region)]

    def list_records(self, account: str, region: str) -> list[FunctionRecord]:
        return [rec for (acct, reg, _), rec in sorted(self._functions.items()) if acct == account and reg == region]

    def all_records(self) -> list[FunctionRecord]:
        return list(self._functions.values())

    # -- writes -----------------------------------------------------------------------------
    def stage_code(self, code: dict[str, Any]) -> tuple[str, int]:
        """Validate, store and unpack a function's Code (digest, size). Blocking (a large zip takes
        seconds) and touching no registry state: the server runs it on its worker pool and hands
        the result to `create`/`update_code`."""
        if not isinstance(code, dict):
            raise InvalidParameterValueException("Code must be an object with ZipFile.")
        if code.get("S3Bucket") or code.get("S3Key") or code.get("S3ObjectVersion"):
            raise InvalidParameterValueException(
                "Code.S3Bucket is not supported by this lambdad server yet; upload the package with "
                "Code.ZipFile.")
        if code.get("ImageUri"):
            raise InvalidParameterValueException(
                "Container images (Code.ImageUri, PackageType Image) are not supported by lambdad; "
                "upload a .zip deployment package with Code.ZipFile.")
        data = code.get("ZipFile")
        if not data:
            raise InvalidParameterValueException("Please provide a source for function code.")
        return self.store_zip(data)

    def store_zip(self, data: bytes, *, from_s3: bool = False) -> tuple[str, int]:
        """Check, store durably and unpack a zip (blocking; see `stage_code`). A package read from S3
        is not held to the limit on zips sent in the request (only to the unzipped size)."""
        if len(data) > self.config.max_zip_bytes and not from_s3:
            raise ApiError(f"Zipped size must be smaller than {self.config.max_zip_bytes} bytes",
                           code="RequestEntityTooLargeException", status=413)
        try:
            inspect_zip(data, max_unzipped_bytes=self.config.max_unzipped_bytes)
        except CodeZipError as exc:
            raise InvalidParameterValueException(exc.message) from exc
        digest = self.blobs.put_zip(data)
        try:
            self.blobs.tree(digest)
        except CodeZipError as exc:
            raise InvalidParameterValueException(exc.message) from exc
        return digest, len(data)

    def check_create(self, account: str, region: str,
                     params: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
        """Everything CreateFunction validates but its code: (name, configuration, tags)."""
        name = v.function_name_for_create(params.get("FunctionName"))
        if (account, region, name) in self._functions:
            raise ResourceConflictException(f"Function already exist: {name}")
        package_type = params.get("PackageType", "Zip")
        if package_type != "Zip":
            raise InvalidParameterValueException(
                "PackageType Image is not supported by lambdad; use a .zip deployment package.")
        cfg = v.function_configuration(params, creating=True)
        if self.runtime_check is not None:
            self.runtime_check(cfg["Runtime"])
        self._check_kms_key(account, region, cfg)
        if self.role_check is not None:
            self.role_check(account, cfg["Role"])
        self._check_dead_letter(name, cfg)
        return name, cfg, check_tags(params.get("Tags") or {})

    def create(self, account: str, region: str, params: dict[str, Any],
               code: tuple[str, int] | None = None) -> FunctionVersion:
        """A new function; `code` is what `stage_code` made of params["Code"] (staged here if None)."""
        name, cfg, tags = self.check_create(account, region, params)
        digest, size = code if code is not None else self.stage_code(params.get("Code") or {})
        cfg.update({
            "FunctionName": name,
            "FunctionArn": function_arn(region, account, name),
            "CodeSha256": base64.b64encode(bytes.fromhex(digest)).decode(),
            "CodeSize": size,
            "Version": LATEST,
            "LastModified": now_timestamp(),
            "RevisionId": str(uuid.uuid4()),
            "PackageType": "Zip",
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}",
                              **(cfg.get("LoggingConfig") or {})},
            "RuntimeVersionConfig": {"RuntimeVersionArn": (
                f"arn:aws:lambda:{region}::runtime:{cfg.get('Runtime', 'provided')}")},
        })
        self._complete(account, region, cfg, digest)
        rec = FunctionRecord(account, name, region, tags=tags, created=time.time())
        fv = FunctionVersion(account, name, LATEST, cfg, digest, rec)
        rec.versions[LATEST] = fv
        with self.store.transaction():
            self._save_meta(rec)
            self._save_version(fv)
        self._functions[(account, region, name)] = rec
        return fv

    def _check_dead_letter(self, name: str, cfg: dict[str, Any]) -> None:
        """Lambda sends to the dead-letter queue as the execution role, so the role must allow it (AWS
        checks when the configuration is set)."""
        target = (cfg.get("DeadLetterConfig") or {}).get("TargetArn")
        if not target or self.delivery_check is None:
            return
        denied = self.delivery_check(str(cfg.get("Role") or ""), name, target)
        if denied is not None:
            raise InvalidParameterValueException(f"The provided execution role does not have permissions to call "
                                                 f"{denied} on {target.split(':')[2].upper()}")

    def _replace_latest(self, rec: FunctionRecord, cfg: dict[str, Any], digest: str) -> FunctionVersion:
        self._complete(rec.account, rec.region, cfg, digest)
        cfg.pop(ENV_REVISION, None)  # what runs changed: environments must be rebuilt
        cfg["LastModified"] = now_timestamp()
        cfg["RevisionId"] = str(uuid.uuid4())
        cfg["LastUpdateStatus"] = "Successful"
        fv = FunctionVersion(rec.account, rec.name, LATEST, cfg, digest, rec)
        self._save_version(fv)
        rec.versions[LATEST] = fv
        self._changed(rec.account, rec.region, rec.name, LATEST)
        return fv

    @staticmethod
    def check_revision(fv: FunctionVersion, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != fv.revision:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
                "GetAlias API to retrieve the latest Revision Id")

    @staticmethod
    def code_of_update(params: dict[str, Any]) -> dict[str, Any]:
        """The Code an UpdateFunctionCode call names (for `stage_code`)."""
        return {k: params.get(k) for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
                if params.get(k) is not None}

    def update_code(self, account: str, region: str, name: str, params: dict[str, Any],
                    code: tuple[str, int] | None = None) -> FunctionVersion:
        """New code for $LATEST; `code` as for `create` (what `stage_code` made of `code_of_update`)."""
        rec = self.get_record(account, region, name)
        self.check_revision(rec.latest, params.get("RevisionId"))
        if params.get("Architectures") is not None:
            v.check_architectures(params["Architectures"])
        digest, size = code if code is not None else self.stage_code(self.code_of_update(params))
        cfg = dict(rec.latest.config)
        if params.get("Architectures") is not None:
            cfg["Architectures"] = list(params["Architectures"])
        cfg["CodeSha256"] = base64.b64encode(bytes.fromhex(digest)).decode()
        cfg["CodeSize"] = size
        return self._replace_latest(rec, cfg, digest)

    def update_configuration(self, account: str, region: str, name: str, params: dict[str, Any]) -> FunctionVersion:
        rec = self.get_record(account, region, name)
        self.check_revision(rec.latest, params.get("RevisionId"))
        cfg = dict(rec.latest.config)
        changes = v.function_configuration(params, creating=False, current=cfg)
        if "Role" in changes and self.role_check is not None:
            self.role_check(account, changes["Role"])
        if "Runtime" in changes and self.runtime_check is not None:
            self.runtime_check(changes["Runtime"])
        cfg.update(changes)
        if "KMSKeyArn" in changes:
            self._check_kms_key(account, region, cfg)
        if "Role" in changes or "DeadLetterConfig" in changes:
            self._check_dead_letter(name, cfg)
        return self._replace_latest(rec, cfg, rec.latest.code_digest)

    def delete(self, account: str, region: str, name: str, qualifier: str | None) -> None:
        rec = self.get_record(account, region, name)  # AWS names the function, not the version, when missing
        if qualifier is not None and qualifier != LATEST:
            if qualifier not in rec.versions:
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(region, account, name, qualifier)}")
            self.store.execute("DELETE FROM function_versions WHERE account=? AND region=? AND name=? AND version=?",
                               (account, region, name, qualifier))
            del rec.versions[qualifier]
            self._changed(account, region, name, qualifier)
            return
        if qualifier == LATEST:
            raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the "
                                                 "function.")
        with self.store.transaction():
            self.store.execute("DELETE FROM function_versions WHERE account=? AND region=? AND name=?",
                               (account, region, name))
            self.store.execute("DELETE FROM functions WHERE account=? AND region=? AND name=?",
                               (account, region, name))
        del self._functions[(account, region, name)]
        self._changed(account, region, name, None)

    def save_meta(self, rec: FunctionRecord) -> None:
        """Persist per-function settings changed by other modules (tags, concurrency, ...)."""
        self._save_meta(rec)

    def add_version(self, fv: FunctionVersion) -> None:
        """Persist a published version (the caller holds a store transaction with its meta)."""
        self._save_version(fv)
        fv.function.versions[fv.version] = fv

    def set_state(self, account: str, region: str, name: str, version: str,
                  fields: dict[str, Any]) -> FunctionVersion | None:
        """A version's State/LastUpdateStatus moved on (a SnapStart snapshot was made or failed): a new
        RevisionId as on AWS, the same environments (env_revision), no listeners (nothing that runs
        changed). Fields set to None are removed. None when the version is gone."""
        rec = self.find(account, region, name)
        fv = rec.versions.get(version) if rec is not None else None
        if fv is None:
            return None
        cfg = dict(fv.config)
        cfg[ENV_REVISION] = fv.env_revision
        cfg["RevisionId"] = str(uuid.uuid4())
        for key, value in fields.items():
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value
        new = FunctionVersion(fv.account, fv.name, fv.version, cfg, fv.code_digest, fv.function)
        self._save_version(new)
        fv.function.versions[fv.version] = new
        return new

    def touch_revision(self, fv: FunctionVersion) -> FunctionVersion:
        """A new RevisionId for a change that does not alter what runs (see env_revision)."""
        cfg = dict(fv.config)
        cfg[ENV_REVISION] = fv.env_revision
        cfg["RevisionId"] = str(uuid.uuid4())
        new = FunctionVersion(fv.account, fv.name, fv.version, cfg, fv.code_digest, fv.function)
        self._save_version(new)
        fv.function.versions[fv.version] = new
        return new
