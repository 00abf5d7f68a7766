"""Execution in-process with RQ's SimpleWorker: steps, verification, failures, retries, lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import redis as redis_lib
from rq import Queue
from rq.job import Job, JobStatus

from remediator import audit, keys
from remediator.config import RemediatorConfig
from remediator.intake import submit
from remediator.records import Status
from remediator.runner import Runtime, install, run_job
from remediator.store import Store
from remediator.worker import RemediationWorker, build
from tests.remediator.conftest import SilentPlatform, record_of, start_attempt
from tests.services import RedisServer, free_port, wait_for


def test_flush_redis_deletes_only_the_configured_prefixes_and_verifies(
    store: Store, run_jobs: Callable[..., bool], redis: redis_lib.Redis
) -> None:
    for n in range(1200):
        redis.set(f"amc:discovery:candidates:v{n}", "x")
    redis.set("amc:discovery:status:v2", "x")
    redis.set("amc:discovery:worker:heartbeat", "1")
    redis.set("discovery_job_lock", "1")
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    assert run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.SUCCEEDED
    assert record.verified is True
    assert record.result == {
        "deleted": {"amc:discovery:candidates:": 1200, "amc:discovery:status:": 1},
        "total": 1201,
    }
    assert [s.name for s in record.steps] == [
        "delete amc:discovery:candidates:*",
        "delete amc:discovery:status:*",
        "verify",
    ]
    assert all(s.status == "succeeded" and s.duration_seconds is not None for s in record.steps)
    assert redis.exists("amc:discovery:worker:heartbeat", "discovery_job_lock") == 2
    assert record.trigger == "manual"
    assert record.attempts == 1
    events = [e["event"] for e in audit.read(redis, 10)]
    assert events[:3] == ["execution_finished", "execution_started", "manual_run"]


def test_a_command_without_its_actuator_fails_clearly_and_is_not_retried(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    store = store_factory(make_config(defaults={"retries": 3, "backoff": {"initial_seconds": 0}}))
    execution_id = submit(store, "EMERGENCY_RESTART", {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.FAILED
    assert record.error == "no actuator configured for platform.api_restart"
    assert record.attempts == 1
    assert record.verified is None
    # the queue was cleared first: the steps say how far it got
    assert [s.name for s in record.steps][-1] == "restart the API"


def test_failures_are_retried_up_to_the_limit(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = make_config(
        platform={"redis_url": dead, "redis_timeout_seconds": 1},
        commands={"FLUSH_REDIS": {"retries": 2, "backoff": {"initial_seconds": 0}}},
    )
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.FAILED
    assert record.attempts == 3
    assert record.error is not None
    assert record.error.startswith("ConnectionError")
    assert [s.attempt for s in record.steps] == [1, 2, 3]
    assert Job.fetch(execution_id, connection=redis).get_status() == JobStatus.FAILED
    retrying = audit.read(redis, 20, event="execution_retrying")
    assert len(retrying) == 2


def test_a_runaway_step_is_stopped_by_the_job_timeout(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    silent_platform: SilentPlatform,
) -> None:
    config = make_config(
        platform=silent_platform(60), commands={"FLUSH_REDIS": {"timeout_seconds": 1}}
    )
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.TIMED_OUT
    assert record.steps[0].status == "timed_out"
    assert record.error is not None
    assert "timed out" in record.error


def test_a_disruptive_command_waits_its_turn_for_the_lock(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config(lock_wait_seconds=5))
    assert store.acquire_lock("someone-else", 60)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    assert (record.status, record.waiting_for) == (Status.WAITING, "someone-else")
    assert (record.attempts, record.started_at, record.error) == (0, None, None)
    assert record.next_attempt_at is not None
    assert Job.fetch(execution_id, connection=redis).get_status() == JobStatus.SCHEDULED
    (waiting,) = audit.read(redis, 10, event="execution_waiting")
    assert waiting["holder"] == "someone-else"
    store.release_lock("someone-else")

    def ran() -> bool:
        run_jobs(store)
        done = store.get_execution(execution_id)
        return done is not None and done.final

    wait_for(ran, 10, "the execution to get the lock and run")
    done = record_of(store, execution_id)
    assert (done.status, done.attempts, done.waiting_for) == (Status.SUCCEEDED, 1, None)
    assert store.lock_holder() is None


def test_a_lock_busy_beyond_the_wait_fails_the_execution(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config(lock_wait_seconds=0))
    assert store.acquire_lock("someone-else", 60)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.FAILED
    assert record.error == "another disruptive command held the lock for 0s: someone-else"
    assert (record.attempts, record.started_at) == (0, None)
    assert redis.hget(keys.EXECUTION_COUNTS, "FLUSH_REDIS|failed") == b"1"
    assert store.lock_holder() == "someone-else"


def test_the_lock_wait_of_one_try_is_a_fraction_of_the_timeout(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    # FLUSH_REDIS's timeout equals the lock wait: one try must not spend it all polling
    store = store_factory(make_config(lock_wait_seconds=30))
    assert store.acquire_lock("someone-else", 60)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    started = time.monotonic()
    run_jobs(store)
    assert time.monotonic() - started < 5
    record = record_of(store, execution_id)
    assert record.status is Status.WAITING


def test_workers_take_higher_priorities_first(
    store: Store, run_jobs: Callable[..., bool], redis: redis_lib.Redis
) -> None:
    low = submit(store, "VALIDATE_ENDPOINTS", {}, "manual")
    medium = submit(store, "UPDATE_CONFIGURATION", {"strategy": "legacy_v0"}, "manual")
    critical = submit(store, "EMERGENCY_RESTART", {}, "manual")
    assert [
        Queue(q, connection=redis).count for q in ("remediation-low", "remediation-medium")
    ] == [
        1,
        1,
    ]
    run_jobs(store)
    started = {}
    for execution_id in (low, medium, critical):
        record = record_of(store, execution_id)
        assert record.started_at is not None
        started[execution_id] = record.started_at
    assert started[critical] <= started[medium] <= started[low]


def test_a_dead_work_horse_leaves_no_running_record(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    redis: redis_lib.Redis,
) -> None:
    config = make_config(commands={"FLUSH_REDIS": {"timeout_seconds": 1}})
    worker = build(config)
    assert isinstance(worker, RemediationWorker)
    assert [q.name for q in worker.queues] == [
        "remediation-critical",
        "remediation-high",
        "remediation-medium",
        "remediation-low",
    ]
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    start_attempt(store, execution_id)
    job = Job.fetch(execution_id, connection=redis)
    job.started_at = datetime.now(UTC) - timedelta(seconds=90)
    worker.handle_work_horse_killed(job, 4242, 9, None)
    dead = record_of(store, execution_id)
    assert dead.status is Status.TIMED_OUT
    assert dead.error is not None
    assert dead.error.startswith("work horse died: waitpid status 9 after 9")


def test_execution_records_are_bounded(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config(retention={"max_executions": 3}))
    ids = [submit(store, "HEALTH_CHECK", {}, "manual") for _ in range(5)]
    assert [r.id for r in store.list_executions()] == ids[:1:-1]
    assert store.get_execution(ids[0]) is None
    assert store.get_execution(ids[1]) is None
    assert len(redis.keys("amc:remediator:execution:*")) == 3
    assert 0 < redis.ttl(f"amc:remediator:execution:{ids[4]}") <= 7 * 86400


def test_an_attempt_waits_out_a_redis_pause_instead_of_ending_unrun(
    own_redis_server: RedisServer,
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
) -> None:
    """Redis paused for 3 s (an RDB fork, a failover) as a work horse began: the read of the
    record timed out and the execution ended failed, 0 attempts, never run, while the alert's
    repeats were duplicates of it. Before its command starts an attempt waits instead."""
    config = make_config(redis_url=own_redis_server.url, redis_timeout_seconds=0.5)
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    install(Runtime(config=config, store=store))
    with ThreadPoolExecutor(1) as pool:
        with own_redis_server.paused():  # for 3 s, the attempt begun
            attempt = pool.submit(run_job, execution_id)
            time.sleep(3.0)
        assert attempt.result() == "succeeded"
    record = record_of(store, execution_id)
    assert (record.status, record.attempts, record.error) == (Status.SUCCEEDED, 1, None)
