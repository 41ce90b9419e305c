"""What every part of the EC2 domain shares: ids as AWS forms them, its errors, CIDR parsing."""

from __future__ import annotations

import ipaddress
import re
import secrets

from lambdad.errors import Ec2Error

# What AWS accepts in a VPC security group's name and description (and a rule's description).
GROUP_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")


def new_id(prefix: str) -> str:
    """`vpc-` + 17 hex digits, and so on, as AWS's current ids are."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def error(code: str, message: str) -> Ec2Error:
    return Ec2Error(message, code=code)


def limit(code: str, what: str) -> Ec2Error:
    return error(code, f"The maximum number of {what} has been reached.")


def cidr(value: str, parameter: str) -> ipaddress.IPv4Network:
    """An IPv4 CIDR block with no host bits set, or EC2's InvalidParameterValue naming the parameter."""
    try:
        if "/" not in value:
            raise ValueError(value)
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise error("InvalidParameterValue", f"Value ({value[:256]}) for parameter {parameter} is invalid. "
                    "This is not a valid CIDR block.") from None
