"""SnapStart: new environments of a published version forked from one initialized template.

For a function with `SnapStart: {ApplyOn: PublishedVersions}`, PublishVersion answers at once with
the version `Pending` (OptimizationStatus `On`); this module initializes a template of it in the
background (runtime/template.py: handler import, before-snapshot hooks) and sets the version
`Active`, or `Failed` with StateReasonCode `FunctionError` when init fails, as Lambda does when it
takes the snapshot. Invoking a version that is not Active is a ResourceConflictException.

From then on every new environment of that version (an on-demand cold start; `$LATEST` never) is a
fork of its template that runs the after-restore hooks: `AWS_LAMBDA_INITIALIZATION_TYPE` is
`snap-start` and its REPORT line shows `Restore Duration` and `Billed Restore Duration` instead of
`Init Duration` (the init's duration is in the template's log stream, on an INIT_REPORT line). An
after-restore hook that raises answers SnapStartException; one that takes longer than 10 seconds,
SnapStartTimeoutException. Each fork gets fresh credentials of the execution role.

Templates live as long as their version: deleting it (or the function) retires the template, which
ends when its last environment has. After a restart, the first invoke of an Active version makes its
template again (Lambda keeps snapshots; lambdad keeps processes). Runtimes other than Python run
their published versions as usual (OptimizationStatus still says On, as the API accepts it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from lambdad.control.functions import LATEST, FunctionRegistry, FunctionVersion
from lambdad.errors import ResourceConflictException, SnapStartException, SnapStartTimeoutException
from lambdad.invoke.specs import function_spec
from lambdad.runtime.launcher import Launcher, LaunchError
from lambdad.runtime.template import RestoredEnvironment, RestoreFailed, Template, TemplateFailed
from lambdad.services.logs.function_logs import LogStore
from lambdad.store import BlobStore

log = logging.getLogger("lambdad.snapstart")

#: Lambda: restoring (the runtime and the after-restore hooks) must finish within 10 seconds.
RESTORE_TIMEOUT = 10.0
#: Lambda: the init of a snapshot may run 130 seconds, or the function's timeout if that is longer.
INIT_TIMEOUT = 130.0
#: Templates initialized at once (publishing many versions queues the rest, still Pending).
PARALLEL_INITS = 4
ACTIVE = {"State": "Active", "StateReason": None, "StateReasonCode": None, "LastUpdateStatus": "Successful",
          "LastUpdateStatusReason": None, "LastUpdateStatusReasonCode": None}
_FAILED_REASON = "An error occurred during function initialization."
FAILED = {"State": "Failed", "StateReason": _FAILED_REASON, "StateReasonCode": "FunctionError",
          "LastUpdateStatus": "Failed", "LastUpdateStatusReason": _FAILED_REASON,
          "LastUpdateStatusReasonCode": "FunctionError"}

Key = tuple[str, str, str, str]  # (account, region, function, version): FunctionVersion.pool_key


class SnapStart:
    def __init__(self, registry: FunctionRegistry, launcher: Launcher, blobs: BlobStore, logs: LogStore,
                 opt_dir_for: Callable[[FunctionVersion], str | None] | None = None,
                 max_template_age: float = float("inf")) -> None:
        self.registry = registry
        self.max_template_age = max_template_age  # as old as its init's credentials allow
        self.launcher = launcher
        self.blobs = blobs
        self.logs = logs
        self.opt_dir_for = opt_dir_for
        self._templates: dict[Key, Template] = {}
        self._builds: dict[Key, asyncio.Task[Template]] = {}
        self._retired: set[Template] = set()  # ending once their last environment has
        self._inits = asyncio.Semaphore(PARALLEL_INITS)
        registry.add_listener(self._on_change)

    # -- what Versions asks (control/versions.py SnapshotMaker) ----------------------------------
    @staticmethod
    def wants(fv: FunctionVersion) -> bool:
        return (fv.version != LATEST and fv.runtime.startswith("python")
                and (fv.config.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions")

    def make(self, fv: FunctionVersion) -> None:
        self._build(fv)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Finish the snapshots a stopped server left Pending."""
        for rec in self.registry.all_records():
            for fv in list(rec.versions.values()):
                if fv.config.get("State") == "Pending" and self.wants(fv):
                    self._build(fv)

    async def aclose(self) -> None:
        for task in self._builds.values():
            task.cancel()
        await asyncio.gather(*self._builds.values(), return_exceptions=True)
        templates = [*self._templates.values(), *self._retired]
        self._templates.clear()
        self._retired.clear()
        for tpl in templates:
            tpl.close()
        await asyncio.gather(*(tpl.wait_closed(2.0) for tpl in templates))

    def statistics(self) -> dict[str, int]:
        return {"templates": len(self._templates), "retired": len(self._retired), "building": len(self._builds),
                "environments": sum(len(t.forks) for t in (*self._templates.values(), *self._retired))}

    # -- restoring (the invoker's factory for on-demand environments) -----------------------------
    async def restore(self, fv: FunctionVersion) -> RestoredEnvironment:
        rec = self.registry.find(fv.account, fv.region, fv.name)
        current = rec.versions.get(fv.version) if rec is not None else None
        if current is None:
            raise LaunchError(f"{fv.arn} was deleted")
        state = current.config.get("State", "Active")
        if state != "Active":
            raise _not_active(state)
        tpl = await self._template(current)
        try:
            return await tpl.fork(self.launcher.credentials_for(function_spec(current)), RESTORE_TIMEOUT)
        except RestoreFailed as exc:
            self._log_restore_failure(current, exc)
            if exc.timed_out:
                raise SnapStartTimeoutException("Lambda couldn't restore the snapshot within the timeout limit.") \
                    from None
            raise SnapStartException("The afterRestore() runtime hook encountered an error. For more "
                                     "information, check the Amazon CloudWatch logs.") from None

    async def _template(self, fv: FunctionVersion) -> Template:
        key = fv.pool_key
        tpl = self._templates.get(key)
        if tpl is not None:
            if tpl.alive and not tpl.retired and time.monotonic() - tpl.created < self.max_template_age:
                return tpl
            # Gone, or as old as the credentials its init captured may be: made again.
            self._retire(self._templates.pop(key))
        task = self._builds.get(key) or self._build(fv)
        try:
            return await asyncio.shield(task)
        except TemplateFailed:
            raise _not_active("Failed") from None

    # -- making templates -------------------------------------------------------------------------
    def _build(self, fv: FunctionVersion) -> asyncio.Task[Template]:
        key = fv.pool_key
        task = self._builds.get(key)
        if task is None:
            task = self._builds[key] = asyncio.get_running_loop().create_task(
                self._make(fv), name=f"snapstart {fv.name}:{fv.version}")
            task.add_done_callback(lambda t: self._built(key, t))
        return task

    def _built(self, key: Key, task: asyncio.Task[Template]) -> None:
        if self._builds.get(key) is task:
            del self._builds[key]
        if not task.cancelled() and task.exception() is not None:  # retrieved: a failure is a state, not a crash
            exc = task.exception()
            if not isinstance(exc, TemplateFailed):
                log.error("SnapStart snapshot of %s:%s failed", key[2], key[3], exc_info=exc)

    async def _make(self, fv: FunctionVersion) -> Template:
        code_dir = str(self.blobs.tree(fv.code_digest))
        opt_dir = self.opt_dir_for(fv) if self.opt_dir_for is not None else None
        tpl = Template(self.launcher, function_spec(fv), code_dir, opt_dir,
                       park=self.launcher.config.snapstart_park_fork)
        timeout = max(INIT_TIMEOUT, fv.timeout_s)
        try:
            async with self._inits:
                await tpl.start(timeout)
        except asyncio.CancelledError:
            tpl.close()
            raise
        except TemplateFailed as exc:
            self._log_init(tpl, exc.logs, exc.init_ms, _error_type(exc))
            self.registry.set_state(fv.account, fv.region, fv.name, fv.version, FAILED)
            raise
        except LaunchError:
            self.registry.set_state(fv.account, fv.region, fv.name, fv.version,
                                    {**FAILED, "StateReasonCode": "InternalError",
                                     "LastUpdateStatusReasonCode": "InternalError"})
            raise
        self._log_init(tpl, tpl.take_logs(), tpl.init_ms, None)
        rec = self.registry.find(fv.account, fv.region, fv.name)
        current = rec.versions.get(fv.version) if rec is not None else None
        if current is None or current.env_revision != fv.env_revision:  # deleted while it was made
            tpl.close()
            raise LaunchError(f"{fv.arn} was deleted")
        old = self._templates.get(fv.pool_key)
        self._templates[fv.pool_key] = tpl
        if old is not None:
            self._retire(old)
        if current.config.get("State") != "Active":
            self.registry.set_state(fv.account, fv.region, fv.name, fv.version, ACTIVE)
        return tpl

    def _retire(self, tpl: Template) -> None:
        if not tpl.closed:
            self._retired.add(tpl)
            tpl.on_closed = self._retired.discard
        tpl.retire()

    def _on_change(self, account: str, region: str, name: str, version: str | None) -> None:
        """A version (or the whole function) was deleted: its template ends with its last environment."""
        rec = self.registry.find(account, region, name)
        for key in [k for k in self._templates if k[:3] == (account, region, name)]:
            if rec is None or key[3] not in rec.versions:
                self._retire(self._templates.pop(key))

    # -- logs -------------------------------------------------------------------------------------
    def _log_init(self, tpl: Template, raw: bytes, init_ms: float, error_type: str | None) -> None:
        """The template's init output and its INIT_REPORT (Lambda puts SnapStart's Init Duration there)."""
        lines = _split(raw)
        report = f"INIT_REPORT Init Duration: {init_ms:.2f} ms"
        if error_type:
            report += f"\tPhase: init\tStatus: error\tError Type: {error_type}"
        lines.append(report)
        stream = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{tpl.fv.version}]{tpl.id}"
        self.logs.append(tpl.fv.account, tpl.fv.arn.split(":")[3],
                         tpl.spec.get("log_group") or f"/aws/lambda/{tpl.fv.name}", stream, lines)

    def _log_restore_failure(self, fv: FunctionVersion, exc: RestoreFailed) -> None:
        env = exc.env
        error_type = "Runtime.RestoreTimeout" if exc.timed_out else (
            json.loads(exc.payload).get("errorType", "Runtime.Unknown") if exc.payload else "Runtime.ExitError")
        lines = _split(exc.logs)
        lines.append(f"RESTORE_REPORT Restore Duration: {exc.restore_ms:.2f} ms\tStatus: "
                     f"{'timeout' if exc.timed_out else 'error'}\tError Type: {error_type}")
        self.logs.append(fv.account, fv.region, env.spec["log_group"], env.spec["log_stream"], lines)


def _not_active(state: str) -> ResourceConflictException:
    return ResourceConflictException("The operation cannot be performed at this time. The function is currently "
                                     f"in the following state: {state}")


def _error_type(exc: TemplateFailed) -> str:
    if exc.payload:
        return str(json.loads(exc.payload).get("errorType", "Runtime.Unknown"))
    if exc.timed_out:
        return "Sandbox.Timedout"
    return "Runtime.OutOfMemory" if exc.exit_info.get("oom") else "Runtime.ExitError"


def _split(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace").rstrip("\n")
    return text.split("\n") if text else []

