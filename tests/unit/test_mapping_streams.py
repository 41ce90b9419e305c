"""Stream mappings on a fake clock: the real MappingEngine, Mappings and StreamRunner on a real store,
with an in-tree FAKE stream source (lambdad embeds no DynamoDB Streams or Kinesis yet; the fake
stands in for the source the DynamoDB Streams issue adds, to prove the StreamSource Protocol,
checkpoints, retries, bisection, record age and on-failure records) and a scripted invoke path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lambdad.clock import FakeClock
from lambdad.errors import InvalidParameterValueException, ValidationException
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.mappings.engine import MappingEngine
from lambdad.mappings.outcomes import failed_items
from lambdad.mappings.registry import Mappings
from lambdad.mappings.source import SourceInfo, StreamBatch, StreamRecord
from lambdad.store import SqliteStore

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000"
T0 = 1_700_000_000.0


class FakeStream:
    """One shard of records 1..n; an iterator is the index of the next record."""

    kind = "dynamodb"

    def __init__(self, clock: FakeClock, n: int) -> None:
        self.clock = clock
        self.records = [StreamRecord(str(i), {"eventID": str(i), "dynamodb": {"SequenceNumber": str(i),
                                                                             "n": i}}, 100, T0 + i)
                        for i in range(1, n + 1)]

    def describe(self, arn: str, account: str, region: str) -> SourceInfo:
        if arn != ARN:
            raise InvalidParameterValueException(f"Stream not found: {arn}")
        return SourceInfo(arn)

    def denied_action(self, role_arn: str, function_name: str, arn: str) -> str | None:
        return None

    def shards(self, arn: str) -> list[str]:
        return ["shard-0"]

    def iterator(self, arn: str, shard: str, position: str, timestamp: float | None,
                 after_sequence: str | None) -> str:
        if after_sequence is not None:
            return str(int(after_sequence))
        return "0" if position == "TRIM_HORIZON" else str(len(self.records))

    async def read(self, iterator: str, limit: int, wait_seconds: float) -> StreamBatch:
        start = int(iterator)
        got = self.records[start:start + limit]
        if not got:
            await self.clock.sleep(wait_seconds)
        return StreamBatch(got, str(start + len(got)))

    def wrap(self, arn: str, records: Sequence[StreamRecord]) -> Mapping[str, Any]:
        return {"Records": [r.event for r in records]}


class Resolver:
    def resolve(self, account: str, region: str, name: str, qualifier: str | None) -> Any:
        return SimpleNamespace(role="arn:aws:iam::000000000000:role/r")

    def for_invoke(self, account: str, region: str, name: str, qualifier: str | None) -> tuple[Any, str]:
        return SimpleNamespace(version="$LATEST"), f"arn:aws:lambda:us-east-1:{account}:function:{name}"


class Function:
    """Fails every batch holding a record in `poison`; remembers each batch's record numbers."""

    def __init__(self, poison: set[int]) -> None:
        self.poison = poison
        self.batches: list[list[int]] = []

    async def __call__(self, fv: Any, payload: bytes, meta: InvokeMeta) -> InvokeResult:
        numbers = [r["dynamodb"]["n"] for r in json.loads(payload)["Records"]]
        self.batches.append(numbers)
        failing = bool(self.poison & set(numbers))
        return InvokeResult(b"null", "$LATEST", function_error="Unhandled" if failing else None)


def setup(tmp_path: Path, n: int, poison: set[int]) -> tuple[FakeClock, Mappings, MappingEngine, Function,
                                                              list[tuple[str, str, dict[str, Any]]]]:
    clock = FakeClock(T0 + 1000)
    store = SqliteStore(tmp_path / "db.sqlite")
    source = FakeStream(clock, n)
    mappings = Mappings(store, Resolver(), {"dynamodb": source})  # type: ignore[arg-type]
    function = Function(poison)
    sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send_failure(account: str, target: str, record: bytes) -> None:
        sent.append((account, target, json.loads(record)))

    engine = MappingEngine(mappings, {"dynamodb": source}, Resolver().for_invoke, function, owner="node-a",
                           clock=clock, send_failure=send_failure)
    return clock, mappings, engine, function, sent


