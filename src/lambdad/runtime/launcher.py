"""Makes execution environments: builds each one's spec and asks the right zygote to fork it."""

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

from lambdad.config import Config
from lambdad.control.functions import FunctionVersion
from lambdad.runtime.environment import Environment
from lambdad.runtime.interpreters import Interpreters
from lambdad.runtime.sandbox_host import SandboxHost
from lambdad.runtime.zygote import Zygote, ZygoteError

log = logging.getLogger("lambdad.launcher")

# Where the runtime's own libraries (boto3, as on AWS's Python runtime) are found.
_BOTO3_DIR = str(Path(__import__("boto3").__file__).resolve().parent.parent)


class LaunchError(Exception):
    """No environment could be made (zygote or interpreter missing)."""


CredentialsFor = Callable[[FunctionVersion], dict[str, str]]


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
        self.tmp_root = config.data_path / "tmp"
        self.tmp_root.mkdir(parents=True, exist_ok=True)

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
        z = Zygote(interpreter, {"sandbox": self.sandbox_config})
        try:
            await z.start()
        except ZygoteError as exc:
            raise LaunchError(str(exc)) from exc
        for problem in z.sandbox_status.get("errors", ()):
            log.warning("sandbox (zygote for %s): %s", interpreter, problem)
        self._zygotes[interpreter] = z
        return z

    def interpreter_for(self, runtime: str) -> str:
        return self.interpreters.python(runtime)[0]

    def build_spec(self, fv: FunctionVersion, code_dir: str, env_id: str, init_type: str,
                   opt_dir: str | None = None) -> dict[str, Any]:
        cfg = fv.config
        runtime = cfg.get("Runtime", "")
        memory = cfg.get("MemorySize", 128)
        minor = runtime.removeprefix("python")
        task_root = "/var/task" if self.sandboxed else code_dir
        opt = "/opt" if self.sandboxed else (opt_dir or "/opt")
        log_group = (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{fv.name}"
        log_stream = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{fv.version}]{env_id}"
        env = {
            "PATH": f"/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:{opt}/bin",
            "LD_LIBRARY_PATH": f"/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                               f"/var/task/lib:{opt}/lib",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": cfg.get("Handler", ""),
            "AWS_REGION": self.config.region,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
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
        }
        if runtime.startswith("nodejs"):
            # Lambda's order: layers (per-major first), the runtime's modules, then the task root.
            major = runtime.removeprefix("nodejs").split(".")[0]
            env["NODE_PATH"] = (f"{opt}/nodejs/node{major}/node_modules:{opt}/nodejs/node_modules:"
                                f"/var/runtime/node_modules:/var/runtime:{task_root}")
        env.update(self.credentials_for(fv))
        variables = (cfg.get("Environment") or {}).get("Variables") or {}
        env.update(variables)
        return {
            "id": env_id,
            # One uid per live environment (the sandbox drops to it; peers are identified by it).
            "uid": self.sandbox.allocate_uid(),
            "network": self.sandbox.network_for(variables),
            "hostname": "localhost",
            "handler": cfg.get("Handler", ""),
            "runtime": runtime,
            "code_dir": code_dir,
            "opt_dir": opt_dir,
            "task_root": task_root,
            "env": env,
            "memory_mb": memory,
            "timeout": cfg.get("Timeout", 3),
            "ephemeral_mb": (cfg.get("EphemeralStorage") or {}).get("Size", 512),
            "function_name": fv.name,
            "function_version": fv.version,
            "function_key": f"{fv.account}/{fv.name}",
            "log_group": log_group,
            "log_stream": log_stream,
            "tmp_dir": str(self.tmp_root / env_id),
            "path_head": [task_root, f"{opt}/python", f"{opt}/python/lib/python{minor}/site-packages"],
            "path_tail": ["/var/runtime" if self.sandboxed else _BOTO3_DIR],
        }

    async def launch(self, fv: FunctionVersion, code_dir: str, init_type: str,
                     opt_dir: str | None = None) -> Environment:
        env_id = uuid.uuid4().hex
        spec = self.build_spec(fv, code_dir, env_id, init_type, opt_dir)
        try:
            zygote = await self.zygote_for(self.interpreter_for(fv.runtime))
        except BaseException:
            self.sandbox.release_uid(spec["uid"])
            raise
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe()
        # Environment variables go over the environment's own channel, not through the zygote.
        variables = spec.pop("env")
        env = Environment(env_id, spec, zygote.kill)
        env.freezer = self.sandbox.freezer(env_id)
        uid = spec["uid"]

        def on_exit(info: dict[str, Any]) -> None:
            self.sandbox.release_uid(uid)  # reported after every process of it is gone
            env.on_exit(info)

        try:
            await env.attach(ours, log_r)
            env.send_setup(variables)
            env.pid = await zygote.spawn(spec, theirs.fileno(), log_w, on_exit)
        except ZygoteError as exc:
            on_exit({"id": env_id, "code": None, "signal": None})
            raise LaunchError(str(exc)) from exc
        finally:
            theirs.close()
            os.close(log_w)
        return env

    async def aclose(self) -> None:
        for z in self._zygotes.values():
            await z.aclose()
        self._zygotes.clear()
