"""The fuzzer (benchmarks/fuzz.py) as a bounded, deterministic test (issue 12, finding 16).

About 5,000 generated requests (derandomized: the same ones every run) across every operation of
lambda (rest-json), sqs (JSON and query), sns, iam, sts, elbv2 (query) and logs (JSON), signed with the
root keys, unsigned, badly signed, and raw garbage, against a server of its own. None may answer 5xx,
the server must keep answering health, and its descriptors and resident memory must stay bounded.
`python -m benchmarks.fuzz --requests N` is the long run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import fuzz
from tests.conftest import ACCESS_KEY, ROLE, SECRET_KEY, Server, free_port, server_env

EXAMPLES = 5000
MAX_FD_GROWTH = 32
MAX_RSS_GROWTH_KB = 128 * 1024


@pytest.fixture
def fuzz_server(tmp_path: Path) -> Iterator[Server]:
    # Its own server: what the fuzzer creates stays there. Few environments (low account concurrency,
    # short idle timeout), and listeners could only bind its loopback host.
    srv = Server(tmp_path / "data", free_port(), server_env(LAMBDAD_ACCOUNT_CONCURRENCY="20", LAMBDAD_IDLE_TIMEOUT="5"))
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.timeout(300)
def test_fuzzed_requests_never_answer_5xx_and_leak_nothing(fuzz_server: Server) -> None:
    assert fuzz_server.proc is not None
    pid = fuzz_server.proc.pid
    known = fuzz.seed(fuzz_server.endpoint, ACCESS_KEY, SECRET_KEY, ROLE)
    fuzzer = fuzz.Fuzzer(fuzz_server.endpoint, pid, ACCESS_KEY, SECRET_KEY, known)
    fuzzer.probe()
    assert len(fuzzer.implemented) > 100  # lambdad implements well over 100 operations across its services
    fds, rss = fuzz.fd_count(pid), fuzz.rss_kb(pid)
    try:
        stats = fuzz.run(fuzzer, EXAMPLES, derandomize=True)
    finally:
        fuzzer.close()
    print(f"fuzz: {stats.requests} requests, {stats.server_errors} 5xx, statuses {sorted(stats.by_status.items())}")
    assert stats.requests > EXAMPLES // 2  # most examples are sendable requests
    assert stats.server_errors == 0, "\n".join(stats.failures)
    assert fuzz.fd_count(pid) - fds <= MAX_FD_GROWTH
    assert fuzz.rss_kb(pid) - rss <= MAX_RSS_GROWTH_KB
