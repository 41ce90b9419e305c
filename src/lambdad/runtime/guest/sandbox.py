"""Per-environment isolation, applied by the zygote around each fork (stdlib + ctypes, Python 3.9+).

Hooks, in the order the zygote calls them:
  prepare_zygote(config)  once per zygote: private mount namespace, the shared read-only root,
                          the btrfs store for every environment's /tmp; returns a status dict
  before_fork(spec)       in the zygote: the environment's cgroups and its /tmp subvolume
  fork(spec)              in the zygote: fork into a new pid namespace (unshare, fork, setns back)
  enter(spec)             in the child: join cgroups, own mount/uts/ipc(/net) namespaces, binds,
                          pivot_root, drop to the environment's uid with no_new_privs
  kill(env_id, pid)       in the zygote: kill the whole tree (pid 1 of its namespace) and, thawed,
                          every process in its cgroup
  on_exit(env_id)         in the zygote after the child was reaped: kill what is left in its cgroup,
                          release everything; returns
                          extra fields for the EXITED report ({"oom": True} when the memory
                          cgroup killed it)
  housekeeping()          in the zygote when idle: retry releases that were busy; True if any remain

Why this order: everything expensive (tmpfs root, read-only binds of /usr, the interpreter and
the runtime libraries, mkfs + loop + mount of the btrfs store) happens once in prepare_zygote,
inside the zygote's own mount namespace, so nothing is visible on the host and everything
disappears with the zygote, even after kill -9. Per environment the zygote only makes a cgroup
directory per controller and a subvolume with a quota; the child does a handful of mounts.
The pid namespace comes from `unshare(CLONE_NEWPID)` just before fork (the child is pid 1 of a
fresh namespace) and `setns` back right after, which costs nothing, and killing pid 1 kills the
whole namespace, so an environment is always killable as a tree.
"""

import ctypes
import errno
import fcntl
import os
import platform
import signal
import socket
import stat
import struct
import subprocess
import sys
from time import perf_counter as _now

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(
    platform.machine(), 155)

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_AUTOCLEAR = 4
LO_FLAGS_DIRECT_IO = 16

BTRFS_IOC_SUBVOL_CREATE = 0x5000940E
BTRFS_IOC_SNAP_DESTROY = 0x5000940F
BTRFS_IOC_QUOTA_CTL = 0xC0109428
BTRFS_IOC_QGROUP_CREATE = 0x4010942A
BTRFS_IOC_QGROUP_LIMIT = 0x8030942B
BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA = 4
BTRFS_QGROUP_LIMIT_MAX_RFER = 1
BTRFS_QGROUP_LIMIT_MAX_EXCL = 2

# seccomp, installed on the zygote and inherited by every environment. Refused with EPERM (the errno
# Docker's default profile answers; it refuses the keyring calls, io_uring and userfaultfd too):
# - new user namespaces (unshare/clone with CLONE_NEWUSER): "root" over fresh namespaces is no way
#   out of this sandbox, but a large kernel surface for exploits;
# - ptrace, process_vm_readv/writev: one process reading or steering another of its uid (a tracee of
#   the zygote could also stop in ways its reaper must never take for an exit);
# - add_key, request_key, keyctl: a uid's user keyring outlives the environment that filled it, so
#   a later environment of that uid could read it;
# - io_uring_setup/enter/register, userfaultfd: kernel attack surface a function does not need.
# Other ABIs (i386 via int 0x80, x32) get ENOSYS: their numbers would dodge the table.
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_NEWUSER = 0x10000000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
REFUSED_SYSCALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "add_key", "request_key", "keyctl",
                    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd")
# arch -> (AUDIT_ARCH, syscall numbers of the native 64-bit ABI)
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, {"unshare": 272, "clone": 56, "clone3": 435, "ptrace": 101, "process_vm_readv": 310,
                            "process_vm_writev": 311, "add_key": 248, "request_key": 249, "keyctl": 250,
                            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
                            "userfaultfd": 323}),
    "aarch64": (0xC00000B7, {"unshare": 97, "clone": 220, "clone3": 435, "ptrace": 117, "process_vm_readv": 270,
                             "process_vm_writev": 271, "add_key": 217, "request_key": 218, "keyctl": 219,
                             "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
                             "userfaultfd": 282}),
}
SECCOMP_ARCHES = tuple(_SECCOMP_ARCH)

SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40

# /etc entries a runtime needs (name resolution, TLS roots, the dynamic linker's cache, time zone).
# Never the whole /etc: no shadow, no host keys, no machine secrets.
_ETC_FILES = ("hosts", "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf", "ld.so.cache", "ld.so.conf",
              "localtime", "os-release", "debian_version", "mime.types", "protocols", "services", "networks",
              "timezone", "issue")
_ETC_DIRS = ("ssl/certs", "ca-certificates", "ld.so.conf.d", "alternatives", "pki/tls/certs", "crypto-policies")
_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9))

_libc = None
_config: dict = {}
_status: dict = {}
_enabled = False
_root = ""  # the sandbox root in the zygote's mount namespace
_store = ""  # where environments' /tmp live (a btrfs mount, or a host directory without quota)
_store_fd = -1
_btrfs = False
_cg_version = 0
_cg_dirs: "dict[str, str]" = {}  # controller -> instance directory (v1), or {"": dir} (v2)
_pidns_fd = -1
_envs: "dict[str, dict]" = {}  # env id -> {"cg": [dirs], "tmp": name or None, "uid": int}
_passwd_uids: "set[int]" = set()
_lock_fd = -1
#: set to a list to collect (step, time.perf_counter()) marks in enter() (benchmarks/sandbox_cost.py)
trace = None


# -- syscalls ---------------------------------------------------------------------------------------
def _check(ret, what=""):
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, "{0}: {1}".format(what, os.strerror(err)))
    return ret


def _lib():
    """libc with every function the hooks call already resolved.

    Resolved once in the zygote: a ctypes symbol lookup costs tens of microseconds, and each child
    would otherwise pay it again for every function it calls.
    """
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
        lib.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        lib.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        lib.sethostname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
        for name in ("unshare", "setns", "syscall"):
            getattr(lib, name)
        _libc = lib
    return _libc


def _b(s):
    return s.encode() if isinstance(s, str) else s


def _mount(src, target, fstype, flags, data=None):
    _check(_lib().mount(_b(src), _b(target), _b(fstype), flags, _b(data)), "mount " + str(target))


def _unshare(flags):
    _check(_lib().unshare(flags), "unshare")


def _setns(fd, nstype):
    _check(_lib().setns(fd, nstype), "setns")


def _prctl(option, arg):
    _check(_lib().prctl(option, arg, 0, 0, 0), "prctl")


def _bind_ro(src, target, extra=0):
    _mount(src, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | extra)


_overlay = [True]  # whether this kernel mounts overlayfs (probed in prepare_zygote)


