"""The sandbox speaks the platform's routes, shapes and Redis keys."""

import json
import time
from collections.abc import Callable

import pytest
import redis as redis_lib
from aiohttp.test_utils import TestClient

from exporter.config import KNOWN_MISSING_ROUTES
from sandbox.keys import CANDIDATES_KEY, DISCOVERY_QUEUE, LOCK_KEY, STATUS_KEY

PREFIXES = ["/discovery", "/api/discovery"]


async def fill_cache(client: TestClient, run_jobs: Callable[[], None]) -> dict:
    response = await client.get("/discovery/contenders")
    assert response.status == 202
    run_jobs()
    response = await client.get("/discovery/contenders")
    assert response.status == 200
    return await response.json()


async def test_health_reports_five_components(client: TestClient) -> None:
    for path in ("/health", "/healthz"):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 200
        assert body["status"] == "healthy"
        assert set(body["components"]) == {"env", "database", "redis", "polygon", "alpaca"}
        assert all(component["ok"] for component in body["components"].values())
        assert body["components"]["env"]["missing"] == []


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("route", ["contenders", "candidates"])
async def test_contenders_queue_a_job_then_answer_from_cache(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis, prefix: str,
    route: str,
) -> None:  # fmt: skip
    response = await client.get(f"{prefix}/{route}")
    queued = await response.json()
    assert response.status == 202
    assert queued["status"] == "queued"
    assert queued["job_id"].startswith("discovery_")
    assert queued["poll_url"] == f"{prefix}/status?job_id={queued['job_id']}"
    again = await (await client.get(f"{prefix}/{route}")).json()
    assert again["job_id"] == queued["job_id"]  # one job while one is pending
    assert redis.llen(f"rq:queue:{DISCOVERY_QUEUE}") == 1

    run_jobs()
    response = await client.get(f"{prefix}/{route}?limit=10")
    ready = await response.json()
    assert response.status == 200
    assert ready["status"] == "ready"
    assert ready["count"] == len(ready["candidates"]) == 10
    assert ready["cached"] is True
    assert 0 <= ready["cache_age_seconds"] < 60
    assert ready["job_id"] == queued["job_id"]
    assert ready["strategy"] == "hybrid_v1"
    assert "hybrid_v1" in ready["engine"]
    assert ready["stats"]["demo"] is False


async def test_cache_and_status_keys_expire_with_the_platform_ttl(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis
) -> None:
    body = await fill_cache(client, run_jobs)
    cached = json.loads(redis.get(CANDIDATES_KEY))
    assert cached["candidates"] == body["candidates"]
    assert 590 <= redis.ttl(CANDIDATES_KEY) <= 600
    assert 590 <= redis.ttl(STATUS_KEY) <= 600
    assert json.loads(redis.get(STATUS_KEY))["status"] == "finished"
    assert not redis.exists(LOCK_KEY)  # released when the job ended


async def test_status_of_a_job(client: TestClient, run_jobs: Callable[[], None]) -> None:
    response = await client.post("/discovery/trigger?limit=5&strategy=legacy_v0")
    job_id = (await response.json())["job_id"]
    assert response.status == 202
    assert job_id.startswith("manual_")
    queued = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
    assert queued["status"] == "queued"
    run_jobs()
    done = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
    assert done["status"] == "finished"
    assert done["result"]["count"] == 5
    assert done["result"]["strategy"] == "legacy_v0"
    assert (await client.get("/discovery/status?job_id=nope")).status == 404
    assert (await client.get("/discovery/status")).status == 400


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit: expected an integer 1-500, got '0'"),
        ("limit=ten", "limit: expected an integer 1-500, got 'ten'"),
        ("strategy=v9", "strategy: expected one of ['legacy_v0', 'hybrid_v1'], got 'v9'"),
    ],
)
async def test_trigger_rejects_bad_parameters(client: TestClient, query: str, detail: str) -> None:
    response = await client.post(f"/discovery/trigger?{query}")
    assert response.status == 400
    assert (await response.json())["detail"] == detail


@pytest.mark.parametrize("path", KNOWN_MISSING_ROUTES)
async def test_the_routes_the_original_agent_missed_are_missing(
    client: TestClient, path: str
) -> None:
    assert (await client.get(path)).status == 404


async def test_discovery_health_and_last(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis
) -> None:
    assert (await client.get("/discovery/contenders/last")).status == 404
    redis.set("amc:discovery:worker:heartbeat", f"{time.time() - 5:.3f}")
    body = await fill_cache(client, run_jobs)
    health = await (await client.get("/api/discovery/health")).json()
    assert health["status"] == "healthy"
    assert health["worker"]["alive"] is True
    assert 4 <= health["worker"]["heartbeat_age_seconds"] < 60
    assert health["cache"]["present"] is True
    last = await (await client.get("/discovery/contenders/last")).json()
    assert last["candidates"] == body["candidates"]
    redis.set("amc:discovery:worker:heartbeat", f"{time.time() - 200:.3f}")
    stale = await (await client.get("/discovery/health")).json()
    assert stale["worker"]["alive"] is False
    assert stale["status"] == "degraded"


