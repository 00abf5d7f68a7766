"""Lost attempts and leftovers: pending marks, locks and records are never stuck."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis as redis_lib
from rq.exceptions import AbandonedJobError
from rq.job import Job

from remediator import audit, keys
from remediator.alerts import parse_message
from remediator.config import RemediatorConfig
from remediator.intake import Intake, submit
from remediator.records import Status
from remediator.runner import Runtime, install
from remediator.store import Store
from remediator.worker import RemediationWorker, build
from tests.remediator.conftest import (
    Clock,
    MakeIntake,
    SilentPlatform,
    alert,
    body,
    record_of,
    start_attempt,
)


async def fire(intake: Intake, **fields: str) -> tuple[str, str | None]:
    """Post one alert through the real intake; its decision and execution id."""
    (outcome,) = await intake.process(parse_message(body(alert(**fields))))
    return outcome.decision, outcome.execution_id


def running(store: Store, execution_id: str) -> None:
    """Put a record where a live attempt puts it: running, attempt 1, its lock taken."""
    start_attempt(store, execution_id)
    assert store.acquire_lock(f"{execution_id}:1", 600)  # the lock names its holder


async def test_a_pending_mark_lasts_the_commands_own_times_not_a_day(
    store: Store, make_intake: MakeIntake, redis: redis_lib.Redis
) -> None:
    intake, _ = make_intake(store)
    assert (await fire(intake))[0] == "enqueued"
    # EMERGENCY_RESTART: 600 s in its queue, 900 s for the lock, 600 s timeout + 30 s grace
    # + 30 s until the worker's next check of its horse
    assert 2150 < redis.ttl(keys.pending("EMERGENCY_RESTART")) <= 2160


async def test_a_pending_mark_whose_job_is_gone_is_cleared_by_the_workers_maintenance(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    redis: redis_lib.Redis,
) -> None:
    config = make_config(defaults={"cooldown_seconds": 0})
    store = store_factory(config)
    intake, _ = make_intake(store)
    decision, execution_id = await fire(intake)
    assert decision == "enqueued"
    assert execution_id is not None
    Job.fetch(execution_id, connection=redis).delete()  # the job is lost, its mark is not
    redis.set(keys.pending("FLUSH_REDIS"), "alert-whose-record-expired-too")
    assert (await fire(intake, starts_at="2026-11-25T13:00:00Z"))[0] == "cooldown"
    build(config).work(burst=True)  # its maintenance runs first
    assert redis.exists(keys.pending("EMERGENCY_RESTART"), keys.pending("FLUSH_REDIS")) == 0
    record = record_of(store, execution_id)
    assert record.status is Status.FAILED
    assert record.error == "lost: its RQ job is gone but the record was never ended"
    (cleared,) = audit.read(redis, 10, event="pending_cleared")
    assert cleared["command"] == "FLUSH_REDIS"
    assert (cleared["execution_id"], cleared["job"]) == ("alert-whose-record-expired-too", "gone")
    assert (await fire(intake, starts_at="2026-11-25T14:00:00Z"))[0] == "enqueued"


async def test_an_abandoned_job_is_failed_and_releases_its_lock_and_mark(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
    redis: redis_lib.Redis,
) -> None:
    config = make_config(alerts={"CacheStale": "FLUSH_REDIS"})
    store = store_factory(config)
    install(Runtime(config=config, store=store, clock=clock))
    intake, _ = make_intake(store)
    decision, execution_id = await fire(intake, name="CacheStale")
    assert decision == "enqueued"
    assert execution_id is not None
    running(store, execution_id)
    redis.set(keys.pending("FLUSH_REDIS"), execution_id)  # as if lost before it started
    job = Job.fetch(execution_id, connection=redis)
    # what RQ's StartedJobRegistry.cleanup calls for a job whose worker died with it
    callback = job.failure_callback
    assert callback is not None
    callback(job, redis, AbandonedJobError, AbandonedJobError(), None)
    record = record_of(store, execution_id)
    assert record.status is Status.FAILED
    assert record.error is not None
    assert record.error.startswith("abandoned: its worker died")
    assert store.lock_holder() is None
    assert redis.exists(keys.pending("FLUSH_REDIS")) == 0
    (finished,) = audit.read(redis, 10, event="execution_finished")
    assert finished["error"] == record.error
    assert redis.hget(keys.EXECUTION_COUNTS, "FLUSH_REDIS|failed") == b"1"


def test_a_dead_work_horse_releases_its_own_lock_only(store: Store, redis: redis_lib.Redis) -> None:
    worker = build(store.config)
    assert isinstance(worker, RemediationWorker)
    other = submit(store, "FLUSH_REDIS", {}, "manual")
    running(store, other)
    dead = submit(store, "FLUSH_REDIS", {}, "manual")
    start_attempt(store, dead)
    worker.handle_work_horse_killed(Job.fetch(dead, connection=redis), 4242, 9, None)
    assert store.lock_holder() == f"{other}:1"  # not the dead horse's: kept
    worker.handle_work_horse_killed(Job.fetch(other, connection=redis), 4243, 9, None)
    assert store.lock_holder() is None
    gone = record_of(store, other)
    assert gone.status is Status.FAILED
    assert gone.error is not None
    assert gone.error.startswith("work horse died: waitpid status 9")


def test_the_lock_outlives_the_hard_kill_of_its_holder(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
    silent_platform: SilentPlatform,
) -> None:
    config = make_config(
        platform=silent_platform(60), commands={"FLUSH_REDIS": {"timeout_seconds": 2}}
    )
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    ttls: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        client = redis_lib.Redis.from_url(config.redis_url)
        while not stop.is_set() and not ttls:
            ttl = int(client.ttl(keys.LOCK))
            if ttl > 0:
                ttls.append(ttl)
            stop.wait(0.02)
        client.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_jobs(store)  # the step hangs on the silent port until the job's alarm
    finally:
        stop.set()
        watcher.join()
    record = record_of(store, execution_id)
    assert record.status is Status.TIMED_OUT
    # the worker kills a horse that ignores its alarm at timeout + grace (default 30 s),
    # checked every monitor interval (30 s then): the lock must still be there until then
    assert ttls
    assert ttls[0] > 2 + 30 + 30
    assert store.lock_holder() is None
