"""FunctionRecord and its settings store themselves as the `functions.meta` JSON they always had."""

from __future__ import annotations

import json
from typing import Any

from lambdad.control.functions import FunctionRecord
from lambdad.control.records import EventInvokeConfig, Published, ResourcePolicy, UrlConfig

#: A `functions.meta` value as servers before the typed records wrote it (every key in use).
STORED_BEFORE: dict[str, Any] = {
    "next_version": 3,
    "tags": {"team": "core"},
    "created": 1700000000.5,
    "reserved_concurrency": 7,
    "published": {"fingerprint": "ab" * 32, "version": "2"},
    "event_invoke_configs": {
        "$LATEST": {"MaximumRetryAttempts": 1, "LastModified": 1700000001.0},
        "live": {"MaximumEventAgeInSeconds": 120, "LastModified": 1700000002.0,
                 "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}},
    },
    "url_configs": {
        "$LATEST": {"UrlId": "u" * 32, "AuthType": "NONE", "CreationTime": "2024-01-31T12:34:56.789+0000",
                    "LastModifiedTime": "2024-02-01T00:00:00.000+0000", "Created": 1700000003.0,
                    "Cors": {"AllowOrigins": ["*"]}, "InvokeMode": "BUFFERED"},
    },
    "policies": {
        "": {"statements": [{"Sid": "s1", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                             "Action": "lambda:InvokeFunction",
                             "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f"}],
             "revision": "rev-1"},
    },
}


def test_stored_meta_of_before_loads_into_typed_fields() -> None:
    rec = FunctionRecord.from_stored("000000000000", "us-east-1", "f", json.loads(json.dumps(STORED_BEFORE)))
    assert rec.tags == {"team": "core"} and rec.reserved_concurrency == 7 and rec.next_version == 3
    assert rec.published == Published("ab" * 32, "2")
    live = rec.event_invoke_configs["live"]
    assert live.maximum_event_age_s == 120 and live.maximum_retry_attempts is None
    assert live.destination(False) == "arn:aws:sqs:us-east-1:000000000000:dlq" and live.destination(True) is None
    url = rec.url_configs["$LATEST"]
    assert (url.url_id, url.auth_type, url.cors, url.invoke_mode) == ("u" * 32, "NONE", {"AllowOrigins": ["*"]},
                                                                      "BUFFERED")
    assert rec.policies[""].revision == "rev-1" and rec.policies[""].statements[0]["Sid"] == "s1"


def test_stored_meta_round_trips_unchanged() -> None:
    rec = FunctionRecord.from_stored("000000000000", "us-east-1", "f", json.loads(json.dumps(STORED_BEFORE)))
    assert rec.to_stored() == STORED_BEFORE


def test_unknown_stored_keys_survive_a_save() -> None:
    rec = FunctionRecord.from_stored("000000000000", "us-east-1", "f", {"next_version": 1, "tags": {}, "created": 1.0,
                                                           "future_setting": {"x": 1}})
    assert rec.to_stored()["future_setting"] == {"x": 1}


def test_new_record_stores_the_keys_every_function_had() -> None:
    assert FunctionRecord("000000000000", "f", created=5.0).to_stored() == {"next_version": 1, "tags": {},
                                                                            "created": 5.0}


def test_event_invoke_config_renders_an_empty_destination_config() -> None:
    cfg = EventInvokeConfig(10.0, maximum_retry_attempts=0)
    assert cfg.to_api("arn") == {"FunctionArn": "arn", "LastModified": 10.0, "MaximumRetryAttempts": 0,
                                 "DestinationConfig": {}}
    assert EventInvokeConfig.from_stored(cfg.to_stored()) == cfg


def test_records_round_trip() -> None:
    url = UrlConfig("id", "AWS_IAM", "t1", "t2", 3.0)
    assert UrlConfig.from_stored(url.to_stored()) == url
    policy = ResourcePolicy(({"Sid": "a"},), "r")
    assert ResourcePolicy.from_stored(policy.to_stored()) == policy


def test_version_accessors_parse_the_configuration_with_aws_defaults() -> None:
    from lambdad.control.functions import FunctionVersion

    rec = FunctionRecord("000000000000", "f")
    bare = FunctionVersion("000000000000", "f", "$LATEST", {"FunctionArn": "arn"}, "d", rec)
    assert (bare.timeout_s, bare.memory_mb, bare.ephemeral_mb, bare.handler, bare.log_group,
            bare.dead_letter_target, bare.variables) == (3, 128, 512, "", "/aws/lambda/f", None, {})
    cfg = {"Timeout": 9, "MemorySize": 256, "EphemeralStorage": {"Size": 1024}, "Handler": "app.h",
           "LoggingConfig": {"LogGroup": "/custom"}, "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:r:1:q"},
           "Environment": {"Variables": {"A": "1"}}}
    full = FunctionVersion("000000000000", "f", "$LATEST", cfg, "d", rec)
    assert (full.timeout_s, full.memory_mb, full.ephemeral_mb, full.handler, full.log_group,
            full.dead_letter_target, full.variables) == (9, 256, 1024, "app.h", "/custom", "arn:aws:sqs:r:1:q",
                                                         {"A": "1"})
