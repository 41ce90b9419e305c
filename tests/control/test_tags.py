"""Tags through boto3: TagResource, UntagResource, ListTags, Tags at create, with AWS's errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, ROLE, create_function, make_zip, unique
from tests.conftest import api_error as error
from tests.conftest import function_arn as arn
from tests.unvalidated import unvalidated_client


def test_tag_lifecycle(lam):
    name = create_function(lam, "def handler(e, c):\n    return 1\n", Tags={"key_a": "value_a"})
    fn = arn(name)
    assert lam.list_tags(Resource=fn)["Tags"] == {"key_a": "value_a"}
    before = lam.get_function(FunctionName=name)
    assert before["Tags"] == {"key_a": "value_a"}

    resp = lam.tag_resource(Resource=fn, Tags={"key_b": "value_b", "key_c": "value_c"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.tag_resource(Resource=fn, Tags={"key_c": "value_x", "key_d": "value_d"})
    assert lam.list_tags(Resource=fn)["Tags"] == {"key_a": "value_a", "key_b": "value_b", "key_c": "value_x",
                                                  "key_d": "value_d"}
    after = lam.get_function(FunctionName=name)
    # Tagging moves the function's RevisionId, as on AWS.
    assert after["Configuration"]["RevisionId"] != before["Configuration"]["RevisionId"]

    lam.untag_resource(Resource=fn, TagKeys=["key_c", "key_d", "not-there"])
    assert lam.list_tags(Resource=fn)["Tags"] == {"key_a": "value_a", "key_b": "value_b"}
    lam.untag_resource(Resource=fn, TagKeys=["key_a", "key_b"])
    assert lam.list_tags(Resource=fn)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=name)

    lam.delete_function(FunctionName=name)
    for call, kwargs in ((lam.list_tags, {}), (lam.tag_resource, {"Tags": {"A": "B"}}),
                         (lam.untag_resource, {"TagKeys": ["A"]})):
        with pytest.raises(ClientError) as exc:
            call(Resource=fn, **kwargs)
        assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {fn}")


def test_tag_errors(server, lam):
    raw = unvalidated_client(server)
    name = create_function(lam, "def handler(e, c):\n    return 1\n")
    lam.publish_version(FunctionName=name)

    def err(call, **kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        return error(exc)

    status, code, message = err(lam.tag_resource, Resource="arn:aws:something", Tags={"a": "b"})
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value 'arn:aws:something' at 'resource' failed to "
                              "satisfy constraint: Member must satisfy regular expression pattern: arn:")
    qualified = (400, "InvalidParameterValueException",
                 "Tags on function aliases and versions are not supported. Please specify a function ARN.")
    for q in ("v1", "1", "$LATEST"):
        assert err(lam.tag_resource, Resource=arn(name, q), Tags={"a": "b"}) == qualified
    assert err(lam.tag_resource, Resource=arn("doesnotexist"), Tags={"a": "b"}) == (
        404, "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}")
    assert err(raw.untag_resource, Resource=arn(name), TagKeys=[]) == (
        400, "ValidationException",
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
    assert err(raw.tag_resource, Resource=arn(name), Tags={}) == (
        400, "InvalidParameterValueException", "An error occurred and the request cannot be processed.")
    esm = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:6ec38cbc-7c4b-4f2e-9a3c-7b25a5c4a6de"
    assert err(lam.list_tags, Resource=esm) == (404, "ResourceNotFoundException",
                                                 f"Event source mapping not found: {esm}")


def test_tag_limits(lam):
    name = create_function(lam, "def handler(e, c):\n    return 1\n")
    too_many = (400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
    with pytest.raises(ClientError) as exc:
        lam.tag_resource(Resource=arn(name), Tags={f"{k}_key": f"{k}_value" for k in range(51)})
    assert error(exc) == too_many
    lam.tag_resource(Resource=arn(name), Tags={f"{k}_key": f"{k}_value" for k in range(50)})
    assert len(lam.list_tags(Resource=arn(name))["Tags"]) == 50
    with pytest.raises(ClientError) as exc:
        lam.tag_resource(Resource=arn(name), Tags={"a_key": "a_value"})
    assert error(exc) == too_many
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique(), Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": make_zip({"app.py": "x = 1\n"})},
                            Tags={f"{k}_key": f"{k}_value" for k in range(51)})
    assert error(exc) == too_many


def test_tagging_keeps_warm_environments(lam):
    """Tags and publishing move RevisionId but change nothing that runs: no new cold start."""
    name = create_function(lam, "def handler(e, c):\n    return c.log_stream_name\n")
    first = lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
    lam.tag_resource(Resource=arn(name), Tags={"team": "a"})
    lam.publish_version(FunctionName=name)
    assert lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read() == first
    lam.update_function_configuration(FunctionName=name, Description="changes what runs")
    assert lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read() != first
