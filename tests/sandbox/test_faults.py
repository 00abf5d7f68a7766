"""Every fault is observable through the platform's API, and data faults go with their keys."""

import asyncio
import json
import time
from collections.abc import Callable

import pytest
import redis as redis_lib
from aiohttp.test_utils import TestClient
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry

from sandbox.keys import CANDIDATES_KEY, DISCOVERY_QUEUE, LOCK_KEY, STATUS_KEY


async def faults(client: TestClient) -> dict[str, dict]:
    body = await (await client.get("/admin/faults")).json()
    return {item["name"]: item for item in body["faults"]}


async def put(client: TestClient, name: str, **options: object) -> dict:
    response = await client.put(f"/admin/faults/{name}", json=options)
    body = await response.json()
    assert response.status == 200, body
    return body


async def test_no_fault_is_active_at_first(client: TestClient) -> None:
    listed = await faults(client)
    assert sorted(listed) == sorted([
        "worker_wedged", "stuck_jobs", "mock_data", "api_latency", "api_errors",
        "provider_down", "database_down", "low_quality",
    ])  # fmt: skip
    assert not any(item["active"] for item in listed.values())
    assert all(item["cure"] for item in listed.values())


@pytest.mark.parametrize(
    ("name", "options", "status", "error"),
    [
        ("nope", {}, 404, "unknown fault 'nope' (known: worker_wedged, stuck_jobs, mock_data, "
                          "api_latency, api_errors, provider_down, database_down, low_quality)"),
        ("api_latency", {}, 400, "api_latency: seconds: Field required (got {})"),
        ("api_latency", {"ratio": 0.5}, 400, "api_latency: ratio: unknown field"),
        ("api_errors", {"ratio": 1.5}, 400,
         "api_errors: ratio: Input should be less than or equal to 1 (got 1.5)"),
        ("provider_down", {"provider": "iex"}, 400,
         "provider_down: provider: Input should be 'polygon' or 'alpaca' (got 'iex')"),
        ("low_quality", {"strategy": "v7"}, 400,
         "low_quality: strategy: Input should be 'legacy_v0' or 'hybrid_v1' (got 'v7')"),
        ("stuck_jobs", {"jobs": -1}, 400,
         "stuck_jobs: jobs: Input should be greater than or equal to 0 (got -1)"),
    ],
)  # fmt: skip
async def test_bad_faults_get_a_4xx_with_the_reason(
    client: TestClient, name: str, options: dict, status: int, error: str
) -> None:
    response = await client.put(f"/admin/faults/{name}", json=options)
    assert response.status == status
    assert (await response.json())["error"] == error
    assert not any(item["active"] for item in (await faults(client)).values())


async def test_bad_json_and_unknown_clear(client: TestClient) -> None:
    response = await client.put("/admin/faults/api_latency", data=b"{nope")
    assert response.status == 400
    assert (await response.json())["error"].startswith("body is not valid JSON")
    assert (await client.delete("/admin/faults/nope")).status == 404


