"""`GET /metrics`: Lambda's figures in Prometheus' text exposition format (version 0.0.4).

Counters since the server started (invocations, errors, throttles, time spent, the asynchronous
events' fates) per account, region and function, from the same in-memory accumulator that feeds
CloudWatch's `AWS/Lambda` metrics (invoke/metrics.py), and the concurrency gauges of now. A dozen
lines of formatting do not need a client library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lambdad.invoke.metrics import LambdaMetrics

_COUNTERS = {
    "Invocations": ("lambdad_lambda_invocations_total", "Invocations that ran (successful or not)."),
    "Errors": ("lambdad_lambda_errors_total", "Invocations that ended in a function error."),
    "Throttles": ("lambdad_lambda_throttles_total", "Invocation requests refused for concurrency."),
    "AsyncEventsReceived": ("lambdad_lambda_async_events_received_total", "Asynchronous events accepted."),
    "AsyncEventsDropped": ("lambdad_lambda_async_events_dropped_total",
                           "Asynchronous events dropped without a successful run."),
    "DeadLetterErrors": ("lambdad_lambda_dead_letter_errors_total", "Failed sends to a dead-letter queue."),
    "DestinationDeliveryFailures": ("lambdad_lambda_destination_delivery_failures_total",
                                    "Failed deliveries to a destination."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(account: str, region: str, function: str | None = None) -> str:
    parts = [f'account="{_escape(account)}"', f'region="{_escape(region)}"']
    if function is not None:
        parts.append(f'function_name="{_escape(function)}"')
    return "{" + ",".join(parts) + "}"


def _family(name: str, kind: str, help_text: str, lines: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *lines]


def renderer(metrics: LambdaMetrics, concurrency: Callable[[], dict[tuple[str, str, str], int]]
             ) -> Callable[[], str]:
    """The /metrics body; `concurrency` answers the executions running now by (account, region, function)."""

    def render() -> str:
        out: list[str] = []
        counters = sorted(metrics.counters.items())
        for metric, (name, help_text) in _COUNTERS.items():
            out += _family(name, "counter", help_text,
                           (f"{name}{_labels(a, r, f)} {value:g}" for (a, r, f, m), value in counters if m == metric))
        out += _family("lambdad_lambda_duration_seconds_total", "counter", "Time spent running invocations.",
                       (f"lambdad_lambda_duration_seconds_total{_labels(a, r, f)} {v:.6f}"
                        for (a, r, f), v in sorted(metrics.duration_sum.items())))
        running = sorted(concurrency().items())
        out += _family("lambdad_lambda_concurrent_executions", "gauge", "Executions running now.",
                       (f"lambdad_lambda_concurrent_executions{_labels(a, r, f)} {n}" for (a, r, f), n in running))
        return "\n".join(out) + "\n"

    return render
