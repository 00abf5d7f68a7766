"""Trust: approval, rejection and expiry, on a real Redis with real RQ workers (RQ's
SimpleWorker in-process, and the real command line); cancelling is ``test_cancel.py``."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable

import redis as redis_lib
from rq import Queue

from remediator import api, audit, keys
from remediator.queue import QUEUE_NAMES
from remediator.records import Status
from remediator.recovery import reconcile
from remediator.runner import Runtime
from remediator.store import Store
from tests.remediator.approvals_helpers import CACHE_KEY, answer, approval, fire, metric, started
from tests.remediator.conftest import AUTH, Clock, MakeClient, MakeConfigFile, record_of
from tests.services import script


def queued(conn: redis_lib.Redis) -> int:
    return sum(Queue(name, connection=conn).count for name in QUEUE_NAMES)


async def test_an_approved_execution_runs_once_with_its_original_priority(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(**approval(priority="low"))
    store: Store = client.app[api.STORE]
    redis.set(CACHE_KEY, "demo")
    decision = await fire(client)
    assert decision["decision"] == "awaiting_approval"
    execution_id = decision["execution_id"]
    record = record_of(store, execution_id)
    assert record.status is Status.AWAITING_APPROVAL
    assert record.approval is not None
    assert record.approval.deadline == record.created_at + 1800
    assert queued(redis) == 0
    assert not redis.exists(keys.pending("FLUSH_REDIS"))
    assert await metric(client, "amc_remediator_awaiting_approval", command="FLUSH_REDIS") == 1
    assert (await fire(client))["decision"] == "duplicate"  # Alertmanager's repeats
    run_jobs(store)
    assert record_of(store, execution_id).status is Status.AWAITING_APPROVAL
    assert redis.exists(CACHE_KEY) == 1  # nothing ran

    resp = await answer(client, execution_id, "approve", by="alice", reason="market calm")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "queued"
    assert Queue("remediation-low", connection=redis).count == 1  # its priority at the decision
    again = await answer(client, execution_id, "approve", by="bob")
    assert again.status == 409
    assert await again.json() == {"error": "conflict",
                                  "detail": f"execution {execution_id} is queued"}  # fmt: skip
    run_jobs(store)
    done = record_of(store, execution_id)
    assert (done.status, done.verified, done.attempts) == (Status.SUCCEEDED, True, 1)
    assert done.approval is not None
    assert (done.approval.by, done.approval.reason) == ("alice", "market calm")
    assert redis.exists(CACHE_KEY) == 0
    assert len(started(redis)) == 1
    (approved,) = audit.read(redis, 10, event="approved")
    assert (approved["by"], approved["reason"], approved["execution_id"]) == (
        "alice", "market calm", execution_id)  # fmt: skip
    assert await metric(client, "amc_remediator_awaiting_approval", command="FLUSH_REDIS") == 0


async def test_a_rejected_execution_runs_nothing_and_is_audited(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(**approval())
    store: Store = client.app[api.STORE]
    redis.set(CACHE_KEY, "demo")
    execution_id = (await fire(client))["execution_id"]
    resp = await answer(client, execution_id, "reject", by="carol", reason="open auction")
    assert resp.status == 200, await resp.text()
    run_jobs(store)
    record = record_of(store, execution_id)
    assert (record.status, record.attempts, record.started_at) == (Status.REJECTED, 0, None)
    assert redis.exists(CACHE_KEY) == 1
    assert started(redis) == []
    assert queued(redis) == 0
    (rejected,) = audit.read(redis, 10, event="rejected")
    assert (rejected["by"], rejected["reason"]) == ("carol", "open auction")
    assert (await answer(client, execution_id, "approve", by="dave")).status == 409
    outcome = {"command": "FLUSH_REDIS", "outcome": "rejected"}
    assert await metric(client, "amc_remediator_executions_total", **outcome) == 1
    assert await metric(client, "amc_remediator_awaiting_approval", command="FLUSH_REDIS") == 0


async def test_an_unanswered_execution_expires_is_escalated_and_runs_nothing(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool], clock: Clock
) -> None:
    client = await make_client(**approval(approval_timeout_seconds=60))
    store: Store = client.app[api.STORE]
    redis.set(CACHE_KEY, "demo")
    execution_id = (await fire(client))["execution_id"]
    runtime = Runtime(config=store.config, store=store, clock=clock)
    clock.advance(59)
    reconcile(runtime, 1)  # the worker's maintenance: not yet
    assert record_of(store, execution_id).status is Status.AWAITING_APPROVAL
    clock.advance(1)
    redis.delete(keys.MAINTENANCE)
    reconcile(runtime, 1)
    run_jobs(store)
    record = record_of(store, execution_id)
    assert (record.status, record.attempts, record.ended_at) == (Status.EXPIRED, 0, clock.now)
    assert redis.exists(CACHE_KEY) == 1
    assert started(redis) == []
    (expired,) = audit.read(redis, 10, event="expired")
    assert expired["execution_id"] == execution_id
    (escalated,) = audit.read(redis, 10, event="execution_escalated")
    assert escalated["reason"] == "nobody approved it in time"
    assert (await answer(client, execution_id, "approve", by="erin")).status == 409
    outcome = {"command": "FLUSH_REDIS", "outcome": "expired"}
    assert await metric(client, "amc_remediator_executions_total", **outcome) == 1


async def test_an_approval_past_the_deadline_expires_it_instead(
    make_client: MakeClient, redis: redis_lib.Redis, clock: Clock
) -> None:
    client = await make_client(**approval(approval_timeout_seconds=60))
    execution_id = (await fire(client))["execution_id"]
    clock.advance(61)  # before any maintenance ran
    resp = await answer(client, execution_id, "approve", by="frank")
    assert resp.status == 409
    assert "expired" in (await resp.json())["detail"]
    assert queued(redis) == 0
    assert record_of(client.app[api.STORE], execution_id).status is Status.EXPIRED


async def test_ten_concurrent_approvals_enqueue_once(
    make_client: MakeClient, redis: redis_lib.Redis, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(**approval())
    store: Store = client.app[api.STORE]
    execution_id = (await fire(client))["execution_id"]
    replies = await asyncio.gather(
        *(answer(client, execution_id, "approve", by=f"op{i}") for i in range(10))
    )
    assert sorted(r.status for r in replies) == [200] + [409] * 9
    assert queued(redis) == 1
    assert len(audit.read(redis, 100, event="approved")) == 1
    run_jobs(store)
    assert record_of(store, execution_id).status is Status.SUCCEEDED
    assert len(started(redis)) == 1


async def test_approval_honours_the_cooldown_and_circuit_as_they_stand_then(
    make_client: MakeClient, redis: redis_lib.Redis, clock: Clock
) -> None:
    client = await make_client(**approval())
    store: Store = client.app[api.STORE]
    execution_id = (await fire(client))["execution_id"]
    # an operator's run started meanwhile: the command's cooldown runs
    redis.set(keys.cooldown("FLUSH_REDIS"), clock.now + 300, ex=300)
    resp = await answer(client, execution_id, "approve", by="gina")
    assert resp.status == 409
    detail = (await resp.json())["detail"]
    assert detail.startswith("cooldown: cooldown for 300s more; approve again later"), detail
    assert record_of(store, execution_id).status is Status.AWAITING_APPROVAL
    redis.delete(keys.cooldown("FLUSH_REDIS"))
    redis.set(keys.circuit_open("FLUSH_REDIS"), clock.now + 60, ex=60)
    assert (await answer(client, execution_id, "approve", by="gina")).status == 409
    redis.delete(keys.circuit_open("FLUSH_REDIS"))
    assert (await answer(client, execution_id, "approve", by="gina")).status == 200
    assert queued(redis) == 1
    assert redis.get(keys.pending("FLUSH_REDIS")) == execution_id.encode()


async def test_the_report_shows_what_waits_for_whom(
    make_client: MakeClient, redis: redis_lib.Redis
) -> None:
    client = await make_client(**approval())
    store: Store = client.app[api.STORE]
    awaiting = (await fire(client))["execution_id"]
    assert store.acquire_lock("someone-else", 60)
    text = await (await client.get("/api/v1/report?format=text", headers=AUTH)).text()
    assert f"  {awaiting} FLUSH_REDIS (awaiting_approval) since " in text
    assert "waits for a person: approve or reject until " in text
    data = await (await client.get("/api/v1/report", headers=AUTH)).json()
    (item,) = data["waiting"]
    assert (item["execution_id"], item["alertname"]) == (awaiting, "CacheStale")


async def test_operators_answer_at_a_shell(
    make_client: MakeClient, make_config_file: MakeConfigFile, redis_url: str,
    redis: redis_lib.Redis,
) -> None:  # fmt: skip
    client = await make_client(**approval())
    first = (await fire(client))["execution_id"]
    second = (await fire(client, fingerprint="0f0f0f0f0f0f0f0f"))["execution_id"]
    path = make_config_file(**approval())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [script("amc-remediator"), *args, "--config", str(path), "--redis-url", redis_url]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    done = await asyncio.to_thread(cli, "approve", first, "--by", "kim", "--reason", "calm")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "queued"
    done = await asyncio.to_thread(cli, "reject", second, "--reason", "auction")
    assert json.loads(done.stdout)["status"] == "rejected"
    done = await asyncio.to_thread(cli, "cancel", first, "--by", "kim")
    assert json.loads(done.stdout)["status"] == "cancelled"
    done = await asyncio.to_thread(cli, "approve", second, "--by", "kim")
    assert done.returncode == 1
    assert done.stderr == f"amc-remediator: execution {second} is rejected\n"
    entries = {e["event"]: e for e in audit.read(redis, 20) if e["event"] != "decision"}
    assert (entries["approved"]["by"], entries["approved"]["reason"]) == ("kim", "calm")
    assert entries["rejected"]["reason"] == "auction"
    assert entries["cancelled"]["by"] == "kim"
    text = await (await client.get("/api/v1/report?format=text", headers=AUTH)).text()
    assert "waiting: 0" in text


async def test_an_approval_that_fills_the_circuits_window_opens_it(
    make_client: MakeClient, redis: redis_lib.Redis
) -> None:
    client = await make_client(**approval(circuit={"max_executions": 1}))
    execution_id = (await fire(client))["execution_id"]
    assert not redis.exists(keys.circuit_open("FLUSH_REDIS"))  # a wait counts for nothing
    assert (await answer(client, execution_id, "approve", by="lee")).status == 200
    assert redis.exists(keys.circuit_open("FLUSH_REDIS"))
    (opened,) = audit.read(redis, 10, event="circuit_opened")
    assert opened["alertname"] == "CacheStale"
