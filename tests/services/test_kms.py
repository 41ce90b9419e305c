"""KMS through unmodified boto3 and the AWS CLI: keys, aliases, encryption with context, data keys,
signatures, key policies with IAM, grants, key states, rotation, tags, and the attacks (another
account's key, tampered or misdirected ciphertext, oversized plaintext)."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.auth.test_authz import _create_account, _parse_keys, _user
from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, unique
from tests.services.conftest import aws_cli


@pytest.fixture(scope="module")
def kms(server: Server) -> Any:
    return server.client("kms")


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def _key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]


# -- keys -----------------------------------------------------------------------------------------

def test_create_describe_list_symmetric_key(kms: Any) -> None:
    meta = _key(kms, Description="orders", Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True and meta["KeyManager"] == "CUSTOMER"
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and meta["AWSAccountId"] == ACCOUNT
    for ref in (meta["KeyId"], meta["Arn"]):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["Description"] == "orders"
    listed = [k["KeyId"] for k in kms.get_paginator("list_keys").paginate().build_full_result()["Keys"]]
    assert meta["KeyId"] in listed
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "a"}]


def test_missing_keys_are_not_found_in_kms_words(kms: Any) -> None:
    missing = "12345678-1234-1234-1234-123456789012"
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=missing)
    assert _err(exc) == (400, "NotFoundException",
                         f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist")
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="alias/none-such")
    assert _err(exc) == (400, "NotFoundException",
                         f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none-such is not found.")
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId="not-a-key", Plaintext=b"x")
    assert _err(exc)[:2] == (400, "NotFoundException")


def test_aws_cli_encrypt_decrypt_round_trip(server: Server, kms: Any, tmp_path: Path) -> None:
    key_id = aws_cli(server, "kms", "create-key", "--description", "cli")["KeyMetadata"]["KeyId"]
    alias = f"alias/{unique('cli')}"
    aws_cli(server, "kms", "create-alias", "--alias-name", alias, "--target-key-id", key_id)
    (tmp_path / "plain").write_bytes(b"s3cret")
    out = aws_cli(server, "kms", "encrypt", "--key-id", alias, "--plaintext", f"fileb://{tmp_path / 'plain'}",
                  "--encryption-context", "app=orders")
    blob = base64.b64decode(out["CiphertextBlob"])
    (tmp_path / "blob").write_bytes(blob)
    plain = aws_cli(server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                    "--encryption-context", "app=orders")
    assert base64.b64decode(plain["Plaintext"]) == b"s3cret" and plain["KeyId"].endswith(key_id)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "orders"})["Plaintext"] == b"s3cret"


# -- aliases ----------------------------------------------------------------------------------------

def test_aliases_create_list_update_delete(kms: Any) -> None:
    first, second = _key(kms)["KeyId"], _key(kms)["KeyId"]
    name = f"alias/{unique('a')}"
    kms.create_alias(AliasName=name, TargetKeyId=first)
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=name, TargetKeyId=second)
    assert _err(exc) == (400, "AlreadyExistsException",
                         f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:{name} already exists")
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == first
    listed = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert listed[name]["TargetKeyId"] == first
    assert listed[name]["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=first)["Aliases"]] == [name]
    blob = kms.encrypt(KeyId=name, Plaintext=b"v1")["CiphertextBlob"]
    kms.update_alias(AliasName=name, TargetKeyId=second)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == second
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"v1"  # the blob names its key, not the alias
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=name)
    assert _err(exc)[1] == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=first)
    assert _err(exc)[1] == "NotAuthorizedException"


def test_aws_managed_lambda_key(kms: Any) -> None:
    meta = kms.describe_key(KeyId="alias/aws/lambda")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled"
    assert "alias/aws/lambda" in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert kms.describe_key(KeyId="alias/aws/lambda")["KeyMetadata"]["KeyId"] == meta["KeyId"]  # one key
    # Its policy lets the account use it only through Lambda.
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId="alias/aws/lambda", Plaintext=b"x")
    assert _err(exc)[1] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        kms.disable_key(KeyId=meta["KeyId"])
    assert _err(exc)[1] == "AccessDeniedException"
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True


# -- encryption -------------------------------------------------------------------------------------

def test_encrypt_decrypt_with_context_and_reencrypt(kms: Any) -> None:
    a, b = _key(kms), _key(kms)
    ctx = {"tenant": "t1", "purpose": "env"}
    out = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"hello", EncryptionContext=ctx)
    assert out["KeyId"] == a["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"hello" not in blob
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))
    assert back["Plaintext"] == b"hello" and back["KeyId"] == a["Arn"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=b["KeyId"],
                           DestinationEncryptionContext={"tenant": "t2"})
    assert moved["SourceKeyId"] == a["Arn"] and moved["KeyId"] == b["Arn"]
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"],
                       EncryptionContext={"tenant": "t2"})["Plaintext"] == b"hello"


def test_wrong_context_tampering_and_other_keys_are_invalid_ciphertext(kms: Any) -> None:
    a, b = _key(kms), _key(kms)
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"secret", EncryptionContext={"k": "v"})["CiphertextBlob"]
    for attempt in ({"EncryptionContext": {"k": "w"}}, {}, {"EncryptionContext": {"k": "v", "x": "y"}}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, **attempt)
        assert _err(exc)[:2] == (400, "InvalidCiphertextException")
    for i in (0, 5, len(blob) // 2, len(blob) - 1):  # any byte: the header, the nonce, the body, the tag
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"k": "v"})
        assert _err(exc)[1] in ("InvalidCiphertextException", "IncorrectKeyException")
    with pytest.raises(ClientError) as exc:  # presented as another key's ciphertext
        kms.decrypt(CiphertextBlob=blob, KeyId=b["KeyId"], EncryptionContext={"k": "v"})
    assert _err(exc)[:2] == (400, "IncorrectKeyException")
    # A blob rewritten to claim the other key does not open under it either.
    forged = blob[:1] + b["KeyId"].encode() + blob[37:]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=forged, EncryptionContext={"k": "v"})
    assert _err(exc)[:2] == (400, "InvalidCiphertextException")
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=b"garbage" * 10)
    assert _err(exc)[:2] == (400, "InvalidCiphertextException")


def test_plaintext_limit_is_4096_bytes(kms: Any) -> None:
    key = _key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x" * 4096)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x" * 4096
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x" * 4097)
    assert _err(exc) == (400, "ValidationException", "1 validation error detected: Value at 'plaintext' failed to "
                         "satisfy constraint: Member must have length less than or equal to 4096")


def test_data_keys_and_random(kms: Any) -> None:
    key = _key(kms)["KeyId"]
    out = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"f": "1"})
    assert len(out["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "1"})["Plaintext"] == \
        out["Plaintext"]
    bare = kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=16)
    assert "Plaintext" not in bare and len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key)
    assert _err(exc)[1] == "ValidationException"
    assert len(kms.generate_random(NumberOfBytes=64)["Plaintext"]) == 64


# -- asymmetric keys --------------------------------------------------------------------------------

def test_ecc_sign_verify_and_public_key(kms: Any) -> None:
    meta = _key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"] and "EncryptionAlgorithms" not in meta
    sig = kms.sign(KeyId=meta["KeyId"], Message=b"payload", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=meta["KeyId"], Message=b"payload", Signature=sig,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=meta["KeyId"], Message=b"other", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
    assert _err(exc)[1] == "KMSInvalidSignatureException"
    # The public key verifies the signature outside KMS, and a digest signs as the message would.
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(b"payload").digest()
    sig2 = kms.sign(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST",
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(sig2, b"payload", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
    assert _err(exc)[1] == "InvalidKeyUsageException"


def test_rsa_sign_and_encrypt_keys(kms: Any) -> None:
    signer = _key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    for algorithm in ("RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384"):
        sig = kms.sign(KeyId=signer["KeyId"], Message=b"m", SigningAlgorithm=algorithm)["Signature"]
        assert kms.verify(KeyId=signer["KeyId"], Message=b"m", Signature=sig,
                          SigningAlgorithm=algorithm)["SignatureValid"]
    enc = _key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    assert enc["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    blob = kms.encrypt(KeyId=enc["KeyId"], Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], KeyId=enc["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"rsa"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=enc["KeyId"], Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert _err(exc)[1] == "ValidationException"


# -- key states -------------------------------------------------------------------------------------

def test_disable_enable_and_deletion_window(kms: Any) -> None:
    meta = _key(kms)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    kms.disable_key(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert _err(exc) == (400, "DisabledException", f"{meta['Arn']} is disabled.")
    kms.enable_key(KeyId=meta["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    for days in (6, 31):
        with pytest.raises(ClientError) as exc:
            kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=days)
        assert _err(exc)[1] == "ValidationException"
    out = kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p")
    assert _err(exc) == (400, "KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"  # as KMS leaves it


def test_rotation_status_and_on_demand_rotation_keep_old_ciphertext(kms: Any) -> None:
    key = _key(kms)["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    new = kms.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [(r["KeyId"], r["RotationType"]) for r in rotations] == [(key, "ON_DEMAND")]
    kms.disable_key_rotation(KeyId=key)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False


def test_tags(kms: Any) -> None:
    key = _key(kms)["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
    kms.untag_resource(KeyId=key, TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
    assert _err(exc)[1] == "TagException"


# -- policies and grants ----------------------------------------------------------------------------

def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_default_key_policy_lets_iam_decide(server: Server, kms: Any) -> None:
    meta = _key(kms)
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert kms.list_key_policies(KeyId=meta["KeyId"])["PolicyNames"] == ["default"]
    user_arn, keys = _user(server, {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": meta["Arn"]})
    as_user = server.client("kms", **keys)
    as_user.encrypt(KeyId=meta["KeyId"], Plaintext=b"ok")
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"ok")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        as_user.decrypt(CiphertextBlob=blob)
    assert _err(exc) == (400, "AccessDeniedException", f"User: {user_arn} is not authorized to perform: "
                         f"kms:Decrypt on resource: {meta['Arn']} because no identity-based policy allows the "
                         "kms:Decrypt action")


def test_key_policy_without_the_account_ignores_iam_and_locks_out_root(server: Server, kms: Any) -> None:
    user_arn, keys = _user(server, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    # Only this user, directly: IAM policies (and the root) no longer count.
    policy = _doc({"Sid": "only-user", "Effect": "Allow", "Principal": {"AWS": user_arn},
                   "Action": ["kms:Encrypt", "kms:Decrypt", "kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"})
    meta = _key(kms, Policy=policy, BypassPolicyLockoutSafetyCheck=True)
    as_user = server.client("kms", **keys)
    blob = as_user.encrypt(KeyId=meta["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert _err(exc) == (400, "AccessDeniedException", f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to "
                         f"perform: kms:Decrypt on resource: {meta['Arn']} because no resource-based policy allows "
                         "the kms:Decrypt action")
    # A user named directly needs no IAM policy: a second user with none is still refused (not named).
    _, bare_keys = _user(server)
    with pytest.raises(ClientError) as exc:
        server.client("kms", **bare_keys).decrypt(CiphertextBlob=blob)
    assert _err(exc)[1] == "AccessDeniedException"
    # The lockout safety check: a policy that would lock the caller out is refused unless bypassed.
    with pytest.raises(ClientError) as exc:
        as_user.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=_doc(
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:Decrypt", "Resource": "*"}))
    assert _err(exc) == (400, "MalformedPolicyDocumentException",
                         "The new key policy will not allow you to update the key policy in the future.")
    # An explicit deny in the key policy beats the user's IAM allow.
    as_user.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "kms:Decrypt", "Resource": "*"}))
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mine"  # root again, through the account
    with pytest.raises(ClientError) as exc:
        as_user.decrypt(CiphertextBlob=blob)
    assert _err(exc)[2].endswith("with an explicit deny in a resource-based policy")


def test_context_conditions_in_key_policy(server: Server, kms: Any) -> None:
    user_arn, keys = _user(server)
    meta = _key(kms, Policy=_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "t1"}}}))
    as_user = server.client("kms", **keys)
    as_user.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "t1"})
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "t2"})
    assert _err(exc)[1] == "AccessDeniedException"


def test_grants_allow_their_operations_and_retire(server: Server, kms: Any) -> None:
    meta = _key(kms)
    user_arn, keys = _user(server)  # no IAM policy at all
    as_user = server.client("kms", **keys)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"g", EncryptionContext={"app": "a"})["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        as_user.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "a"})
    assert _err(exc)[1] == "AccessDeniedException"
    grant = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=user_arn, Operations=["Decrypt"],
                             RetiringPrincipal=user_arn, Name="g1",
                             Constraints={"EncryptionContextSubset": {"app": "a"}})
    assert as_user.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "a"})["Plaintext"] == b"g"
    with pytest.raises(ClientError) as exc:  # the grant covers Decrypt only
        as_user.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionContext={"app": "a"})
    assert _err(exc)[1] == "AccessDeniedException"
    listed = kms.list_grants(KeyId=meta["KeyId"])["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], g["Operations"], g["Name"]) for g in listed] == \
        [(grant["GrantId"], user_arn, ["Decrypt"], "g1")]
    retirable = kms.list_retirable_grants(RetiringPrincipal=user_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    as_user.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=meta["KeyId"])["Grants"] == []
    with pytest.raises(ClientError) as exc:
        as_user.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "a"})
    assert _err(exc)[1] == "AccessDeniedException"
    second = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=user_arn, Operations=["Encrypt"])
    kms.revoke_grant(KeyId=meta["KeyId"], GrantId=second["GrantId"])
    assert kms.list_grants(KeyId=meta["KeyId"])["Grants"] == []


def test_another_accounts_key_needs_the_key_policy(server: Server, kms: Any) -> None:
    created = _create_account(server, unique("kmsacct"))
    assert created.returncode == 0, created.stderr
    other, root_keys = _parse_keys(created.stdout)
    theirs = server.client("kms", **root_keys)
    meta = _key(kms)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"ours")["CiphertextBlob"]
    assert meta["KeyId"] not in [k["KeyId"] for k in theirs.list_keys()["Keys"]]
    with pytest.raises(ClientError) as exc:  # a bare key id is looked up in the caller's own account
        theirs.describe_key(KeyId=meta["KeyId"])
    assert _err(exc)[1] == "NotFoundException"
    for call in (lambda: theirs.describe_key(KeyId=meta["Arn"]),
                 lambda: theirs.decrypt(CiphertextBlob=blob),
                 lambda: theirs.encrypt(KeyId=meta["Arn"], Plaintext=b"x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert _err(exc)[1] == "AccessDeniedException"
        assert f"arn:aws:iam::{other}:root" in _err(exc)[2]
    with pytest.raises(ClientError) as exc:  # management of another account's key is not offered at all
        theirs.disable_key(KeyId=meta["Arn"])
    assert _err(exc)[1] in ("NotFoundException", "AccessDeniedException")
    kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": "kms:Decrypt",
         "Resource": "*"}))
    assert theirs.decrypt(CiphertextBlob=blob)["Plaintext"] == b"ours"
    with pytest.raises(ClientError) as exc:
        theirs.encrypt(KeyId=meta["Arn"], Plaintext=b"x")
    assert _err(exc)[1] == "AccessDeniedException"


def test_malformed_input_is_a_4xx(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert _err(exc)[0] == 400
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy="{not json")
    assert _err(exc)[:2] == (400, "MalformedPolicyDocumentException")
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=_key(kms)["KeyId"], Plaintext=b"")
    assert _err(exc)[0] == 400


def test_keys_survive_a_restart(fresh_server: Server) -> None:
    fresh_server.start()
    kms = fresh_server.client("kms")
    meta = _key(kms)
    kms.create_alias(AliasName="alias/kept", TargetKeyId=meta["KeyId"])
    blob = kms.encrypt(KeyId="alias/kept", Plaintext=b"durable")["CiphertextBlob"]
    fresh_server.stop(signal.SIGKILL)
    db = (fresh_server.data_dir / "lambdad.db").read_bytes()
    assert b"durable" not in db
    fresh_server.start()
    kms = fresh_server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
    assert kms.describe_key(KeyId="alias/kept")["KeyMetadata"]["KeyId"] == meta["KeyId"]


def test_keys_are_scoped_by_region(server: Server, kms: Any) -> None:
    west = boto3.client("kms", endpoint_url=server.endpoint, region_name="us-west-2", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)
    meta = west.create_key()["KeyMetadata"]
    assert meta["Arn"].startswith(f"arn:aws:kms:us-west-2:{ACCOUNT}:key/")
    blob = west.encrypt(KeyId=meta["KeyId"], Plaintext=b"west")["CiphertextBlob"]
    assert meta["KeyId"] not in [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=meta["KeyId"])
    assert _err(exc)[1] == "NotFoundException"
    with pytest.raises(ClientError) as exc:  # a us-west-2 ciphertext means nothing in us-east-1
        kms.decrypt(CiphertextBlob=blob)
    assert _err(exc)[1] == "InvalidCiphertextException"
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"west"
    west.create_alias(AliasName="alias/same-name", TargetKeyId=meta["KeyId"])
    kms.create_alias(AliasName="alias/same-name", TargetKeyId=_key(kms)["KeyId"])  # another region, no clash


def test_hmac_keys_generate_and_verify_macs(kms: Any) -> None:
    import hmac

    meta = _key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert meta["MacAlgorithms"] == ["HMAC_SHA_256"] and "EncryptionAlgorithms" not in meta
    mac = kms.generate_mac(KeyId=meta["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    assert kms.verify_mac(KeyId=meta["KeyId"], Message=b"msg", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=meta["KeyId"], Message=b"other", Mac=mac, MacAlgorithm="HMAC_SHA_256")
    assert _err(exc)[1] == "KMSInvalidMacException"
    assert not hmac.compare_digest(mac, bytes(32))
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=meta["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_512")
    assert _err(exc)[1] == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
    assert _err(exc)[1] == "InvalidKeyUsageException"


def test_data_key_pairs(kms: Any) -> None:
    key = _key(kms)["KeyId"]
    out = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256", EncryptionContext={"p": "1"})
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"p": "1"})["Plaintext"]
    assert opened == out["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in bare and bare["KeyPairSpec"] == "RSA_2048"


def test_dry_run_checks_and_does_nothing(server: Server, kms: Any) -> None:
    key = _key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert _err(exc) == (400, "DryRunOperationException",
                         "The request would have succeeded, but the DryRun option is set.")
    _, keys = _user(server)
    with pytest.raises(ClientError) as exc:  # not allowed: AccessDenied, not DryRun
        server.client("kms", **keys).encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert _err(exc)[1] == "AccessDeniedException"
