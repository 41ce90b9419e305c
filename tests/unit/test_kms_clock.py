"""KMS's time on the injected clock: a deletion waits its window (7-30 days) and then the key, its
aliases and grants are gone; automatic rotation adds material when due and old ciphertext still opens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambdad.auth.keyring import Keyring
from lambdad.clock import FakeClock
from lambdad.errors import KmsError
from lambdad.services.kms.keys import DAY, KmsService
from lambdad.store import SqliteStore

ACCOUNT, REGION = "000000000000", "us-east-1"


def _advance(clock: FakeClock, seconds: float) -> None:
    asyncio.run(clock.advance(seconds))


def _kms(tmp_path: Path, clock: FakeClock) -> KmsService:
    return KmsService(SqliteStore(tmp_path / "lambdad.db"), Keyring(b"k" * 32), clock)


def test_deletion_happens_after_the_window_and_not_before(tmp_path: Path) -> None:
    clock = FakeClock()
    kms = _kms(tmp_path, clock)
    key = kms.create_key(ACCOUNT, REGION, {})
    kms.create_alias(ACCOUNT, REGION, "alias/doomed", key)
    kms.create_grant(ACCOUNT, key, {"GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:root", "Operations": ["Decrypt"]})
    blob, _ = kms.encrypt(key, b"x", None)
    for days in (6, 31):
        with pytest.raises(KmsError):
            kms.schedule_deletion(key, days)
    kms.schedule_deletion(key, 7)
    assert key.deletion_date == clock.time() + 7 * DAY
    _advance(clock, 7 * DAY - 1)
    assert kms.find(ACCOUNT, REGION, key.key_id) is key
    with pytest.raises(KmsError) as exc:
        kms.decrypt(key, blob, None)
    assert exc.value.code == "KMSInvalidStateException"
    _advance(clock, 1)
    assert kms.find(ACCOUNT, REGION, key.key_id) is None
    assert kms.find(ACCOUNT, REGION, "alias/doomed") is None and kms.grants == {}
    with pytest.raises(KmsError) as exc:
        kms.key_of_ciphertext(ACCOUNT, REGION, blob, None)
    assert exc.value.code == "InvalidCiphertextException"
    # The deletion is durable: a restarted service has no such key.
    assert _kms(tmp_path, clock).find(ACCOUNT, REGION, key.key_id) is None


def test_cancelled_deletion_leaves_the_key_disabled(tmp_path: Path) -> None:
    clock = FakeClock()
    kms = _kms(tmp_path, clock)
    key = kms.create_key(ACCOUNT, REGION, {})
    kms.schedule_deletion(key, None)
    assert key.deletion_date == clock.time() + 30 * DAY
    kms.cancel_deletion(key)
    assert key.state == "Disabled" and key.deletion_date is None
    _advance(clock, 40 * DAY)
    assert kms.find(ACCOUNT, REGION, key.key_id) is key


def test_automatic_rotation_when_due(tmp_path: Path) -> None:
    clock = FakeClock()
    kms = _kms(tmp_path, clock)
    key = kms.create_key(ACCOUNT, REGION, {})
    kms.set_rotation(key, True, 90)
    old, _ = kms.encrypt(key, b"old", {"a": "b"})
    _advance(clock, 89 * DAY)
    kms.encrypt(key, b"x", None)
    assert len(key.materials) == 1
    _advance(clock, DAY)
    new, _ = kms.encrypt(key, b"new", None)
    assert len(key.materials) == 2 and key.next_rotation == clock.time() + 90 * DAY
    reopened = _kms(tmp_path, clock)
    same = reopened.find(ACCOUNT, REGION, key.key_id)
    assert same is not None
    assert reopened.decrypt(same, old, {"a": "b"})[0] == b"old"
    assert reopened.decrypt(same, new, None)[0] == b"new"


def test_a_function_key_deleted_after_its_window_is_kms_not_found(tmp_path: Path) -> None:
    """Lambda's view of the same clock: invocations refused while pending deletion, then KMSNotFoundException,
    and the sealed variables are gone with the key (Environment.Error after a restart)."""
    from lambdad.auth.authorizer import Authorizer
    from lambdad.auth.credentials import CredentialStore
    from lambdad.config import Config
    from lambdad.errors import LambdaKmsError
    from lambdad.services.iam.identities import Iam
    from lambdad.services.kms.lambda_keys import LambdaKeys

    clock = FakeClock()
    config = Config(data_dir=str(tmp_path))
    store = SqliteStore(tmp_path / "lambdad.db")
    keyring = Keyring(b"k" * 32)
    iam = Iam(store, keyring, CredentialStore(config, store, keyring), ACCOUNT, REGION)
    role = iam.ensure_lambda_role(ACCOUNT, "fn-role")["Arn"]
    kms = KmsService(store, keyring, clock)
    keys = LambdaKeys(kms, Authorizer(iam, REGION), REGION)
    key = kms.create_key(ACCOUNT, REGION, {})
    keys.check(ACCOUNT, REGION, key.arn)
    sealed = keys.seal(ACCOUNT, REGION, key.arn, b'{"A": "1"}', {"LambdaFunctionName": "fn"})
    assert keys.open(sealed, {"LambdaFunctionName": "fn"}) == b'{"A": "1"}'
    with pytest.raises(LambdaKmsError) as exc:  # the role's policy allows no kms:Decrypt
        keys.check_decrypt(ACCOUNT, REGION, key.arn, role, "fn")
    assert exc.value.code == "KMSAccessDeniedException" and exc.value.status == 502
    iam.put_inline(ACCOUNT, "role", "fn-role", "kms", '{"Version": "2012-10-17", "Statement": [{"Effect": '
                   '"Allow", "Action": "kms:Decrypt", "Resource": "*"}]}')
    keys.check_decrypt(ACCOUNT, REGION, key.arn, role, "fn")
    kms.schedule_deletion(key, 7)
    with pytest.raises(LambdaKmsError) as exc:
        keys.check_decrypt(ACCOUNT, REGION, key.arn, role, "fn")
    assert exc.value.code == "KMSInvalidStateException"
    _advance(clock, 7 * DAY)
    with pytest.raises(LambdaKmsError) as exc:
        keys.check_decrypt(ACCOUNT, REGION, key.arn, role, "fn")
    assert exc.value.code == "KMSNotFoundException"
    assert exc.value.message.startswith("Lambda was unable to decrypt the environment variables because the KMS "
                                        "key was not found.")
    assert keys.open(sealed, {"LambdaFunctionName": "fn"}) is None
