"""The data dir as an attacker and an operator meet it (issue 12, findings 10 and 13): private modes,
one server at a time, and a full disk. Real `lambdad serve` processes; the full disk is a real tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, create_function, free_port, server_env, unique, wait_until

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (other uids, mounts)")

HANDLER = "def handler(event, context):\n    return {'ok': event}\n"
NOBODY = 65534
# Subtrees environments (other uids) read or write: their roots are private, their contents the sandbox's.
SHARED = ("code/trees", "code/opt", "sandbox", "tmp")


def _modes(root: Path) -> dict[str, int]:
    """Relative path -> permission bits of everything lambdad keeps private under root."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            path = os.path.normpath(os.path.join(rel, name))
            if not os.path.islink(os.path.join(dirpath, name)):
                out[path] = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel, d)) not in SHARED]
    return out


def _not_private(root: Path) -> dict[str, str]:
    wrong = {}
    for path, mode in _modes(root).items():
        want = 0o700 if (root / path).is_dir() else 0o600
        if mode != want:
            wrong[path] = oct(mode)
    return wrong


def _readable_by_nobody(root: Path) -> list[str]:
    """What uid 65534 (any other local user) can open under root, trying every file there is."""
    files = [str(Path(dirpath, name)) for dirpath, _, names in os.walk(root) for name in names]
    probe = ("import json, sys\nok = []\nfor p in json.load(sys.stdin):\n    try:\n        open(p, 'rb').read(1)\n"
             "        ok.append(p)\n    except OSError:\n        pass\nprint(json.dumps(ok))\n")
    out = subprocess.run(["/usr/bin/python3", "-c", probe], input=json.dumps(files), capture_output=True, text=True,
                         user=NOBODY, group=NOBODY, extra_groups=[], timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.fixture
def open_server() -> Iterator[Server]:
    """A server of one's own whose data dir other uids could reach by path (pytest's tmp dirs are 0700,
    which would hide the data dir's own modes from the attack)."""
    parent = Path(tempfile.mkdtemp(prefix="lambdad-modes-"))
    os.chmod(parent, 0o755)
    srv = Server(parent / "data", free_port(), server_env())
    try:
        yield srv
    finally:
        srv.stop(signal.SIGKILL)
        shutil.rmtree(parent, ignore_errors=True)


def _populate(server: Server, secret: str) -> str:
    """A function that ran (its code tree unpacked) and a queued SQS message; the function's name."""
    lam = server.client("lambda")
    name = create_function(lam, HANDLER)
    assert json.loads(lam.invoke(FunctionName=name, Payload=b'{"a": 1}')["Payload"].read()) == {"ok": {"a": 1}}
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=secret)
    return name


@root_only
def test_data_dir_is_private_to_the_server(open_server: Server) -> None:
    """Finding 10: lambdad.db, its WAL and code/ were 0644 in a 0755 dir: any local user could read
    queued messages and function code."""
    open_server.start()
    secret = "queued-secret-" + unique("m")
    name = _populate(open_server, secret)
    data = open_server.data_dir
    stored = b"".join(p.read_bytes() for p in data.glob("lambdad.db*"))
    assert secret.encode() in stored  # what an attacker would be after is really there
    assert list((data / "code" / "trees").iterdir()), "the function's code tree was unpacked"
    assert (data / "lambdad.db-wal").exists()
    assert _not_private(data) == {}
    assert _readable_by_nobody(data) == []
    # Environments (other uids, sandboxed) still read their code through the bind mount.
    lam = open_server.client("lambda")
    lam.update_function_configuration(FunctionName=name, Description="new environments")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"2")["Payload"].read()) == {"ok": 2}
    open_server.stop()
    assert _not_private(data) == {}


