"""rest-json route matching over the real botocore Lambda model: the request botocore itself builds
for every operation (with and without a qualifier, with the function named by name, by ARN and by
qualified ARN) reaches that operation, with its URI labels decoded."""

from __future__ import annotations

import datetime
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer

from lambdad.api.base import ApiRequest
from lambdad.api.restjson import RestJsonService

SERVICE = RestJsonService("lambda", authorize=None)
MODEL = SERVICE.model
SERIALIZER = create_serializer("rest-json", include_validation=False)
FUNCTION_NAMES = ["my-fn", "arn:aws:lambda:us-east-1:000000000000:function:my-fn",
                  "arn:aws:lambda:us-east-1:000000000000:function:my-fn:live", "000000000000:my-fn"]
# Literal path segments of the model: a label holding one must still route by its literals.
LITERALS = sorted({seg for name in MODEL.operation_names
                   for seg in MODEL.operation_model(name).http["requestUri"].partition("?")[0].split("/")
                   if seg and "{" not in seg and not seg[0].isdigit()})


def sample(shape: Shape, label: str) -> Any:
    """A value for each required member (the rest of the body does not decide the route)."""
    kind = shape.type_name
    if kind == "structure":
        return {k: sample(shape.members[k], label) for k in shape.required_members}  # type: ignore[attr-defined]
    return {"list": [], "map": {}, "integer": 1, "long": 1, "boolean": True, "blob": b"x", "float": 1.0,
            "double": 1.0, "timestamp": datetime.datetime(2020, 1, 1)}.get(kind, label)


def request_for(op: OperationModel, params: dict[str, Any]) -> ApiRequest:
    """The request botocore sends for `op`, as the Router hands it over (path and query split)."""
    r = SERIALIZER.serialize_to_request(params, op)
    path, _, fixed = r["url_path"].partition("?")
    query = "&".join(filter(None, [fixed, urlencode(r["query_string"], doseq=True)]))
    return ApiRequest(r["method"], path, path, query, {}, b"")


def matched(request: ApiRequest) -> tuple[str, list[str]]:
    route, values = SERVICE.match(request)
    return route.operation.name, values


def labels(op: OperationModel) -> list[str]:
    """The input members bound to URI labels, in path order."""
    names = re.findall(r"\{([^}+]+)\+?\}", op.http["requestUri"])
    by_wire = {m.serialization.get("name", k): k for k, m in op.input_shape.members.items()}  # type: ignore[union-attr]
    return [by_wire[n] for n in names]


OPERATIONS = sorted(MODEL.operation_names)


def test_the_model_is_lambdas_whole_api() -> None:
    assert len(OPERATIONS) > 80 and {"Invoke", "GetFunction", "ListLayers"} <= set(OPERATIONS)


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_routes_to_itself(name: str) -> None:
    op = MODEL.operation_model(name)
    params = sample(op.input_shape, "my-fn") if op.input_shape is not None else {}
    assert matched(request_for(op, params))[0] == name
    members = op.input_shape.members if op.input_shape is not None else {}
    if "Qualifier" in members and members["Qualifier"].serialization.get("location") == "querystring":
        assert matched(request_for(op, dict(params, Qualifier="live")))[0] == name


@pytest.mark.parametrize("name", [n for n in OPERATIONS
                                  if "FunctionName" in (MODEL.operation_model(n).input_shape.members
                                                        if MODEL.operation_model(n).input_shape else {})
                                  and "{FunctionName}" in MODEL.operation_model(n).http["requestUri"]])
@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_function_names_and_arns_arrive_decoded(name: str, function: str) -> None:
    op = MODEL.operation_model(name)
    params = dict(sample(op.input_shape, "x"), FunctionName=function)
    got, values = matched(request_for(op, params))
    assert got == name
    assert values[labels(op).index("FunctionName")] == function


@pytest.mark.parametrize("literal", LITERALS)
def test_a_label_holding_a_literal_segment_still_routes_by_the_literals(literal: str) -> None:
    """/functions/versions/configuration is GetFunctionConfiguration of a function named
    "versions": the route with more literal characters wins over one a label could stretch to."""
    for name in OPERATIONS:
        op = MODEL.operation_model(name)
        if not labels(op):
            continue
        assert matched(request_for(op, sample(op.input_shape, literal)))[0] == name, (name, literal)


def test_required_query_members_decide_between_routes_of_one_path() -> None:
    layers = ApiRequest("GET", "/2018-10-31/layers", "/2018-10-31/layers", "", {}, b"")
    assert matched(layers)[0] == "ListLayers"
    by_arn = ApiRequest("GET", "/2018-10-31/layers", "/2018-10-31/layers", "find=LayerVersion&Arn=x", {}, b"")
    assert matched(by_arn)[0] == "GetLayerVersionByArn"
    path = "/2019-09-30/functions/fn/provisioned-concurrency"
    assert matched(ApiRequest("GET", path, path, "Qualifier=1", {}, b""))[0] == "GetProvisionedConcurrencyConfig"
    assert matched(ApiRequest("GET", path, path, "List=ALL", {}, b""))[0] == "ListProvisionedConcurrencyConfigs"


def test_a_trailing_slash_is_the_same_route() -> None:
    path = "/2015-03-31/functions/fn/configuration/"
    assert matched(ApiRequest("GET", path, path, "", {}, b"")) == ("GetFunctionConfiguration", ["fn"])
