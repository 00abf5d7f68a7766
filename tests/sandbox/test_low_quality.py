"""``low_quality``: while a degraded strategy is the active one, one poor candidate and slow
discovery answers (two symptoms of AlgorithmQualityDegraded); switching strategy ends both."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis as redis_lib
from aiohttp.test_utils import TestClient

from sandbox.config import SandboxConfig
from sandbox.server import create_app
from tests.sandbox.test_faults import faults, put

ROUTES = ["/discovery/contenders", "/api/discovery/contenders", "/discovery/candidates",
          "/api/discovery/candidates"]  # fmt: skip


async def timed(client: TestClient, path: str) -> tuple[float, int, dict[str, Any]]:
    """Seconds the answer took, its status and its body."""
    started = time.monotonic()
    response = await client.get(path)
    body = await response.json()
    return time.monotonic() - started, response.status, body


async def run_discovery(
    client: TestClient, run_jobs: Callable[[], None], strategy: str | None = None
) -> dict[str, Any]:
    """Trigger a run, work it in this process, and return its job's result."""
    query = f"?strategy={strategy}" if strategy else ""
    job_id = (await (await client.post(f"/discovery/trigger{query}")).json())["job_id"]
    run_jobs()
    report = await (await client.get(f"/discovery/status?job_id={job_id}")).json()
    assert report["status"] == "finished", report
    return dict(report["result"])


async def test_the_active_strategy_gone_bad_answers_slowly_with_one_poor_candidate(
    client: TestClient, run_jobs: Callable[[], None], config: SandboxConfig
) -> None:
    slow = config.degraded_strategy_delay_seconds
    slower_job = config.degraded_strategy_job_delay_seconds
    assert (await put(client, "low_quality"))["strategies"] == ["hybrid_v1"]  # the active one
    elapsed, status, _ = await timed(client, "/discovery/contenders")
    assert (status, elapsed >= slow) == (202, True)  # a queued answer is as slow
    result = await run_discovery(client, run_jobs)
    assert result["duration_seconds"] >= slower_job  # a validation run can measure it
    for path in ROUTES:
        elapsed, status, bad = await timed(client, path)
        assert (status, elapsed >= slow) == (200, True), path
        assert bad["count"] == 1
        assert 45 <= bad["candidates"][0]["bms_score"] < 50
        assert bad["duration_seconds"] >= slower_job
    for path in ("/discovery/contenders/last", "/discovery/health", "/health"):
        elapsed, status, _ = await timed(client, path)
        assert (status, elapsed < slow) == (200, True), path
    listed = (await faults(client))["low_quality"]
    assert (listed["active"], listed["affecting"]) == (True, True)


async def test_switching_strategy_ends_the_slowness_at_once_and_the_poor_results_next_run(
    client: TestClient, run_jobs: Callable[[], None], config: SandboxConfig
) -> None:
    slow = config.degraded_strategy_delay_seconds
    await put(client, "low_quality")
    await run_discovery(client, run_jobs)
    response = await client.patch("/admin/config", json={"scoring_strategy": "legacy_v0"})
    assert response.status == 200
    elapsed, _, cached = await timed(client, "/discovery/contenders")
    assert elapsed < slow  # the moment the configuration switched, before any new run
    assert (cached["strategy"], cached["count"]) == ("hybrid_v1", 1)  # results of the old run
    result = await run_discovery(client, run_jobs)
    assert result["duration_seconds"] < config.degraded_strategy_job_delay_seconds
    elapsed, _, good = await timed(client, "/discovery/contenders")
    assert (good["strategy"], good["count"], elapsed < slow) == ("legacy_v0", 50, True)
    listed = (await faults(client))["low_quality"]
    assert (listed["active"], listed["affecting"]) == (True, False)


async def test_an_answer_in_progress_ends_when_the_platform_switches(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: SandboxConfig,
    redis: redis_lib.Redis,
) -> None:  # fmt: skip
    slow = config.model_copy(update={"degraded_strategy_delay_seconds": 30.0})
    client = await aiohttp_client(create_app(slow))
    await put(client, "low_quality")
    answer = asyncio.ensure_future(timed(client, "/discovery/contenders"))
    done, _ = await asyncio.wait([answer], timeout=1.0)
    assert not done  # still scanning badly
    await client.patch("/admin/config", json={"scoring_strategy": "legacy_v0"})
    elapsed, status, _ = await asyncio.wait_for(answer, timeout=5.0)  # not the 30 s
    assert (status, elapsed < 30.0) == (202, True)


@pytest.mark.parametrize("active", [True, False])
async def test_a_run_with_a_degraded_strategy_is_slow_whether_active_or_not(
    client: TestClient, run_jobs: Callable[[], None], config: SandboxConfig, active: bool
) -> None:
    await put(client, "low_quality", strategy="legacy_v0")  # hybrid_v1 is the active one
    if active:
        await client.patch("/admin/config", json={"scoring_strategy": "legacy_v0"})
    result = await run_discovery(client, run_jobs, strategy="legacy_v0")
    assert (result["strategy"], result["count"]) == ("legacy_v0", 1)
    assert result["duration_seconds"] >= config.degraded_strategy_job_delay_seconds
    elapsed, _, _ = await timed(client, "/discovery/contenders")
    assert (elapsed >= config.degraded_strategy_delay_seconds) is active
