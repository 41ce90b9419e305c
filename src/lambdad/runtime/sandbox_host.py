"""The host side of the sandbox: what this host can give, and the per-server resources behind it.

`probe(config)` only looks (used by `lambdad doctor` and logged at start). `SandboxHost` owns what a
running server holds on the host:

- an instance slot `lambdad-<n>` claimed with a lock file in /run/lambdad (held by the server and,
  shared, by each of its zygotes). Every cgroup is named under it, so a server that starts cleans
  up exactly the leftovers of servers that are gone (kill -9) and never those of one still running;
- the instance's cgroup directories (v1: memory, pids, cpu, freezer; v2: one directory);
- a block of unprivileged uids, one per live environment (`spec["uid"]`), handed out first-in
  first-out and reused only once no process runs as it (the Runtime API checks a peer socket's uid,
  and that the environment's cgroup holds it: `procs_file`);
- the freezer knob of each environment (the server freezes idle environments itself: one write,
  no round trip through the zygote).

Mounts, loop devices and btrfs subvolumes never need cleaning up here: they live in each zygote's
private mount namespace and go away with it (see guest/sandbox.py).
"""

from __future__ import annotations

import collections
import errno
import fcntl
import logging
import os
import platform
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from lambdad.config import Config
from lambdad.runtime.guest import sandbox as guest_sandbox

log = logging.getLogger("lambdad.sandbox")

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
RUNTIME_LIBS_DIR = str(Path(boto3.__file__).resolve().parent.parent)
RUN_DIR = Path("/run/lambdad")
PREFIX = "lambdad-"
MAX_INSTANCES = 64
UID_BASE = 990000
UID_BLOCK = 65536
PIDS_MAX = 1024  # Lambda's limit on processes and threads per execution environment

PROTECTIONS = ("namespaces", "read-only-root", "private-tmp", "tmp-capacity", "memory-cgroup", "pids-cgroup",
               "cpu-weight", "freezer", "fast-cgroup-join", "unprivileged-uid", "no-new-privs",
               "seccomp", "network-isolation")


@dataclass(slots=True)
class Protections:
    """Which protections are active on this host, and why any is not."""

    enabled: bool
    active: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    cgroup_version: int = 0
    cgroup_dirs: dict[str, Path] = field(default_factory=dict)  # controller (v2: "") -> hierarchy root
    btrfs: bool = False
    network: str = "host"

    def set(self, name: str, on: bool, why: str = "") -> None:
        self.active[name] = on
        if why:
            self.reasons[name] = why
        else:
            self.reasons.pop(name, None)

    def report_lines(self) -> list[str]:
        lines = []
        for name, on in self.active.items():
            why = self.reasons.get(name, "")
            lines.append(f"{name:<22} {'active' if on else 'OFF'}{'  (' + why + ')' if why else ''}")
        return lines

    def summary(self) -> str:
        """One line for the start log (`lambdad doctor` prints the whole report)."""
        off = [name for name, on in self.active.items() if not on]
        text = f"{len(self.active) - len(off)} of {len(self.active)} protections active"
        return text + (f"; off: {', '.join(off)} (`lambdad doctor` says why)" if off else "")


def probe(config: Config) -> Protections:
    """Look at the host (changes nothing)."""
    p = Protections(enabled=False, network=str(config.sandbox_network))
    reason = ""
    if not config.sandbox:
        reason = "the sandbox setting is off"
    elif os.geteuid() != 0:
        reason = "needs root"
    elif not all(os.path.exists(f"/proc/self/ns/{ns}") for ns in ("mnt", "pid", "ipc", "uts")):
        reason = "kernel without mount/pid/ipc/uts namespaces"
    if reason:
        for name in PROTECTIONS:
            p.set(name, False, reason)
        p.active["process-group"] = True
        return p
    p.enabled = True
    p.set("namespaces", True, "own mount, pid, ipc and uts namespaces per environment")
    p.set("read-only-root", True, "code at /var/task and layers at /opt read-only; host files hidden")
    p.set("unprivileged-uid", True, f"a uid of its own per environment from {UID_BASE}")
    p.set("no-new-privs", True)
    if platform.machine() in guest_sandbox.SECCOMP_ARCHES:
        p.set("seccomp", True, "EPERM for " + ", ".join(("unshare/clone with CLONE_NEWUSER",
                                                        *guest_sandbox.REFUSED_SYSCALLS))
              + " (Docker's default profile's errno); other ABIs ENOSYS")
    else:
        p.set("seccomp", False, f"no seccomp filter written for {platform.machine()}")
    _probe_cgroups(p)
    _probe_tmp(p)
    if p.network == "none":
        p.set("network-isolation", True, "every function: a network namespace with only loopback")
    else:
        p.set("network-isolation", False, "shared host network; per function: environment variable "
              "LAMBDAD_NETWORK=none, or --sandbox-network none for all")
    return p


