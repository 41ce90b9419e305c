"""The model's constraints on SNS and ELBv2 (query protocol) are checked before any handler, in AWS's
generated wording ("1 validation error detected: Value '...' at '<path>' failed to satisfy constraint:
..."), under each service's code for it (ValidationError, HTTP 400). boto3 is told not to check them
itself (parameter_validation=False), so the server's answer is what is seen; the AWS CLI sends what it is given."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, unique
from tests.services.test_sqs_sns_details import aws_fails


def unchecked_client(server: Server, service: str) -> Any:
    import boto3
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=BotoConfig(retries={"max_attempts": 0}, parameter_validation=False))


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def elb(server: Server) -> Any:
    return unchecked_client(server, "elbv2")


def test_elbv2_ranges_and_patterns(elb: Any) -> None:
    with pytest.raises(ClientError) as exc:
        elb.create_target_group(Name=unique("tg"), TargetType="lambda", HealthCheckIntervalSeconds=1)
    assert error_of(exc) == (400, "ValidationError", "1 validation error detected: Value '1' at "
                             "'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value "
                             "greater than or equal to 5")
    lb = elb.create_load_balancer(Name=unique("lb"), Subnets=["subnet-a"])["LoadBalancers"][0]["LoadBalancerArn"]
    with pytest.raises(ClientError) as exc:
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=70000, DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    assert error_of(exc) == (400, "ValidationError", "1 validation error detected: Value '70000' at 'port' failed to "
                             "satisfy constraint: Member must have value less than or equal to 65535")
    with pytest.raises(ClientError) as exc:
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=20000, DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "302"}}])
    assert error_of(exc) == (400, "ValidationError", "1 validation error detected: Value '302' at "
                             "'defaultActions.1.member.fixedResponseConfig.statusCode' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$")
    assert elb.describe_listeners(LoadBalancerArn=lb)["Listeners"] == []  # nothing was bound or stored


def test_elbv2_enums_and_tag_lengths(elb: Any) -> None:
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name=unique("lb"), Subnets=["subnet-a"], Scheme="public")
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationError")
    assert message.startswith("1 validation error detected: Value 'public' at 'scheme' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [")
    with pytest.raises(ClientError) as exc:
        elb.create_target_group(Name=unique("tg"), TargetType="lambda", Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert error_of(exc)[:2] == (400, "ValidationError")
    assert "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128" \
        in error_of(exc)[2]


def test_sns_tag_lengths(server: Server) -> None:
    sns = unchecked_client(server, "sns")
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "k", "Value": "v" * 257}])
    assert error_of(exc) == (400, "ValidationError", "1 validation error detected: Value '" + "v" * 257 + "' at "
                             "'tags.1.member.value' failed to satisfy constraint: Member must have length less than "
                             "or equal to 256")
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == []


def test_cli_sees_the_validation_error(server: Server) -> None:
    # The CLI checks minimums itself (botocore's parameter validation); maximums are the server's to refuse.
    err = aws_fails(server, "elbv2", "create-target-group", "--name", unique("tg"), "--target-type", "lambda",
                    "--health-check-interval-seconds", "301")
    assert "An error occurred (ValidationError) when calling the CreateTargetGroup operation: 1 validation error " \
           "detected: Value '301' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have " \
           "value less than or equal to 300" in err
