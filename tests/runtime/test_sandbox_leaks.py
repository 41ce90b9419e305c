"""What an environment's life leaves behind in the server: descriptors, cgroups, host paths.

Each test performs what a function (or a crash) does and looks at the server from the host.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import Server, wait_until
from tests.runtime.conftest import deploy, invoke

# A stdlib-only custom runtime: answers every invocation with its event.
ECHO_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    resp = conn.getresponse()
    event = resp.read()
    rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=event)
    conn.getresponse().read()
'''

CRASHING_BOOTSTRAP = "#!/bin/sh\necho crashing >&2\nexit 3\n"

LIFETIMES = 100
FD_SLACK = 8  # descriptors the server may open lazily meanwhile (a log database page, a pool's timer)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled_fds(pid: int, bound: int) -> int:
    """The server's descriptor count once the last environment's are closed (that happens after its exit)."""
    wait_until(lambda: _fds(pid) <= bound, timeout=10)
    return _fds(pid)


# -- finding: retired custom-runtime environments kept their Runtime API listener open ---------------
def test_custom_runtime_environments_leave_no_descriptors(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    assert fresh_server.proc is not None
    pid = fresh_server.proc.pid

    crashing = deploy(lam, {"bootstrap": CRASHING_BOOTSTRAP}, runtime="provided.al2")
    echo = deploy(lam, {"bootstrap": ECHO_BOOTSTRAP}, runtime="provided.al2",
                  Environment={"Variables": {"GENERATION": "0"}})
    # Warm up: the zygote, the log writer and the connection pools exist before counting.
    _, error, _ = invoke(lam, crashing)
    assert error == "Unhandled"
    assert invoke(lam, echo, {"n": 0})[0] == {"n": 0}
    before = _fds(pid)

    for _ in range(LIFETIMES):  # a bootstrap that dies at once: every invoke is a new environment
        payload, error, _ = invoke(lam, crashing)
        assert error == "Unhandled" and payload["errorType"] == "Runtime.ExitError", payload
    after_crashes = _settled_fds(pid, before + FD_SLACK)
    assert after_crashes <= before + FD_SLACK, (before, after_crashes)

    for n in range(1, LIFETIMES + 1):  # each new configuration retires the environment of the last one
        lam.update_function_configuration(FunctionName=echo, Environment={"Variables": {"GENERATION": str(n)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=echo, WaiterConfig={"Delay": 0.1})
        assert invoke(lam, echo, {"n": n})[0] == {"n": n}
    after_retires = _settled_fds(pid, before + FD_SLACK)
    assert after_retires <= before + FD_SLACK, (before, after_retires)


def test_a_renamed_lifecycle_hook_cannot_go_unnoticed() -> None:
    """The leak above came from a base hook renamed under its override; now such a class fails to load."""
    from lambdad.runtime.environment import Environment, override
    from lambdad.runtime.runtime_api import HttpRuntimeEnvironment

    assert "release_resources" in vars(HttpRuntimeEnvironment)
    assert getattr(HttpRuntimeEnvironment.release_resources, "__override__", False)
    with pytest.raises(TypeError, match="overrides nothing"):
        class _Stale(Environment):
            @override
            def _close_fds(self) -> None:  # the old name of the hook
                pass