def _mount_ro_unnamed(src, target):
    """src read-only at target, with no host path in /proc/self/mountinfo.

    A bind mount's mountinfo names its source by its path in the source filesystem (the data dir's
    code tree), whatever it was bound through. A read-only overlay is a filesystem of its own (its
    root is "/"), and its options show the layer paths as given: descriptor paths here. Overlay
    without an upper layer wants two layers; the second is the empty mount point itself.
    About 0.1 ms more than a bind. Without overlayfs (or on a filesystem it cannot stack on), a bind.
    """
    if _overlay[0]:
        fds = []
        try:
            for path in (src, target):
                fds.append(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            _mount("lambdad", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
                   "lowerdir=/proc/self/fd/{0}:/proc/self/fd/{1}".format(*fds))
            return
        except OSError as exc:
            if _probing[0]:
                raise
            if exc.errno == errno.ENOENT:
                raise  # no such tree: a bind would fail alike
        finally:
            for fd in fds:
                os.close(fd)
    _bind_ro(src, target)


_probing = [False]


def _probe_overlay(stage):
    src, target = os.path.join(stage, "overlay-src"), os.path.join(stage, "overlay-target")
    os.mkdir(src, 0o755)
    os.mkdir(target, 0o755)
    _probing[0] = True
    try:
        _mount_ro_unnamed(src, target)
        _check(_lib().umount2(_b(target), MNT_DETACH), "umount " + target)
    except OSError as exc:
        _overlay[0] = False
        _status["errors"].append("no read-only overlayfs ({0}): mountinfo shows code paths".format(exc))
    finally:
        _probing[0] = False
        os.rmdir(src)
        os.rmdir(target)


# -- once per zygote --------------------------------------------------------------------------------
def prepare_zygote(config):
    """Set up what all environments of this zygote share; returns what is active (for the server's log)."""
    global _enabled, _pidns_fd, _lock_fd
    _config.clear()
    _config.update(config)
    if not config.get("enabled"):
        return {"enabled": False}
    _lib()
    if config.get("lock"):
        # Held (shared) as long as this zygote lives, so a new server never cleans up under it.
        _lock_fd = os.open(config["lock"], os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(_lock_fd, fcntl.LOCK_SH)
    _status["errors"] = []
    _unshare(CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    stage = config["stage"]
    _mount("lambdad", stage, "tmpfs", MS_NOSUID, "mode=755,size=64m")
    _probe_overlay(stage)
    _build_root(os.path.join(stage, "root"), config)
    _prepare_store(stage, config)
    _prepare_cgroups(config.get("cgroup") or {})
    if config.get("pidns"):
        _pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if config.get("no_user_namespaces", True):
        # Installed on the zygote itself (it needs no user namespace): every child inherits the
        # filter instead of compiling its own (~0.05 ms each).
        _seccomp[0] = _seccomp_filter()
        if _seccomp[0] is not None:
            _check(_lib().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(_seccomp[0][1]), 0, 0),
                   "seccomp")
    _enabled = True
    _status.update({"enabled": True, "tmp": "btrfs" if _btrfs else "directory", "pidns": _pidns_fd >= 0,
                    "cgroup": _cg_version, "seccomp": _seccomp[0] is not None})
    return dict(_status)


def _build_root(root, config):
    """A tmpfs root holding only read-only binds of what running an interpreter needs."""
    global _root
    os.mkdir(root, 0o755)
    _mount(root, root, None, MS_BIND)  # a mount point of its own, as pivot_root wants
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, name))
        elif os.path.isdir(host):
            os.mkdir(os.path.join(root, name), 0o755)
            _bind_ro(host, os.path.join(root, name))
    etc = os.path.join(root, "etc")
    os.mkdir(etc, 0o755)
    for name in _ETC_FILES:
        _copy_etc(name, etc)
    for name in _ETC_DIRS:
        host = os.path.join("/etc", name)
        if os.path.isdir(host):
            target = os.path.join(etc, name)
            os.makedirs(target, 0o755)
            _bind_ro(host, target)
    with open(os.path.join(etc, "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
    with open(os.path.join(etc, "group"), "w") as f:
        f.write("root:x:0:\nnobody:x:65534:\n")
    dev = os.path.join(root, "dev")
    os.mkdir(dev, 0o755)
    for name, major, minor in _DEVICES:
        path = os.path.join(dev, name)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    for name in ("proc", "tmp", "opt", "var", "var/task", "var/runtime", "var/lang"):
        os.mkdir(os.path.join(root, name), 0o755)
    # The interpreter's own prefix (pyenv builds live under /root, which stays hidden otherwise),
    # and the runtime's libraries (boto3), at their host paths so sys.path works unchanged.
    # Fixed in-sandbox paths (a host path under /tmp would be hidden by each environment's own /tmp):
    # lambdad's guest runtimes at AWS's LAMBDA_RUNTIME_DIR, boto3's site-packages for Python functions.
    for key, inside in (("runtime_dir", ("var", "runtime")), ("runtime_libs", ("var", "lang", "site-packages"))):
        host = config.get(key)
        if host and os.path.isdir(host):
            target = os.path.join(root, *inside)
            os.makedirs(target, 0o755, exist_ok=True)
            _mount_ro_unnamed(host, target)
    binds = [os.path.realpath(sys.prefix)]
    binds += [os.path.realpath(p) for p in config.get("binds", ())]
    for host in binds:
        if not os.path.isdir(host) or _covered(host):
            continue
        target = root + host
        os.makedirs(target, 0o755, exist_ok=True)
        _bind_ro(host, target)
    _root = root


def _covered(path):
    """True when the path is already visible through the /usr (or similar) bind."""
    return any(path.startswith(top) for top in ("/usr/", "/bin/", "/lib/", "/lib64/"))


def _copy_etc(name, etc):
    host = os.path.join("/etc", name)
    try:
        if os.path.islink(host) and name == "localtime":
            os.symlink(os.readlink(host), os.path.join(etc, name))
            return
        with open(host, "rb") as src:
            data = src.read()
    except OSError:
        return
    with open(os.path.join(etc, name), "wb") as dst:
        dst.write(data)


def _prepare_store(stage, config):
    """/tmp for every environment: subvolumes with a simple quota on one btrfs in a sparse file."""
    global _store, _store_fd, _btrfs
    store = os.path.join(stage, "store")
    os.mkdir(store, 0o711)
    tmp = config.get("tmp") or {}
    if tmp.get("btrfs"):
        try:
            _mount_btrfs(store, tmp)
            _btrfs = True
        except (OSError, subprocess.SubprocessError) as exc:
            _status["errors"].append("btrfs /tmp store unavailable ({0}); /tmp has no size limit".format(exc))
    if not _btrfs:
        # Disk-backed but without a capacity limit: a host directory the server owns.
        fallback = tmp.get("fallback_dir")
        if fallback:
            os.makedirs(fallback, 0o711, exist_ok=True)
            _mount(fallback, store, None, MS_BIND)
    _store = store
    _store_fd = os.open(store, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _mount_btrfs(store, tmp):
    image = tmp["image"].replace("{pid}", str(os.getpid()))
    size = int(tmp["size"])
    os.makedirs(os.path.dirname(image), 0o700, exist_ok=True)
    fd = os.open(image, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)
        subprocess.run([tmp.get("mkfs", "mkfs.btrfs"), "-q", "-f", "-m", "single", "-d", "single", "--nodiscard",
                        image], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        loop = _attach_loop(fd)
    finally:
        os.close(fd)
        # The loop device keeps the file open; unlinking now means nothing is left behind, even
        # when everything is killed: the space returns when the last mount of it goes away.
        try:
            os.unlink(image)
        except OSError:
            pass
    try:
        _mount(loop[1], store, "btrfs", MS_NOSUID | MS_NODEV | MS_NOATIME, "discard=async,commit=60")
    finally:
        os.close(loop[0])
    qfd = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(qfd, BTRFS_IOC_QUOTA_CTL, bytearray(struct.pack("=QQ", BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA, 0)))
    finally:
        os.close(qfd)


def _attach_loop(backing_fd):
    """(fd, path) of a free loop device now backed by the file; it detaches itself when unmounted."""
    ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(8):
            num = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
            path = "/dev/loop{0}".format(num)
            if not os.path.exists(path):
                os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(7, num))
            lfd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            for flags, block in ((LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO, 4096), (LO_FLAGS_AUTOCLEAR, 0)):
                cfg = bytearray(304)  # struct loop_config
                struct.pack_into("=II", cfg, 0, backing_fd, block)
                struct.pack_into("=I", cfg, 8 + 52, flags)  # loop_info64.lo_flags
                try:
                    fcntl.ioctl(lfd, LOOP_CONFIGURE, cfg)
                    return lfd, path
                except OSError as exc:
                    if exc.errno == errno.EBUSY:  # taken by someone else meanwhile
                        break
            os.close(lfd)
    finally:
        os.close(ctl)
    raise OSError(errno.EBUSY, "no free loop device")


def _prepare_cgroups(cg):
    global _cg_version
    try:
        with open("/proc/swaps") as f:
            _swap[0] = len(f.read().splitlines()) > 1
    except OSError:
        pass
    dirs = cg.get("dirs") or {}
    if not dirs:
        return
    _cg_version = int(cg.get("version", 1))
    _cg_dirs.update(dirs)


# -- per environment, in the zygote -----------------------------------------------------------------
# Cgroup directories (v1) and /tmp subvolumes are made ahead of need ("slots", when the zygote is
# idle), so a spawn only renames the cgroups to the environment's id (the server finds the freezer by
# that name) and writes its limits.
_SLOTS = 4
_slots: list = []
_slot_seq = [0]
_closing = [False]
_swap = [True]  # whether the host has swap (else memory.memsw is the same limit and needs no write)


def before_fork(spec):
    if not _enabled:
        # Without the sandbox /tmp is a host directory per environment; it goes with the environment.
        _envs[spec["id"]] = {"cg": [], "tmp": None, "dir": spec.get("tmp_dir")}
        return
    env_id = spec["id"]
    uid = int(spec.get("uid") or 0)
    slot = _slots.pop() if _slots else _new_slot()
    rec = _envs[env_id] = {"cg": [], "tmp": slot["tmp"], "uid": uid}
    try:
        for path in slot["cg"]:
            target = os.path.join(os.path.dirname(path), env_id)
            os.rename(path, target)
            rec["cg"].append(target)
        slot["cg"] = []
        if _cg_version == 2:  # v2 refuses to rename cgroups (EPERM): made here, under the right name
            path = os.path.join(_cg_dirs[""], env_id)
            os.mkdir(path)
            rec["cg"].append(path)
            _set_fixed_limits(path)
        _set_limits(rec["cg"], spec)
        if rec["tmp"]:
            _assign_tmp(rec["tmp"], spec, uid)
        if uid and uid not in _passwd_uids:
            _passwd_uids.add(uid)
            with open(os.path.join(_root, "etc/passwd"), "a") as f:
                f.write("sbx_user{0}:x:{0}:{0}::/tmp:/sbin/nologin\n".format(uid))
            with open(os.path.join(_root, "etc/group"), "a") as f:
                f.write("sbx_user{0}:x:{0}:\n".format(uid))
    except BaseException:
        _release(slot)
        on_exit(env_id)
        raise


def record(env_id):
    """What before_fork prepared for an environment, for a child forked earlier (a spare)."""
    return _envs.get(env_id)


def adopt(env_id, rec):
    """In a spare child: take over the record the zygote prepared after this child was forked."""
    if rec is not None:
        _envs[env_id] = rec


def _new_slot():
    _slot_seq[0] += 1
    name = "slot-{0}-{1}".format(os.getpid(), _slot_seq[0])  # zygotes of one server share a parent
    slot = {"cg": [], "tmp": None}
    try:
        for parent in _cg_dirs.values() if _cg_version == 1 else ():
            path = os.path.join(parent, name)
            os.mkdir(path)
            slot["cg"].append(path)
            _set_fixed_limits(path)
        if _btrfs:
            args = bytearray(4096)
            args[8:8 + len(name)] = name.encode()
            fcntl.ioctl(_store_fd, BTRFS_IOC_SUBVOL_CREATE, args)
            slot["tmp"] = name
            os.chmod(os.path.join(_store, name), 0o700)
        elif _store:
            os.mkdir(os.path.join(_store, name), 0o700)
            slot["tmp"] = name
    except BaseException:
        _release(slot)
        raise
    return slot


def _write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def _try_write(path, value):
    try:
        _write(path, value)
    except OSError:
        pass  # a knob this kernel or controller does not have (the server's probe reports those)


def _is(path, controller):
    """Whether a v1 cgroup path belongs to that controller's hierarchy."""
    return os.path.dirname(path) == _cg_dirs.get(controller)


def _set_fixed_limits(path):
    pids = str(int(_config.get("pids_max", 1024))).encode()
    if _cg_version == 2:
        for name, value in (("pids.max", pids), ("memory.swap.max", b"0"), ("memory.oom.group", b"1")):
            _try_write(os.path.join(path, name), value)
    elif _is(path, "pids"):
        _write(path + "/pids.max", pids)


def _set_limits(paths, spec):
    memory_mb = int(spec.get("memory_mb") or 128)
    memory = str(memory_mb * 1024 * 1024).encode()
    shares = max(2, 1024 * memory_mb // 1769)  # Lambda: 1,769 MB is one vCPU
    for path in paths:
        if _cg_version == 2:
            _try_write(path + "/memory.max", memory)
            _try_write(path + "/cpu.weight", str(_shares_to_weight(shares)).encode())
        elif _is(path, "memory"):
            _write(path + "/memory.limit_in_bytes", memory)
            if _swap[0]:
                _try_write(path + "/memory.memsw.limit_in_bytes", memory)  # no swapping around the limit
        elif _is(path, "cpu"):
            _write(path + "/cpu.shares", str(shares).encode())


def _shares_to_weight(shares):
    # The mapping systemd and runc use between cpu.shares [2, 262144] and cpu.weight [1, 10000].
    return 1 + ((shares - 2) * 9999) // 262142


def _assign_tmp(name, spec, uid):
    fd = os.open(os.path.join(_store, name), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _btrfs:
            limit = int(spec.get("ephemeral_mb") or 512) * 1024 * 1024
            # qgroupid 0: the subvolume this descriptor is in. EDQUOT once rfer/excl pass the limit.
            fcntl.ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, bytearray(struct.pack(
                "=QQQQQQ", 0, BTRFS_QGROUP_LIMIT_MAX_RFER | BTRFS_QGROUP_LIMIT_MAX_EXCL, limit, limit, 0, 0)))
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


def fork(spec):
    """os.fork, with the child as pid 1 of a new pid namespace when that protection is on."""
    if _pidns_fd < 0 or not _enabled:
        return os.fork()
    _unshare(CLONE_NEWPID)
    try:
        pid = os.fork()
    except BaseException:
        _setns(_pidns_fd, CLONE_NEWPID)
        raise
    if pid:
        # Back to our own namespace for children: a second unshare would fail (EINVAL) otherwise.
        _setns(_pidns_fd, CLONE_NEWPID)
    return pid


def after_fork(spec, pid):
    pass


# -- in the child ---------------------------------------------------------------------------------------
def enter(spec):
    if not _enabled:
        tmp = spec.get("tmp_dir")
        if tmp:
            os.makedirs(tmp, exist_ok=True)
            os.environ["TMPDIR"] = tmp
        return
    rec = _envs.get(spec["id"]) or {"cg": [], "tmp": None, "uid": 0}
    if trace is not None:
        trace.append(("start", _now()))
    # cgroups first, so every page this process dirties from here on is charged to it.
    for path in rec["cg"]:
        _write(path + "/cgroup.procs", b"0")
    if trace is not None:
        trace.append(('cgroup-join', _now()))
    network = spec.get("network") == "none"
    _unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (CLONE_NEWNET if network else 0))
    if trace is not None:
        trace.append(('unshare', _now()))
    root = _root
    code = spec.get("code_dir")
    if code:
        _mount_ro_unnamed(code, root + "/var/task")
        if trace is not None:
            trace.append(('bind-task', _now()))
    opt = spec.get("opt_dir")
    if opt:
        _mount_ro_unnamed(opt, root + "/opt")
        if trace is not None:
            trace.append(('bind-opt', _now()))
    if rec["tmp"]:
        _mount(os.path.join(_store, rec["tmp"]), root + "/tmp", None, MS_BIND | MS_NOSUID | MS_NODEV)
        if trace is not None:
            trace.append(('bind-tmp', _now()))
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if trace is not None:
        trace.append(('mount-proc', _now()))
    _mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    if trace is not None:
        trace.append(('root-ro', _now()))
    os.chdir(root)
    _check(_lib().syscall(_PIVOT_ROOT, b".", b"."), "pivot_root")
    if trace is not None:
        trace.append(('pivot', _now()))
    _check(_lib().umount2(b".", MNT_DETACH), "umount old root")  # the host's tree, stacked under /
    if trace is not None:
        trace.append(('detach-host', _now()))
    os.chdir("/")
    hostname = _b(spec.get("hostname") or "localhost")
    _check(_lib().sethostname(hostname, len(hostname)), "sethostname")
    if trace is not None:
        trace.append(('hostname', _now()))
    if network:
        _loopback_up()
        if trace is not None:
            trace.append(('net', _now()))
    _drop_privileges(rec["uid"])
    if trace is not None:
        trace.append(('drop-privileges', _now()))


def _loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))
    finally:
        s.close()


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp_filter():
    """The BPF program (built once in the zygote), or None on an architecture we have no numbers for."""
    arch = _SECCOMP_ARCH.get(platform.machine())
    if arch is None:
        return None
    audit_arch, nr = arch
    ld_w_abs, jeq_k, jge_k, and_k, ret_k = 0x20, 0x15, 0x35, 0x54, 0x06
    eperm, enosys = SECCOMP_RET_ERRNO | errno.EPERM, SECCOMP_RET_ERRNO | errno.ENOSYS
    # (code, jump-if-true label, jump-if-false label, k); labels resolve to forward offsets below.
    prog = [
        (ld_w_abs, None, None, 4),  # seccomp_data.arch
        (jeq_k, None, "enosys", audit_arch),
        (ld_w_abs, None, None, 0),  # seccomp_data.nr
        (jge_k, "enosys", None, 0x40000000),  # the x32 ABI
    ]
    prog += [(jeq_k, "eperm", None, nr[name]) for name in REFUSED_SYSCALLS]
    prog += [
        (jeq_k, "flags", None, nr["unshare"]),
        (jeq_k, "flags", None, nr["clone"]),
        (jeq_k, "enosys", None, nr["clone3"]),  # flags behind a pointer; libc falls back to clone on ENOSYS
        (ret_k, None, None, SECCOMP_RET_ALLOW),
        "flags",
        (ld_w_abs, None, None, 16),  # args[0] low 32 bits: the flags
        (and_k, None, None, CLONE_NEWUSER),
        (jeq_k, "allow", "eperm", 0),
        "eperm",
        (ret_k, None, None, eperm),
        "enosys",
        (ret_k, None, None, enosys),
        "allow",
        (ret_k, None, None, SECCOMP_RET_ALLOW),
    ]
    labels, code = {}, []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(code)
        else:
            code.append(item)
    ins = []
    for at, (op, jt, jf, k) in enumerate(code):
        # BPF jumps only forward, counted from the next instruction
        ins.append(_SockFilter(op, labels[jt] - at - 1 if jt else 0, labels[jf] - at - 1 if jf else 0, k))
    filters = (_SockFilter * len(ins))(*ins)
    return filters, _SockFprog(len(ins), filters)


_seccomp = [None]


def _drop_privileges(uid):
    if uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears every capability (no SECBIT_KEEP_CAPS)
    # With no_new_privs, exec can never grant privileges again (setuid bits and file capabilities
    # are ignored), so the capability bounding set need not be emptied call by call.
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    # Dies with the zygote (set after setuid, which clears it). The kernel delivers SIGKILL even to
    # a pid-namespace init because it comes from outside the namespace.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# -- ending -------------------------------------------------------------------------------------------
def kill(env_id, pid):
    rec = _envs.get(env_id)
    try:
        if _enabled and _pidns_fd >= 0:
            os.kill(pid, signal.SIGKILL)  # pid 1 of its namespace: the kernel kills the rest
        else:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if rec is not None:
        _kill_cgroup(rec)


def _kill_cgroup(rec):
    """SIGKILL every process in an environment's cgroup; True when it holds none.

    An environment is over only when its cgroup is empty: its pid 1 may be gone (or look gone)
    while something of it still runs, and its uid must not be handed on before that. v2 has
    cgroup.kill; v1 gets a SIGKILL per pid of cgroup.procs (what forks meanwhile is found by the
    next call: housekeeping() repeats the release until the directory can be removed). Thawed
    first: a frozen task cannot die.
    """
    if not rec["cg"]:
        return True
    _thaw(rec)
    path = rec["cg"][0]  # every controller's directory holds the same processes
    if _cg_version == 2:
        try:
            _write(path + "/cgroup.kill", b"1")
        except OSError:
            pass
    try:
        with open(path + "/cgroup.procs") as f:
            pids = [int(line) for line in f.read().split()]
    except (OSError, ValueError):
        return True
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return not pids


def _thaw(rec):
    for path in rec["cg"]:
        if _cg_version == 1 and _is(path, "freezer"):
            try:
                _write(path + "/freezer.state", b"THAWED")
            except OSError:
                pass
        elif _cg_version == 2:
            try:
                _write(path + "/cgroup.freeze", b"0")
            except OSError:
                pass


def on_exit(env_id, status=None):
    """Extra fields for the EXITED report; the resources are released by housekeeping() right after.

    status is the wait status when known: only a SIGKILL can be the OOM killer's doing.
    """
    rec = _envs.pop(env_id, None)
    if rec is None:
        return {}
    info = {}
    killed = status is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL)
    if killed and _oom_killed(rec):
        info["oom"] = True
    _kill_cgroup(rec)  # pid 1 has exited: whatever else is in its cgroup goes too
    _pending.append(rec)
    return info


