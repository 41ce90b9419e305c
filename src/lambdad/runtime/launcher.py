"""Makes execution environments: builds each one's spec and asks the right zygote to fork it.

Python environments fork from their interpreter's zygote; Node.js and custom runtimes fork from
the server Python's zygote and exec their program (runtimes.py), custom runtimes with their own
HTTP Runtime API listener (runtime_api.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from lambdad.config import Config
from lambdad.errors import LambdadError
from lambdad.runtime import runtimes
from lambdad.runtime.environment import Environment
from lambdad.runtime.interpreters import Interpreters, server_python
from lambdad.runtime.runtime_api import HttpRuntimeEnvironment
from lambdad.runtime.sandbox_host import SandboxHost
from lambdad.runtime.sockdiag import PeerUids
from lambdad.runtime.spares import Spares, can_take_over
from lambdad.runtime.spec import FunctionSpec
from lambdad.runtime.zygote import Zygote, ZygoteError

log = logging.getLogger("lambdad.launcher")

# Where the runtime's own libraries (boto3, as on AWS's Python runtime) are found.
_BOTO3_DIR = str(Path(boto3.__file__).resolve().parent.parent)


class LaunchError(LambdadError):
    """No environment could be made (zygote or interpreter missing)."""


CredentialsFor = Callable[[FunctionSpec], dict[str, str]]


class Launcher:
    def __init__(self, config: Config, interpreters: Interpreters, credentials_for: CredentialsFor,
                 sandbox: SandboxHost) -> None:
        self.config = config
        self.interpreters = interpreters
        self.credentials_for = credentials_for
        self.sandbox = sandbox
        self.sandbox_config = sandbox.zygote_config()
        self.sandboxed = bool(self.sandbox_config.get("enabled"))
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Task[Zygote]] = {}
        self._cleaners: set[asyncio.Task[None]] = set()  # removing what dead zygotes left
        self.tmp_root = config.data_path / "tmp"
        self.tmp_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        #: runtime -> note written once into that function's log (the Node.js major differs)
        self.interpreter_notes: dict[str, str] = {}
        #: who is connecting to a Runtime API listener (one netlink socket for all of them)
        self.peers = PeerUids()
        # AWS accepts a runtime's response up to 6 MB plus 100 bytes of framing.
        limit = config.max_sync_payload_bytes
        self.max_runtime_response = limit + 100 if limit == 6 * 1024 * 1024 else limit
        # Spare Node.js processes are taken over by a function; the sandbox needs a fresh process.
        self.spares = Spares(0 if self.sandboxed else config.node_spare_processes, self._start_spare)

    async def zygote_for(self, interpreter: str) -> Zygote:
        z = self._zygotes.get(interpreter)
        if z is not None and z.alive:
            return z
        task = self._starting.get(interpreter)
        if task is None:
            task = self._starting[interpreter] = asyncio.ensure_future(self._start_zygote(interpreter))
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(interpreter, None)

    async def _start_zygote(self, interpreter: str) -> Zygote:
        z = Zygote(interpreter, {"sandbox": self.sandbox_config}, on_death=self._zygote_died)
        try:
            await z.start()
        except ZygoteError as exc:
            raise LaunchError(str(exc)) from exc
        for problem in z.sandbox_status.get("errors", ()):
            log.warning("sandbox (zygote for %s): %s", interpreter, problem)
        self._zygotes[interpreter] = z
        return z

    def _zygote_died(self, zygote: Zygote, env_ids: list[str]) -> None:
        task = asyncio.ensure_future(self._clean_after(zygote, env_ids))
        self._cleaners.add(task)
        task.add_done_callback(self._cleaners.discard)

    async def _clean_after(self, zygote: Zygote, env_ids: list[str]) -> None:
        """A zygote died (killed, crashed): reap it and remove the cgroups it can no longer release.
        Its environments die with it (parent-death signal), a frozen one once its cgroup is thawed."""
        await zygote.wait_reaped()
        groups = self.sandbox.zygote_leftovers(zygote.pid, env_ids)
        for paths in groups.values():
            self.sandbox.kill_cgroups(paths)
        left = [path for paths in groups.values() for path in paths]
        for _ in range(200):  # tasks still exiting keep a cgroup busy for a moment
            left = self.sandbox.remove_cgroups(left)
            if not left:
                return
            await asyncio.sleep(0.05)
        log.warning("sandbox: cgroups of dead zygote %d still busy: %s", zygote.pid, ", ".join(left))

    def interpreter_for(self, runtime: str) -> str:
        """The interpreter whose zygote forks this runtime's environments."""
        if runtimes.family(runtime) != runtimes.PYTHON:
            return server_python()
        return self.interpreters.python(runtime)[0]

    def build_spec(self, fv: FunctionSpec, code_dir: str, env_id: str, init_type: str,
                   opt_dir: str | None = None) -> dict[str, Any]:
        """The guest's spec of one environment (keys: runtime/guest/frames.py)."""
        runtime = fv.runtime
        memory = fv.memory_mb
        minor = runtime.removeprefix("python")
        task_root = "/var/task" if self.sandboxed else code_dir
        opt = "/opt" if self.sandboxed else (opt_dir or "/opt")
        log_group = fv.log_group_name
        log_stream = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{fv.version}]{env_id}"
        region = fv.arn.split(":")[3]  # the function's own region, as its ARN says
        env = runtimes.runtime_env(runtime, opt)
        env.update({
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": fv.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": fv.name,
            "AWS_LAMBDA_FUNCTION_VERSION": fv.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_ENDPOINT_URL": self.config.endpoint_url,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        })
        if fv.log_format == "JSON":  # what Lambda sets for its runtimes' structured logging
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = fv.application_log_level
        if runtimes.family(runtime) == runtimes.NODEJS:
            # Lambda's order: layers (per-major first), the runtime's modules, then the task root.
            major = runtime.removeprefix("nodejs").split(".")[0]
            env["NODE_PATH"] = (f"{opt}/nodejs/node{major}/node_modules:{opt}/nodejs/node_modules:"
                                f"/var/runtime/node_modules:/var/runtime:{task_root}")
        env.update(self.credentials_for(fv))
        variables = dict(fv.variables)
        env.update(variables)
        return {
            "id": env_id,
            # One uid per live environment (the sandbox drops to it; peers are identified by it).
            "uid": self.sandbox.allocate_uid(),
            "network": self.sandbox.network_for(variables),
            "hostname": "localhost",
            "handler": fv.handler,
            "runtime": runtime,
            "code_dir": code_dir,
            "opt_dir": opt_dir,
            "task_root": task_root,
            "env": env,
            "memory_mb": memory,
            "timeout": fv.timeout_s,
            "ephemeral_mb": fv.ephemeral_mb,
            "function_name": fv.name,
            "function_version": fv.version,
            "function_key": f"{fv.account}/{fv.name}",
            "log_group": log_group,
            "log_stream": log_stream,
            "tmp_dir": str(self.tmp_root / env_id),
            "path_head": [task_root, f"{opt}/python", f"{opt}/python/lib/python{minor}/site-packages"],
            # boto3 for Python functions: inside the sandbox at /var/lang/site-packages (sandbox.py).
            "path_tail": ["/var/lang/site-packages" if self.sandboxed else _BOTO3_DIR],
            "exec": runtimes.exec_spec(runtime, task_root, opt, self.node_for(runtime), variables,
                                       runtimes.SANDBOX_RUNTIME_DIR if self.sandboxed else str(runtimes.GUEST_DIR)),
        }

    def node_for(self, runtime: str) -> str:
        if runtimes.family(runtime) != runtimes.NODEJS:
            return ""
        path, version = self.interpreters.node(runtime)
        if not path:
            raise LaunchError(f"no Node.js executable for {runtime} (setting node_binary)")
        wanted = runtime.removeprefix("nodejs").split(".")[0]
        if version.split(".")[0] != wanted and runtime not in self.interpreter_notes:
            self.interpreter_notes[runtime] = (
                f"lambdad: no local Node.js {wanted} for {runtime}; running it on Node.js {version} ({path})")
        return path

    async def launch(self, fv: FunctionSpec, code_dir: str, init_type: str,
                     opt_dir: str | None = None) -> Environment:
        spare = self._take_spare(fv)
        env_id = spare.id if spare is not None else uuid.uuid4().hex
        spec = self.build_spec(fv, code_dir, env_id, init_type, opt_dir)
        if spare is not None:  # only without the sandbox: a spare runs under the server's uid
            self.sandbox.release_uid(spec["uid"])
            spare.spec = spec
            spare.created = spare.last_used = time.monotonic()
            spare.send_setup(spec.pop("env"))
            return spare
        try:
            zygote = await self.zygote_for(self.interpreter_for(fv.runtime))
        except BaseException:
            self.sandbox.release_uid(spec["uid"])
            raise
        env: Environment
        if runtimes.speaks_http(fv.runtime):
            env = HttpRuntimeEnvironment(env_id, spec, zygote.kill, peer_uid=spec["uid"], peers=self.peers,
                                         max_response=self.max_runtime_response,
                                         peer_procs=self.sandbox.procs_file(env_id))
            try:
                spec["env"]["AWS_LAMBDA_RUNTIME_API"] = await env.listen()
            except OSError as exc:
                self.sandbox.release_uid(spec["uid"])
                raise LaunchError(f"cannot open a Runtime API listener: {exc}") from exc
        else:
            env = Environment(env_id, spec, zygote.kill)
        env.freezer = self.sandbox.freezer(env_id)
        # Environment variables go over the environment's own channel, never through the zygote.
        return await self._spawn(env, zygote, spec.pop("env"))

    async def _spawn(self, env: Environment, zygote: Zygote, variables: dict[str, str]) -> Environment:
        uid = env.spec.get("uid")

        def on_exit(info: dict[str, Any]) -> None:
            if uid is not None:
                # Reported once its pid 1 has exited (a real exit: guest/frames.py) and its cgroup
                # was killed; reused first-in first-out, and only once no process runs as it.
                self.sandbox.release_uid(uid)
            env.on_exit(info)

        env.max_response = self.max_runtime_response
        theirs: socket.socket | None = None
        log_w = -1
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                log_r, log_w = os.pipe()
            except OSError:
                ours.close()
                raise
            await env.attach(ours, log_r)  # the environment owns both from here
            env.send_setup(variables)
            env.pid = await zygote.spawn(env.spec, theirs.fileno(), log_w, on_exit)
        except (ZygoteError, OSError) as exc:  # OSError: out of descriptors (EMFILE) making the channel
            on_exit({"id": env.id, "code": None, "signal": None})  # releases its uid and descriptors
            raise LaunchError(str(exc)) from exc
        finally:
            if theirs is not None:
                theirs.close()
            if log_w >= 0:
                os.close(log_w)
        return env

    # -- spare Node.js processes (spares.py) ----------------------------------------------------
    def _take_spare(self, fv: FunctionSpec) -> Environment | None:
        if not self.spares.per_executable or runtimes.family(fv.runtime) != runtimes.NODEJS:
            return None
        if not can_take_over(dict(fv.variables)):
            return None
        return self.spares.take(self.node_for(fv.runtime))

    async def _start_spare(self, node: str) -> Environment:
        env_id = uuid.uuid4().hex
        variables = {"PATH": "/usr/local/bin:/usr/bin/:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC"}
        spec: dict[str, Any] = {"id": env_id, "task_root": "/", "tmp_dir": str(self.tmp_root / env_id),
                                "exec": {"argv": runtimes.node_argv(node, str(runtimes.GUEST_DIR), spare=True),
                                         "channel": True}}
        zygote = await self.zygote_for(server_python())
        return await self._spawn(Environment(env_id, spec, zygote.kill), zygote, variables)

    async def aclose(self) -> None:
        for task in self._cleaners:
            task.cancel()  # the sandbox removes the whole instance's cgroups once the zygotes are gone
        await self.spares.aclose()
        for z in self._zygotes.values():
            await z.aclose()
        self._zygotes.clear()
        self.peers.close()
