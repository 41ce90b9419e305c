"""Lambda's checks of a function's `VpcConfig` against EC2, in Lambda's words.

Lambda validates a VpcConfig the way it does on AWS: subnets and security groups must exist in the
function's account and region (EC2's own error, wrapped: "Error occurred while DescribeSubnets. EC2
Error Code: ..."), they must all be in one VPC, and the execution role must allow the network
interface calls `AWSLambdaVPCAccessExecutionRole` grants. A config that passes is answered as
`VpcConfig` shows it (`VpcId` added). lambdad does not put functions into the VPC's network yet
(no namespaces, no enforced security group rules), so `control/validation.py` still refuses a
non-empty VpcConfig after these checks pass; they run first so that a caller learns what AWS would
have said of the config itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdad.errors import Ec2Error, InvalidParameterValueException
from lambdad.services.ec2.network import Ec2

# (role ARN, session name, action, resource) -> allowed, or None when there is no such role
RoleAllowed = Callable[[str, str, str, str], bool | None]
ENI_ACTIONS = ("CreateNetworkInterface", "DescribeNetworkInterfaces", "DeleteNetworkInterface")


class LambdaVpcCheck:
    def __init__(self, ec2: Ec2, role_allowed: RoleAllowed) -> None:
        self.ec2 = ec2
        self.role_allowed = role_allowed

    def __call__(self, account: str, region: str, function_name: str, role_arn: str | None,
                 config: dict[str, Any]) -> dict[str, Any]:
        subnets = list(dict.fromkeys(config.get("SubnetIds") or []))
        groups = list(dict.fromkeys(config.get("SecurityGroupIds") or []))
        if not subnets and not groups:
            return {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "",
                    "Ipv6AllowedForDualStack": bool(config.get("Ipv6AllowedForDualStack"))}
        if not subnets or not groups:
            raise InvalidParameterValueException("SubnetIds and SecurityIds must coexist or be both empty list.")
        try:
            state = self.ec2.region(account, region)
        except Ec2Error as exc:
            raise _wrapped("DescribeSubnets", exc) from None
        vpcs = set()
        for subnet_id in subnets:
            try:
                vpcs.add(self.ec2.subnet(state, subnet_id).vpc_id)
            except Ec2Error as exc:
                raise _wrapped("DescribeSubnets", exc) from None
        if len(vpcs) > 1:
            raise InvalidParameterValueException("Subnets are required to be in the same VPC.")
        for group_id in groups:
            try:
                group = self.ec2.group(state, group_id)
            except Ec2Error as exc:
                raise _wrapped("DescribeSecurityGroups", exc) from None
            if group.vpc_id not in vpcs:
                raise InvalidParameterValueException("Security Groups are required to be in the same VPC.")
        if role_arn:
            for action in ENI_ACTIONS:
                if self.role_allowed(role_arn, function_name, f"ec2:{action}", "*") is False:
                    raise InvalidParameterValueException(
                        f"The provided execution role does not have permissions to call {action} on EC2")
        return {"SubnetIds": subnets, "SecurityGroupIds": groups, "VpcId": vpcs.pop(),
                "Ipv6AllowedForDualStack": bool(config.get("Ipv6AllowedForDualStack"))}


def _wrapped(call: str, exc: Ec2Error) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Error occurred while {call}. EC2 Error Code: {exc.code}. "
                                          f"EC2 Error Message: {exc.message}")
