"""The RQ/Redis reader against a real redis-server, real RQ jobs and real RQ workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker, Worker
from rq.registry import FailedJobRegistry
from rq.utils import utcformat

from exporter.config import DiscoveryConfig, ExporterConfig
from exporter.probes import make_redis
from exporter.queues import FAILED_SCAN, JOB_STATES, read_queue_state
from tests.services import RedisServer, Service, free_port, script, wait_for

DISCOVERY = DiscoveryConfig()
JOBS = "tests.exporter.jobs"


def read(client: redis_lib.Redis) -> dict[str, int]:
    return read_queue_state(client, DISCOVERY, time.time()).jobs


def test_an_empty_redis_reads_as_zeros(redis: redis_lib.Redis) -> None:
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.jobs == dict.fromkeys(
        ("queued", "started", "failed", "deferred", "scheduled", "finished"), 0
    )
    assert state.oldest_queued_at is None
    assert state.oldest_queued_age(time.time()) == 0.0
    assert state.heartbeat_at is None
    assert state.workers == ()
    assert state.memory_used_bytes is not None
    assert state.memory_used_bytes > 0
    assert state.cache_ttl_seconds is None
    assert state.last_run_status is None


def test_jobs_by_state(redis: redis_lib.Redis) -> None:
    queue = Queue(DISCOVERY.queue, connection=redis)
    queue.enqueue(f"{JOBS}.noop")
    queue.enqueue(f"{JOBS}.noop")
    queue.enqueue(f"{JOBS}.boom")
    SimpleWorker([queue], connection=redis).work(burst=True)
    assert read(redis)["finished"] == 2
    assert read(redis)["failed"] == 1

    other = Queue("elsewhere", connection=redis)
    parent = other.enqueue(f"{JOBS}.noop")
    queue.enqueue(f"{JOBS}.noop", depends_on=parent)
    queue.enqueue_in(timedelta(hours=1), f"{JOBS}.noop")
    for _ in range(3):
        queue.enqueue(f"{JOBS}.noop")
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.jobs == {
        "queued": 3, "started": 0, "failed": 1, "deferred": 1, "scheduled": 1, "finished": 2,
    }  # fmt: skip
    assert "elsewhere" not in state.queue_jobs  # not configured: summed as "other"
    assert state.queue_jobs["other"]["queued"] == 1


def test_many_queues_keep_a_bounded_set_of_labels(redis: redis_lib.Redis) -> None:
    # Queue names come from Redis: 300 of them must not become 300 label values.
    names = [f"tenant-{i}" for i in range(300)]
    for i, name in enumerate(names):
        Queue(name, connection=redis).enqueue(f"{JOBS}.noop")
        if i % 100 == 0:
            Worker([Queue(name, connection=redis)], connection=redis, name=f"w{i}").register_birth()
    Queue("remediation-high", connection=redis).enqueue(f"{JOBS}.noop")
    both = [Queue("remediation-low", connection=redis), Queue(names[1], connection=redis)]
    Worker(both, connection=redis, name="mixed").register_birth()
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert set(state.queue_jobs) == {
        DISCOVERY.queue, "remediation-critical", "remediation-high", "remediation-medium",
        "remediation-low", "other",
    }  # fmt: skip
    assert state.queue_jobs["other"]["queued"] == 300  # summed, never dropped
    assert state.queue_jobs["remediation-high"]["queued"] == 1
    assert state.queue_jobs["remediation-critical"] == dict.fromkeys(JOB_STATES, 0)
    counts = {(w.queue, w.state): w.count for w in state.workers}
    assert {q for q, _ in counts} == {"other", "remediation-low"}
    assert sum(n for (q, _), n in counts.items() if q == "other") == 4


def test_configured_queues_are_the_ones_named(redis: redis_lib.Redis) -> None:
    Queue("mine", connection=redis).enqueue(f"{JOBS}.noop")
    Queue("remediation-high", connection=redis).enqueue(f"{JOBS}.noop")
    state = read_queue_state(redis, DISCOVERY, time.time(), named=("mine",))
    assert set(state.queue_jobs) == {DISCOVERY.queue, "mine", "other"}
    assert state.queue_jobs["mine"]["queued"] == 1
    assert state.queue_jobs["other"]["queued"] == 1


def test_oldest_queued_job_age(redis: redis_lib.Redis) -> None:
    queue = Queue(DISCOVERY.queue, connection=redis)
    old = queue.enqueue(f"{JOBS}.noop")
    queue.enqueue(f"{JOBS}.noop")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    redis.hset(old.key, "enqueued_at", utcformat(an_hour_ago))
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.oldest_queued_age(time.time()) == pytest.approx(3600, abs=5)


def test_heartbeat_and_lock(redis: redis_lib.Redis) -> None:
    redis.set(DISCOVERY.heartbeat_key, time.time() - 42)
    redis.set(DISCOVERY.lock_key, "discovery_1", ex=240)
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.heartbeat_at is not None
    assert time.time() - state.heartbeat_at == pytest.approx(42, abs=5)
    assert state.lock_held is True


def test_an_unreadable_heartbeat_is_logged(
    redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    redis.set(DISCOVERY.heartbeat_key, "yesterday-ish")
    with caplog.at_level("WARNING", logger="exporter.queues"):
        state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.heartbeat_at is None
    [record] = caplog.records
    assert record.getMessage() == "unreadable worker heartbeat"
    assert getattr(record, "detail", None) == "not a time: 'yesterday-ish'"


def test_configured_keys_are_the_ones_read(redis: redis_lib.Redis) -> None:
    config = DiscoveryConfig(
        queue="other_q", heartbeat_key="hb", lock_key="lk", candidates_key="c", status_key="s"
    )
    Queue("other_q", connection=redis).enqueue(f"{JOBS}.noop")
    redis.set("hb", time.time())
    redis.set("lk", "x")
    redis.set("c", "{}", ex=100)
    redis.set("s", '{"status": "running", "job_id": "discovery_1"}')
    state = read_queue_state(redis, config, time.time())
    assert state.jobs["queued"] == 1
    assert state.heartbeat_at is not None
    assert state.lock_held
    assert state.cache_ttl_seconds is not None
    assert 90 < state.cache_ttl_seconds <= 100
    assert state.last_run_status == "running"
    redis.persist("c")
    redis.set("s", '{"status": "exploded"}')
    state = read_queue_state(redis, config, time.time())
    assert state.cache_ttl_seconds == float("inf")
    assert state.last_run_status == "other"


def test_workers_aggregated_by_queue_and_state(redis: redis_lib.Redis) -> None:
    discovery = Queue(DISCOVERY.queue, connection=redis)
    other = Queue("remediation-high", connection=redis)
    workers = [
        Worker([discovery], connection=redis, name="w1"),
        Worker([discovery], connection=redis, name="w2"),
        Worker([discovery, other], connection=redis, name="w3"),
    ]
    for worker in workers:
        worker.register_birth()
    workers[2].set_state("busy")
    for worker in workers[:2]:
        worker.set_state("idle")
    state = read_queue_state(redis, DISCOVERY, time.time())
    counts = {(w.queue, w.state): w.count for w in state.workers}
    assert counts == {
        (DISCOVERY.queue, "idle"): 2,
        (DISCOVERY.queue, "busy"): 1,
        ("remediation-high", "busy"): 1,
    }
    workers[0].register_death()
    redis.delete(workers[1].key)  # a worker that vanished without unregistering
    counts = {
        (w.queue, w.state): w.count for w in read_queue_state(redis, DISCOVERY, time.time()).workers
    }
    assert counts == {(DISCOVERY.queue, "busy"): 1, ("remediation-high", "busy"): 1}


def test_a_real_worker_running_a_job(
    redis: redis_lib.Redis, redis_url: str, services: Callable[..., Service]
) -> None:
    queue = Queue(DISCOVERY.queue, connection=redis)
    queue.enqueue(f"{JOBS}.hold", "release-me")
    services([script("rq"), "worker", "--url", redis_url, "--path", ".", "--burst",
              "--name", "exporter-test-worker", DISCOVERY.queue], name="rq-worker")  # fmt: skip

    def running() -> bool:
        state = read_queue_state(redis, DISCOVERY, time.time())
        busy = {(w.queue, w.state): w.count for w in state.workers}
        return state.jobs["started"] == 1 and busy.get((DISCOVERY.queue, "busy")) == 1

    wait_for(running, 20, "the worker to run the job")
    assert read(redis)["queued"] == 0
    redis.set("release-me", 1)
    wait_for(lambda: read(redis)["finished"] == 1, 20, "the job to finish")
    assert read(redis)["started"] == 0


def test_redis_down_raises_within_the_socket_timeout() -> None:
    config = ExporterConfig.model_validate(
        {"redis": {"url": f"redis://127.0.0.1:{free_port()}/0", "socket_timeout_seconds": 0.5}}
    )
    client = make_redis(config)  # the exporter's own client, no retries
    started = time.monotonic()
    with pytest.raises(redis_lib.ConnectionError):
        read_queue_state(client, DISCOVERY, time.time())
    assert time.monotonic() - started < 5  # generous: one attempt, not ten
    client.close()


def test_a_redis_that_denies_info_still_reads(own_redis_server: RedisServer) -> None:
    admin = redis_lib.Redis(port=own_redis_server.port)
    admin.acl_setuser(
        "exporter", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
        commands=["+@all", "-info"],
    )  # fmt: skip
    Queue(DISCOVERY.queue, connection=admin).enqueue(f"{JOBS}.noop")
    limited = redis_lib.Redis(port=own_redis_server.port, username="exporter", password="secret")
    with pytest.raises(redis_lib.exceptions.NoPermissionError):
        limited.info("memory")
    state = read_queue_state(limited, DISCOVERY, time.time())
    assert state.jobs["queued"] == 1
    assert state.memory_used_bytes is None
    assert state.memory_max_bytes is None
    limited.close()
    admin.close()


async def test_a_read_that_outlives_its_probe_is_not_piled_upon(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import aiohttp

    from exporter.probes import Prober

    config = ExporterConfig.model_validate({
        "redis": {"url": own_redis_server.url, "socket_timeout_seconds": 10},
        "probes": {"queues": {"interval_seconds": 1, "timeout_seconds": 0.3}},
    })  # fmt: skip
    client = make_redis(config)
    client.ping()
    with redis_lib.Redis(port=own_redis_server.port) as admin:
        admin.execute_command("CLIENT", "PAUSE", 2000, "ALL")
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, client)
        with caplog.at_level("WARNING", logger="exporter.probes"):
            assert not await prober.probe_queues()  # the probe gives up; its read goes on
            assert not await prober.probe_queues()  # so no second read starts
        details = [getattr(r, "detail", "") for r in caplog.records]
        assert details == [
            "probes.queues.timeout_seconds (0.3s) passed",
            "the previous read still runs",
        ]
        # The paused command is answered when the pause ends; then reads resume.
        deadline = time.monotonic() + 20
        while not await prober.probe_queues():
            assert time.monotonic() < deadline, "reads never resumed"
            await asyncio.sleep(0.1)
    assert prober.latest.redis_up is True
    client.close()


def test_failure_times_of_the_newest_failed_jobs(redis: redis_lib.Redis) -> None:
    queue = Queue(DISCOVERY.queue, connection=redis)
    before = time.time()
    for _ in range(FAILED_SCAN + 2):
        queue.enqueue(f"{JOBS}.boom")
    SimpleWorker([queue], connection=redis).work(burst=True)
    after = time.time()
    state = read_queue_state(redis, DISCOVERY, time.time())
    assert state.jobs["failed"] == FAILED_SCAN + 2
    # Bounded: only the newest FAILED_SCAN are read, newest first, each by its ended_at.
    assert len(state.failed_at) == FAILED_SCAN
    assert list(state.failed_at) == sorted(state.failed_at, reverse=True)
    assert all(before - 1 <= at <= after + 1 for at in state.failed_at)
    assert state.failures_since(before - 1) == FAILED_SCAN
    assert state.failures_since(after + 1) == 0


def test_failure_time_without_ended_at_comes_from_the_registry_score(
    redis: redis_lib.Redis,
) -> None:
    # RQ's maintenance fails the jobs of dead workers without an ended_at: the registry's
    # score (failed at + failure_ttl) tells when. A job whose hash is gone tells nothing.
    queue = Queue(DISCOVERY.queue, connection=redis)
    registry = FailedJobRegistry(queue=queue)
    an_hour_ago = time.time() - 3600
    orphan = queue.enqueue(f"{JOBS}.noop", failure_ttl=7200)
    redis.zadd(registry.key, {orphan.id: an_hour_ago + 7200})
    gone = queue.enqueue(f"{JOBS}.noop")
    redis.zadd(registry.key, {gone.id: time.time() + 500})
    redis.delete(gone.key)
    expired = queue.enqueue(f"{JOBS}.noop")
    redis.zadd(registry.key, {expired.id: time.time() - 1})  # lapsed: not in the registry
    state = read_queue_state(redis, DISCOVERY, time.time())
    (failed_at,) = state.failed_at
    assert failed_at == pytest.approx(an_hour_ago, abs=2)
    assert state.jobs["failed"] == 2


def test_failure_times_are_read_from_the_configured_queue(redis: redis_lib.Redis) -> None:
    other = Queue("elsewhere", connection=redis)
    other.enqueue(f"{JOBS}.boom")
    SimpleWorker([other], connection=redis).work(burst=True)
    assert read_queue_state(redis, DISCOVERY, time.time()).failed_at == ()
    config = DiscoveryConfig(queue="elsewhere")
    assert len(read_queue_state(redis, config, time.time()).failed_at) == 1
