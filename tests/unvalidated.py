"""A boto3 client that skips client-side parameter validation, to see the server's own answers
(as AWS's recorded responses were taken)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server


def unvalidated_client(server: Server, service: str = "lambda") -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=Config(parameter_validation=False, retries={"max_attempts": 0}))