def test_stream_options_are_validated_and_shown(tmp_path: Path) -> None:
    _, mappings, _, _, _ = setup(tmp_path, 0, set())
    with pytest.raises(ValidationException) as exc:
        mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN, "FunctionName": "f"})
    assert "startingPosition" in exc.value.message
    with pytest.raises(InvalidParameterValueException) as bad:
        mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN, "FunctionName": "f",
                                                      "StartingPosition": "LATEST",
                                                      "ScalingConfig": {"MaximumConcurrency": 2}})
    assert bad.value.message == "ScalingConfig is not valid for DynamoDB Streams event sources."
    with pytest.raises(InvalidParameterValueException):
        mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN, "FunctionName": "f",
                                                      "StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 30})
    with pytest.raises(InvalidParameterValueException) as missing:
        mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN + "x", "FunctionName": "f",
                                                      "StartingPosition": "LATEST"})
    assert missing.value.message.startswith("Stream not found")
    m = mappings.create("000000000000", "us-east-1", {
        "EventSourceArn": ARN, "FunctionName": "f", "StartingPosition": "TRIM_HORIZON", "BatchSize": 50,
        "MaximumRetryAttempts": 3, "BisectBatchOnFunctionError": True, "ParallelizationFactor": 2,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}})
    shown = m.to_api()
    assert shown["StartingPosition"] == "TRIM_HORIZON" and shown["BatchSize"] == 50
    assert shown["LastProcessingResult"] == "No records processed"
    assert shown["DestinationConfig"] == {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}
    assert (shown["MaximumRetryAttempts"], shown["BisectBatchOnFunctionError"], shown["ParallelizationFactor"],
            shown["MaximumRecordAgeInSeconds"], shown["TumblingWindowInSeconds"]) == (3, True, 2, -1, 0)
    assert "ScalingConfig" not in shown


async def _drive(clock: FakeClock, engine: MappingEngine, until: Any, limit: float = 600.0) -> None:
    task = asyncio.get_running_loop().create_task(engine.run_engine())
    try:
        waited = 0.0
        while not until() and waited < limit:
            await clock.advance(0.5)
            waited += 0.5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.aclose()


def test_a_poisoned_record_is_bisected_retried_then_sent_on_failure_and_skipped(tmp_path: Path) -> None:
    asyncio.run(_a_poisoned_record_is_bisected_retried_then_sent_on_failure_and_skipped(tmp_path))


