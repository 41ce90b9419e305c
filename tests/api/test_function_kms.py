"""A function's customer managed KMS key (KMSKeyArn): environment variables sealed under it at rest, the
key checked when set, invocations refused as Lambda refuses them when the key cannot decrypt, and the
console's encryption-helpers pattern (a value encrypted with `aws kms encrypt`, decrypted in the handler
with boto3) governed by the execution role's kms:Decrypt."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.auth.test_authz import _lambda_role, _user
from tests.conftest import ROLE, Server, api_error, create_function, make_zip, unique
from tests.services.conftest import aws_cli

SHOW_ENV = "import os\ndef handler(event, context):\n    return os.environ.get('SECRET')\n"
DECRYPTS = '''
import base64, os
import boto3

def handler(event, context):
    kms = boto3.client("kms")
    try:
        out = kms.decrypt(CiphertextBlob=base64.b64decode(os.environ["TOKEN"]),
                          EncryptionContext={"LambdaFunctionName": os.environ["AWS_LAMBDA_FUNCTION_NAME"]})
        return out["Plaintext"].decode()
    except Exception as exc:
        return "error:" + exc.response["Error"]["Code"]
'''


@pytest.fixture(scope="module")
def kms(server: Server) -> Any:
    return server.client("kms")


def _invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_customer_key_seals_variables_and_disabled_key_fails_invocations(server: Server, lam: Any,
                                                                           kms: Any) -> None:
    key = kms.create_key(Description="env")["KeyMetadata"]
    name = create_function(lam, SHOW_ENV, KMSKeyArn=key["Arn"], Environment={"Variables": {"SECRET": "hunter2"}})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["KMSKeyArn"] == key["Arn"] and cfg["Environment"]["Variables"] == {"SECRET": "hunter2"}
    assert _invoke(lam, name) == "hunter2"

    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    status, code, message = api_error(exc)
    assert (status, code) == (502, "KMSDisabledException")
    assert message.startswith("Lambda was unable to decrypt the environment variables because the KMS key used is "
                              "disabled. Please check the function's KMS key settings.")
    kms.enable_key(KeyId=key["KeyId"])
    assert _invoke(lam, name) == "hunter2"

    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    assert api_error(exc)[:2] == (502, "KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    kms.enable_key(KeyId=key["KeyId"])
    assert _invoke(lam, name) == "hunter2"


def test_key_must_exist_and_be_enabled_when_set(lam: Any, kms: Any) -> None:
    missing = "arn:aws:kms:us-east-1:000000000000:key/12345678-1234-1234-1234-123456789012"
    with pytest.raises(ClientError) as exc:
        create_function(lam, SHOW_ENV, KMSKeyArn=missing, wait=False)
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "Lambda was unable to configure access to your environment variables because the KMS "
                              "key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
                              f"NotFoundException KMS Message: Key '{missing}' does not exist")
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    name = create_function(lam, SHOW_ENV)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, KMSKeyArn=disabled["Arn"])
    assert api_error(exc)[1] == "InvalidParameterValueException"
    assert "KMS Exception: DisabledException" in api_error(exc)[2]
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, KMSKeyArn=signer["Arn"])
    assert api_error(exc)[1] == "InvalidParameterValueException"
    # Setting it, and clearing it with "".
    good = kms.create_key()["KeyMetadata"]
    lam.update_function_configuration(FunctionName=name, KMSKeyArn=good["Arn"])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert lam.get_function_configuration(FunctionName=name)["KMSKeyArn"] == good["Arn"]
    lam.update_function_configuration(FunctionName=name, KMSKeyArn="")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert "KMSKeyArn" not in lam.get_function_configuration(FunctionName=name)


def test_execution_role_and_key_policy_govern_decryption(server: Server, lam: Any, kms: Any) -> None:
    # A role with no kms:Decrypt: the default key policy defers to IAM, which does not allow it.
    bare_role = _lambda_role(server, {"Effect": "Allow", "Action": "logs:*", "Resource": "*"})
    key = kms.create_key()["KeyMetadata"]
    name = unique("kmsrole")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=bare_role,
                        Code={"ZipFile": make_zip({"app.py": SHOW_ENV})}, KMSKeyArn=key["Arn"],
                        Environment={"Variables": {"SECRET": "x"}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    status, code, message = api_error(exc)
    assert (status, code) == (502, "KMSAccessDeniedException")
    assert "because KMS access was denied" in message and "kms:Decrypt" in message
    # The key policy alone (naming the role) is enough, without any IAM policy.
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": bare_role}, "Action": "kms:Decrypt", "Resource": "*"}]}))
    assert _invoke(lam, name) == "x"
    # And a key policy that leaves the account out refuses even the admin test role.
    admin_fn = create_function(lam, SHOW_ENV, KMSKeyArn=key["Arn"], Environment={"Variables": {"SECRET": "y"}})
    assert _invoke(lam, admin_fn) == "y"
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", BypassPolicyLockoutSafetyCheck=True,
                       Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Principal": {"AWS": bare_role}, "Action": "kms:Decrypt",
                            "Resource": "*"}]}))
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=admin_fn)
    assert api_error(exc)[:2] == (502, "KMSAccessDeniedException")


def test_client_side_encrypted_value_decrypted_in_the_handler(server: Server, lam: Any, kms: Any,
                                                               tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    name = unique("helpers")
    (tmp_path / "plain").write_bytes(b"db-password")
    blob = aws_cli(server, "kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{tmp_path / 'plain'}",
                   "--encryption-context", f"LambdaFunctionName={name}")["CiphertextBlob"]
    create_function(lam, DECRYPTS, name=name, Timeout=30, Environment={"Variables": {"TOKEN": blob}})
    assert _invoke(lam, name) == "db-password"
    # A role without kms:Decrypt gets AccessDeniedException from KMS in the handler.
    denied_role = _lambda_role(server, {"Effect": "Allow", "Action": "logs:*", "Resource": "*"})
    lam.update_function_configuration(FunctionName=name, Role=denied_role)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert _invoke(lam, name) == "error:AccessDeniedException"


def test_variables_at_rest_are_sealed_under_the_key_and_survive_restart(fresh_server: Server) -> None:
    fresh_server.start()
    lam, kms = fresh_server.client("lambda"), fresh_server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    name = create_function(lam, SHOW_ENV, KMSKeyArn=key["Arn"],
                           Environment={"Variables": {"SECRET": "plain-needle-42"}})
    fresh_server.stop(signal.SIGKILL)
    assert b"plain-needle-42" not in (fresh_server.data_dir / "lambdad.db").read_bytes()
    fresh_server.start()
    lam = fresh_server.client("lambda")
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == \
        {"SECRET": "plain-needle-42"}
    assert _invoke(lam, name) == "plain-needle-42"
    stored = base64.b64encode(b"plain-needle-42")
    assert stored not in (fresh_server.data_dir / "lambdad.db").read_bytes()


def test_setting_a_key_needs_the_callers_kms_create_grant(server: Server, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    lambda_only = {"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}
    user_arn, keys = _user(server, lambda_only)
    as_user = server.client("lambda", **keys)
    name = unique("grantless")
    kwargs = {"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
              "Code": {"ZipFile": make_zip({"app.py": SHOW_ENV})}, "KMSKeyArn": key["Arn"]}
    with pytest.raises(ClientError) as exc:
        as_user.create_function(**kwargs)
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "Lambda was unable to configure access to your environment variables because the KMS "
                              "key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
                              f"AccessDeniedException KMS Message: User: {user_arn} is not authorized to perform: "
                              f"kms:CreateGrant on resource: {key['Arn']} because no identity-based policy allows "
                              "the kms:CreateGrant action")
    _, allowed_keys = _user(server, lambda_only, {"Effect": "Allow", "Action": "kms:CreateGrant",
                                                  "Resource": key["Arn"]})
    server.client("lambda", **allowed_keys).create_function(**kwargs)
