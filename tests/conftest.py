"""Shared fixtures: a real redis-server on a free port, clean databases, our processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tests.sandbox_handle import SandboxHandle, start_sandbox
from tests.services import RedisServer, Service, running_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session; tests that stop Redis use ``own_redis_server``."""
    with running_redis() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may stop and start again."""
    with running_redis() as server:
        yield server


@pytest.fixture
def own_aof_redis_server() -> Iterator[RedisServer]:
    """``own_redis_server`` persisting as deployed (AOF fsynced before every reply): what it
    acknowledged survives a SIGKILL and a ``start`` on the same directory."""
    with running_redis(appendonly=True) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[redis_lib.Redis]:
    """A client of the session's Redis, with an empty database before and after the test."""
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start our own processes; every one is stopped when the test ends."""
    started: list[Service] = []

    def start(
        argv: list[str],
        ready_url: str | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
        timeout: float = 20.0,
    ) -> Service:
        log = tmp_path / f"{name or Path(argv[0]).name}-{len(started)}.log"
        service = Service(argv, log, ready_url=ready_url, env=env)
        started.append(service)
        return service.start(timeout)

    yield start
    errors = []
    for service in reversed(started):
        try:
            service.stop()
        except Exception as exc:  # stop the others all the same
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def sandbox_factory(
    redis: redis_lib.Redis, redis_url: str, services: Callable[..., Service], tmp_path: Path
) -> Callable[..., SandboxHandle]:
    """Start the sandbox (API and, unless ``worker=False``, a discovery worker) on clean Redis."""

    def start(worker: bool = True, **config: object) -> SandboxHandle:
        return start_sandbox(services, tmp_path, redis_url, worker=worker, **config)

    return start