async def _a_poisoned_record_is_bisected_retried_then_sent_on_failure_and_skipped(tmp_path: Path) -> None:
    clock, mappings, engine, function, sent = setup(tmp_path, 8, {5})
    m = mappings.create("000000000000", "us-east-1", {
        "EventSourceArn": ARN, "FunctionName": "f", "StartingPosition": "TRIM_HORIZON", "BatchSize": 8,
        "MaximumRetryAttempts": 2, "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}})
    await _drive(clock, engine, lambda: engine.runners.get(m.uuid) is not None
                 and engine.runners[m.uuid].checkpoint("shard-0") == "8")
    # 1-8 fails; bisected: 1-4 succeeds, 5-8 fails; 5-6 fails (retries spent), 7-8 runs on.
    assert function.batches[:3] == [[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]]
    assert [7, 8] in function.batches
    assert [b for b in function.batches if 5 in b][-1] in ([5], [5, 6])
    assert len(sent) == 1
    _account, target, record = sent[0]
    assert target == "arn:aws:sqs:us-east-1:000000000000:dlq"
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = record["DDBStreamBatchInfo"]
    assert info["shardId"] == "shard-0" and info["streamArn"] == ARN and info["startSequenceNumber"] == "5"
    processed = {n for b in function.batches for n in b} - {5}
    assert processed == {1, 2, 3, 4, 6, 7, 8}


def test_records_past_their_maximum_age_are_not_invoked(tmp_path: Path) -> None:
    asyncio.run(_records_past_their_maximum_age_are_not_invoked(tmp_path))


async def _records_past_their_maximum_age_are_not_invoked(tmp_path: Path) -> None:
    clock, mappings, engine, function, sent = setup(tmp_path, 4, set())
    # Records arrived at T0+1..4; the clock is at T0+1000: with a 60 s maximum age, all are too old.
    m = mappings.create("000000000000", "us-east-1", {
        "EventSourceArn": ARN, "FunctionName": "f", "StartingPosition": "TRIM_HORIZON",
        "MaximumRecordAgeInSeconds": 60,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:t"}}})
    await _drive(clock, engine, lambda: engine.runners.get(m.uuid) is not None
                 and engine.runners[m.uuid].checkpoint("shard-0") == "4")
    assert function.batches == []
    assert [s[2]["requestContext"]["condition"] for s in sent] == ["RecordAgeExceeded"]


def test_the_checkpoint_survives_a_new_engine(tmp_path: Path) -> None:
    asyncio.run(_the_checkpoint_survives_a_new_engine(tmp_path))


async def _the_checkpoint_survives_a_new_engine(tmp_path: Path) -> None:
    clock, mappings, engine, function, _ = setup(tmp_path, 6, set())
    m = mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN, "FunctionName": "f",
                                                      "StartingPosition": "TRIM_HORIZON", "BatchSize": 3})
    await _drive(clock, engine, lambda: len(function.batches) >= 2)
    assert function.batches == [[1, 2, 3], [4, 5, 6]]
    assert mappings.find(m.uuid) is not None and mappings.find(m.uuid).state == "Enabled"  # type: ignore[union-attr]
    # A restarted node (same store) resumes after the checkpoint: nothing runs twice.
    clock2, _mappings2, engine2, function2, _ = setup(tmp_path, 9, set())
    await _drive(clock2, engine2, lambda: len(function2.batches) >= 1)
    assert function2.batches == [[7, 8, 9]]


@pytest.mark.parametrize(("payload", "error", "reports", "failed"), [
    (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', None, True, {"b"}),
    (b'{"batchItemFailures": []}', None, True, set()),
    (b"null", None, True, set()),
    (b"", None, True, set()),
    (b'{}', None, True, set()),
    (b'{"batchItemFailures": [{"foo": "notvalid"}]}', None, True, {"a", "b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None, True, {"a", "b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', None, True, {"a", "b"}),
    (b"{not json", None, True, {"a", "b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', None, False, set()),
    (b'{"errorType": "E"}', "Unhandled", True, {"a", "b"}),
])
def test_report_batch_item_failures_rules(payload: bytes, error: str | None, reports: bool,
                                          failed: set[str]) -> None:
    assert failed_items(InvokeResult(payload, "$LATEST", error), ["a", "b"], reports) == failed


def test_two_nodes_sharing_a_store_run_a_mapping_once_and_take_over_a_dead_ones(tmp_path: Path) -> None:
    asyncio.run(_two_nodes(tmp_path))


async def _two_nodes(tmp_path: Path) -> None:
    """The lease (store.claim) decides which node's engine runs a mapping; when that node stops renewing
    (it died), the other claims the mapping once the lease has run out and resumes after its checkpoint."""
    clock, mappings, engine_a, function_a, _ = setup(tmp_path, 6, set())
    m = mappings.create("000000000000", "us-east-1", {"EventSourceArn": ARN, "FunctionName": "f",
                                                      "StartingPosition": "TRIM_HORIZON", "BatchSize": 3})
    # Node b: its own registry and engine over the same store, the same clock.
    source_b = FakeStream(clock, 6)
    mappings_b = Mappings(mappings.store, Resolver(), {"dynamodb": source_b})  # type: ignore[arg-type]
    function_b = Function(set())
    engine_b = MappingEngine(mappings_b, {"dynamodb": source_b}, Resolver().for_invoke, function_b, owner="node-b",
                             clock=clock)
    a = asyncio.get_running_loop().create_task(engine_a.run_engine())
    await clock.advance(0.5)
    b = asyncio.get_running_loop().create_task(engine_b.run_engine())
    for _ in range(20):
        await clock.advance(0.5)
    assert function_a.batches == [[1, 2, 3], [4, 5, 6]] and function_b.batches == []
    assert m.uuid in engine_a.runners and m.uuid not in engine_b.runners
    # Node a dies (no more renewals); more records arrive; b takes over after the 60 s lease.
    a.cancel()
    await asyncio.gather(a, return_exceptions=True)
    await engine_a.aclose()
    source_b.records += [StreamRecord(str(i), {"eventID": str(i), "dynamodb": {"SequenceNumber": str(i), "n": i}},
                                      100, T0 + i) for i in (7, 8, 9)]
    for _ in range(200):
        await clock.advance(0.5)
        if function_b.batches:
            break
    b.cancel()
    await asyncio.gather(b, return_exceptions=True)
    await engine_b.aclose()
    assert function_b.batches == [[7, 8, 9]]  # after a's checkpoint: nothing ran twice
