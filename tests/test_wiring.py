"""The composition root: every service is registered with its authorization hook, a service without
one cannot be served with authentication on, and a start that fails releases what it acquired."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from lambdad import config, demo
from lambdad.api.app import ServiceWithoutAuthorization
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.server import Lambdad
from lambdad.store.datadir import DataDir
from tests.conftest import ACCESS_KEY, SECRET_KEY, free_port


def _config(tmp_path: Path, **extra: object) -> config.Config:
    return config.resolve({"data_dir": str(tmp_path / "data"), "port": free_port(), "sandbox": False,
                           "root_access_key_id": ACCESS_KEY, "root_secret_access_key": SECRET_KEY, **extra},
                          environ={})


def _server(cfg: config.Config) -> Lambdad:
    """A server as `lambdad serve` builds it (the command holds the data dir; the test process exits
    with it)."""
    return Lambdad(cfg, DataDir(cfg.data_path, cfg.disk_reserve_bytes))


class Unguarded:
    """A service whose author forgot its authorization hook."""

    authorize = None

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, b"everything, to anyone")


def test_every_service_carries_its_authorization_and_an_unguarded_one_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _server(_config(tmp_path)) as server:
            services = server.router.services
            assert {"lambda", "iam", "sts", "logs", "sqs", "sns", "elasticloadbalancing", "s3",
                    "dynamodb", "ec2", "monitoring"} <= set(services)
            assert all(s.authorize is not None for s in services.values())
            with pytest.raises(ServiceWithoutAuthorization, match="'kinesis' has no authorization hook"):
                server.router.add_service("kinesis", Unguarded())
            assert "kinesis" not in services

    asyncio.run(scenario())


def test_removing_a_services_authorization_makes_start_fail(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS registered without its authorization hook: the server refuses to start (and releases what it
    had acquired), rather than serve queues to anyone with a valid signature."""
    from lambdad.services.sqs import authz as sqs_authz

    monkeypatch.setattr(sqs_authz, "hook", lambda *args: None)

    async def scenario() -> None:
        with pytest.raises(ServiceWithoutAuthorization, match="'sqs' has no authorization hook"):
            async with _server(_config(tmp_path)):
                pass
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(scenario())


def test_without_authentication_no_hook_is_required(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _server(_config(tmp_path, auth=False)) as server:
            server.router.add_service("s3", Unguarded())

    asyncio.run(scenario())


def test_a_failed_start_releases_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last step of start fails: the store, the loops and the listeners acquired before it are
    released, so the same data dir starts cleanly right after."""
    cfg = _config(tmp_path, demo=True)
    data_dir = DataDir(cfg.data_path, cfg.disk_reserve_bytes)

    def broken_demo(*args: object) -> None:
        raise RuntimeError("demo failed")

    async def scenario() -> None:
        monkeypatch.setattr(demo, "ensure_demo_function", broken_demo)
        with pytest.raises(RuntimeError, match="demo failed"):
            async with Lambdad(cfg, data_dir):
                pass
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        monkeypatch.undo()
        async with Lambdad(cfg, data_dir) as server:
            assert server.router.services

    asyncio.run(scenario())


def test_health_shows_the_background_loops(server) -> None:  # type: ignore[no-untyped-def]
    health = httpx.get(f"{server.endpoint}/_lambdad/health", timeout=5).json()
    loops = health["background"]
    assert {"reaper", "log-flusher", "async-dispatcher", "sqs-sweeper", "sns-delivery"} <= set(loops)
    assert all(loop["running"] and loop["restarts"] == 0 for loop in loops.values())