def _oom_killed(rec):
    for path in rec["cg"]:
        try:
            if _cg_version == 1 and _is(path, "memory"):
                with open(path + "/memory.oom_control") as f:
                    for line in f:
                        if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                            return True
            elif _cg_version == 2:
                with open(path + "/memory.events") as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key in ("oom_kill", "oom_group_kill") and int(value) > 0:
                            return True
        except (OSError, ValueError):
            pass
    return False


def _release(rec):
    """Remove a record's cgroups and /tmp; True when done (False: something was still busy)."""
    left = []
    for path in rec["cg"]:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            _kill_cgroup({"cg": [path]})  # busy: something still in it (or still exiting)
            left.append(path)
    rec["cg"] = left
    if rec.get("dir"):
        import shutil

        shutil.rmtree(rec.pop("dir"), ignore_errors=True)
    name = rec["tmp"]
    if name:
        try:
            if _btrfs:
                args = bytearray(4096)
                args[8:8 + len(name)] = name.encode()
                fcntl.ioctl(_store_fd, BTRFS_IOC_SNAP_DESTROY, args)
            else:
                import shutil

                shutil.rmtree(os.path.join(_store, name))
            rec["tmp"] = None
        except FileNotFoundError:
            rec["tmp"] = None
        except OSError:
            pass
    return not rec["cg"] and not rec["tmp"]