@pytest.mark.parametrize(
    ("provider", "kind", "error"),
    [
        ("polygon", None, "ProviderUnavailable: polygon returned 503 Service Unavailable"),
        ("alpaca", None, "ProviderUnavailable: alpaca returned 503 Service Unavailable"),
        ("polygon", "rate_limited", "ProviderRateLimited: polygon returned 429 Too Many Requests"),
        ("alpaca", "auth", "ProviderAuthError: alpaca returned 401 Unauthorized: invalid API key"),
        ("polygon", "timeout", "ProviderTimeout: polygon timed out after 10.0 seconds"),
    ],
)
async def test_provider_down_fails_health_and_discovery(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis, provider: str,
    kind: str | None, error: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    await put(client, "provider_down", provider=provider, **({"kind": kind} if kind else {}))
    with caplog.at_level("WARNING", logger="sandbox.api"):
        health = await client.get("/health")
    # /health logs the failure as the platform does, once.
    said = [r.getMessage() for r in caplog.records if r.name == "sandbox.api"]
    assert said == [f"provider error: {error.split(': ', 1)[1]}"]
    body = await health.json()
    assert health.status == 503
    assert body["status"] == "degraded"
    assert body["components"][provider] == {"ok": False, "kind": kind or "unavailable"}
    assert sum(not c["ok"] for c in body["components"].values()) == 1
    job_id = (await (await client.get("/discovery/contenders")).json())["job_id"]
    run_jobs()
    report = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
    assert report["status"] == "failed"
    assert report["error"] == [f"sandbox.errors.{error}"]
    # The platform's status says how the provider failed, in the error's own words.
    assert json.loads(redis.get(STATUS_KEY) or "{}")["error"] == error.split(": ", 1)[1]
    assert not redis.exists(CANDIDATES_KEY)
    assert (await faults(client))["provider_down"]["active"] is True
    await client.delete("/admin/faults/provider_down")
    assert (await client.get("/health")).status == 200


async def test_database_down_fails_its_component(client: TestClient) -> None:
    await put(client, "database_down")
    body = await (await client.get("/health")).json()
    assert body["components"]["database"]["ok"] is False
    assert body["components"]["polygon"]["ok"] is True
    await client.delete("/admin/faults/database_down")
    assert (await client.get("/health")).status == 200


@pytest.mark.parametrize("kind", ["demo", "fallback"])
async def test_mock_data_serves_the_platform_markers_until_discovery_runs(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis, kind: str
) -> None:
    await put(client, "mock_data", kind=kind)
    body = await (await client.get("/discovery/contenders")).json()
    assert body["status"] == "ready"
    assert body["error_recovery"] is True
    if kind == "demo":
        assert body["job_id"] == "emergency_demo"
        assert body["stats"]["demo"] is True
        assert {c["symbol"] for c in body["candidates"]} == {"DEMO"}
    else:
        assert body["job_id"].startswith("fallback_")
        assert "Fallback" in body["engine"]
    assert len({c["bms_score"] for c in body["candidates"]}) == 1
    assert redis.ttl(CANDIDATES_KEY) == -1  # no expiry: it does not go away by itself
    assert (await faults(client))["mock_data"]["active"] is True

    redis.delete(CANDIDATES_KEY, STATUS_KEY)  # what FLUSH_REDIS does, then discovery again
    assert (await client.get("/discovery/contenders")).status == 202
    run_jobs()
    real = await (await client.get("/discovery/contenders")).json()
    assert real["job_id"].startswith("discovery_")
    assert real["stats"]["demo"] is False
    assert (await faults(client))["mock_data"]["active"] is False


async def test_stuck_jobs_leave_orphans_and_a_stale_backlog(
    client: TestClient, redis: redis_lib.Redis
) -> None:
    result = await put(client, "stuck_jobs", jobs=4, orphans=2, age_seconds=1800)
    queue = Queue(DISCOVERY_QUEUE, connection=redis)
    backlog = queue.get_jobs()
    assert len(backlog) == 4
    oldest = min(job.enqueued_at.timestamp() for job in backlog if job.enqueued_at)
    assert 1790 <= time.time() - oldest <= 1900
    started = StartedJobRegistry(queue=queue)
    orphan_ids = started.get_job_ids()
    assert len(orphan_ids) == 2
    live = {worker.name for worker in Worker.all(queue=queue)}
    for job in Job.fetch_many(orphan_ids, connection=redis):
        assert job is not None
        assert job.get_status() == "started"
        assert job.worker_name not in live  # their worker is dead
    assert redis.get(LOCK_KEY).decode() in orphan_ids
    assert sorted(result["jobs"]) == sorted(orphan_ids + [job.id for job in backlog])
    assert (await faults(client))["stuck_jobs"]["active"] is True

    # The cure is the real effect of clearing the jobs, as CLEAR_JOB_QUEUE does.
    await client.post("/discovery/emergency/clear-queue")
    assert (await faults(client))["stuck_jobs"]["active"] is True  # orphans are still there
    cleared = await (await client.post("/discovery/emergency/clear-stuck-jobs")).json()
    assert sorted(cleared["result"]) == sorted(orphan_ids)
    assert (await faults(client))["stuck_jobs"]["active"] is False


async def test_api_errors_answer_the_ratio_with_5xx(client: TestClient) -> None:
    await put(client, "api_errors", ratio=0.5, status=503)
    statuses = [(await client.get("/health")).status for _ in range(10)]
    assert statuses.count(503) == 5
    assert statuses.count(200) == 5
    assert (await client.get("/admin/faults")).status == 200  # admin routes are spared
    await client.delete("/admin/faults/api_errors")
    assert {(await client.get("/health")).status for _ in range(4)} == {200}


async def test_api_latency_delays_discovery_routes_only(client: TestClient) -> None:
    await put(client, "api_latency", seconds=2.0)
    started = time.monotonic()
    assert (await client.get("/discovery/contenders")).status == 202
    assert time.monotonic() - started >= 2.0
    assert (await faults(client))["api_latency"]["seconds"] == 2.0
    health = asyncio.ensure_future(client.get("/health"))
    done, _ = await asyncio.wait([health], timeout=1.5)  # well under the 2 s it would add
    assert done, "/health was delayed by a fault of the discovery routes"
    assert (await health).status == 200


async def test_api_errors_spare_missing_routes_and_count_per_route(client: TestClient) -> None:
    await put(client, "api_errors", ratio=0.5)
    assert (await client.get("/discovery/test")).status == 404  # missing stays missing
    health = [(await client.get("/health")).status for _ in range(4)]
    status = [(await client.get("/discovery/status?job_id=x")).status for _ in range(4)]
    assert health.count(500) == 2
    assert status.count(500) == 2


@pytest.mark.parametrize(
    ("name", "options", "error"),
    [
        ("api_latency", {"seconds": "5"}, "seconds: Input should be a valid number (got '5')"),
        ("api_latency", {"seconds": True}, "seconds: Input should be a valid number (got True)"),
        ("stuck_jobs", {"jobs": 2.5}, "jobs: Input should be a valid integer (got 2.5)"),
    ],
)  # fmt: skip
async def test_fault_options_are_strictly_typed(
    client: TestClient, name: str, options: dict, error: str
) -> None:
    response = await client.put(f"/admin/faults/{name}", json=options)
    assert response.status == 400
    assert (await response.json())["error"] == f"{name}: {error}"


async def test_stuck_jobs_twice_is_refused_and_clear_removes_them(
    client: TestClient, redis: redis_lib.Redis
) -> None:
    await put(client, "stuck_jobs", jobs=2, orphans=1)
    again = await client.put("/admin/faults/stuck_jobs", json={"jobs": 2})
    assert again.status == 409
    assert (await again.json())["error"] == (
        "stuck_jobs: already active (3 jobs left); clear it first"
    )
    assert Queue(DISCOVERY_QUEUE, connection=redis).count == 2
    assert (await client.delete("/admin/faults/stuck_jobs")).status == 200
    assert Queue(DISCOVERY_QUEUE, connection=redis).count == 0
    assert StartedJobRegistry(DISCOVERY_QUEUE, connection=redis).count == 0
    assert (await faults(client))["stuck_jobs"]["active"] is False


async def test_clearing_mock_data_deletes_only_the_mock_results(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis
) -> None:
    await put(client, "mock_data")
    assert (await client.delete("/admin/faults/mock_data")).status == 200
    assert not redis.exists(CANDIDATES_KEY)
    assert (await client.get("/discovery/contenders")).status == 202
    run_jobs()
    assert (await client.delete("/admin/faults/mock_data")).status == 200  # nothing set
    assert redis.exists(CANDIDATES_KEY)  # real results stay


async def test_worker_wedged_needs_a_running_worker(
    client: TestClient, redis: redis_lib.Redis
) -> None:
    response = await client.put("/admin/faults/worker_wedged", json={})
    assert response.status == 409
    assert (await response.json())["error"] == (
        "worker_wedged: no running discovery worker to wedge (no heartbeat)"
    )
    redis.set("amc:discovery:worker:heartbeat", f"{time.time():.3f}")
    first = await put(client, "worker_wedged")
    second = await put(client, "worker_wedged")  # asking twice is asking once
    assert first["state"] == second["state"]
    assert redis.exists("amc:sandbox:faults:worker_wedged:request") == 1
    assert (await faults(client))["worker_wedged"]["holders"] == [{"pending": True}]
    await client.delete("/admin/faults/worker_wedged")
    assert (await faults(client))["worker_wedged"]["active"] is False


async def test_clear_stuck_jobs_leaves_a_live_workers_job_alone(
    client: TestClient, redis: redis_lib.Redis
) -> None:
    await put(client, "stuck_jobs", jobs=0, orphans=1)
    queue = Queue(DISCOVERY_QUEUE, connection=redis)
    live = Worker([queue], connection=redis, name="live-worker")
    live.register_birth()
    live.heartbeat()
    job = queue.enqueue_call("sandbox.discovery.run_discovery", job_id="discovery_live")
    with redis.pipeline() as pipe:
        Execution.create(job, ttl=600, pipeline=pipe, worker_name="live-worker")
        job.prepare_for_execution("live-worker", pipeline=pipe)
        pipe.execute()
    cleared = await (await client.post("/discovery/emergency/clear-stuck-jobs")).json()
    assert len(cleared["result"]) == 1
    assert "discovery_live" not in cleared["result"]
    assert job.get_status(refresh=True) == "started"
    live.register_death()
