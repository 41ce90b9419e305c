"""Processes: free ports, child processes we start and stop by pid, /proc trees and PSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0, group: bool = False,
                 grace: float | None = None) -> None:
    """SIGTERM; with `grace`, SIGINT after that many seconds (for uvicorn a second signal that is SIGINT
    means: stop waiting for in-flight requests); SIGKILL after `timeout`. With group=True the process
    was started in its own session (start_new_session) and its whole group, which is ours, is signalled."""
    if proc.poll() is not None:
        return

    def signal_it(sig: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    signal_it(signal.SIGTERM)
    if grace is not None:
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            signal_it(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait(10)


def parent_map() -> dict[int, list[int]]:
    """ppid -> child pids, from one scan of /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command may contain spaces and parentheses: fields follow the last ')'
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children[ppid].append(int(name))
    return children


def descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    out: list[int] = []
    stack = list(tree.get(pid, ()))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(tree.get(p, ()))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


@dataclass(slots=True)
class Memory:
    pss_kib: int = 0
    uss_kib: int = 0  # private clean + dirty
    rss_kib: int = 0

    def __iadd__(self, other: Memory) -> Memory:
        self.pss_kib += other.pss_kib
        self.uss_kib += other.uss_kib
        self.rss_kib += other.rss_kib
        return self


def memory(pid: int) -> Memory | None:
    """From /proc/PID/smaps_rollup; None when the process is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    return Memory(fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
                  fields.get("Rss", 0))


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def private_by_mapping(pid: int, top: int = 6) -> list[tuple[str, int]]:
    """Where a process's private (dirty + clean) memory lives, by mapping ([heap], anonymous, a library),
    largest first, in KiB: what to look at when environments cost more than they should."""
    totals: dict[str, int] = defaultdict(int)
    name = "?"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                    name = os.path.basename(head[5].strip()) if len(head) > 5 and head[5].strip() else "[anon]"
                elif head[0] in ("Private_Dirty:", "Private_Clean:"):
                    totals[name] += int(head[1])
    except OSError:
        return []
    return sorted(((k, v) for k, v in totals.items() if v), key=lambda kv: -kv[1])[:top]
