"""Shapes shared by the Lambda API's operation modules: configurations as AWS shows them, paging."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from lambdad.control.functions import FunctionVersion
from lambdad.errors import InvalidParameterValueException

PAGE_DEFAULT = 50


# Fields AWS leaves out of ListFunctions entries (the state lives on GetFunction/GetFunctionConfiguration).
_NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
               "LastUpdateStatusReasonCode")


def public_config(fv: FunctionVersion, *, creating: bool = False, updating: bool = False) -> dict[str, Any]:
    """The FunctionConfiguration as AWS shows it: Pending right after create, InProgress after update.

    lambdad finishes creates and updates before answering, so the transient state is only what the
    answer shows; as on AWS, it carries a revision of its own that the finished state replaces.
    """
    cfg = dict(fv.config)
    if creating:
        cfg.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating",
                   RevisionId=str(uuid.uuid4()))
        cfg.pop("LastUpdateStatus", None)
    elif updating:
        cfg.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                   LastUpdateStatusReasonCode="Creating", RevisionId=str(uuid.uuid4()))
    return cfg


def listed_config(fv: FunctionVersion, qualified: bool = False) -> dict[str, Any]:
    cfg = {k: v for k, v in fv.config.items() if k not in _NOT_LISTED}
    if qualified:
        cfg["FunctionArn"] = f"{fv.function.latest.arn}:{fv.version}"
    return cfg


def paginate(items: list[Any], marker: str | None, max_items: int | None) -> tuple[list[Any], str | None]:
    """Opaque markers are base64 offsets, as stable as the sorted listing they index."""
    start = 0
    if marker:
        try:
            start = int(base64.b64decode(marker).decode())
        except (ValueError, binascii.Error) as exc:
            raise InvalidParameterValueException("Invalid marker") from exc
    # MaxItems' range (1 to 50 or 10000 by operation) is the model's, checked by the codec.
    size = PAGE_DEFAULT if max_items is None else max_items
    page = items[start:start + size]
    next_start = start + size
    return page, base64.b64encode(str(next_start).encode()).decode() if next_start < len(items) else None
