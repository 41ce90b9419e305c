"""The settings registry: one list drives `lambdad serve` flags, `LAMBDAD_*` env vars and help.

The registry is the `Config` dataclass: every field is a setting (`_setting(default, help, parse)`),
so reading a setting is statically typed. `SETTINGS` views the fields as `Setting(name, default,
help, kind)`; a setting's flag is `--kebab-name` and its env var `LAMBDAD_UPPER_NAME`. Environment
variables are read only here, at the edge.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: Callable[[str], Any] = str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return "LAMBDAD_" + self.name.upper()


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _network(text: str) -> str:
    value = text.strip().lower()
    if value not in ("host", "none"):
        raise ValueError(f"sandbox_network must be 'host' or 'none', not {text!r}")
    return value


def _speed(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"schedule_speed must be a positive number, not {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class PortRanges:
    """Ports as comma-separated numbers and ranges, e.g. ``80,8000-8999``."""

    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(low <= port <= high for low, high in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in self.ranges)

    def __repr__(self) -> str:
        return repr(str(self))


def _port_ranges(text: str) -> PortRanges:
    ranges = []
    for item in text.split(","):
        low, _, high = item.strip().partition("-")
        try:
            pair = (int(low), int(high or low))
        except ValueError:
            raise ValueError(f"not a port or port range: {item.strip()!r}") from None
        if not 1 <= pair[0] <= pair[1] <= 65535:
            raise ValueError(f"not a port range within 1-65535: {item.strip()!r}")
        ranges.append(pair)
    return PortRanges(tuple(ranges))


def _setting(default: T, help: str, parse: Callable[[str], T] | None = None) -> T:
    """One setting: a field of `Config` whose metadata carries its help and its parser (default str)."""
    field: T = dataclasses.field(default=default, metadata={"help": help, "parse": parse or str})
    return field


MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved settings, and the registry itself: each field is one setting (its help and parser
    in the field's metadata), so `cfg.port` is an int to mypy and `cfg.prot` an error."""

    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8900, "Port for every API, function URLs and the health endpoint.", int)
    data_dir: str = _setting("./.lambdad", "Directory holding the store, code packages and logs.")
    public_host: str = _setting("localhost", "Host name used in URLs handed to clients (function URLs, "
        "code locations, queue URLs).")
    region: str = _setting("us-east-1", "The region this server pretends to be.")
    account_id: str = _setting("000000000000", "The account id of the root credentials.")
    root_access_key_id: str = _setting("", "Root access key id; generated into DATA_DIR/credentials when unset.")
    root_secret_access_key: str = _setting("", "Root secret access key; generated when unset.")
    auth: bool = _setting(True, "Verify SigV4 signatures on every request. Turning this off is for local "
        "development only and is refused unless the server listens on loopback.", _bool)
    master_key: str = _setting("", "Base64 of a 32-byte key encrypting secrets at rest (IAM secret keys, "
        "environment variables); when unset, master_key_file is used.")
    master_key_file: str = _setting("", "File holding the master key; default DATA_DIR/master.key, created "
        "with mode 0600 on first start. Keep a copy: the store's secrets cannot be read without it.")
    require_existing_roles: bool = _setting(True, "A function's Role must name an existing IAM role whose trust "
        "policy lets lambda.amazonaws.com assume it (as on AWS).", _bool)
    audit: bool = _setting(True, "Record every API call as a JSON line in DATA_DIR/audit.log.", _bool)
    account_concurrency: int = _setting(1000, "Account-wide concurrent executions limit.", int)
    idle_timeout: float = _setting(600.0, "Seconds an idle execution environment stays warm before it is "
        "reaped.", float)
    async_retry_base_delay: float = _setting(60.0, "Seconds before the first retry of a failed asynchronous "
        "invocation; the second waits twice as long (AWS: about 1 then 2 minutes).", float)
    python_interpreters: str = _setting("", "Comma-separated runtime=interpreter pairs, e.g. "
        "'python3.12=/usr/bin/python3.12'; unlisted runtimes use the closest local Python found.")
    node_binary: str = _setting("node", "Node.js executable for the nodejs runtimes, or runtime=path pairs, e.g. "
        "'nodejs20.x=/usr/bin/node,nodejs22.x=/opt/node22/bin/node'.")
    node_spare_processes: int = _setting(1, "Node.js processes started ahead of time per Node executable and handed "
        "a function at its cold start (saves Node's own start-up); 0 turns them off. Not used while the "
        "sandbox is on.", int)
    sandbox: bool = _setting(True, "Run each execution environment in its own namespaces and cgroups "
        "(needs root; degrades visibly otherwise).", _bool)
    sandbox_network: str = _setting("host", "Network of sandboxed environments: 'host' (shared with the host) "
        "or 'none' (only loopback). A function can also ask for 'none' with its environment variable "
        "LAMBDAD_NETWORK=none.", _network)
    freeze_idle_after: float = _setting(0.1, "Seconds after an invocation before an idle environment is frozen "
        "(cgroup freezer), so its background threads stop as on Lambda; 0 freezes at once, a negative "
        "value never freezes. A short delay keeps freeze/thaw off the path of busy environments.", float)
    snapstart_park_fork: bool = _setting(True, "Keep one fork of each SnapStart template parked (forked, in its own "
        "cgroups, before any user code) so a restore only runs the after-restore hooks; false forks on "
        "demand (a few ms more per restore, one process less per published version).", _bool)
    alb_listener_ports: PortRanges = _setting(  # noqa: RUF009 (a frozen value: shared safely)
        _port_ranges("1024-65535"), "Ports a load-balancer listener (ELBv2 "
        "CreateListener/ModifyListener) may bind on this host, as comma-separated ports and ranges, e.g. "
        "'8000-8999'. Any account can create listeners: include ports below 1024 only to let every tenant "
        "bind privileged ports.", _port_ranges)
    code_link_lifetime: float = _setting(600.0, "Seconds a code download link (GetFunction's Code.Location, a layer "
        "version's Content.Location) stays valid; AWS's presigned links last 10 minutes.", float)
    disk_reserve_bytes: int = _setting(16 * MB, "Disk space kept preallocated in DATA_DIR/reserve and given back when "
        "the disk is nearly full, so deletes still work; 0 turns it off.", int)
    max_zip_bytes: int = _setting(50 * MB, "Largest deployment package accepted by direct upload.", int)
    max_unzipped_bytes: int = _setting(250 * MB, "Largest unzipped size of code plus layers.", int)
    max_sync_payload_bytes: int = _setting(6 * MB, "Largest synchronous request and response payload.", int)
    max_async_payload_bytes: int = _setting(256 * 1024, "Largest asynchronous invocation payload.", int)
    max_connections: int = _setting(1024, "Most open client connections or in-flight requests per port (API port and "
        "each load-balancer listener); requests beyond it are answered 503.", int)
    keep_alive_timeout: float = _setting(75.0, "Seconds an idle client connection stays open (also how long a new "
        "connection may wait before sending its first byte).", float)
    request_read_timeout: float = _setting(60.0, "Seconds a client gets to send a request's headers once it has "
        "started, and the longest it may pause while sending a body; slower clients are disconnected.", float)
    max_header_bytes: int = _setting(64 * 1024, "Largest request line plus headers accepted (larger: 400, as ALB "
        "answers).", int)
    shutdown_timeout: float = _setting(30.0, "Seconds a stopping server (SIGTERM) lets in-flight requests finish "
        "before cancelling them.", float)
    log_level: str = _setting("info", "Server log level (debug, info, warning, error).")
    demo: bool = _setting(False, "Create the demo function 'hello' at start if it does not exist.", _bool)
    aws_profile: str = _setting("lambdad", "AWS profile written at each start into DATA_DIR/aws-config and, when "
        "the root keys are the generated ones, added to ~/.aws/config and ~/.aws/credentials (lambdad's own "
        "marked block only; a profile of that name already there is left alone); empty: none is written.")
    # EventBridge (issue 15)
    schedule_speed: float = _setting(1.0, "How many times faster than the wall clock EventBridge's and EventBridge "
        "Scheduler's time runs, for manual experiments (60: rate(1 minute) fires every second, retries wait "
        "1/60 as long, and event times run ahead of the wall clock).", _speed)
    # -- API Gateway ------------------------------------------------------------------------------------
    apigateway_private_integrations: bool = _setting(False, "Let API Gateway HTTP_PROXY integrations reach "
        "loopback, private and link-local addresses (any account can create integrations: off, none can make the "
        "server call into its own host's network).", _bool)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def endpoint_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.default, f.metadata["help"], f.metadata["parse"]) for f in dataclasses.fields(Config))

def add_arguments(parser: argparse.ArgumentParser) -> None:
    for s in SETTINGS:
        env_note = f" [env {s.env_var}; default {s.default!r}]"
        parser.add_argument(s.flag, dest=s.name, default=None, help=s.help + env_note,
                            type=str)


def resolve(cli_values: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> Config:
    """Flag beats env var beats default."""
    environ = os.environ if environ is None else environ
    cli_values = cli_values or {}
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = cli_values.get(s.name)
        if raw is None:
            raw = environ.get(s.env_var)
        if raw is not None:
            values[s.name] = s.kind(raw) if isinstance(raw, str) else raw
    unknown = set(cli_values) - {s.name for s in SETTINGS}
    if unknown:
        raise TypeError(f"no such settings: {', '.join(sorted(unknown))}")
    return Config(**values)


def setting(name: str) -> Setting:
    return next(s for s in SETTINGS if s.name == name)