_pending: list = []  # records of exited environments (and unused slots) still to release


_QUIET = 0.005  # seconds without requests before deferred work runs


def work_delay():
    """How long the zygote should wait for requests before calling housekeeping(); None: no work."""
    if _pending or (_enabled and not _closing[0] and len(_slots) < _SLOTS):
        return _QUIET
    return None


def housekeeping():
    """Deferred work for quiet moments: release what exited, keep slots ready (one per call).

    Returns how long the zygote may wait for requests before calling again: 0 when there is more
    to do (after a poll for requests), a short delay while a release is busy (a cgroup whose last
    task is still exiting), else None.
    """
    if _pending:
        _pending[:] = [rec for rec in _pending if not _release(rec)]
    if _enabled and not _closing[0] and len(_slots) < _SLOTS:
        try:
            _slots.append(_new_slot())
        except OSError:
            return 1.0  # e.g. the store is full; try again later, spawns still make their own
        if len(_slots) < _SLOTS:
            return 0
    return 0.05 if _pending else None


def shutdown():
    """Release everything left (the zygote is exiting); waits briefly for busy cgroups."""
    _closing[0] = True
    _pending.extend(_slots)
    del _slots[:]
    for _ in range(80):
        _pending[:] = [rec for rec in _pending if not _release(rec)]
        if not _pending:
            break
        import time

        time.sleep(0.025)
    # The server is gone or closing (it closed our socket). If it was killed, the last of its
    # zygotes to leave removes the instance's directories; while others have environments they stay.
    for path in _cg_dirs.values():
        try:
            os.rmdir(path)
        except OSError:
            pass
