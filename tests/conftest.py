"""Fixtures shared by every layer of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import redis_server, redis_server_path


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server per test session."""
    if redis_server_path() is None:
        pytest.skip("redis-server is not installed (make test installs it when run as root)")
    workdir: Path = tmp_path_factory.mktemp("redis")
    with redis_server(workdir) as url:
        yield url
