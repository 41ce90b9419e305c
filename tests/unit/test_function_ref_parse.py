"""The function reference of one request is parsed once: the authorization hook's parse and the
handler's (which adds the region check) share the memoized result; invalid references are never cached."""

from __future__ import annotations

import pytest

from lambdad.control import names
from lambdad.errors import ResourceNotFoundException, ValidationException


def test_the_handlers_parse_reuses_the_authorization_hooks() -> None:
    raw = "arn:aws:lambda:us-east-1:000000000000:function:memo-fn:live"
    before = names._parse.cache_info()
    hook_ref = names.parse_function_ref(raw, None, "000000000000", region="us-east-1")  # as lambda_authz does
    handler_ref = names.parse_function_ref(raw, None, "000000000000", region="us-east-1")  # as lambda_api does
    after = names._parse.cache_info()
    assert hook_ref is handler_ref and handler_ref.qualifier == "live"
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_the_region_is_still_checked_on_a_cached_reference() -> None:
    raw = "arn:aws:lambda:eu-west-1:000000000000:function:memo-region"
    names.parse_function_ref(raw, None, "000000000000", region="eu-west-1")
    with pytest.raises(ResourceNotFoundException):
        names.parse_function_ref(raw, None, "000000000000", region="us-east-1")


def test_invalid_references_raise_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValidationException):
            names.parse_function_ref("not a name!", None, "000000000000", region="us-east-1")
