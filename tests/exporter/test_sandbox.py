"""The exporter against the real sandbox, real Redis and a real RQ discovery worker."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

from tests.exporter.conftest import ExporterHandle, parse, promtool_check
from tests.sandbox_handle import SandboxHandle
from tests.services import wait_for

pytestmark = pytest.mark.slow

Start = Callable[..., ExporterHandle]
Sandbox = Callable[..., SandboxHandle]


def is_(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value == expected


def above(limit: float) -> Callable[[float | None], bool]:
    return lambda value: value is not None and value > limit


def ready_exporter(
    sandbox: SandboxHandle, exporter_factory: Start, **config: object
) -> ExporterHandle:
    exporter = exporter_factory(sandbox.url, sandbox.redis_url, **config)
    exporter.wait("amc_discovery_candidates", above(0))
    return exporter


def test_a_healthy_platform(sandbox_factory: Sandbox, exporter_factory: Start) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    exporter.wait("amc_system_status", is_(1.0), status="healthy")
    # The worker may be running a discovery job at a given scrape: wait for it to be idle.
    exporter.wait("amc_rq_workers", is_(1.0), queue="amc_discovery", state="idle")
    samples = parse(exporter.scrape())

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("amc_api_up") == 1.0
    assert value("amc_redis_up") == 1.0
    assert value("amc_discovery_candidates") == 50.0  # the sandbox's default limit
    quality = value("amc_discovery_quality_score")
    assert quality is not None
    assert 45 <= quality <= 100
    assert sum(value("amc_system_status", status=s) or 0 for s in
               ("healthy", "degraded", "critical", "down")) == 1.0  # fmt: skip
    for component in ("env", "database", "redis", "polygon", "alpaca"):
        assert value("amc_component_up", component=component) == 1.0
        assert value("amc_component_health_score", component=component) == 100.0
    assert value("amc_data_mock_suspected") == 0.0
    assert value("amc_data_integrity_ratio") == 1.0
    assert value("amc_api_route_up", route="/discovery/contenders/last") == 1.0
    assert value("amc_api_route_up", route="/discovery/trigger") == 1.0  # 405 to GET: it exists
    assert value("amc_api_route_up", route="/squeeze/alerts") == 0.0
    assert value("amc_api_route_up", route="/trades/portfolio") == 0.0
    assert value("amc_discovery_jobs", state="finished") is not None
    assert value("amc_rq_workers", queue="amc_discovery", state="idle") == 1.0
    beat = value("amc_discovery_worker_heartbeat_age_seconds")
    assert beat is not None
    assert beat < 30
    assert value("amc_api_probe_failures_total", route="discovery", reason="status") == 0.0
    probes = value("amc_api_probes_total", route="discovery")
    assert probes is not None
    assert probes >= 1
    assert value("amc_exporter_build_info", version="0.1.0", python_version=_python()) == 1.0
    for probe in ("health", "discovery", "routes", "queues"):
        assert value("amc_exporter_last_probe_timestamp_seconds", probe=probe) is not None


def _python() -> str:
    import platform

    return platform.python_version()


def test_promtool_check_metrics_is_clean_on_live_output(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    exporter.wait("amc_discovery_jobs", lambda v: v is not None, state="queued")
    text = exporter.scrape()
    promtool_check(text)
    # No label per worker or job: every label value comes from a bounded set.
    for (_, labels), _value in parse(text).items():
        for key, _label in labels:
            assert key in {"status", "component", "route", "reason", "check", "state", "queue",
                           "probe", "version", "python_version", "exception"}, key  # fmt: skip
    # And under faults, with +Inf ages, failed checks and more states.
    sandbox.set_fault("mock_data")
    sandbox.set_fault("stuck_jobs", jobs=3, orphans=1, age_seconds=600)
    sandbox.set_fault("provider_down", provider="alpaca")
    exporter.wait("amc_data_mock_suspected", is_(1.0))
    exporter.wait("amc_component_up", is_(0.0), component="alpaca")
    exporter.wait("amc_discovery_jobs", above(0), state="started")
    promtool_check(exporter.scrape())


# How mock data reaches the cache: the fault of either kind, or the platform's own emergency
# route (which the original called, and which wrote demo results).
MOCK_SOURCES = [("demo", 3), ("fallback", 4), ("populate-cache", 3)]


@pytest.mark.parametrize(("source", "count"), MOCK_SOURCES, ids=[m[0] for m in MOCK_SOURCES])
def test_mock_data_is_suspected_only_while_served(
    sandbox_factory: Sandbox, exporter_factory: Start, source: str, count: int
) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    assert exporter.value("amc_data_mock_suspected") == 0.0
    if source == "populate-cache":
        status, body = sandbox.request("POST", "/discovery/emergency/populate-cache")
        assert status == 200, body
    else:
        sandbox.set_fault("mock_data", kind=source)
    exporter.wait("amc_data_mock_suspected", is_(1.0))
    assert exporter.value("amc_data_integrity_check", check="no_mock_markers") == 0.0
    assert exporter.value("amc_data_integrity_check", check="distinct_scores") == 0.0
    assert exporter.value("amc_discovery_candidates") == float(count)
    if source != "populate-cache":
        sandbox.clear_fault("mock_data")
    sandbox.wait_job(sandbox.trigger())
    exporter.wait("amc_data_mock_suspected", is_(0.0))
    assert exporter.value("amc_data_integrity_ratio") == 1.0


def test_components_follow_provider_and_database_outages(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    sandbox.set_fault("provider_down", provider="polygon")
    exporter.wait("amc_component_up", is_(0.0), component="polygon")
    assert exporter.value("amc_component_up", component="alpaca") == 1.0
    exporter.wait("amc_system_status", is_(1.0), status="degraded")
    assert exporter.value("amc_api_up") == 1.0  # a 503 from /health is an answer
    assert exporter.value("amc_api_probe_failures_total", route="health", reason="status") == 0.0
    sandbox.set_fault("database_down")
    exporter.wait("amc_component_up", is_(0.0), component="database")
    exporter.wait("amc_system_status", is_(1.0), status="critical")  # nothing works without it
    score = exporter.wait("amc_component_health_score", is_(0.0), component="database")
    assert score == 0.0
    sandbox.clear_fault("provider_down")
    sandbox.clear_fault("database_down")
    exporter.wait("amc_component_up", is_(1.0), component="polygon")
    exporter.wait("amc_component_up", is_(1.0), component="database")
    exporter.wait("amc_component_health_score", is_(100.0), component="database")


def test_probe_failures_count_api_errors(sandbox_factory: Sandbox, exporter_factory: Start) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    assert exporter.value("amc_api_probe_failures_total", route="health", reason="status") == 0.0
    sandbox.set_fault("api_errors", ratio=1.0)
    exporter.wait("amc_api_probe_failures_total", above(2), route="health", reason="status")
    exporter.wait("amc_api_probe_failures_total", above(2), route="discovery", reason="status")
    exporter.wait("amc_discovery_candidates", is_(0.0))
    errors = exporter.value("amc_exporter_probe_errors_total", probe="discovery")
    assert errors is not None
    assert errors > 0
    assert exporter.value("amc_api_up") == 1.0  # it answers, with errors
    sandbox.clear_fault("api_errors")
    exporter.wait("amc_discovery_candidates", above(0))


def test_response_time_under_api_latency(sandbox_factory: Sandbox, exporter_factory: Start) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    fast = exporter.value("amc_discovery_response_seconds")
    assert fast is not None
    assert fast < 5
    sandbox.set_fault("api_latency", seconds=6)
    exporter.wait("amc_discovery_response_seconds", above(5.5))
    # Latency is the decision rules' own signal: the status does not count it twice.
    assert exporter.value("amc_system_status", status="healthy") == 1.0
    sandbox.clear_fault("api_latency")
    exporter.wait("amc_discovery_response_seconds", lambda v: v is not None and v < 5)


def test_stuck_jobs_show_as_queued_age_and_job_states(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory(worker=False)
    exporter = exporter_factory(sandbox.url, sandbox.redis_url)
    exporter.wait("amc_discovery_oldest_queued_job_age_seconds", lambda v: v is not None)
    sandbox.set_fault("stuck_jobs", jobs=5, orphans=2, age_seconds=3600)
    age = exporter.wait("amc_discovery_oldest_queued_job_age_seconds", above(3000))
    assert age is not None
    assert age < 3700
    exporter.wait("amc_discovery_jobs", lambda v: v is not None and v >= 5, state="queued")
    assert exporter.value("amc_discovery_jobs", state="started") == 2.0
    assert exporter.value("amc_discovery_lock_held") == 1.0
    sandbox.clear_fault("stuck_jobs")
    exporter.wait("amc_discovery_jobs", is_(0.0), state="started")
    exporter.wait("amc_discovery_oldest_queued_job_age_seconds", lambda v: v is not None and v < 60)


# The sandbox's timers as the exporter is told them: a heartbeat every 0.5 s (allowed 1 s
# here, so that a loaded machine does not make it late), and the cache TTL of the test.
FAST_TIMERS = {"heartbeat_interval_seconds": 1, "health_score_window": 5}


def test_a_refresh_never_shows_zero_candidates(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory(cache_ttl_seconds=2)
    exporter = ready_exporter(
        sandbox, exporter_factory, thresholds={**FAST_TIMERS, "cache_ttl_seconds": 2}
    )
    seen: list[tuple[float | None, float | None]] = []

    def refreshed_three_times() -> bool:
        samples = parse(exporter.scrape())
        seen.append((samples.get(("amc_discovery_candidates", ())),
                     samples.get(("amc_discovery_refreshing", ()))))  # fmt: skip
        return sum(1 for _, refreshing in seen if refreshing == 1.0) >= 3

    wait_for(refreshed_three_times, 30, "three scrapes during refreshes", step=0.1)
    assert all(candidates == 50.0 for candidates, _ in seen), seen
    assert exporter.value("amc_system_status", status="healthy") == 1.0


def test_a_wedged_worker_empties_candidates_when_the_cache_expires(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory(cache_ttl_seconds=2)
    exporter = ready_exporter(
        sandbox, exporter_factory, thresholds={**FAST_TIMERS, "cache_ttl_seconds": 2}
    )
    exporter.wait("amc_system_status", is_(1.0), status="healthy")
    sandbox.set_fault("worker_wedged")
    # The refresh waits for the wedged worker: the results are shown two cache TTLs long.
    exporter.wait("amc_discovery_refreshing", is_(1.0))
    exporter.wait("amc_discovery_candidates", is_(0.0), timeout=30)
    exporter.wait("amc_discovery_worker_heartbeat_age_seconds", above(3))
    exporter.wait("amc_system_status", is_(1.0), status="critical")  # no live worker
    assert exporter.value("amc_api_up") == 1.0  # a 202 "queued" is not down
    assert exporter.value("amc_api_probe_failures_total", route="discovery", reason="status") == 0.0
    assert sandbox.worker is not None
    sandbox.worker.restart()
    exporter.wait("amc_discovery_candidates", above(0), timeout=30)
    beat = exporter.wait(
        "amc_discovery_worker_heartbeat_age_seconds", lambda v: v is not None and v < 3
    )
    assert beat is not None
    assert not math.isinf(beat)


def test_a_strategy_gone_bad_lowers_quality_and_candidates(
    sandbox_factory: Sandbox, exporter_factory: Start
) -> None:
    sandbox = sandbox_factory()
    exporter = ready_exporter(sandbox, exporter_factory)
    good = exporter.value("amc_discovery_quality_score")
    assert good is not None
    sandbox.set_fault("low_quality")
    sandbox.wait_job(sandbox.trigger())
    # The sandbox's discovery routes answer slowly (25 s) while the active strategy is bad: a
    # probe may be in flight that long.
    exporter.wait("amc_discovery_candidates", is_(1.0), timeout=60)
    bad = exporter.value("amc_discovery_quality_score")
    assert bad is not None
    assert bad < good
    # One candidate is the decision rules' own signal: the machinery works, the status says so.
    assert exporter.value("amc_system_status", status="healthy") == 1.0
    assert exporter.value("amc_data_mock_suspected") == 0.0  # poor, but real data
    status, _ = sandbox.request("PATCH", "/admin/config", {"scoring_strategy": "legacy_v0"})
    assert status == 200
    sandbox.wait_job(sandbox.trigger())
    exporter.wait("amc_discovery_candidates", above(1), timeout=60)


@pytest.mark.parametrize(("tick", "frozen"), [(0, True), (1, False)], ids=["frozen", "ticking"])
def test_results_regenerated_without_change_fail_not_frozen_only(
    sandbox_factory: Sandbox, exporter_factory: Start, tick: int, frozen: bool
) -> None:
    sandbox = sandbox_factory(market_tick_seconds=tick)
    exporter = ready_exporter(sandbox, exporter_factory, integrity={"frozen_after_seconds": 1.5})
    # New runs (job ids are per second) over more than 1.5 s: a frozen market repeats itself.
    for _ in range(3):
        sandbox.wait_job(sandbox.trigger())
        time.sleep(1.0)
    expected = 0.0 if frozen else 1.0
    exporter.wait("amc_data_integrity_check", is_(expected), check="not_frozen")
    # Frozen real data is informational (DiscoveryResultsFrozen), never "mock suspected".
    assert exporter.value("amc_data_mock_suspected") == 0.0
    assert exporter.value("amc_data_integrity_ratio") == 1.0
