"""The audit log: every API call as one JSON line in DATA_DIR/audit.log (CloudTrail-like fields).

A request only appends a tuple to a list; a background task serializes and appends the batch to the
file every `flush_interval` seconds (as the function logs do), so no call waits for the disk. The file
is created with mode 0600: it names principals and resources. `lambdad audit` reads it.

Line fields: eventTime (ISO 8601, ms), requestId, principal (ARN, or "anonymous"), accountId,
accessKeyId, service, action (IAM action, e.g. lambda:InvokeFunction), resource (ARN), sourceIp,
userAgent, status (HTTP), outcome ("Success" | "Failure"), errorCode.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambdad.api.base import ApiRequest

_Row = tuple[float, str, str, str, str, str, str, str, str, str, int, str]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class AuditLog:
    def __init__(self, path: Path, flush_interval: float = 0.2) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self._pending: list[_Row] = []

    def record(self, request: ApiRequest, status: int, error_code: str) -> None:
        p = request.principal
        self._pending.append((
            time.time(), request.request_id, p.arn if p else "anonymous", p.account if p else "",
            p.access_key_id if p else "", request.service, request.action, request.resource,
            (request.client or ("", 0))[0], request.headers.get("user-agent", ""), status, error_code))

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        lines = []
        for (t, rid, principal, account, key, service, action, resource, ip, agent, status, code) in batch:
            lines.append(json.dumps({
                "eventTime": _iso(t), "requestId": rid, "principal": principal, "accountId": account,
                "accessKeyId": key, "service": service, "action": action, "resource": resource, "sourceIp": ip,
                "userAgent": agent, "status": status, "outcome": "Failure" if code else "Success",
                "errorCode": code or None}, separators=(",", ":")))
        data = ("\n".join(lines) + "\n").encode()
        fd, end = -1, 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            end = os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            # A full disk must neither end the flusher nor leave half a line: cut back to whole lines
            # and keep the batch for the next flush.
            if fd >= 0:
                os.ftruncate(fd, end)
            if len(self._pending) < 100_000:
                self._pending[:0] = batch
            logging.getLogger("lambdad").warning("audit log not written (%s); %d calls kept", exc, len(batch))
        finally:
            if fd >= 0:
                os.close(fd)

    async def run_flusher(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.flush_interval)
                self.flush()
        finally:
            self.flush()


# -- reading (lambdad audit) -----------------------------------------------------------------------

def matches(event: dict[str, Any], principal: str | None, action: str | None) -> bool:
    """`principal` matches the ARN, its last segment, or a glob; `action` is a glob (lambda:Invoke*)."""
    if principal:
        arn = str(event.get("principal", ""))
        tail = arn.rsplit("/", 1)[-1]
        if not (fnmatch.fnmatchcase(arn, principal) or principal in (arn, tail)):
            return False
    return not (action and not fnmatch.fnmatch(str(event.get("action", "")).lower(), action.lower()))


def read(path: Path, follow: bool = False, poll: float = 0.5) -> Iterator[dict[str, Any]]:
    """Events of the log, oldest first; with `follow`, then new ones as they come (Ctrl-C ends)."""
    while not path.exists():
        if not follow:
            return
        time.sleep(poll)
    with open(path) as fh:
        buffer = ""
        while True:
            chunk = fh.readline()
            if chunk:
                buffer += chunk
                if buffer.endswith("\n"):
                    line, buffer = buffer.strip(), ""
                    if line:
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue
                continue
            if not follow:
                return
            time.sleep(poll)


def format_event(event: dict[str, Any]) -> str:
    outcome = "OK " if event.get("outcome") == "Success" else f"{event.get('errorCode')}"
    return (f"{event.get('eventTime', '')}  {event.get('principal', '')}  {event.get('action') or event.get('service')}"
            f"  {event.get('resource') or '-'}  {event.get('sourceIp', '')}  {event.get('status')} {outcome}")
