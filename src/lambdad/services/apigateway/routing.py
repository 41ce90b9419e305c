"""Route matching shared by HTTP APIs (route keys) and REST APIs (resource paths with methods).

Paths are matched segment by segment on the raw (still percent-encoded) path, so an encoded slash
(`%2F`) stays inside one segment and can never reach another route; segments are decoded only
once matched. Nothing is normalized: `..` is an ordinary segment, as on API Gateway.

Specificity follows API Gateway's rule, most specific first: literal segments beat `{param}`
segments, which beat a greedy `{proxy+}` (which needs at least one segment); then a route's own
method beats `ANY`. `$default` (HTTP APIs) is whatever matches nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

from lambdad.services.apigateway.errors import BadRequestException

T = TypeVar("T")

METHODS = frozenset({"ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_PARAM = re.compile(r"\{([A-Za-z0-9._:-]+)(\+?)\}")
_LITERAL = 0
_VARIABLE = 1
_GREEDY = 2


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """`/items/{id}/{proxy+}` compiled: each segment a literal or a named variable."""

    text: str
    segments: tuple[tuple[int, str], ...]

    @property
    def greedy(self) -> str | None:
        """The name of the greedy variable, if the template ends in one."""
        return self.segments[-1][1] if self.segments and self.segments[-1][0] == _GREEDY else None

    @property
    def rank(self) -> tuple[int, ...]:
        return tuple(kind for kind, _ in self.segments)

    def match(self, raw_segments: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        segs = self.segments
        for i, (kind, value) in enumerate(segs):
            if kind == _GREEDY:
                rest = raw_segments[i:]
                if not rest or rest == [""]:
                    return None
                params[value] = unquote("/".join(rest))
                return params
            if i >= len(raw_segments):
                return None
            seg = raw_segments[i]
            if kind == _LITERAL:
                if unquote(seg) != value:
                    return None
            else:
                if not seg:
                    return None
                params[value] = unquote(seg)
        return params if len(raw_segments) == len(segs) else None


def compile_path(path: str) -> PathTemplate:
    """A resource path or a route key's path; BadRequestException when API Gateway would refuse it."""
    if not path.startswith("/"):
        raise BadRequestException(f"Invalid path: {path!r} must start with '/'")
    parts = [] if path == "/" else path[1:].split("/")
    segments: list[tuple[int, str]] = []
    for i, part in enumerate(parts):
        m = _PARAM.fullmatch(part)
        if m is not None:
            if m.group(2):
                if i != len(parts) - 1:
                    raise BadRequestException(f"Invalid path: {path!r}: a greedy path variable must be last")
                segments.append((_GREEDY, m.group(1)))
            else:
                segments.append((_VARIABLE, m.group(1)))
        elif not part or "{" in part or "}" in part:
            raise BadRequestException(f"Invalid path: {path!r}")
        else:
            segments.append((_LITERAL, part))
    names = [v for k, v in segments if k != _LITERAL]
    if len(names) != len(set(names)):
        raise BadRequestException(f"Invalid path: {path!r}: a path variable may appear only once")
    return PathTemplate(path, tuple(segments))


def parse_route_key(key: str) -> tuple[str, PathTemplate] | None:
    """`GET /items/{id}` -> ("GET", template); `$default` -> None. BadRequestException otherwise."""
    if key == "$default":
        return None
    method, sep, path = key.partition(" ")
    if not sep or method not in METHODS:
        raise BadRequestException(f"Invalid route key: {key!r}. Expected '$default' or 'METHOD /path'.")
    return method, compile_path(path)


def split_path(raw_path: str) -> list[str]:
    return [] if raw_path in ("", "/") else raw_path[1:].split("/")


@dataclass(slots=True)
class RouteTable(Generic[T]):
    """Routes of one deployment, most specific first, matched per request."""

    entries: list[tuple[str, PathTemplate, T]] = field(default_factory=list)
    default: T | None = None

    def add(self, method: str, template: PathTemplate, value: T) -> None:
        self.entries.append((method, template, value))
        self.entries.sort(key=lambda e: (e[1].rank, e[0] == "ANY"))

    def match(self, method: str, raw_path: str) -> tuple[T, PathTemplate | None, dict[str, str]] | None:
        segments = split_path(raw_path)
        for route_method, template, value in self.entries:
            if route_method != method and route_method != "ANY":
                continue
            params = template.match(segments)
            if params is not None:
                return value, template, params
        if self.default is not None:
            return self.default, None, {}
        return None

    def allows_path(self, raw_path: str) -> bool:
        """Whether any method has a route for this path (REST APIs answer 403 vs 404 by it)."""
        segments = split_path(raw_path)
        return any(t.match(segments) is not None for _, t, _ in self.entries)
