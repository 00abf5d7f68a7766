"""The collector renders the latest probe results (no I/O) into the contract's metrics."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry, generate_latest

from exporter.config import ExporterConfig
from exporter.integrity import check
from exporter.metrics import FAMILIES, ExporterCollector
from exporter.platform_client import DiscoveryPayload, DiscoveryResult, HealthResult
from exporter.probes import Prober
from exporter.queues import FailedJob, QueueState, WorkerCount
from exporter.snapshot import ReadyResults
from tests.exporter.conftest import promtool_check
from tests.exporter.payloads import ready
from tests.services import free_port

NOW = 1_800_000_000.0


class Clock:
    """A settable clock: the collector's only input besides the results."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    # Nothing is probed here: the session and client are only there because a Prober owns them.
    client = redis_lib.Redis(port=free_port())
    async with aiohttp.ClientSession() as session:
        yield Prober(ExporterConfig(), session, client, clock=Clock())
    client.close()


def registry_for(prober: Prober) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ExporterCollector(prober, clock=prober.clock))
    return registry


def healthy(prober: Prober) -> None:
    components = dict.fromkeys(("env", "database", "redis", "polygon", "alpaca"), True)
    prober.latest.health = HealthResult(
        duration_seconds=0.01, http_status=200, healthy=True, components=components
    )
    prober.latest.scorer.observe(components)
    payload = DiscoveryPayload.parse(ready())  # results 12 s old
    prober.latest.discovery = DiscoveryResult(
        duration_seconds=0.4, http_status=200, state="ready", payload=payload
    )
    prober.latest.ready = ReadyResults.received(payload, prober.clock())
    prober.latest.integrity = check(payload, prober.config.integrity)
    prober.latest.api_answered = True


def queued(prober: Prober) -> None:
    """The discovery route answers 202: the platform refreshes its results."""
    prober.latest.discovery = DiscoveryResult(
        duration_seconds=0.1, http_status=202, state="queued",
        payload=DiscoveryPayload.parse({"status": "queued", "job_id": "discovery_2"}),
    )  # fmt: skip


def queue_state(**fields: object) -> QueueState:
    jobs = dict.fromkeys(("queued", "started", "failed", "deferred", "scheduled", "finished"), 0)
    base: dict[str, object] = {
        "read_at": NOW, "jobs": jobs, "queue_jobs": {"amc_discovery": jobs},
        "oldest_queued_at": None, "heartbeat_at": NOW - 5, "lock_held": False,
        "cache_ttl_seconds": 300.0, "last_run_status": "finished", "workers": (),
        "memory_used_bytes": 1, "memory_max_bytes": 0,
    }  # fmt: skip
    return QueueState.model_validate({**base, **fields})


def test_nothing_but_own_metrics_before_the_first_probe(prober: Prober) -> None:
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_system_status", {"status": "down"}) is None
    assert registry.get_sample_value("amc_discovery_candidates") is None
    assert registry.get_sample_value("amc_api_probes_total", {"route": "health"}) == 0.0
    assert registry.get_sample_value(
        "amc_exporter_build_info", {"version": "0.1.0", "python_version": _python()}
    ) == 1.0  # fmt: skip


def _python() -> str:
    import platform

    return platform.python_version()


def test_a_healthy_result(prober: Prober) -> None:
    healthy(prober)
    registry = registry_for(prober)
    statuses = {
        s: registry.get_sample_value("amc_system_status", {"status": s})
        for s in ("healthy", "degraded", "critical", "down")
    }
    assert statuses == {"healthy": 1.0, "degraded": 0.0, "critical": 0.0, "down": 0.0}
    assert registry.get_sample_value("amc_discovery_candidates") == 6.0
    quality = registry.get_sample_value("amc_discovery_quality_score")
    assert quality == pytest.approx((71.2 + 66.0 + 58.4 + 51.9 + 49.3 + 47.7) / 6)
    assert registry.get_sample_value("amc_discovery_response_seconds") == 0.4
    assert registry.get_sample_value("amc_health_score") == 100.0
    assert registry.get_sample_value("amc_data_mock_suspected") == 0.0


