"""One event source mapping: its settings (typed), its state, and the two shapes it takes (the stored
JSON and AWS's EventSourceMappingConfiguration)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# States AWS shows (API reference, EventSourceMappingConfiguration.State).
CREATING, ENABLING, ENABLED, DISABLING, DISABLED, UPDATING, DELETING = (
    "Creating", "Enabling", "Enabled", "Disabling", "Disabled", "Updating", "Deleting")
#: a transition in progress: the engine settles it into the state it leads to
SETTLES_TO = {CREATING: ENABLED, ENABLING: ENABLED, UPDATING: ENABLED, DISABLING: DISABLED}
TRANSITIONAL = frozenset({CREATING, ENABLING, UPDATING, DISABLING, DELETING})
USER_INITIATED = "USER_INITIATED"

#: sources by the service part of their ARN; queues are polled, streams are read by shard
QUEUE_KINDS = frozenset({"sqs"})
STREAM_KINDS = frozenset({"kinesis", "dynamodb"})
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


@dataclass(slots=True)
class StreamOptions:
    """The settings only stream mappings have (AWS's defaults)."""

    starting_position: str = "LATEST"
    starting_position_timestamp: float | None = None
    parallelization_factor: int = 1
    maximum_retry_attempts: int = -1  # -1: until the record expires
    maximum_record_age_s: int = -1  # -1: the stream's retention
    bisect_on_error: bool = False
    tumbling_window_s: int = 0
    on_failure: str | None = None  # DestinationConfig.OnFailure.Destination


@dataclass(slots=True)
class EventSourceMapping:
    uuid: str
    account: str
    region: str
    function_name: str
    qualifier: str | None
    source_arn: str
    kind: str  # "sqs", "kinesis", "dynamodb": the service of source_arn
    state: str
    last_modified: float  # seconds since the epoch
    batch_size: int
    batching_window_s: int = 0
    filters: list[str] = field(default_factory=list)  # FilterCriteria.Filters[].Pattern, as given
    response_types: list[str] = field(default_factory=list)
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency (SQS)
    metrics: list[str] | None = None  # MetricsConfig.Metrics, echoed
    stream: StreamOptions | None = None
    state_reason: str = USER_INITIATED
    tags: dict[str, str] = field(default_factory=dict)
    last_result: str | None = None  # LastProcessingResult (streams show it; AWS omits it for SQS)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:event-source-mapping:{self.uuid}"

    @property
    def function_arn(self) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"
        return f"{arn}:{self.qualifier}" if self.qualifier else arn

    @property
    def fifo(self) -> bool:
        return self.kind == "sqs" and self.source_arn.endswith(".fifo")

    @property
    def reports_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.response_types

    @property
    def polling(self) -> bool:
        """Whether pollers should run: enabled, or on the way there."""
        return self.state in (CREATING, ENABLING, ENABLED, UPDATING)

    # -- shapes ------------------------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        """EventSourceMappingConfiguration with the fields AWS shows for this kind of source."""
        out: dict[str, Any] = {"UUID": self.uuid}
        s = self.stream
        if s is not None:
            out["StartingPosition"] = s.starting_position
            if s.starting_position_timestamp is not None:
                out["StartingPositionTimestamp"] = s.starting_position_timestamp
        out["BatchSize"] = self.batch_size
        out["MaximumBatchingWindowInSeconds"] = self.batching_window_s
        if s is not None:
            out["ParallelizationFactor"] = s.parallelization_factor
        out["EventSourceArn"] = self.source_arn
        if self.filters:
            out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in self.filters]}
        out["FunctionArn"] = self.function_arn
        out["LastModified"] = self.last_modified
        if s is not None:
            out["LastProcessingResult"] = self.last_result or "No records processed"
        out["State"] = self.state
        out["StateTransitionReason"] = self.state_reason
        if s is not None:
            out["DestinationConfig"] = {"OnFailure": {"Destination": s.on_failure} if s.on_failure else {}}
            out["MaximumRecordAgeInSeconds"] = s.maximum_record_age_s
            out["BisectBatchOnFunctionError"] = s.bisect_on_error
            out["MaximumRetryAttempts"] = s.maximum_retry_attempts
            out["TumblingWindowInSeconds"] = s.tumbling_window_s
        out["FunctionResponseTypes"] = list(self.response_types)
        if self.maximum_concurrency is not None:
            out["ScalingConfig"] = {"MaximumConcurrency": self.maximum_concurrency}
        out["EventSourceMappingArn"] = self.arn
        if self.metrics is not None:
            out["MetricsConfig"] = {"Metrics": list(self.metrics)}
        return out

    def to_stored(self) -> dict[str, Any]:
        """The settings column (everything but the indexed columns and the tags)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("uuid", "account", "region", "source_arn", "state", "tags", "stream")}
        out["stream"] = asdict(self.stream) if self.stream is not None else None
        return out

    @classmethod
    def from_stored(cls, uuid: str, account: str, region: str, source_arn: str, state: str,
                    settings: dict[str, Any], tags: dict[str, str]) -> EventSourceMapping:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in settings.items() if k in known and k != "stream"}
        raw_stream = settings.get("stream")
        stream = StreamOptions(**raw_stream) if isinstance(raw_stream, dict) else None
        return cls(uuid=uuid, account=account, region=region, source_arn=source_arn, state=state,
                   stream=stream, tags=tags, **values)


def source_kind(arn: str) -> str:
    """The service part of an event source ARN ("" when it is no ARN)."""
    parts = arn.split(":")
    return parts[2] if len(parts) >= 6 and parts[0] == "arn" else ""