async def test_emergency_routes_act_on_the_queue(
    client: TestClient, redis: redis_lib.Redis
) -> None:
    await client.post("/discovery/trigger")
    response = await client.post("/discovery/emergency/clear-queue")
    cleared = (await response.json())["result"]
    assert len(cleared) == 1
    assert cleared[0].startswith("manual_")
    assert redis.llen(f"rq:queue:{DISCOVERY_QUEUE}") == 0
    response = await client.post("/discovery/emergency/populate-cache")
    assert (await response.json())["result"] == "emergency_demo"
    demo = await (await client.get("/discovery/contenders")).json()
    assert demo["job_id"] == "emergency_demo"
    assert demo["stats"]["demo"] is True
    assert 0 < redis.ttl(CANDIDATES_KEY) <= 600
    reset = await (await client.post("/discovery/emergency/reset-system")).json()
    assert reset["result"]["lock_released"] is True
    workers = await (await client.get("/discovery/emergency/worker-health")).json()
    assert workers["workers"] == []
    assert workers["alive"] is False


async def test_runtime_configuration_switches_the_strategy(
    client: TestClient, run_jobs: Callable[[], None]
) -> None:
    assert (await (await client.get("/admin/config")).json())["scoring_strategy"] == "hybrid_v1"
    response = await client.patch("/admin/config", json={"scoring_strategy": "legacy_v0"})
    assert await response.json() == {
        "before": {"scoring_strategy": "hybrid_v1"},
        "after": {"scoring_strategy": "legacy_v0"},
    }
    body = await fill_cache(client, run_jobs)
    assert body["strategy"] == "legacy_v0"
    bad = await client.patch("/admin/config", json={"scoring_strategy": "v3"})
    assert bad.status == 400
    assert "scoring_strategy: expected one of" in (await bad.json())["error"]
    unknown = await client.patch("/admin/config", json={"limit": 3})
    assert (await unknown.json())["error"] == "limit: unknown setting"


async def test_runtime_configuration_sets_the_discovery_limit(
    client: TestClient, run_jobs: Callable[[], None]
) -> None:
    assert (await (await client.get("/admin/config")).json())["discovery_limit"] == 50
    response = await client.patch("/admin/config", json={"discovery_limit": 4})
    assert await response.json() == {
        "before": {"discovery_limit": 50},
        "after": {"discovery_limit": 4},
    }
    body = await fill_cache(client, run_jobs)
    assert body["count"] == 4
    for bad in (0, 501, "4", True):
        refused = await client.patch("/admin/config", json={"discovery_limit": bad})
        assert refused.status == 400
        assert "discovery_limit: expected an integer 1-500" in (await refused.json())["error"]


async def test_redis_down_gives_503_not_a_hang(aiohttp_client, own_redis_server) -> None:
    from sandbox.config import SandboxConfig
    from sandbox.server import create_app

    client = await aiohttp_client(create_app(SandboxConfig(redis_url=own_redis_server.url)))
    own_redis_server.stop()
    health = await client.get("/health")
    assert health.status == 503
    assert (await health.json())["components"]["redis"]["ok"] is False
    response = await client.get("/discovery/contenders")
    assert response.status == 503
    assert (await response.json())["detail"].startswith("redis unavailable")


async def test_two_triggers_in_one_second_are_two_jobs_with_their_own_parameters(
    client: TestClient, run_jobs: Callable[[], None]
) -> None:
    first = await (await client.post("/discovery/trigger?strategy=legacy_v0&limit=5")).json()
    second = await (await client.post("/discovery/trigger?strategy=hybrid_v1&limit=7")).json()
    assert first["job_id"] != second["job_id"]
    run_jobs()
    for job_id, strategy, count in [(first["job_id"], "legacy_v0", 5),
                                    (second["job_id"], "hybrid_v1", 7)]:  # fmt: skip
        report = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
        assert report["result"]["strategy"] == strategy
        assert report["result"]["count"] == count


async def test_a_job_skipped_for_the_lock_says_so(
    client: TestClient, run_jobs: Callable[[], None], redis: redis_lib.Redis
) -> None:
    redis.set(LOCK_KEY, "discovery_other", ex=60)
    job_id = (await (await client.get("/discovery/contenders")).json())["job_id"]
    run_jobs()
    assert json.loads(redis.get(STATUS_KEY))["status"] == "skipped"
    report = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
    assert report["result"] == {"status": "skipped", "reason": "locked", "job_id": job_id}


async def test_runtime_configuration_refuses_a_body_that_is_not_an_object(
    client: TestClient,
) -> None:
    response = await client.patch("/admin/config", json=["legacy_v0"])
    assert response.status == 400
    assert (await response.json())["error"] == "body must be a JSON object"
