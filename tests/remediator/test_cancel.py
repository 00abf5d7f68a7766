"""Cancel: on resolve (awaiting approval, waiting for the lock, not once the command runs),
by hand, and against a worker that already read the record; on a real Redis with real RQ
workers (RQ's SimpleWorker in-process, and the real serve and worker processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis as redis_lib
from rq.job import Job, JobStatus

from remediator import api, approvals, audit, keys
from remediator.intake import submit
from remediator.records import Status
from remediator.runner import Attempt, Runtime
from remediator.store import Store
from tests.remediator.approvals_helpers import (
    CACHE_KEY,
    FLUSH,
    answer,
    approval,
    fire,
    metric,
    started,
)
from tests.remediator.conftest import (
    AUTH,
    Clock,
    MakeClient,
    MakeConfigFile,
    alert,
    message,
    record_of,
)
from tests.remediator.stack import call, start_serve, start_worker, wait_final
from tests.services import RedisServer, Service, wait_for


async def test_a_resolution_cancels_an_execution_awaiting_approval(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(**approval())
    store: Store = client.app[api.STORE]
    execution_id = (await fire(client))["execution_id"]
    resolved = await fire(client, "resolved", ends_at="2026-11-25T12:10:00Z")
    assert resolved["decision"] == "resolved"
    assert resolved["detail"] == f"resolved; execution {execution_id} cancelled before it started"
    record = record_of(store, execution_id)
    assert (record.status, record.cancelled_by) == (Status.CANCELLED, "resolved")
    (cancelled,) = audit.read(redis, 10, event="cancelled")
    assert (cancelled["by"], cancelled["execution_id"]) == ("resolved", execution_id)
    assert (await answer(client, execution_id, "approve", by="hal")).status == 409
    run_jobs(store)
    assert started(redis) == []
    assert await metric(client, "amc_remediator_awaiting_approval", command="FLUSH_REDIS") == 0


async def test_a_resolution_cancels_an_execution_waiting_for_the_lock(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(alerts=FLUSH, lock_wait_seconds=60)
    store: Store = client.app[api.STORE]
    redis.set(CACHE_KEY, "demo")
    assert store.acquire_lock("someone-else", 60)
    decision = await fire(client)
    assert decision["decision"] == "enqueued"  # no approval needed: queued at once
    execution_id = decision["execution_id"]
    run_jobs(store)
    assert record_of(store, execution_id).status is Status.WAITING
    resolved = await fire(client, "resolved", ends_at="2026-11-25T12:10:00Z")
    assert resolved["detail"].endswith("cancelled before it started")
    store.release_lock("someone-else")

    def retried() -> bool:  # RQ's scheduler brings the lock wait's retry back: it runs nothing
        run_jobs(store)
        return Job.fetch(execution_id, connection=redis).get_status() == JobStatus.FINISHED

    wait_for(retried, 10, "the lock wait's retry to be taken")  # the loop may block: no I/O
    record = record_of(store, execution_id)
    assert (record.status, record.attempts, record.started_at) == (Status.CANCELLED, 0, None)
    assert redis.exists(CACHE_KEY) == 1
    assert started(redis) == []
    assert not redis.exists(keys.pending("FLUSH_REDIS"))  # the next alert is not held back
    outcome = {"command": "FLUSH_REDIS", "outcome": "cancelled"}
    assert await metric(client, "amc_remediator_executions_total", **outcome) == 1


@pytest.mark.slow
def test_a_resolution_while_the_command_runs_does_not_stop_it(
    own_redis_server: RedisServer, services: Callable[..., Service],
    make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis,
) -> None:  # fmt: skip
    platform = own_redis_server
    target = redis_lib.Redis(port=platform.port)
    try:
        target.set(CACHE_KEY, "demo")
        config = make_config_file(redis_url=platform.url, alerts=FLUSH)
        base = start_serve(services, config, redis_url)
        start_worker(services, config, redis_url)
        target.execute_command("CLIENT", "PAUSE", 4000, "ALL")  # the flush's SCAN waits
        status, reply = call("POST", f"{base}/webhook", message(alert("CacheStale")))
        assert status == 200, reply
        execution_id = reply["decisions"][0]["execution_id"]

        def running() -> bool:
            return call("GET", f"{base}/api/v1/executions/{execution_id}")[1]["status"] == "running"

        wait_for(running, 10, "the command to start", step=0.05)
        resolved = alert("CacheStale", "resolved", ends_at="2026-11-25T12:10:00Z")
        status, reply = call("POST", f"{base}/webhook", message(resolved))
        assert (status, reply["decisions"][0]["detail"]) == (200, "resolved")  # nothing cancelled
        assert running()
        done = wait_final(base, execution_id)
        assert (done["status"], done["verified"]) == ("succeeded", True), done["error"]
        assert target.exists(CACHE_KEY) == 0
        assert audit.read(redis, 10, event="cancelled") == []
        status, _ = call("POST", f"{base}/api/v1/executions/{execution_id}/cancel", {"by": "ivan"})
        assert status == 409  # over: nothing to cancel
    finally:
        target.close()


async def test_cancel_by_hand_and_its_errors(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client()
    store: Store = client.app[api.STORE]
    execution_id = await asyncio.to_thread(submit, store, "HEALTH_CHECK", {}, "manual")
    resp = await answer(client, execution_id, "cancel", by="judy", reason="not now")
    assert resp.status == 200, await resp.text()
    record = await resp.json()
    assert (record["status"], record["cancelled_by"]) == ("cancelled", "judy")
    assert record["error"] == "cancelled by judy: not now"
    run_jobs(store)
    assert record_of(store, execution_id).status is Status.CANCELLED
    assert started(redis) == []
    bad = await answer(client, "alert-../../x", "cancel", by="judy")
    assert bad.status == 400
    assert (await bad.json())["detail"]["field"] == "id"
    missing = await answer(client, "manual-0123456789abcdef0123", "approve", by="judy")
    assert missing.status == 404
    nobody = await client.post(f"/api/v1/executions/{execution_id}/cancel", json={"by": ""},
                               headers=AUTH)  # fmt: skip
    assert nobody.status == 400
    assert (await nobody.json())["detail"]["field"] == "by"
    unauthorised = await client.post(f"/api/v1/executions/{execution_id}/approve")
    assert unauthorised.status == 401
    assert approvals.EXECUTION_ID.match(execution_id)


def test_a_cancel_between_reading_the_record_and_starting_wins(
    store: Store, redis: redis_lib.Redis, clock: Clock
) -> None:
    """The worker read the record, then the cancel came: the attempt neither starts nor
    waits for the lock, and the record stays cancelled (a start and a cancel are guarded
    by one transaction on the record)."""
    runtime = Runtime(config=store.config, store=store, clock=clock)
    for holder in (None, "someone-else"):
        if holder is not None:
            assert store.acquire_lock(holder, 60)
        execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
        stale = record_of(store, execution_id)  # what run_job read
        approvals.cancel(store, execution_id, "mo", None, clock())
        assert Attempt(runtime, stale).run() == "cancelled"
        record = record_of(store, execution_id)
        assert (record.status, record.attempts, record.waiting_for) == (
            Status.CANCELLED, 0, None)  # fmt: skip
    assert started(redis) == []
    assert audit.read(redis, 10, event="execution_waiting") == []
    assert store.lock_holder() == "someone-else"  # the first attempt released its own