def _probe_cgroups(p: Protections) -> None:
    v1 = {c: CGROUP_ROOT / c for c in V1_CONTROLLERS if (CGROUP_ROOT / c / "cgroup.procs").exists()}
    v2_controllers: set[str] = set()
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2 mounted at the top: a unified-only host
        v2_controllers = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    if v1 and not v2_controllers:
        p.cgroup_version = 1
        p.cgroup_dirs = v1
        for name, ctrl in (("memory-cgroup", "memory"), ("pids-cgroup", "pids"), ("cpu-weight", "cpu"),
                           ("freezer", "freezer")):
            if ctrl in v1:
                p.set(name, True, f"cgroup v1 {ctrl}")
            else:
                p.set(name, False, f"no cgroup v1 {ctrl} hierarchy mounted")
        unified = CGROUP_ROOT / "unified"
        p.cgroup_dirs.setdefault("unified", unified)  # for favordynmods only
    elif v2_controllers:
        p.cgroup_version = 2
        p.cgroup_dirs = {"": CGROUP_ROOT}
        for name, ctrl in (("memory-cgroup", "memory"), ("pids-cgroup", "pids"), ("cpu-weight", "cpu")):
            if ctrl in v2_controllers:
                p.set(name, True, f"cgroup v2 {ctrl}")
            else:
                p.set(name, False, f"cgroup v2 without the {ctrl} controller")
        p.set("freezer", True, "cgroup v2 cgroup.freeze")
    else:
        for name in ("memory-cgroup", "pids-cgroup", "cpu-weight", "freezer"):
            p.set(name, False, "no cgroup hierarchy mounted")
    if p.cgroup_version:
        fav = _favordynmods_mount()
        if fav is None:
            p.set("fast-cgroup-join", False, "no cgroup2 mount to set favordynmods on: cold joins cost ~5 ms")
        elif fav:
            p.set("fast-cgroup-join", True, "favordynmods is on")
        else:
            p.set("fast-cgroup-join", True, "favordynmods will be switched on at server start")
    else:
        p.set("fast-cgroup-join", False, "no cgroups")


def _favordynmods_mount() -> bool | None:
    """Whether a cgroup2 mount has favordynmods (None: there is no cgroup2 mount)."""
    found: bool | None = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                _, _, post = line.partition(" - ")
                if post.startswith("cgroup2 "):
                    found = found or "favordynmods" in post.split()[2].split(",")
    except OSError:
        return None
    return found


def _cgroup2_mountpoint() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.startswith("cgroup2 "):
                return pre.split()[4]
    return None


def _probe_tmp(p: Protections) -> None:
    has_btrfs = False
    try:
        has_btrfs = any(line.split()[-1] == "btrfs" for line in Path("/proc/filesystems").read_text().splitlines())
    except OSError:
        pass
    if has_btrfs and shutil.which("mkfs.btrfs") and os.path.exists("/dev/loop-control"):
        p.btrfs = True
        p.set("private-tmp", True, "a btrfs subvolume per environment on a sparse loop image")
        p.set("tmp-capacity", True, "simple quota = EphemeralStorage")
    else:
        why = ("no mkfs.btrfs (apt-get install btrfs-progs)" if has_btrfs
               else "kernel without btrfs" if not has_btrfs else "no /dev/loop-control")
        p.set("private-tmp", True, "a host directory per environment")
        p.set("tmp-capacity", False, why)


