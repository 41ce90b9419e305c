"""Clients for the embedded services: current boto3 (JSON SQS), boto3 with the query-protocol SQS
model older SDKs used, and the AWS CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server

# botocore 1.29's SQS model (query protocol, documentation stripped), as SDKs used it until 2023.
QUERY_MODEL_DIR = Path(__file__).parent.parent / "data" / "sqs-query-model"


def query_sqs_client(server: Server) -> Any:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(QUERY_MODEL_DIR))
    client = boto3.Session(botocore_session=session).client(
        "sqs", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, config=BotoConfig(retries={"max_attempts": 0}, read_timeout=60))
    assert client.meta.service_model.protocol == "query"
    return client


@pytest.fixture(scope="session")
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="session")
def sqs_query(server: Server) -> Any:
    return query_sqs_client(server)


@pytest.fixture(scope="session")
def sns(server: Server) -> Any:
    return server.client("sns")


def aws_cli(server: Server, *args: str) -> Any:
    """Run `aws <args>` against the server; the parsed JSON output ({} when there is none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
    aws = str(Path(sys.executable).parent / "aws")
    proc = subprocess.run([aws, *args, "--endpoint-url", server.endpoint, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {proc.stderr}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}
