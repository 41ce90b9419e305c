"""Synchronous invocation: the policy side (limits, timeouts, results, logs) of running a handler."""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdad import ids
from lambdad.config import Config
from lambdad.control.env_keys import EnvironmentKeys
from lambdad.control.functions import FunctionRegistry, FunctionVersion
from lambdad.errors import LambdadError, RequestTooLargeException, ServiceException, TooManyRequestsException
from lambdad.invoke import platform_log
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.metrics import LambdaMetrics
from lambdad.invoke.specs import function_spec
from lambdad.runtime.environment import Environment, InitFailed, Outcome
from lambdad.runtime.launcher import Launcher, LaunchError
from lambdad.runtime.pool import FunctionPool, PoolManager
from lambdad.runtime.template import RestoredEnvironment
from lambdad.services.logs.function_logs import LogStore
from lambdad.store import BlobStore

if TYPE_CHECKING:
    from lambdad.invoke.snapstart import SnapStart

log = logging.getLogger("lambdad.invoke")

TAIL_BYTES = 4096


@dataclass(slots=True)
class InvokeResult:
    payload: bytes
    executed_version: str
    function_error: str | None = None
    log_result: str | None = None
    request_id: str = ""


@dataclass(slots=True)
class InvokeMeta:
    invoked_arn: str
    log_tail: bool = False
    client_context: Any = None
    identity: Any = None
    request_id: str = ""


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Invoker:
    def __init__(self, config: Config, registry: FunctionRegistry, blobs: BlobStore, launcher: Launcher,
                 pools: PoolManager, limiter: ConcurrencyLimiter, logs: LogStore,
                 opt_dir_for: Callable[[FunctionVersion], str | None] | None = None,
                 snapstart: SnapStart | None = None, env_keys: EnvironmentKeys | None = None,
                 metrics: LambdaMetrics | None = None) -> None:
        self.config = config
        #: Lambda's own metrics (invoke/metrics.py): counted in memory as each invocation ends.
        self.metrics = metrics
        #: A function with a KMSKeyArn is invoked only while the key can decrypt its variables.
        self.env_keys = env_keys
        #: The merged layer tree a version's environments see at /opt (control/layers.py).
        self.opt_dir_for = opt_dir_for
        self.registry = registry
        self.blobs = blobs
        self.launcher = launcher
        self.pools = pools
        self.limiter = limiter
        self.logs = logs
        self.max_payload = config.max_sync_payload_bytes
        #: New environments of SnapStart versions are restored from a template (invoke/snapstart.py).
        self.snapstart = snapstart
        registry.add_listener(pools.retire)

    def _factory(self, fv: FunctionVersion):
        async def make(init_type: str) -> Environment:
            if init_type == "on-demand" and self.snapstart is not None and self.snapstart.wants(fv):
                return await self.snapstart.restore(fv)
            code_dir = str(self.blobs.tree(fv.code_digest))
            started = time.perf_counter()
            opt_dir = self.opt_dir_for(fv) if self.opt_dir_for is not None else None
            env = await self.launcher.launch(function_spec(fv), code_dir, init_type, opt_dir)
            try:
                await env.wait_init(timeout=max(10.0, fv.timeout_s))
            except InitFailed as exc:
                raise _InitFailure(exc, exc.logs + env.take_logs(), (time.perf_counter() - started) * 1000.0) from exc
            return env
        return make

    def pool_for(self, fv: FunctionVersion) -> FunctionPool:
        return self.pools.pool(fv.pool_key, fv.env_revision, self._factory(fv))

    async def invoke(self, fv: FunctionVersion, payload: bytes, meta: InvokeMeta) -> InvokeResult:
        if len(payload) > self.max_payload:
            raise RequestTooLargeException(
                f"Request must be smaller than {self.max_payload} bytes for the InvokeFunction operation")
        key_arn = fv.config.get("KMSKeyArn")
        if key_arn and self.env_keys is not None:
            self.env_keys.check_decrypt(fv.account, fv.function.region, key_arn, fv.role, fv.name)
        request_id = meta.request_id or ids.request_id()
        pool = self.pool_for(fv)
        if pool.provisioned_target:
            env = pool.take_provisioned()
            if env is not None:  # its capacity was set aside when it was provisioned: no lease
                if self.metrics is not None:
                    self.metrics.provisioned_utilization(meta.invoked_arn, pool.busy_provisioned,
                                                         pool.provisioned_target)
                return await self._run(fv, payload, meta, request_id, pool, env)
        key = (fv.account, fv.function.region, fv.name)
        try:
            lease = self.limiter.acquire(key)
        except TooManyRequestsException:
            if self.metrics is not None:
                self.metrics.throttled(meta.invoked_arn)
            raise
        if self.metrics is not None:
            limiter = self.limiter
            scope = (key[0], key[1])
            self.metrics.concurrency(meta.invoked_arn, limiter.in_flight.get(key, 0), limiter.running(scope),
                                     limiter.unreserved_in_flight(scope))
        try:
            return await self._run(fv, payload, meta, request_id, pool, None)
        finally:
            lease.release()

    async def _run(self, fv: FunctionVersion, payload: bytes, meta: InvokeMeta, request_id: str,
                   pool: FunctionPool, env: Environment | None) -> InvokeResult:
        lines: list[str] = []
        cold = False
        if env is None:
            try:
                env, cold = await pool.acquire()
            except _InitFailure as exc:
                if self.metrics is not None:
                    self.metrics.invoked(meta.invoked_arn, fv.version, True, exc.init_ms)
                return self._init_failed(fv, exc, request_id, meta)
            except LaunchError as exc:
                log.error("cannot start an environment for %s: %s", fv.arn, exc)
                raise ServiceException(f"Could not start an execution environment: {exc}") from exc
        if cold:  # a new environment: say once in its log when the interpreter is not the runtime's
            note = (self.launcher.interpreters.note(fv.runtime) if fv.runtime.startswith("python")
                    else self.launcher.interpreter_notes.get(fv.runtime))
            if note:
                lines.append(note)
            lines.extend(_split(env.take_logs()))
        lines.extend(platform_log.start(fv, request_id))
        timeout = fv.timeout_s
        header = {
            "id": request_id,
            "arn": meta.invoked_arn,
            "deadline": int((time.time() + timeout) * 1000),
            "trace": ids.trace_header(),
        }
        if meta.client_context is not None:
            header["client_context"] = meta.client_context
        if meta.identity is not None:
            header["identity"] = meta.identity
        started = time.perf_counter()
        outcome = await env.invoke(header, payload, timeout)
        duration_ms = (time.perf_counter() - started) * 1000.0
        lines.extend(_split(env.take_logs()))
        result = self._outcome(fv, outcome, request_id, timeout, lines)
        if self.metrics is not None:
            self.metrics.invoked(meta.invoked_arn, fv.version, result.function_error is not None, duration_ms)
        if outcome.kind in ("result", "error"):
            pool.release(env)
        else:
            pool.discard(env)
        restored = cold and isinstance(env, RestoredEnvironment)
        status = "timeout" if outcome.kind == "timeout" else "success" if outcome.kind == "result" else "error"
        summary = platform_log.Report(
            duration_ms, max(1, outcome.max_rss_kib // 1024),
            init_ms=env.init_ms if cold and not restored else None,
            restore_ms=env.restore_ms if restored else None,  # type: ignore[attr-defined]
            billed_restore_ms=env.billed_restore_ms if restored else None,  # type: ignore[attr-defined]
            status=status,
            error_type=json.loads(result.payload)["errorType"] if outcome.kind == "exit" else None)
        lines.extend(platform_log.end(fv, request_id, summary))
        lines.extend(platform_log.report(fv, request_id, summary))
        self.logs.append(fv.account, fv.region, env.spec["log_group"], env.spec["log_stream"], lines)
        if meta.log_tail:
            result.log_result = _tail(lines)
        result.request_id = request_id
        return result

    def _outcome(self, fv: FunctionVersion, outcome: Outcome, request_id: str, timeout: float,
                 lines: list[str]) -> InvokeResult:
        if outcome.kind in ("result", "error") and len(outcome.body) > self.max_payload:
            # An error payload is a response too: AWS refuses both over the limit alike.
            limit = self.max_payload + 100 if self.max_payload == 6 * 1024 * 1024 else self.max_payload
            return InvokeResult(_error_payload(
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."),
                fv.version, "Unhandled")
        if outcome.kind == "result":
            return InvokeResult(outcome.body, fv.version)
        if outcome.kind == "error":
            return InvokeResult(outcome.body, fv.version, "Unhandled")
        if outcome.kind == "timeout":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1000):03d}Z"
            lines.append(f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds")
            return InvokeResult(_error_payload(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"),
                fv.version, "Unhandled")
        info = outcome.exit_info or {}
        if info.get("oom"):
            error_type, reason = "Runtime.OutOfMemory", "signal: killed"
        elif info.get("signal"):
            error_type, reason = "Runtime.ExitError", f"signal: {_signal_name(info['signal'])}"
        else:
            error_type, reason = "Runtime.ExitError", f"exit status {info.get('code')}"
        message = f"RequestId: {request_id} Error: {_exit_reason(info, reason)}"
        lines.append(message)
        lines.append(f"{error_type}")
        return InvokeResult(_error_payload(error_type, message), fv.version, "Unhandled")

    def _init_failed(self, fv: FunctionVersion, failure: _InitFailure, request_id: str,
                     meta: InvokeMeta) -> InvokeResult:
        exc = failure.error
        if exc.payload:
            body = exc.payload
            try:
                error_type = str(json.loads(body).get("errorType", "Runtime.Unknown"))
            except (ValueError, AttributeError):
                error_type = "Runtime.Unknown"
        elif exc.exit_info and exc.exit_info.get("timeout"):
            error_type = "Sandbox.Timedout"
            body = _error_payload(error_type, f"RequestId: {request_id} Error: Task timed out during init")
        elif exc.exit_info and exc.exit_info.get("error_type"):  # the platform could not start it
            error_type = exc.exit_info["error_type"]
            body = _error_payload(error_type, f"RequestId: {request_id} Error: {exc.exit_info['reason']}")
        else:
            info = exc.exit_info or {}
            reason = f"signal: {_signal_name(info['signal'])}" if info.get("signal") else \
                f"exit status {info.get('code')}"
            error_type = "Runtime.OutOfMemory" if info.get("oom") else "Runtime.ExitError"
            body = _error_payload(error_type, f"RequestId: {request_id} Error: {_exit_reason(info, reason)}")
        memory = fv.memory_mb
        lines = [*_split(failure.logs),
                 f"INIT_REPORT Init Duration: {failure.init_ms:.2f} ms\tPhase: init\tStatus: error\t"
                 f"Error Type: {error_type}",
                 f"START RequestId: {request_id} Version: {fv.version}", f"END RequestId: {request_id}",
                 f"REPORT RequestId: {request_id}\tDuration: {failure.init_ms:.2f} ms\t"
                 f"Billed Duration: {max(1, math.ceil(failure.init_ms))} ms\tMemory Size: {memory} MB\t"
                 f"Max Memory Used: 0 MB\tStatus: error\tError Type: {error_type}"]
        group = fv.log_group
        stream = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{fv.version}]init-{request_id[:8]}"
        self.logs.append(fv.account, fv.region, group, stream, lines)
        return InvokeResult(body, fv.version, "Unhandled", _tail(lines) if meta.log_tail else None,
                            request_id)


class _InitFailure(LambdadError):
    """An environment whose init failed, with what it logged and how long init ran."""

    def __init__(self, error: InitFailed, logs: bytes, init_ms: float) -> None:
        super().__init__("init failed")
        self.error = error
        self.logs = logs
        self.init_ms = init_ms


def _split(raw: bytes) -> list[str]:
    if not raw:
        return []
    text = raw.decode("utf-8", "replace")
    return [line for line in text.rstrip("\n").split("\n")]


def _tail(lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    return base64.b64encode(data[-TAIL_BYTES:]).decode()


def _exit_reason(info: dict[str, Any], reason: str) -> str:
    # AWS words a clean exit (status 0, e.g. sys.exit() in a handler) without an answer differently
    # from a failing one.
    if info.get("code") == 0 and not info.get("signal"):
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: {reason}"


def _signal_name(sig: int) -> str:
    return {9: "killed", 6: "aborted", 11: "segmentation fault", 15: "terminated"}.get(sig, f"signal {sig}")
