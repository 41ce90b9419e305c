"""Readable refusals: services and operations lambdad does not serve answer in their own protocol,
so boto3 parses the error and the AWS CLI prints a sentence naming the service and operation.

The services are ones nobody builds here (ElastiCache, Redshift and CloudFormation on the query
protocol, Kinesis on JSON, Route 53 on rest-xml), plus an IAM operation lambdad lacks. EC2 (its own
ec2 protocol) answers an unsigned call in its XML whether or not it is served.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION,
               AWS_MAX_ATTEMPTS="1")
    aws = str(Path(sys.executable).parent / "aws")
    return subprocess.run([aws, *args, "--endpoint-url", server.endpoint], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.mark.parametrize(("args", "operation", "title"), [
    (("elasticache", "describe-cache-clusters"), "DescribeCacheClusters", "Amazon ElastiCache"),
    (("redshift", "describe-clusters"), "DescribeClusters", "Amazon Redshift"),
    (("kinesis", "list-streams"), "ListStreams", "Kinesis"),
    (("cloudformation", "list-stacks"), "ListStacks", "AWS CloudFormation"),
    (("route53", "list-hosted-zones"), "ListHostedZones", "Route 53"),
    (("route53", "get-hosted-zone", "--id", "Z123"), "GetHostedZone", "Route 53"),
])
def test_the_cli_prints_a_sentence_for_an_unserved_service(server: Server, args: tuple[str, ...], operation: str,
                                                           title: str) -> None:
    proc = _cli(server, *args)
    assert proc.returncode != 0
    assert (f"An error occurred (NotImplemented) when calling the {operation} operation: lambdad does not serve "
            f"{title}: the operation {operation} is not implemented by this lambdad server.") in proc.stderr, \
        proc.stderr


def test_the_cli_prints_a_sentence_for_an_unimplemented_iam_operation(server: Server) -> None:
    proc = _cli(server, "iam", "list-virtual-mfa-devices")
    assert proc.returncode != 0
    assert ("An error occurred (InvalidAction) when calling the ListVirtualMFADevices operation: The IAM operation "
            "ListVirtualMFADevices is not implemented by this lambdad server.") in proc.stderr, proc.stderr


@pytest.mark.parametrize(("service", "call", "kwargs"), [
    ("elasticache", "describe_cache_clusters", {}),
    ("redshift", "describe_clusters", {}),
    ("kinesis", "list_streams", {}),
    ("route53", "list_hosted_zones", {}),
])
def test_boto3_parses_the_refusal_in_the_services_protocol(server: Server, service: str, call: str,
                                                           kwargs: dict[str, Any]) -> None:
    client = server.client(service)
    with pytest.raises(ClientError) as exc:
        getattr(client, call)(**kwargs)
    resp = exc.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert resp["Error"]["Code"] == "NotImplemented"
    assert "is not implemented by this lambdad server" in resp["Error"]["Message"]
    assert resp["ResponseMetadata"]["RequestId"]


def test_a_bad_signature_for_an_unserved_service_is_refused_in_its_protocol(server: Server) -> None:
    elasticache = server.client("elasticache", secret="not-the-secret")
    with pytest.raises(ClientError) as exc:
        elasticache.describe_cache_clusters()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert exc.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidSignatureException",
                                                   "AuthFailure")


def _signed(server: Server, service: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    request = AWSRequest("POST", server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    return httpx.post(server.endpoint + "/", content=body, headers=dict(request.headers.items()))


def test_an_unknown_signing_name_still_gets_a_parseable_answer(server: Server) -> None:
    """No botocore model by that name: the request's own shape picks the format."""
    json_call = _signed(server, "nosuchservice", {"X-Amz-Target": "NoSuch_2020.DoThing",
                                                  "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    assert json_call.status_code == 501
    assert json_call.json() == {"__type": "NotImplemented", "message": "lambdad does not serve nosuchservice: the "
                                "operation DoThing is not implemented by this lambdad server."}
    query_call = _signed(server, "nosuchservice", {"Content-Type": "application/x-www-form-urlencoded"},
                         b"Action=DoThing&Version=2020-01-01")
    assert query_call.status_code == 501
    assert b"<Code>NotImplemented</Code>" in query_call.content and query_call.content.startswith(b"<?xml")


def test_an_unsigned_query_call_for_an_unserved_service_is_refused_in_xml(server: Server) -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    ec2 = boto3.client("ec2", endpoint_url=server.endpoint, region_name=REGION,
                       config=Config(signature_version=UNSIGNED, retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as exc:  # parsed: the answer is EC2's XML, not JSON
        ec2.describe_vpcs()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert exc.value.response["Error"]["Code"] in ("MissingAuthenticationToken", "AuthFailure")