@root_only
def test_an_existing_data_dir_is_made_private_at_start(open_server: Server) -> None:
    open_server.start()
    name = _populate(open_server, "old-" + unique("m"))
    open_server.stop()
    data = open_server.data_dir
    # What an older lambdad left behind.
    for dirpath, dirnames, filenames in os.walk(data):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    os.chmod(data, 0o755)
    (data / "notes.txt").write_text("not lambdad's")  # someone else's file: left as it is
    os.chmod(data / "notes.txt", 0o644)
    assert _readable_by_nobody(data)
    open_server.extra_args = ["--sandbox", "false"]  # and functions still run without the sandbox
    open_server.start()
    assert _not_private(data) == {"notes.txt": "0o644"}
    assert _readable_by_nobody(data) == []
    lam = open_server.client("lambda")
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"3")["Payload"].read()) == {"ok": 3}


# -- one server per data dir (finding 13a) ----------------------------------------------------------

def _serve(data: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lambdad", "serve", "--port", str(port), "--data-dir", str(data)],
                            env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _refused_start(proc: subprocess.Popen[str]) -> str:
    """A server that must exit on its own: its stderr (one line, no traceback)."""
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("the server started instead of refusing to") from None
    assert proc.returncode != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_a_second_server_on_the_same_data_dir_is_refused(fresh_server: Server) -> None:
    fresh_server.start()
    assert fresh_server.proc is not None
    name = create_function(fresh_server.client("lambda"), HANDLER)
    err = _refused_start(_serve(fresh_server.data_dir, free_port()))
    assert f"in use by another lambdad server (pid {fresh_server.proc.pid})" in err, err
    assert httpx.get(f"{fresh_server.endpoint}/_lambdad/health", timeout=10).status_code == 200
    # The lock dies with its holder, also by kill -9: the next server starts.
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    assert fresh_server.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


# -- a full disk (finding 13b) ----------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted as the data dir (ENOSPC is real); unmounted afterwards."""
    mnt = tmp_path / "data"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)  # a loop device may still close


def _fill(path: Path, name: str = "filler") -> Path:
    filler = path / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC
    try:
        while True:  # the last few blocks too
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return filler


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@root_only
def test_deletes_work_on_a_full_disk_and_start_says_it_is_full(small_disk: Path) -> None:
    srv = Server(small_disk, free_port(), server_env())  # its log goes beside the mount, on a disk with room
    try:
        srv.start()
        lam = srv.client("lambda")
        names = [create_function(lam, HANDLER) for _ in range(3)]
        for name in names:
            lam.publish_version(FunctionName=name)
        filler = _fill(small_disk)
        assert _free(small_disk) < 4096
        for name in names[:2]:
            lam.delete_function(FunctionName=name)
            with pytest.raises(ClientError) as exc:
                lam.get_function(FunctionName=name)
            assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert wait_until(lambda: "released the" in srv.log_text())
        srv.stop()
        assert srv.proc is not None and srv.proc.returncode == 0, srv.log_text()[-3000:]

        # Restarting on a full disk (a stopping server gives back what its zygotes' /tmp images held, so
        # fill what is left again): one clear line and a non-zero exit.
        more = _fill(small_disk, "filler2")
        err = _refused_start(_serve(small_disk, free_port()))
        assert "full" in err and str(small_disk) in err, err

        # Space freed: the server starts, the deletes held, the rest works.
        filler.unlink()
        more.unlink()
        srv.start()
        lam = srv.client("lambda")
        listed = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        assert set(names) & listed == {names[2]}
        assert json.loads(lam.invoke(FunctionName=names[2], Payload=b"4")["Payload"].read()) == {"ok": 4}
        # The audit log lived through it in whole lines (what could not be written was kept, then written).
        assert wait_until(lambda: "DeleteFunction" in (small_disk / "audit.log").read_text())
        events = [json.loads(line) for line in (small_disk / "audit.log").read_text().splitlines()]
        assert sum(e["action"] == "lambda:DeleteFunction" and e["status"] == 204 for e in events) == 2
    finally:
        srv.stop(signal.SIGKILL)
        _wait_loops_released(small_disk)


def _wait_loops_released(path: Path) -> None:
    """The sandbox's /tmp image lives on the data disk; its loop device detaches once its zygotes are gone."""
    def released() -> bool:
        out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        return str(path) not in out
    wait_until(released, timeout=20)  # if not, the fixture falls back to a lazy unmount
