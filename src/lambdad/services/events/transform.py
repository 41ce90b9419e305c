"""What a target receives: the event, `Input` (constant JSON), `InputPath` (a JSONPath into the event)
or `InputTransformer` (values picked by `InputPathsMap`, placed into `InputTemplate`).

The template's quoting rules (AWS's): a `<name>` inside a JSON string literal is replaced by the value's
text escaped for that string; outside one, by the value as JSON (a string gets its quotes). A path
that picks nothing is `null` outside quotes and empty inside them. Besides the map's names, templates
may use the predefined `aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event`
(`aws.events.event.json`) and `aws.events.event.ingestion-time`. A `<...>` that names no variable
stays as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lambdad.errors import EventsError

MAX_PATHS = 100
_PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event", "aws.events.event.json",
               "aws.events.event.ingestion-time")
_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_MISSING: Any = object()


def _path_steps(path: str) -> list[str | int] | None:
    """`$`, `$.a.b`, `$.a[0]`, `$['a-b']`: the steps, or None when it is no JSONPath we take."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return None
        name, index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else (single if single is not None else double))
        position = match.end()
    return steps


def check_input_path(path: str) -> None:
    if _path_steps(path) is None:
        raise EventsError(f"InputPath {path} is not valid.", code="ValidationException")


def check_transformer(transformer: Mapping[str, Any]) -> None:
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > MAX_PATHS:
        raise EventsError(f"InputPathsMap can have at most {MAX_PATHS} entries.", code="ValidationException")
    for key, path in paths.items():
        if key in _PREDEFINED:
            raise EventsError(f"InputTransformer input path map cannot use reserved key {key}.",
                              code="ValidationException")
        if not _KEY.fullmatch(key):
            raise EventsError(f"InputPathsMap key {key} is not valid.", code="ValidationException")
        if not isinstance(path, str) or _path_steps(path) is None:
            raise EventsError(f"InputPathsMap value {path} is not valid.", code="ValidationException")
    template = transformer.get("InputTemplate")
    if not isinstance(template, str) or not template:
        raise EventsError("InputTemplate is required.", code="ValidationException")


def select(event: Any, path: str) -> Any:
    """The value at `path` (`_MISSING` when there is none)."""
    steps = _path_steps(path) or []
    current = event
    for step in steps:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _MISSING
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return _MISSING
            current = current[step]
    return current


def target_input(target: Mapping[str, Any], event: dict[str, Any], rule_arn: str, ingestion_time: str) -> str:
    """The text the target receives for `event`."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = select(event, target["InputPath"])
        return "null" if value is _MISSING else json.dumps(value)
    transformer = target.get("InputTransformer")
    if transformer:
        variables: dict[str, Any] = {key: select(event, path)
                                     for key, path in (transformer.get("InputPathsMap") or {}).items()}
        variables["aws.events.rule-arn"] = rule_arn
        variables["aws.events.rule-name"] = rule_arn.rsplit("/", 1)[-1]
        variables["aws.events.event"] = variables["aws.events.event.json"] = event
        variables["aws.events.event.ingestion-time"] = ingestion_time
        return render(transformer["InputTemplate"], variables)
    return json.dumps(event)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `<name>`s, inside string literals as text and outside them as JSON (one pass, no regex)."""
    out: list[str] = []
    in_string = False
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "\\" and in_string and i + 1 < n:
            out.append(template[i:i + 2])
            i += 2
            continue
        if ch == '"':
            in_string = not in_string
        elif ch == "<":
            end = template.find(">", i + 1)
            name = template[i + 1:end] if end > 0 else ""
            if end > 0 and name in variables:
                value = variables[name]
                if in_string:
                    if value is _MISSING or value is None:
                        text = ""
                    else:
                        text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append("null" if value is _MISSING else json.dumps(value))
                i = end + 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)
