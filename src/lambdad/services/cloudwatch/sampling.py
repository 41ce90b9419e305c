"""The services' own namespaces where a figure is cheap to read: `AWS/SQS` queue depths.

Every minute (on the injected clock) a supervised loop reads each queue's visible, in-flight and
delayed counts (one indexed query per queue) and writes them as ApproximateNumberOfMessagesVisible,
ApproximateNumberOfMessagesNotVisible and ApproximateNumberOfMessagesDelayed by QueueName, in the
queue's account and region, as AWS reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from lambdad.clock import SYSTEM, Clock
from lambdad.services.cloudwatch.metrics import Aggregate, Datum, MetricKey, Metrics
from lambdad.store.errors import StoreError

log = logging.getLogger("lambdad.cloudwatch")

SAMPLE_INTERVAL = 60.0
MAX_QUEUES = 10_000  # a sample of more would take the loop too long; the rest wait for a later design
_NAMES = ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed")


class QueueLike(Protocol):
    account: str
    name: str
    arn: str


Q = TypeVar("Q", bound=QueueLike)


class QueueDepths(Generic[Q]):
    def __init__(self, metrics: Metrics, queues: Callable[[], Sequence[Q]],
                 counts: Callable[[Q], tuple[int, int, int]], *, clock: Clock = SYSTEM,
                 interval: float = SAMPLE_INTERVAL) -> None:
        self.metrics = metrics
        self.queues = queues
        self.counts = counts
        self.clock = clock
        self.interval = interval

    def sample(self) -> int:
        now = self.clock.time()
        data: list[Datum] = []
        for queue in list(self.queues())[:MAX_QUEUES]:
            region = queue.arn.split(":")[3]
            for name, value in zip(_NAMES, self.counts(queue), strict=True):
                agg = Aggregate()
                agg.add(float(value))
                data.append(Datum(MetricKey(queue.account, region, "AWS/SQS", name, (("QueueName", queue.name),)),
                                  now, "Count", 60, agg))
        self.metrics.write(data)
        return len(data)

    async def run_sampler(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            try:
                self.sample()
            except StoreError as exc:
                log.warning("AWS/SQS metrics not sampled: %s", exc)
