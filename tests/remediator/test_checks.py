"""HEALTH_CHECK and VALIDATE_ENDPOINTS against the sandbox platform, with the exporter's probes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exporter.config import KNOWN_MISSING_ROUTES
from remediator.config import RemediatorConfig
from remediator.records import Status
from remediator.store import Store
from tests.remediator.conftest import run
from tests.sandbox_handle import SandboxHandle

pytestmark = pytest.mark.slow


def test_health_check_reports_the_exporters_snapshot(
    sandbox_factory: Callable[..., SandboxHandle],
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    sandbox = sandbox_factory()
    store = store_factory(make_config(platform={"url": sandbox.url}))
    record = run(store, "HEALTH_CHECK", run_jobs)
    assert record["status"] == Status.SUCCEEDED, record["error"]
    assert [s["name"] for s in record["steps"]] == ["probe", "verify"]
    snapshot = record["result"]
    assert snapshot["api_up"] is True
    assert snapshot["redis_up"] is True
    assert set(snapshot["components"]) == {"env", "database", "redis", "polygon", "alpaca"}
    assert record["verified"] is (snapshot["status"] == "healthy")


def test_health_check_of_an_unreachable_platform_is_not_verified(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    from tests.services import free_port

    store = store_factory(make_config(platform={"url": f"http://127.0.0.1:{free_port()}"}))
    record = run(store, "HEALTH_CHECK", run_jobs)
    assert record["status"] == Status.SUCCEEDED
    assert record["result"]["status"] == "down"
    assert record["verified"] is False


def test_validate_endpoints_reports_the_missing_routes(
    sandbox_factory: Callable[..., SandboxHandle],
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    sandbox = sandbox_factory(worker=False)
    store = store_factory(make_config(platform={"url": sandbox.url}))
    record = run(store, "VALIDATE_ENDPOINTS", run_jobs)
    assert record["status"] == Status.SUCCEEDED, record["error"]
    result = record["result"]
    checked = {r["route"] for r in result["routes"]}
    assert "/discovery/test" in checked
    assert result["unanswered"] == []
    # Exactly these: /discovery/contenders/last answers 404 "no results cached" here, and
    # that route exists.
    assert set(result["missing"]) == set(KNOWN_MISSING_ROUTES)  # the sandbox lacks them too
    assert record["verified"] is False


def test_health_check_of_a_hung_platform_reports_within_its_own_timeout(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    silent_port: int,
) -> None:
    config = make_config(
        platform={"url": f"http://127.0.0.1:{silent_port}"},
        commands={"HEALTH_CHECK": {"timeout_seconds": 8}},
    )
    store = store_factory(config)
    record = run(store, "HEALTH_CHECK", run_jobs)
    assert record["status"] == Status.SUCCEEDED, record["error"]
    assert record["result"]["api_up"] is False
    assert record["result"]["status"] == "down"
    assert record["verified"] is False


def test_flush_redis_empties_the_platforms_discovery_cache(
    sandbox_factory: Callable[..., SandboxHandle],
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    sandbox = sandbox_factory()
    sandbox.wait_job(sandbox.trigger())
    status, ready = sandbox.get("/discovery/contenders")
    assert status == 200
    assert ready["status"] == "ready"
    assert sandbox.worker is not None
    sandbox.worker.stop()  # nothing refills the cache behind the command's back
    store = store_factory(make_config(platform={"url": sandbox.url}))
    record = run(store, "FLUSH_REDIS", run_jobs)
    assert record["status"] == Status.SUCCEEDED, record["error"]
    assert record["verified"] is True
    assert record["result"]["deleted"]["amc:discovery:candidates:"] >= 1
    status, after = sandbox.get("/discovery/contenders")
    assert status == 202  # the platform has no cached result any more: a new run is queued
    assert after["status"] == "queued"
