"""Every catalog command against the sandbox under supervisord: the fault it is for goes in,
the command runs through the remediator's queue on a real worker, and the fault is cured by
the command's real effect (never by asking the sandbox), with ``verified: true``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.config import KNOWN_MISSING_ROUTES
from tests.services import Service, wait_for
from tests.stack.platform import Stack, start_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(services: Callable[..., Service], tmp_path: Path) -> Stack:
    """The platform and the remediator under supervisord, without the monitoring."""
    return start_stack(services, tmp_path, monitoring=False)


def steps(record: dict[str, Any]) -> list[str]:
    return [step["name"] for step in record["steps"]]


def cured(record: dict[str, Any]) -> None:
    assert record["status"] == "succeeded", (record["error"], record["steps"][-3:])
    assert record["verified"] is True, record["verification"]


def wedge(stack: Stack) -> str:
    """Wedge the running discovery worker and have it take a job that hangs; the job id."""
    stack.set_fault("worker_wedged")

    def taken() -> bool:  # a pending request counts as active: wait for a wedged process
        return any("pid" in h for h in stack.faults()["worker_wedged"]["holders"])

    wait_for(taken, 10, "the worker to wedge")
    _, body = stack.call("sandbox", "POST", "/discovery/trigger")
    job_id = str(body["job_id"])

    def hangs() -> bool:
        _, report = stack.call("sandbox", "GET", f"/discovery/status?job_id={job_id}")
        return bool(report["status"] == "started")

    wait_for(hangs, 20, "the wedged worker to start the job")
    return job_id


def test_restart_rq_workers_cures_a_wedged_worker_and_its_hung_job(stack: Stack) -> None:
    hung = wedge(stack)
    # CLEAR_JOB_QUEUE never touches a live worker's running job, hung or not.
    cleared = stack.run("CLEAR_JOB_QUEUE")
    assert hung not in cleared["result"]["failed"]
    _, report = stack.call("sandbox", "GET", f"/discovery/status?job_id={hung}")
    assert report["status"] == "started"

    record = stack.run("RESTART_RQ_WORKERS")
    cured(record)
    assert steps(record)[:3] == [
        "stop workers over Redis", "restart workers", "wait for a fresh heartbeat"
    ]  # fmt: skip
    stopped = record["result"]["stopped"]
    assert hung in stopped["horses_killed"].values()  # the horse's own group, reached by RQ
    assert record["result"]["restart"]["actuator"] == "restart-discovery-worker"
    assert stack.faults()["worker_wedged"]["active"] is False
    _, report = stack.call("sandbox", "GET", f"/discovery/status?job_id={hung}")
    assert report["status"] == "failed"
    # A fresh worker runs discovery again.
    _, body = stack.call("sandbox", "POST", "/discovery/trigger")
    wait_for(lambda: stack.call("sandbox", "GET", f"/discovery/status?job_id={body['job_id']}")[1]
             ["status"] == "finished", 20, "a discovery run on the new worker")  # fmt: skip


def test_clear_job_queue_removes_stuck_jobs_and_records_every_id(stack: Stack) -> None:
    stack.supervisorctl("stop", "sandbox-worker")  # nothing drains the backlog meanwhile
    injected = stack.set_fault("stuck_jobs", jobs=4, orphans=2)["jobs"]
    assert stack.faults()["stuck_jobs"]["active"] is True

    record = stack.run("CLEAR_JOB_QUEUE")
    cured(record)
    result = record["result"]
    assert sorted(result["cancelled"] + result["failed"]) == sorted(injected)
    assert len(result["failed"]) == 2
    assert result["lock_released"] in result["failed"]  # the orphan held the discovery lock
    assert stack.faults()["stuck_jobs"]["active"] is False
    assert stack.run("CLEAR_JOB_QUEUE")["result"]["cancelled"] == []  # twice is harmless


def test_flush_redis_drops_the_cache_and_keeps_a_decoy(stack: Stack) -> None:
    stack.set_fault("mock_data", kind="demo")
    client = stack.redis()
    client.set("amc:discovery:decoy", "keep me")
    try:
        record = stack.run("FLUSH_REDIS")
        cured(record)
        assert stack.faults()["mock_data"]["active"] is False
        assert client.get("amc:discovery:decoy") == b"keep me"
    finally:
        client.close()


def test_integrate_real_data_replaces_mock_results_with_real_ones(stack: Stack) -> None:
    stack.set_fault("mock_data", kind="fallback")
    record = stack.run("INTEGRATE_REAL_DATA")
    cured(record)
    result = record["result"]
    assert result["before"]["mock_suspected"] is True
    assert result["after"]["mock_suspected"] is False
    assert stack.faults()["mock_data"]["active"] is False
    _, last = stack.call("sandbox", "GET", "/discovery/contenders/last")
    assert last["job_id"].startswith("manual_")
    assert last["count"] >= 3


def test_integrate_real_data_under_a_provider_outage_names_it_and_drops_nothing(
    stack: Stack,
) -> None:
    stack.set_fault("mock_data", kind="demo")
    stack.set_fault("provider_down", provider="polygon")
    record = stack.run("INTEGRATE_REAL_DATA")
    assert record["status"] == "succeeded"
    assert record["verified"] is False
    assert "polygon" in record["verification"]["reason"]
    assert steps(record) == ["check providers", "verify"]
    assert stack.faults()["mock_data"]["active"] is True  # users keep what they had


def test_validate_algorithms_names_the_failing_strategy_and_applies_a_good_one(
    stack: Stack,
) -> None:
    stack.set_fault("low_quality")  # the active strategy, hybrid_v1, goes bad
    record = stack.run("VALIDATE_ALGORITHMS", timeout=180)
    cured(record)
    result = record["result"]
    assert result["failing"] == ["hybrid_v1"]
    assert result["chosen"] == "legacy_v0"
    assert result["applied"]["after"] == {"scoring_strategy": "legacy_v0"}
    assert result["applied"]["before"] == {"scoring_strategy": "hybrid_v1"}
    _, config = stack.call("sandbox", "GET", "/admin/config")
    assert config["scoring_strategy"] == "legacy_v0"
    assert stack.faults()["low_quality"]["affecting"] is False
    _, last = stack.call("sandbox", "GET", "/discovery/contenders/last")
    assert last["strategy"] == "legacy_v0"


def test_update_configuration_switches_strategy_with_before_and_after(stack: Stack) -> None:
    stack.set_fault("low_quality")
    record = stack.run("UPDATE_CONFIGURATION", strategy="legacy_v0")
    cured(record)
    assert record["result"]["before"] == {"scoring_strategy": "hybrid_v1"}
    assert record["result"]["after"] == {"scoring_strategy": "legacy_v0"}
    assert stack.faults()["low_quality"]["affecting"] is False
    status, body = stack.call("remediator", "POST", "/api/v1/commands/UPDATE_CONFIGURATION",
                              {"params": {"strategy": "nope_v9"}})  # fmt: skip
    assert status == 400  # a strategy the configuration does not list never reaches a run
    assert body["detail"]["field"] == "params.strategy"
    record = stack.run("UPDATE_CONFIGURATION", limit=5)
    cured(record)
    assert record["result"]["before"] == {"discovery_limit": 50}
    assert record["verification"]["checks"]["seen"]["discovery_limit"] == 5


def test_restart_discovery_system_cures_a_wedged_discovery(stack: Stack) -> None:
    hung = wedge(stack)
    record = stack.run("RESTART_DISCOVERY_SYSTEM", timeout=180)
    cured(record)
    result = record["result"]
    assert hung in result["workers"]["stopped"]["horses_killed"].values()
    assert result["discovery"]["job_status"] == "finished"
    assert result["discovery"]["results"]["count"] >= 3
    assert stack.faults()["worker_wedged"]["active"] is False


@pytest.mark.parametrize(("fault", "options"), [("api_errors", {"ratio": 1}),
                                                ("api_latency", {"seconds": 25})])  # fmt: skip
def test_emergency_restart_cures_an_api_process_fault(
    stack: Stack, fault: str, options: dict[str, Any]
) -> None:
    stack.set_fault(fault, **options)
    record = stack.run("EMERGENCY_RESTART", timeout=300)
    cured(record)
    assert "restart the API" in steps(record)
    assert stack.faults()[fault]["active"] is False  # the new API process has no such fault
    checks = record["verification"]["checks"]
    assert checks["failed"] == 0
    assert checks["slow"] == []


def test_health_check_reports_a_database_outage_unverified(stack: Stack) -> None:
    stack.set_fault("database_down")
    record = stack.run("HEALTH_CHECK")
    assert record["status"] == "succeeded"
    assert record["result"]["components"]["database"] is False
    assert record["verified"] is False


def test_validate_endpoints_reports_exactly_the_six_missing_routes(stack: Stack) -> None:
    record = stack.run("VALIDATE_ENDPOINTS")
    assert record["status"] == "succeeded"
    assert set(record["result"]["missing"]) == set(KNOWN_MISSING_ROUTES)
    assert record["verified"] is False
    assert json.dumps(record["verification"]["checks"]["missing"])
