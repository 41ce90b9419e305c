"""Runtime families: how an environment of each runtime identifier is started and what it sees.

  python3.x        a fork of the interpreter's zygote running guest/python_runtime.py (frames on fd 3)
  nodejs18-22.x    the zygote's child execs `node guest/node_runtime.mjs` (frames on fd 3)
  provided*        the zygote's child execs the function's `bootstrap` (the HTTP Runtime API)

Every environment is a child of a zygote, so the sandbox wraps all of them the same way; the
exec'd ones use the zygote of the server's own Python (nothing of it survives the exec).
The environment variables are those AWS documents for each runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GUEST_DIR = Path(__file__).resolve().parent / "guest"
NODE_RUNTIME = GUEST_DIR / "node_runtime.mjs"
# Inside the sandbox the guest directory is seen at AWS's LAMBDA_RUNTIME_DIR (the sandbox binds it
# there), whatever the host path of lambdad's sources; outside, at its own path.
SANDBOX_RUNTIME_DIR = "/var/runtime"

PYTHON, NODEJS, PROVIDED = "python", "nodejs", "provided"


def family(runtime: str) -> str:
    if runtime.startswith("nodejs"):
        return NODEJS
    if runtime.startswith("provided"):
        return PROVIDED
    return PYTHON


def speaks_http(runtime: str) -> bool:
    """True when the environment's program talks the HTTP Runtime API rather than frames."""
    return family(runtime) == PROVIDED


def runtime_env(runtime: str, opt: str) -> dict[str, str]:
    """PATH, library paths and the runtime's own variables, per AWS's documented defaults."""
    kind = family(runtime)
    if kind == PROVIDED:  # no /var/lang and no AWS_EXECUTION_ENV on the OS-only runtimes
        return {
            "PATH": f"/usr/local/bin:/usr/bin/:/bin:{opt}/bin",
            "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:{opt}/lib",
        }
    env = {
        "PATH": f"/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:{opt}/bin",
        "LD_LIBRARY_PATH": f"/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                           f"/var/task/lib:{opt}/lib",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
    }
    if kind == NODEJS:
        major = runtime.removeprefix("nodejs").split(".")[0]
        env["NODE_PATH"] = (f"{opt}/nodejs/node{major}/node_modules:{opt}/nodejs/node_modules:"
                            "/var/runtime/node_modules:/var/runtime:/var/task")
    return env


def node_argv(node: str, runtime_dir: str, spare: bool = False) -> list[str]:
    # No V8 flags: any of them (AWS passes --expose-gc and --max-old-space-size) makes Node
    # skip its start-up snapshot, ~10 ms per cold start. Node sizes its heap to the memory
    # cgroup by itself, and the runtime provides gc() on first use. "3": the channel's fd.
    return [node, "--max-http-header-size=81920", f"{runtime_dir}/{NODE_RUNTIME.name}", "3",
            *(["spare"] if spare else [])]


def exec_spec(runtime: str, task_root: str, opt: str, node: str, variables: dict[str, str],
              runtime_dir: str = str(GUEST_DIR)) -> dict[str, Any] | None:
    """What the zygote's child execs after entering the sandbox (None: stay in Python)."""
    kind = family(runtime)
    if kind == PROVIDED:
        return {"argv": ["bootstrap"], "search": [f"{task_root}/bootstrap", f"{opt}/bootstrap"]}
    if kind == NODEJS:
        return {"argv": node_argv(node, runtime_dir), "channel": True,
                "wrapper": variables.get("AWS_LAMBDA_EXEC_WRAPPER") or None}
    return None
