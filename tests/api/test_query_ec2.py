"""api/query.py's EC2 variant, in process: what botocore's EC2Serializer writes decodes back to the
parameters it was given, and what the codec renders botocore's EC2 parser reads back as it was."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from lambdad.api import query

MODEL = botocore.session.get_session().get_service_model("ec2")

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("CreateVpc", {"CidrBlock": "10.0.0.0/16", "DryRun": True, "TagSpecifications": [
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "a"}, {"Key": "b", "Value": ""}]}]}),
    ("DescribeVpcs", {"VpcIds": ["vpc-1", "vpc-2"], "Filters": [{"Name": "tag:Name", "Values": ["x", "y*"]}],
                      "MaxResults": 5, "NextToken": "t"}),
    ("CreateSecurityGroup", {"GroupName": "g", "Description": "d", "VpcId": "vpc-1"}),
    ("AuthorizeSecurityGroupIngress", {"GroupId": "sg-1", "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}],
         "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "123"}]},
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]}),
    ("RevokeSecurityGroupEgress", {"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]}),
    ("DescribeNatGateways", {"Filter": [{"Name": "vpc-id", "Values": ["vpc-1"]}], "NatGatewayIds": ["nat-1"]}),
    ("DescribeNetworkInterfaces", {"Filters": [{"Name": "requester-id", "Values": ["*"]}]}),
    ("CreateTags", {"Resources": ["vpc-1", "subnet-2"], "Tags": [{"Key": "k", "Value": "v"}]}),
    ("ModifyVpcAttribute", {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": True}}),
]


@pytest.mark.parametrize(("operation", "params"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_what_botocore_writes_decodes_back(operation: str, params: dict[str, Any]) -> None:
    op = MODEL.operation_model(operation)
    body = create_serializer("ec2").serialize_to_request(params, op)["body"]
    flat = dict(parse_qsl(body)) if isinstance(body, str) else {k: str(v) for k, v in body.items()}
    assert query.decode(op.input_shape, flat, ec2=True) == params


def test_what_the_codec_renders_botocore_parses_back() -> None:
    op = MODEL.operation_model("DescribeSecurityGroups")
    group = {"GroupId": "sg-1", "GroupName": "web", "Description": "d & <e>", "OwnerId": "123", "VpcId": "vpc-1",
             "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
                                "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "123"}]}],
             "IpPermissionsEgress": [], "Tags": [{"Key": "Name", "Value": "w"}]}
    body = query.render(op, "http://ec2.amazonaws.com/doc/2016-11-15/", {"SecurityGroups": [group],
                                                                         "NextToken": "n"}, "req-1", ec2=True)
    assert b"<requestId>req-1</requestId>" in body and b"<item>" in body
    parsed = create_parser("ec2").parse({"status_code": 200, "headers": {}, "body": body}, op.output_shape)
    assert parsed["SecurityGroups"] == [group] and parsed["NextToken"] == "n"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_errors_are_ec2s_response_errors() -> None:
    from lambdad.errors import Ec2Error

    response = query.render_error(Ec2Error("The vpc ID 'vpc-1' does not exist", code="InvalidVpcID.NotFound"),
                                  "req-2", "http://ec2.amazonaws.com/doc/2016-11-15/", ec2=True)
    op = MODEL.operation_model("DescribeVpcs")
    parsed = create_parser("ec2").parse({"status_code": 400, "headers": {}, "body": response.body}, op.output_shape)
    assert parsed["Error"] == {"Code": "InvalidVpcID.NotFound", "Message": "The vpc ID 'vpc-1' does not exist"}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-2"