def test_a_refresh_keeps_the_latest_results_for_one_more_cache_ttl(prober: Prober) -> None:
    healthy(prober)
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_refreshing") == 0.0
    queued(prober)
    clock = prober.clock
    assert isinstance(clock, Clock)
    # The results were 12 s old at NOW; the cache TTL is 600 s: they are shown until 1200 s.
    for age in (12, 600, 1199):
        clock.now = NOW - 12 + age
        registry = registry_for(prober)
        assert registry.get_sample_value("amc_discovery_candidates") == 6.0, age
        assert registry.get_sample_value("amc_discovery_refreshing") == 1.0
        quality = registry.get_sample_value("amc_discovery_quality_score")
        assert quality == pytest.approx((71.2 + 66.0 + 58.4 + 51.9 + 49.3 + 47.7) / 6)
        assert registry.get_sample_value("amc_system_status", {"status": "healthy"}) == 1.0
    view = prober.snapshot().discovery
    assert view is not None
    assert (view.state, view.refreshing, view.results_age_seconds) == ("queued", True, 1199)
    assert (view.job_id, view.engine) == ("discovery_2", "BMS discovery (hybrid_v1)")
    clock.now = NOW - 12 + 1200  # two cache TTLs old: no refresh takes that long
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_candidates") == 0.0
    assert registry.get_sample_value("amc_discovery_quality_score") is None
    assert registry.get_sample_value("amc_discovery_refreshing") == 1.0
    assert registry.get_sample_value("amc_api_up") == 1.0
    # The integrity of the latest results users got stays until new results come.
    assert registry.get_sample_value("amc_data_mock_suspected") == 0.0


def test_the_refresh_window_follows_the_configured_cache_ttl(prober: Prober) -> None:
    fast = ExporterConfig.model_validate({"thresholds": {"cache_ttl_seconds": 20}})
    prober.config = fast
    healthy(prober)  # results 12 s old
    queued(prober)
    clock = prober.clock
    assert isinstance(clock, Clock)
    clock.now = NOW + 27
    assert registry_for(prober).get_sample_value("amc_discovery_candidates") == 6.0
    clock.now = NOW + 28  # 40 s old
    assert registry_for(prober).get_sample_value("amc_discovery_candidates") == 0.0


def test_a_failed_probe_shows_no_candidates_even_with_fresh_results(prober: Prober) -> None:
    healthy(prober)
    prober.latest.discovery = DiscoveryResult(
        duration_seconds=0.1, http_status=500, failure="status", detail="HTTP 500"
    )
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_candidates") == 0.0
    assert registry.get_sample_value("amc_discovery_refreshing") == 0.0
    assert registry.get_sample_value("amc_discovery_quality_score") is None


def test_a_refresh_without_earlier_results_shows_none(prober: Prober) -> None:
    queued(prober)
    prober.latest.api_answered = True
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_candidates") == 0.0
    assert registry.get_sample_value("amc_discovery_refreshing") == 1.0


def test_candidates_and_latency_do_not_feed_the_status(prober: Prober) -> None:
    healthy(prober)
    prober.latest.redis_up = True
    prober.latest.queues = queue_state()
    prober.latest.discovery = DiscoveryResult(
        duration_seconds=75.0, http_status=200, state="ready",
        payload=DiscoveryPayload.parse(ready(candidates=[])),
    )  # fmt: skip
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_candidates") == 0.0
    assert registry.get_sample_value("amc_discovery_response_seconds") == 75.0
    assert registry.get_sample_value("amc_system_status", {"status": "healthy"}) == 1.0
    # The machinery does: a worker whose heartbeat stopped 100 s before the read.
    prober.latest.queues = queue_state(heartbeat_at=NOW - 100)
    snapshot = prober.snapshot()
    assert (snapshot.status, snapshot.status_reason) == (
        "critical", "discovery worker heartbeat 100.0s old (dead after 90s)",
    )  # fmt: skip


def test_new_gauges_pass_promtool_check_metrics(prober: Prober) -> None:
    healthy(prober)
    queued(prober)
    prober.latest.redis_up = True
    prober.latest.queues = queue_state(failed_jobs=(FailedJob(at=NOW - 30, exception="other"),))
    text = generate_latest(registry_for(prober)).decode()
    assert "amc_discovery_refreshing 1.0" in text
    promtool_check(text)


def test_no_results_yet_is_not_suspected(prober: Prober) -> None:
    prober.latest.discovery = DiscoveryResult(
        duration_seconds=0.1, http_status=202, state="queued",
        payload=DiscoveryPayload.parse({"status": "queued", "job_id": "discovery_1"}),
    )  # fmt: skip
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_data_mock_suspected") == 0.0
    assert registry.get_sample_value("amc_data_integrity_ratio") is None


def test_a_cache_that_never_expires(prober: Prober) -> None:
    jobs = dict.fromkeys(("queued", "started", "failed", "deferred", "scheduled", "finished"), 0)
    prober.latest.redis_up = True
    prober.latest.queues = QueueState(
        read_at=NOW, jobs=jobs, queue_jobs={"amc_discovery": jobs}, oldest_queued_at=None,
        heartbeat_at=NOW - 5, lock_held=False, cache_ttl_seconds=math.inf,
        last_run_status="finished", workers=(), memory_used_bytes=1, memory_max_bytes=0,
    )  # fmt: skip
    registry = registry_for(prober)
    ttl = registry.get_sample_value("amc_discovery_cache_ttl_seconds")
    assert ttl is not None
    assert math.isinf(ttl)
    assert registry.get_sample_value("amc_discovery_worker_heartbeat_age_seconds") == 5.0
    data = prober.snapshot().model_dump(mode="json")
    json.dumps(data, allow_nan=False)  # strict JSON: no infinity in the snapshot
    assert data["queue"]["cache_present"] is True
    assert data["queue"]["cache_ttl_seconds"] is None


