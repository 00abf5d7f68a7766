"""Fixtures of the sandbox tests: the API in-process, and discovery jobs run in-process."""

from collections.abc import Callable

import pytest
import redis as redis_lib
from aiohttp import web
from aiohttp.test_utils import TestClient
from rq import Queue, SimpleWorker

from sandbox import discovery
from sandbox.config import SandboxConfig
from sandbox.keys import DISCOVERY_QUEUE
from sandbox.server import create_app

ClientFactory = Callable[[web.Application], TestClient]


@pytest.fixture
def config(redis_url: str) -> SandboxConfig:
    """Test settings: the session's Redis, a frozen market, a degraded strategy's delays short."""
    settings = SandboxConfig(
        redis_url=redis_url, market_tick_seconds=0, cache_ttl_seconds=600,
        degraded_strategy_delay_seconds=1.0, degraded_strategy_job_delay_seconds=0.5,
    )  # fmt: skip
    discovery.configure(settings)
    return settings


@pytest.fixture
async def client(aiohttp_client, config: SandboxConfig, redis: redis_lib.Redis) -> TestClient:
    """The sandbox API served in-process on a test port, with a clean Redis."""
    return await aiohttp_client(create_app(config))


@pytest.fixture
def run_jobs(redis: redis_lib.Redis) -> Callable[[], None]:
    """Run the queued discovery jobs in this process (a real RQ SimpleWorker, burst mode)."""

    def run() -> None:
        queue = Queue(DISCOVERY_QUEUE, connection=redis)
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)

    return run
