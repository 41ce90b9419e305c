"""EC2's `Filters` and `MaxResults`/`NextToken`, shared by every Describe operation.

A filter names a field (`vpc-id`, `tag:Name`, `tag-key`, ...) and values; a resource matches when,
for every filter, one of its values for that field matches one of the filter's values. Values take
`*` and `?` wildcards, as AWS's do (matched without backtracking by `lambdad.wildcards`). A filter
name the operation does not know is refused, as AWS refuses it, rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lambdad import wildcards
from lambdad.errors import Ec2Error

T = TypeVar("T")
# The values a resource has for a filter name (None: the name is not a filter of this resource).
Fields = Callable[[T, str], list[str] | None]

MAX_FILTERS = 50
MAX_VALUES = 200


def tag_values(tags: dict[str, str], name: str) -> list[str] | None:
    """The values of the tag filters every taggable resource has."""
    if name.startswith("tag:"):
        key = name[4:]
        return [tags[key]] if key in tags else []
    if name == "tag-key":
        return list(tags)
    if name == "tag-value":
        return list(tags.values())
    return None


def apply(items: Sequence[T], filters: list[dict[str, Any]] | None, fields: Fields[T]) -> list[T]:
    if not filters:
        return list(items)
    if len(filters) > MAX_FILTERS:
        raise Ec2Error(f"The maximum number of filters ({MAX_FILTERS}) has been exceeded.",
                       code="FilterLimitExceeded")
    wanted: list[tuple[str, list[str]]] = []
    for f in filters:
        name = f.get("Name")
        if not name:
            raise Ec2Error("The request must contain the parameter Filter.Name", code="MissingParameter")
        values = f.get("Values") or []
        if len(values) > MAX_VALUES:
            raise Ec2Error(f"The maximum number of filter values specified on a single call is {MAX_VALUES}",
                           code="FilterLimitExceeded")
        wanted.append((name, values))
    out = []
    for item in items:
        for name, values in wanted:
            have = fields(item, name)
            if have is None:
                raise Ec2Error(f"The filter '{name}' is invalid", code="InvalidParameterValue")
            if not any(wildcards.match(v, h) for v in values for h in have):
                break
        else:
            out.append(item)
    return out


def page(items: list[T], key: Callable[[T], str], max_results: int | None, token: str | None,
         *, low: int = 5, high: int = 1000) -> tuple[list[T], str | None]:
    """One page of `items` (in their order) and the token of the next, None at the end. The token
    names the key of the last item answered, so a page is stable while resources come and go."""
    if max_results is not None and not low <= max_results <= high:
        bound = f"greater than {low}" if max_results < low else f"less than {high}"
        raise Ec2Error(f"Value ( {max_results} ) for parameter maxResults is invalid. Expecting a value {bound}.",
                       code="InvalidParameterValue")
    start = 0
    if token:
        after = _read_token(token)
        keys = [key(i) for i in items]
        start = next((n for n, k in enumerate(keys) if k > after), len(keys))
    if max_results is None:
        return items[start:], None
    chunk = items[start:start + max_results]
    more = start + max_results < len(items)
    return chunk, _make_token(key(chunk[-1])) if more and chunk else None


def _make_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _read_token(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise Ec2Error(f"Invalid value '{token[:256]}' for nextToken: unable to parse pagination token",
                       code="InvalidParameterValue") from None
    if not isinstance(after, str):
        raise Ec2Error(f"Invalid value '{token[:256]}' for nextToken: unable to parse pagination token",
                       code="InvalidParameterValue")
    return after


def no_ids_with_max(ids: list[str] | None, member: str, max_results: int | None) -> None:
    if ids and max_results is not None:
        raise Ec2Error(f"The parameter {member} cannot be used with the parameter maxResults",
                       code="InvalidParameterCombination")
