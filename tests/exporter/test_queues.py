"""The RQ/Redis reader against a real redis-server, real RQ jobs and real RQ workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker, Worker
from rq.utils import utcformat

from exporter.config import DiscoveryConfig
from exporter.queues import read_queue_state
from tests.services import Service, script, wait_for

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
    assert state.queue_jobs["elsewhere"]["queued"] == 1


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
    from tests.services import free_port

    client = redis_lib.Redis(port=free_port(), socket_timeout=0.5, socket_connect_timeout=0.5)
    with pytest.raises(redis_lib.ConnectionError):
        read_queue_state(client, DISCOVERY, time.time())
