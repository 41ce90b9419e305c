"""Create/UpdateEventSourceMapping parameters, checked per kind of source in AWS's words.

The model's own constraints (BatchSize 1-10,000, MaximumBatchingWindowInSeconds 0-300,
MaximumConcurrency 2-1,000, ParallelizationFactor 1-10, MaximumRetryAttempts -1-10,000, the enums)
are the codec's (api/shapes.py); what is checked here is what depends on the source: which settings
apply to it, its batch size ceiling, the batching window rule, FIFO's limits, filter patterns.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lambdad.control.names import validation_error
from lambdad.errors import InvalidParameterValueException
from lambdad.mappings import filters
from lambdad.mappings.records import EventSourceMapping, StreamOptions

#: Settings only streams have; on an SQS mapping AWS refuses them by name.
STREAM_ONLY = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "DestinationConfig",
               "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
               "TumblingWindowInSeconds")
#: Settings of Kafka, MQ and DocumentDB sources, none of which lambdad embeds.
OTHER_SOURCES = ("Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource",
                 "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
                 "DocumentDBEventSourceConfig", "ProvisionedPollerConfig")
QUEUE_ONLY = ("ScalingConfig",)
_LABELS = {"sqs": "SQS", "kinesis": "Kinesis", "dynamodb": "DynamoDB Streams"}

DEFAULT_BATCH = {"sqs": 10, "kinesis": 100, "dynamodb": 100}
#: above this, an SQS mapping needs a batching window (AWS's rule)
SQS_UNWINDOWED_MAX = 10
FIFO_MAX_BATCH = 10
MAX_FILTERS = 5
WINDOW_NEEDED = "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
MIN_RECORD_AGE = 60


def not_valid(name: str, kind: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"{name} is not valid for {_LABELS.get(kind, kind)} event sources.")


def check_applicable(params: dict[str, Any], kind: str) -> None:
    """Refuse settings the source does not have (AWS: "StartingPosition is not valid for SQS event sources.")."""
    foreign = OTHER_SOURCES + (STREAM_ONLY if kind == "sqs" else QUEUE_ONLY)
    for name in foreign:
        if params.get(name) is not None:
            raise not_valid(name, kind)


def apply(mapping: EventSourceMapping, params: dict[str, Any], *, creating: bool) -> EventSourceMapping:
    """`mapping` with what `params` sets, validated as a whole (an update is checked with the settings it
    keeps). Raises InvalidParameterValueException / ValidationException in AWS's words."""
    kind = mapping.kind
    check_applicable(params, kind)
    out = replace(mapping)
    if params.get("BatchSize") is not None:
        out.batch_size = int(params["BatchSize"])
    if params.get("MaximumBatchingWindowInSeconds") is not None:
        out.batching_window_s = int(params["MaximumBatchingWindowInSeconds"])
    if params.get("FunctionResponseTypes") is not None:
        out.response_types = list(params["FunctionResponseTypes"])
    if params.get("FilterCriteria") is not None:
        out.filters = _patterns(params["FilterCriteria"])
    if params.get("ScalingConfig") is not None:
        out.maximum_concurrency = params["ScalingConfig"].get("MaximumConcurrency")
    if params.get("MetricsConfig") is not None:
        out.metrics = list(params["MetricsConfig"].get("Metrics") or [])
    if kind == "sqs":
        _check_sqs(out)
    else:
        out.stream = _stream_options(out.stream or StreamOptions(), params, creating=creating)
    return out


def _check_sqs(m: EventSourceMapping) -> None:
    if m.batch_size > SQS_UNWINDOWED_MAX and m.batching_window_s == 0:
        raise InvalidParameterValueException(WINDOW_NEEDED)
    if m.fifo:
        if m.batching_window_s > 0:
            raise InvalidParameterValueException("Batching window is not supported for FIFO queues.")
        if m.batch_size > FIFO_MAX_BATCH:
            raise InvalidParameterValueException(WINDOW_NEEDED)


def _patterns(criteria: dict[str, Any]) -> list[str]:
    """FilterCriteria.Filters[].Pattern, each compiled once to prove it (AWS: one message for any flaw)."""
    given = criteria.get("Filters")
    if given is None:
        return []
    if len(given) > MAX_FILTERS:
        raise InvalidParameterValueException(
            f"The maximum number of filters per event source mapping is {MAX_FILTERS}.")
    out = []
    for entry in given:
        pattern = entry.get("Pattern")
        filters.compile_filter(pattern)  # raises "Invalid filter pattern definition."
        out.append(pattern)
    return out


def _stream_options(current: StreamOptions, params: dict[str, Any], *, creating: bool) -> StreamOptions:
    s = replace(current)
    position = params.get("StartingPosition")
    if creating:
        if position is None:
            raise validation_error(["Value null at 'startingPosition' failed to satisfy constraint: Member must "
                                    "not be null"])
        s.starting_position = position
        stamp = params.get("StartingPositionTimestamp")
        if position == "AT_TIMESTAMP":
            if stamp is None:
                raise InvalidParameterValueException("Need to specify a timestamp")
            s.starting_position_timestamp = _epoch(stamp)
        elif stamp is not None:
            raise InvalidParameterValueException(
                "StartingPositionTimestamp is only valid when StartingPosition is AT_TIMESTAMP.")
    if params.get("ParallelizationFactor") is not None:
        s.parallelization_factor = int(params["ParallelizationFactor"])
    if params.get("MaximumRetryAttempts") is not None:
        s.maximum_retry_attempts = int(params["MaximumRetryAttempts"])
    if params.get("MaximumRecordAgeInSeconds") is not None:
        age = int(params["MaximumRecordAgeInSeconds"])
        if age != -1 and age < MIN_RECORD_AGE:
            raise InvalidParameterValueException(
                f"MaximumRecordAgeInSeconds must be -1 or between {MIN_RECORD_AGE} and 604800.")
        s.maximum_record_age_s = age
    if params.get("BisectBatchOnFunctionError") is not None:
        s.bisect_on_error = bool(params["BisectBatchOnFunctionError"])
    if params.get("TumblingWindowInSeconds") is not None:
        s.tumbling_window_s = int(params["TumblingWindowInSeconds"])
    config = params.get("DestinationConfig")
    if config is not None:
        if (config.get("OnSuccess") or {}).get("Destination"):
            raise InvalidParameterValueException("Unsupported DestinationConfig parameter for given event source "
                                                 "mapping type.")
        target = (config.get("OnFailure") or {}).get("Destination") or None
        if target is not None and target.split(":")[2:3] not in (["sqs"], ["sns"], ["s3"]):
            raise InvalidParameterValueException(f"The destination ARN {target} is invalid.")
        s.on_failure = target
    return s


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterValueException("Need to specify a timestamp") from exc
