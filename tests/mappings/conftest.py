from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server


@pytest.fixture(scope="session")
def sqs(server: Server) -> Any:
    return server.client("sqs")
