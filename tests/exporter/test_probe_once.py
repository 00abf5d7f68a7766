"""``probe_once``: the interface the remediator imports for HEALTH_CHECK and verification."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis as redis_lib

from exporter.config import KNOWN_MISSING_ROUTES, load_config, validate_config
from exporter.probes import probe_once
from tests.sandbox_handle import SandboxHandle
from tests.services import free_port

pytestmark = pytest.mark.slow


async def test_probe_once_reports_the_platform(
    sandbox_factory: Callable[..., SandboxHandle], redis: redis_lib.Redis
) -> None:
    sandbox = sandbox_factory()
    sandbox.wait_job(sandbox.trigger())
    config = load_config(None, platform_url=sandbox.url, redis_url=sandbox.redis_url)
    snapshot = await probe_once(config, redis_client=redis)
    assert snapshot.status == "healthy", snapshot.status_reason
    assert snapshot.api_up is True
    assert snapshot.redis_up is True
    assert snapshot.discovery is not None
    assert snapshot.discovery.state == "ready"
    assert snapshot.discovery.candidates == 50
    assert snapshot.integrity is not None
    assert snapshot.integrity.mock_suspected is False
    assert set(snapshot.routes_missing) == set(KNOWN_MISSING_ROUTES)
    assert snapshot.components == dict.fromkeys(
        ("env", "database", "redis", "polygon", "alpaca"), True
    )
    assert snapshot.queue is not None
    assert snapshot.queue.worker_heartbeat_age_seconds is not None
    data = json.loads(json.dumps(snapshot.model_dump(mode="json"), allow_nan=False))
    assert data["status"] == "healthy"
    assert data["discovery"]["candidates"] == 50
    redis.ping()  # a client passed in is left open for its owner


async def test_probe_once_sees_mock_data_and_makes_its_own_client(
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    sandbox = sandbox_factory()
    sandbox.set_fault("mock_data", kind="fallback")
    config = load_config(None, platform_url=sandbox.url, redis_url=sandbox.redis_url)
    snapshot = await probe_once(config)
    assert snapshot.integrity is not None
    assert snapshot.integrity.mock_suspected is True
    assert any("job_id fallback_" in reason for reason in snapshot.integrity.reasons)
    # Four candidates of mock data are the rules' business: the machinery works.
    assert snapshot.status == "healthy", snapshot.status_reason


async def test_probe_once_sees_failing_discovery_jobs(
    sandbox_factory: Callable[..., SandboxHandle], redis: redis_lib.Redis
) -> None:
    sandbox = sandbox_factory()
    # Results in the cache first: the discovery probe then queues no job of its own.
    assert sandbox.wait_job(sandbox.trigger())["status"] == "finished"
    sandbox.set_fault("provider_down", provider="alpaca")
    assert sandbox.wait_job(sandbox.trigger())["status"] == "failed"  # ProviderUnavailable
    config = load_config(None, platform_url=sandbox.url, redis_url=sandbox.redis_url)
    snapshot = await probe_once(config, redis_client=redis)
    assert snapshot.status == "degraded"
    assert snapshot.status_reason == (
        "alpaca failing in /health; the platform's last discovery run failed;"
        " discovery jobs failing (1 failed in the last 600s)"
    )
    assert snapshot.queue is not None
    age = snapshot.queue.last_job_failure_age_seconds
    assert age is not None
    assert age < 60
    # The outage ends; the failure stays news for one cache TTL.
    sandbox.clear_fault("provider_down")
    snapshot = await probe_once(config, redis_client=redis)
    assert snapshot.status == "degraded"
    assert "alpaca" not in snapshot.status_reason
    assert snapshot.status_reason.endswith("discovery jobs failing (1 failed in the last 600s)")


async def test_probe_once_never_raises_when_everything_is_down() -> None:
    config = load_config(
        None,
        platform_url=f"http://127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    snapshot = await probe_once(config)
    assert snapshot.status == "down"
    assert snapshot.api_up is False
    assert snapshot.redis_up is False
    assert snapshot.queue is None
    assert snapshot.discovery is not None
    assert snapshot.discovery.failure == "connection"
    assert snapshot.discovery.candidates == 0


async def test_configured_paths_are_the_ones_probed(
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    sandbox = sandbox_factory()
    sandbox.wait_job(sandbox.trigger())
    base = load_config(None, platform_url=sandbox.url, redis_url=sandbox.redis_url)
    data = base.model_dump()
    data["platform"].update(health_path="/healthz", discovery_path="/api/discovery/candidates")
    snapshot = await probe_once(validate_config(data))
    assert snapshot.status == "healthy", snapshot.status_reason
    data["platform"].update(discovery_path="/discovery/nowhere", expected_routes=["/health"])
    snapshot = await probe_once(validate_config(data))
    assert snapshot.discovery is not None
    assert snapshot.discovery.failure == "status"
    assert snapshot.routes_up == {"/health": True}
