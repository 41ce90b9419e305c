"""Who is on the other end of a loopback TCP connection: the owner uid and socket, asked of the kernel.

TCP has no SO_PEERCRED, but NETLINK_SOCK_DIAG answers an exact lookup of one socket by its
address pair with the uid that created it and its inode (a few microseconds, whatever the number
of sockets). The Runtime API uses them to refuse connections that do not come from its own
environment: the uid must be the environment's, and the socket must be held open by a process in
the environment's cgroup (`held_in_cgroup`), so not even a process of the same uid outside that
environment gets in.
"""

from __future__ import annotations

import logging
import os
import socket
import struct

log = logging.getLogger("lambdad.sockdiag")

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_REQ = struct.Struct("=BBBBI")  # inet_diag_req_v2: family, protocol, ext, pad, states
_ALL_STATES = 0xFFFFFFFF
_NO_COOKIE = struct.pack("=II", 0xFFFFFFFF, 0xFFFFFFFF)
# inet_diag_msg: family, state, timer, retrans (4), sockid (48), expires, rqueue, wqueue (12), uid
_UID_OFFSET = _NLMSG.size + 4 + 48 + 12


class PeerUids:
    """Looks up the uid owning the far end of an IPv4 loopback connection; `available` says if it can."""

    def __init__(self) -> None:
        self._nl: socket.socket | None = None
        self._seq = 0
        try:
            self._nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
            self._nl.settimeout(1.0)
        except OSError as exc:
            log.warning("peer uid lookup unavailable (%s): the Runtime API cannot tell environments apart "
                        "by uid", exc)
            self._nl = None

    @property
    def available(self) -> bool:
        return self._nl is not None

    def uid_of(self, peer: tuple[str, int], local: tuple[str, int]) -> int | None:
        """The uid of the socket at `peer` connected to our `local`; None if unknown."""
        owner = self.owner_of(peer, local)
        return owner[0] if owner else None

    def owner_of(self, peer: tuple[str, int], local: tuple[str, int]) -> tuple[int, int] | None:
        """(uid, inode) of the socket at `peer` connected to our `local`; None if unknown."""
        nl = self._nl
        if nl is None:
            return None
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        sockid = (struct.pack("!HH", peer[1], local[1]) + socket.inet_aton(peer[0]) + bytes(12)
                  + socket.inet_aton(local[0]) + bytes(12) + struct.pack("=I", 0) + _NO_COOKIE)
        req = _REQ.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
        try:
            nl.send(_NLMSG.pack(_NLMSG.size + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, self._seq, 0) + req)
            while True:
                data = nl.recv(8192)
                if len(data) < _NLMSG.size:
                    return None
                _length, kind, _flags, seq, _pid = _NLMSG.unpack_from(data)
                if seq == self._seq:
                    break
        except OSError:
            return None
        if kind == _NLMSG_ERROR or len(data) < _UID_OFFSET + 8:
            return None
        uid, inode = struct.unpack_from("=II", data, _UID_OFFSET)  # idiag_uid, idiag_inode
        return uid, inode

    def close(self) -> None:
        if self._nl is not None:
            self._nl.close()
            self._nl = None


def held_in_cgroup(inode: int, procs_file: str) -> bool:
    """Whether a process listed in `procs_file` (a cgroup's cgroup.procs) has socket `inode` open.

    Exact (the kernel's own descriptor tables) and cheap for what a runtime is: a few processes
    with a few descriptors each (measured ~30 µs for a bash + curl bootstrap); checked once per
    connection, not per request.
    """
    link = f"socket:[{inode}]"
    try:
        with open(procs_file) as f:
            pids = f.read().split()
    except OSError:
        return False
    for pid in reversed(pids):  # the newest first: the connecting client (curl) rather than its shell
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # exited meanwhile
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == link:
                    return True
            except OSError:
                pass
    return False