def test_a_probe_in_flight_shows_as_slow_at_once(prober: Prober) -> None:
    healthy(prober)
    clock = prober.clock
    assert isinstance(clock, Clock)
    prober.latest.discovery_started = clock.now
    clock.now += 70
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_response_seconds") == 70.0
    # Slowness is the decision rules' own signal, never the status's.
    assert registry.get_sample_value("amc_system_status", {"status": "healthy"}) == 1.0


def test_queue_state_and_worker_zeros(prober: Prober) -> None:
    healthy(prober)
    jobs = {"queued": 4, "started": 1, "failed": 2, "deferred": 0, "scheduled": 0, "finished": 9}
    prober.latest.redis_up = True
    prober.latest.queues = QueueState(
        read_at=NOW, jobs=jobs, queue_jobs={"amc_discovery": jobs, "remediation-high": jobs},
        oldest_queued_at=NOW - 120, heartbeat_at=None, lock_held=False,
        cache_ttl_seconds=None, last_run_status="failed",
        workers=(WorkerCount(queue="amc_discovery", state="busy", count=3),),
        memory_used_bytes=1024, memory_max_bytes=0,
    )  # fmt: skip
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_jobs", {"state": "queued"}) == 4.0
    assert registry.get_sample_value("amc_discovery_oldest_queued_job_age_seconds") == 120.0
    beat = registry.get_sample_value("amc_discovery_worker_heartbeat_age_seconds")
    assert beat is not None
    assert math.isinf(beat)
    workers = {"queue": "amc_discovery", "state": "busy"}
    assert registry.get_sample_value("amc_rq_workers", workers) == 3.0
    idle = {"queue": "remediation-high", "state": "idle"}
    assert registry.get_sample_value("amc_rq_workers", idle) == 0.0
    assert registry.get_sample_value("amc_redis_memory_used_bytes") == 1024.0
    assert registry.get_sample_value("amc_discovery_cache_ttl_seconds") == 0.0
    last = {"status": "failed"}
    assert registry.get_sample_value("amc_discovery_last_run_status", last) == 1.0
    assert registry.get_sample_value("amc_discovery_last_run_status", {"status": "finished"}) == 0.0
    prober.latest.redis_up = False
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_discovery_jobs", {"state": "queued"}) is None
    assert registry.get_sample_value("amc_redis_up") == 0.0


def test_describe_names_every_family(prober: Prober) -> None:
    collector = ExporterCollector(prober)
    assert {family.name for family in collector.describe()} == set(FAMILIES)


def test_memory_gauges_are_absent_when_redis_refuses_info(prober: Prober) -> None:
    jobs = dict.fromkeys(("queued", "started", "failed", "deferred", "scheduled", "finished"), 0)
    prober.latest.redis_up = True
    prober.latest.queues = QueueState(
        read_at=NOW, jobs=jobs, queue_jobs={"amc_discovery": jobs, "other": jobs},
        oldest_queued_at=None,
        heartbeat_at=None, lock_held=False, cache_ttl_seconds=None, last_run_status=None,
        workers=(), memory_used_bytes=None, memory_max_bytes=None,
    )  # fmt: skip
    registry = registry_for(prober)
    assert registry.get_sample_value("amc_redis_up") == 1.0
    assert registry.get_sample_value("amc_redis_memory_used_bytes") is None
    assert registry.get_sample_value("amc_redis_memory_max_bytes") is None
    assert registry.get_sample_value("amc_rq_jobs", {"queue": "other", "state": "queued"}) == 0.0


async def test_the_queue_probe_names_the_configured_queues(redis: redis_lib.Redis) -> None:
    from rq import Queue

    for name in ("mine", "theirs", "remediation-high"):
        Queue(name, connection=redis).enqueue("tests.exporter.jobs.noop")
    config = ExporterConfig.model_validate({"rq": {"queues": ["mine"]}})
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, redis, clock=Clock())
        assert await prober.probe_queues()
    registry = registry_for(prober)
    queues = {
        s.labels["queue"]
        for family in registry.collect()
        if family.name == "amc_rq_jobs"
        for s in family.samples
    }
    assert queues == {"amc_discovery", "mine", "other"}
    assert registry.get_sample_value("amc_rq_jobs", {"queue": "other", "state": "queued"}) == 2.0
