"""API Gateway route selection (services/apigateway/routing.py): specificity, greedy variables,
encoded slashes, and the route keys and paths API Gateway refuses."""

from __future__ import annotations

import pytest

from lambdad.services.apigateway.errors import BadRequestException
from lambdad.services.apigateway.routing import RouteTable, compile_path, parse_route_key


def table(*keys: str) -> RouteTable[str]:
    found: RouteTable[str] = RouteTable()
    for key in keys:
        parsed = parse_route_key(key)
        if parsed is None:
            found.default = key
        else:
            found.add(parsed[0], parsed[1], key)
    return found


def test_most_specific_route_wins() -> None:
    routes = table("GET /pets/{id}", "GET /pets/dog", "ANY /pets/{proxy+}", "POST /pets/{id}", "$default",
                   "ANY /pets/{id}")
    def pick(method: str, path: str) -> tuple[str, dict[str, str]]:
        found = routes.match(method, path)
        assert found is not None
        return found[0], found[2]
    assert pick("GET", "/pets/dog") == ("GET /pets/dog", {})
    assert pick("GET", "/pets/cat") == ("GET /pets/{id}", {"id": "cat"})
    assert pick("PUT", "/pets/cat") == ("ANY /pets/{id}", {"id": "cat"})
    assert pick("GET", "/pets/a/b") == ("ANY /pets/{proxy+}", {"proxy": "a/b"})
    assert pick("GET", "/pets") == ("$default", {})  # a greedy variable needs at least one segment
    assert pick("GET", "/") == ("$default", {})


def test_segments_are_matched_raw_and_decoded_after() -> None:
    routes = table("GET /files/{name}", "GET /admin")
    found = routes.match("GET", "/files/a%2Fb")
    assert found is not None and found[2] == {"name": "a/b"}
    assert routes.match("GET", "/files/a/b") is None
    assert routes.match("GET", "/files/../admin") is None
    assert routes.match("GET", "/files/%2E%2E%2Fadmin") is not None  # one segment, a name
    assert routes.match("GET", "//admin") is None
    assert routes.match("GET", "/%61dmin") is not None  # literal segments compare decoded


@pytest.mark.parametrize("key", ["GET", "FETCH /x", "GET x", "GET /a/{proxy+}/b", "GET /{a}/{a}", "GET /a//b",
                                 "GET /a{b}", ""])
def test_invalid_route_keys(key: str) -> None:
    with pytest.raises(BadRequestException):
        parse_route_key(key)


def test_greedy_name() -> None:
    assert compile_path("/a/{rest+}").greedy == "rest"
    assert compile_path("/a/{id}").greedy is None