class SandboxHost:
    """Per-server host resources (see the module docstring). Inert when the sandbox is off."""

    def __init__(self, config: Config, protections: Protections, *, uid_block: int = UID_BLOCK) -> None:
        self.config = config
        self.protections = protections
        self.data_dir = config.data_path
        self.instance = -1
        self.tag = ""
        self._lock_fd = -1
        self._dirs: dict[str, Path] = {}  # controller -> this instance's directory
        self._free_uids: collections.deque[int] = collections.deque()  # released, oldest first
        self._uid_block = uid_block
        self._next_uid = 0
        self._uid_end = 0
        self.notes: list[str] = []
        self._swap = False  # whether the host swaps (then memory.memsw gets the memory limit too)

    @property
    def enabled(self) -> bool:
        return self.protections.enabled and self.instance >= 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Claim an instance slot, clean up after dead servers, create this server's cgroups."""
        if not self.protections.enabled:
            return
        RUN_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        (RUN_DIR / "mnt").mkdir(mode=0o755, exist_ok=True)
        for n in range(MAX_INSTANCES):
            fd = os.open(RUN_DIR / f"instance-{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._lock_fd, self.instance, self.tag = fd, n, f"{PREFIX}{n}"
            break
        if self.instance < 0:
            self.protections.enabled = False
            self.notes.append(f"sandbox OFF: all {MAX_INSTANCES} instance slots in {RUN_DIR} are taken")
            return
        cleanup_leftovers(own=self.instance)
        # Shared from now on: our zygotes take it shared too; a cleaner needs it exclusive.
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        self._switch_favordynmods()
        self._make_cgroups()
        shutil.rmtree(self.tmp_fallback_dir, ignore_errors=True)
        try:
            self._swap = len(Path("/proc/swaps").read_text().splitlines()) > 1
        except OSError:
            pass
        self._next_uid = UID_BASE + self.instance * UID_BLOCK
        self._uid_end = self._next_uid + min(self._uid_block, UID_BLOCK)

    def _switch_favordynmods(self) -> None:
        p = self.protections
        if not p.cgroup_version or _favordynmods_mount() is not False:
            return
        mountpoint = _cgroup2_mountpoint()
        if mountpoint is None:
            return
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ms_remount = 32
        # A one-way switch (until reboot) of the kernel's cgroup threadgroup lock to the mode that
        # makes moving a task into a cgroup cheap after idle (~0.1 ms instead of ~5 ms).
        rc = libc.mount(None, mountpoint.encode(), None, ms_remount, b"favordynmods")
        if rc != 0:
            err = ctypes.get_errno()
            p.set("fast-cgroup-join", False, f"cannot set favordynmods on {mountpoint}: {os.strerror(err)}")
        else:
            p.set("fast-cgroup-join", True, f"favordynmods switched on ({mountpoint})")

    def _make_cgroups(self) -> None:
        p = self.protections
        for ctrl, root in p.cgroup_dirs.items():
            if ctrl == "unified":
                continue
            path = root / self.tag
            try:
                path.mkdir(exist_ok=True)
                if p.cgroup_version == 2:
                    wanted = [c for c in ("memory", "pids", "cpu") if c in
                              (root / "cgroup.subtree_control").read_text().split()]
                    if wanted:
                        (path / "cgroup.subtree_control").write_text(" ".join("+" + c for c in wanted))
            except OSError as exc:
                p.set({"memory": "memory-cgroup", "pids": "pids-cgroup", "cpu": "cpu-weight",
                       "freezer": "freezer"}.get(ctrl, "memory-cgroup"), False, f"cannot create {path}: {exc}")
                continue
            self._dirs[ctrl] = path

    def close(self) -> None:
        """After the zygotes are gone: remove this server's cgroups, release the slot."""
        if self.instance < 0:
            return
        _remove_instance(self.tag)
        shutil.rmtree(self.tmp_fallback_dir, ignore_errors=True)
        os.close(self._lock_fd)
        self._lock_fd = -1
        self.instance = -1

    # -- what zygotes and environments get ------------------------------------------------------
    @property
    def tmp_fallback_dir(self) -> Path:
        return self.data_dir / "sandbox" / "tmp"

    def zygote_config(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        p = self.protections
        cg: dict[str, Any] = {}
        if self._dirs:
            cg = {"version": p.cgroup_version, "dirs": {k: str(v) for k, v in self._dirs.items()}}
        free = shutil.disk_usage(self.data_dir).free
        return {
            "enabled": True,
            "lock": str(RUN_DIR / f"instance-{self.instance}.lock"),
            "stage": str(RUN_DIR / "mnt"),
            "pidns": True,
            "cgroup": cg,
            "pids_max": PIDS_MAX,
            # Sized like the disk under the data dir (sparse: only what is written takes space),
            # so a full /tmp store says ENOSPC before the host disk is full.
            "tmp": {"btrfs": p.btrfs, "image": str(self.data_dir / "sandbox" / "store-{pid}.img"),
                    "size": max(1 << 30, free - (1 << 30)), "fallback_dir": str(self.tmp_fallback_dir)},
            "binds": [],
            # Bound at fixed paths inside (guest/sandbox.py): the host paths may lie under /tmp.
            "runtime_libs": RUNTIME_LIBS_DIR,
            "runtime_dir": str(Path(__file__).resolve().parent / "guest"),
        }

    def allocate_uid(self) -> int:
        """A uid for a new environment: first-in first-out over the instance's block.

        Never the one just released (LIFO once handed a uid whose old environment still ran to
        another account): fresh uids first, then the one released longest ago that no process
        runs as any more (real, effective, saved or filesystem uid).
        """
        if not self.enabled:
            return os.geteuid()
        if self._next_uid < self._uid_end:
            self._next_uid += 1
            return self._next_uid - 1
        if self._free_uids:
            busy = uids_in_use()  # a /proc scan, only once the block has gone round
            for _ in range(len(self._free_uids)):
                uid = self._free_uids.popleft()
                if uid not in busy:
                    return uid
                self._free_uids.append(uid)  # something of its last environment lives: not yet
        raise RuntimeError("no free sandbox uid")  # every uid of the block is alive

    def release_uid(self, uid: int) -> None:
        if self.enabled and uid >= UID_BASE:
            self._free_uids.append(uid)

    def freezer(self, env_id: str) -> tuple[str, bytes, bytes] | None:
        """(file, frozen value, thawed value) of an environment's freezer, or None without one."""
        if not self.enabled or not self.protections.active.get("freezer"):
            return None
        if self.protections.cgroup_version == 1 and "freezer" in self._dirs:
            return str(self._dirs["freezer"] / env_id / "freezer.state"), b"FROZEN", b"THAWED"
        if self.protections.cgroup_version == 2 and "" in self._dirs:
            return str(self._dirs[""] / env_id / "cgroup.freeze"), b"1", b"0"
        return None

    def procs_file(self, env_id: str) -> str | None:
        """The cgroup.procs of an environment the zygote forks (its cgroups are named by its id), or
        None without cgroups. The Runtime API admits only sockets held by a process listed there."""
        if not self.enabled:
            return None
        for ctrl in ("", "pids", "memory", "cpu", "freezer"):
            if ctrl in self._dirs:
                return str(self._dirs[ctrl] / env_id / "cgroup.procs")
        return None

    def network_for(self, env_vars: dict[str, str]) -> str:
        """'none' (a network namespace with only loopback) or 'host'. A function can only opt out."""
        if self.protections.network == "none" or env_vars.get("LAMBDAD_NETWORK", "").lower() == "none":
            return "none"
        return "host"

    # -- cgroups of processes no zygote forked (environments forked from a SnapStart template) ------
    # The same limits guest/sandbox.py gives the environments it forks; named by environment id under
    # this instance's directories, so freezer() finds them and cleanup_leftovers() removes them.
    def make_cgroups(self, env_id: str, memory_mb: int) -> list[str]:
        """Create an environment's cgroups with its limits (none without cgroups); returns their paths."""
        if not self.enabled:
            return []
        made: list[str] = []
        v2 = self.protections.cgroup_version == 2
        memory = str(memory_mb * 1024 * 1024).encode()
        shares = max(2, 1024 * memory_mb // 1769)  # Lambda: 1,769 MB is one vCPU
        try:
            for ctrl, parent in self._dirs.items():
                path = str(parent / env_id)
                os.mkdir(path)
                made.append(path)
                if v2:
                    weight = 1 + ((shares - 2) * 9999) // 262142  # systemd's and runc's shares -> weight
                    for knob, value in (("memory.max", memory), ("memory.swap.max", b"0"), ("memory.oom.group", b"1"),
                                        ("pids.max", str(PIDS_MAX).encode()), ("cpu.weight", str(weight).encode())):
                        _write_quiet(Path(path) / knob, value)
                elif ctrl == "memory":
                    _write(f"{path}/memory.limit_in_bytes", memory)
                    if self._swap:
                        _write_quiet(Path(path) / "memory.memsw.limit_in_bytes", memory)
                elif ctrl == "pids":
                    _write(f"{path}/pids.max", str(PIDS_MAX).encode())
                elif ctrl == "cpu":
                    _write(f"{path}/cpu.shares", str(shares).encode())
        except OSError:
            self.remove_cgroups(made)
            raise
        return made

    @staticmethod
    def join_cgroups(paths: list[str], pid: int) -> None:
        for path in paths:
            _write(f"{path}/cgroup.procs", str(pid).encode())

    def kill_cgroups(self, paths: list[str]) -> None:
        """SIGKILL every process in an environment's cgroups (frozen meanwhile, so none forks away)."""
        if not paths:
            return
        if self.protections.cgroup_version == 2:
            _write_quiet(Path(paths[0]) / "cgroup.kill", b"1")
            _write_quiet(Path(paths[0]) / "cgroup.freeze", b"0")
            return
        freezer = [p for p in paths if Path(p).parent == self._dirs.get("freezer")]
        for path in freezer:
            _write_quiet(Path(path) / "freezer.state", b"FROZEN")
        for _ in range(3):
            try:
                pids = Path(paths[0], "cgroup.procs").read_text().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            for path in freezer:  # a frozen task cannot die until thawed
                _write_quiet(Path(path) / "freezer.state", b"THAWED")
            if not pids:
                break

    def zygote_leftovers(self, zygote_pid: int, env_ids: list[str]) -> dict[str, list[str]]:
        """What a dead zygote may have left in this instance's cgroups, by name: its ready-made slots
        (guest/sandbox.py names them slot-<zygote pid>-<n>) and the cgroups of its environments."""
        wanted = set(env_ids)
        prefix = f"slot-{zygote_pid}-"
        found: dict[str, list[str]] = {}
        for parent in self._dirs.values():
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and (entry.name in wanted or entry.name.startswith(prefix)):
                    found.setdefault(entry.name, []).append(entry.path)
        return found

    @staticmethod
    def remove_cgroups(paths: list[str]) -> list[str]:
        """Remove what can be; returns the paths still busy (a task still exiting)."""
        left = []
        for path in paths:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(path)
        return left

    def oom_killed(self, paths: list[str]) -> bool:
        """Whether the memory cgroup's OOM killer killed something in it."""
        keys: tuple[str, ...]
        for path in paths:
            if self.protections.cgroup_version == 2:
                name, keys = "memory.events", ("oom_kill", "oom_group_kill")
            elif Path(path).parent == self._dirs.get("memory"):
                name, keys = "memory.oom_control", ("oom_kill",)
            else:
                continue
            try:
                for line in Path(path, name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key in keys and int(value) > 0:
                        return True
            except (OSError, ValueError):
                pass
        return False


def uids_in_use() -> set[int]:
    """Every uid some process runs as (real, effective, saved, filesystem), from /proc."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as f:
                data = f.read()
        except OSError:
            continue  # gone meanwhile
        at = data.find(b"\nUid:")
        if at >= 0:
            found.update(int(u) for u in data[at + 5:data.index(b"\n", at + 1)].split())
    return found


# -- leftovers ------------------------------------------------------------------------------------
def _instance_dirs() -> dict[str, list[Path]]:
    """tag -> its cgroup directories in every hierarchy."""
    found: dict[str, list[Path]] = {}
    roots = [CGROUP_ROOT / c for c in V1_CONTROLLERS] + [CGROUP_ROOT, CGROUP_ROOT / "unified"]
    for root in roots:
        try:
            entries = list(root.iterdir())
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and entry.is_dir():
                found.setdefault(name, []).append(entry)
    return found


def cleanup_leftovers(own: int) -> list[str]:
    """Remove the cgroups (and kill the processes) of instances whose server and zygotes are gone."""
    cleaned = []
    for tag, _dirs in _instance_dirs().items():
        n = int(tag[len(PREFIX):])
        if n == own:
            _remove_instance(tag)
            cleaned.append(tag)
            continue
        try:
            fd = os.open(RUN_DIR / f"instance-{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # alive
        try:
            _remove_instance(tag)
            cleaned.append(tag)
        finally:
            os.close(fd)
    if cleaned:
        log.info("sandbox: removed leftovers of stopped servers: %s", ", ".join(cleaned))
    return cleaned


def _remove_instance(tag: str) -> None:
    dirs = _instance_dirs().get(tag, [])
    children = [c for d in dirs for c in _subdirs(d)]
    # Thaw first: a frozen task cannot die, and a frozen cgroup cannot be removed.
    for c in children:
        for knob, value in (("freezer.state", b"THAWED"), ("cgroup.freeze", b"0")):
            _write_quiet(c / knob, value)
    for c in children:
        _write_quiet(c / "cgroup.kill", b"1")
        try:
            pids = (c / "cgroup.procs").read_text().split()
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    deadline = time.monotonic() + 2.0
    for path in children + dirs:
        while True:
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    log.warning("sandbox: cannot remove %s: %s", path, exc)
                    break
                time.sleep(0.01)


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


def _write(path: str, value: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def _write_quiet(path: Path, value: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, value)
    except OSError:
        pass
    finally:
        os.close(fd)
