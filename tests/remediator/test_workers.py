"""Real ``amc-remediator worker`` processes dying, competing and killing runaway steps."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import WorkerStatus

from remediator import audit, keys
from remediator.config import RemediatorConfig, load_config
from remediator.intake import submit
from remediator.records import Execution, Status
from remediator.store import Store
from remediator.worker import build
from tests.remediator.conftest import MakeConfigFile, SilentPlatform, record_of
from tests.remediator.stack import start_worker
from tests.services import RedisServer, Service, wait_for

pytestmark = pytest.mark.slow
Services = Callable[..., Service]
ROOT = Path(__file__).parents[2]
# the workers import tests.remediator.jobs
WORKER_ENV = {"PYTHONPATH": str(ROOT)}


@pytest.fixture
def stores(
    redis_url: str, store_factory: Callable[[RemediatorConfig], Store]
) -> Callable[[Path], Store]:
    """A Store of a config file on the test's Redis, for the test's reads and submissions."""
    return lambda path: store_factory(load_config(path, {"redis_url": redis_url}))


def wait_status(store: Store, execution_id: str, wanted: set[Status], timeout: float) -> Execution:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen["record"] = record_of(store, execution_id)
        return bool(seen["record"].status in wanted)

    try:
        wait_for(reached, timeout, f"{execution_id} to be one of {sorted(wanted)}", step=0.05)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; last seen: {seen.get('record')}") from None
    return record_of(store, execution_id)


def test_a_worker_killed_with_its_horse_leaves_a_failed_record_and_no_lock(
    services: Services,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
    silent_platform: SilentPlatform,
    stores: Callable[[Path], Store],
) -> None:
    config = make_config_file(platform=silent_platform(60))
    store = stores(config)
    first = start_worker(services, config, redis_url)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")  # its step hangs
    wait_status(store, execution_id, {Status.RUNNING}, 20)
    wait_for(lambda: store.lock_holder() is not None, 5, "the lock to be taken")
    first.stop(signal.SIGKILL)  # the worker and its work horse, without a word
    assert record_of(store, execution_id).status is Status.RUNNING
    assert (store.lock_holder() or "").startswith(execution_id)
    # The horse's heartbeat runs out (a minute, here moved to the past); the next worker's
    # maintenance finds the job abandoned in RQ's started registry.
    started = StartedJobRegistry("remediation-high", connection=redis)
    entries: list[bytes] = redis.zrange(started.key, 0, -1)  # type: ignore[assignment]
    assert len(entries) == 1
    redis.zadd(started.key, {entries[0]: 1})
    start_worker(services, config, redis_url)
    record = wait_status(store, execution_id, {Status.FAILED}, 20)
    assert record.error is not None
    assert record.error.startswith("abandoned: its worker died during the attempt")
    assert [s.status for s in record.steps] == ["failed"]
    assert store.lock_holder() is None
    (finished,) = audit.read(redis, 50, event="execution_finished")
    assert (finished["execution_id"], finished["status"]) == (execution_id, "failed")
    assert Job.fetch(execution_id, connection=redis).get_status() == JobStatus.FAILED


def test_a_step_deaf_to_the_alarm_is_killed_and_marked_timed_out(
    services: Services,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
    stores: Callable[[Path], Store],
) -> None:
    config = make_config_file(
        kill_grace_seconds=1, commands={"FLUSH_REDIS": {"timeout_seconds": 1}}
    )
    store = stores(config)
    policy = store.config.effective("FLUSH_REDIS")
    record = store.new_execution("manual-deaf", policy, "manual", {}, 0.0)
    store.save_execution(store.conn, record)
    Queue("remediation-high", connection=redis).enqueue_call(
        "tests.remediator.jobs.deaf_to_the_alarm",
        args=(record.id,),
        job_id=record.id,
        timeout=policy.timeout_seconds,
    )
    start_worker(services, config, redis_url, env=WORKER_ENV)
    done = wait_status(store, record.id, {Status.TIMED_OUT, Status.FAILED}, 20)
    assert done.status is Status.TIMED_OUT
    assert done.error is not None
    assert done.error.startswith("work horse died")
    assert [(s.name, s.status) for s in done.steps] == [("ignore the alarm", "timed_out")]
    assert done.ended_at is not None
    assert done.started_at is not None
    # killed after timeout 1 s + grace 1 s (counted by the worker from a little before the
    # record's start), at the next 1 s check of the horse
    assert 1.5 <= done.ended_at - done.started_at < 8
    assert store.lock_holder() is None  # released by the worker, not left to expire


def test_two_workers_run_each_execution_once_and_one_disruptive_at_a_time(
    services: Services,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
    silent_platform: SilentPlatform,
    stores: Callable[[Path], Store],
) -> None:
    # every step waits a second for the silent "platform Redis": long enough to overlap
    config = make_config_file(lock_wait_seconds=60, platform=silent_platform(1))
    store = stores(config)
    commands = ["FLUSH_REDIS", "HEALTH_CHECK"] * 4
    ids = [submit(store, name, {}, "manual") for name in commands]
    workers = [start_worker(services, config, redis_url) for _ in range(2)]
    records = [wait_status(store, i, {Status.FAILED, Status.SUCCEEDED}, 60) for i in ids]
    assert all(w.alive() for w in workers)
    busy = [w for w in Worker.all(connection=redis) if w.successful_job_count + w.failed_job_count]
    assert len(busy) == 2, "both workers took jobs"
    assert [r.attempts for r in records] == [1] * len(ids)
    started = [e["execution_id"] for e in audit.read(redis, 500, event="execution_started")]
    assert sorted(started) == sorted(ids)  # each started exactly once
    # the steps of a disruptive command run while it holds the lock
    flushes = sorted(
        (r.steps[0].started_at, r.steps[-1].ended_at) for r in records if r.command == "FLUSH_REDIS"
    )
    for (_, end), (start, _) in itertools.pairwise(flushes):
        assert end is not None
        assert start is not None
        assert start >= end, f"two disruptive commands ran at once: {flushes}"
    checks = [r for r in records if r.command == "HEALTH_CHECK"]
    assert len(checks) == 4
    assert store.lock_holder() is None
    assert redis.exists(keys.LOCK) == 0


def test_a_worker_outlives_redis_going_away_during_its_maintenance(
    make_config: Callable[..., RemediatorConfig], own_redis_server: RedisServer
) -> None:
    """RQ's work loop runs the suspension check, the maintenance and the idle state outside
    the handling that waits out an outage: a Redis restart at that moment killed the worker."""
    worker = build(make_config(redis_url=own_redis_server.url, redis_timeout_seconds=0.5))
    own_redis_server.stop()
    worker.check_for_suspension(False)
    worker.run_maintenance_tasks()
    worker.set_state(WorkerStatus.IDLE)
    own_redis_server.start()
    worker.run_maintenance_tasks()  # and again once Redis is back


def test_the_rq_internals_the_worker_relies_on_are_there() -> None:
    """``RemediationWorker`` overrides RQ's work-loop methods and repeats what RQ does after
    a horse that did not exit cleanly (``rq<4`` is pinned): a new RQ that renames or reshapes
    any of these must fail here, not in a Redis outage in production."""
    import inspect

    from rq.scheduler import RQScheduler

    from remediator.worker import RemediationWorker

    for name, ours in vars(RemediationWorker).items():
        theirs = getattr(Worker, name, None)
        if name.startswith("__") or theirs is None:
            continue
        if isinstance(ours, property):
            assert isinstance(theirs, property), name
            continue
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        ), name
    source = inspect.getsource(Worker.monitor_work_horse)
    for step in ("job.get_status()", "self._stopped_job_id == job.id", "_handle_stopped_job",
                 "handle_work_horse_killed", "handle_job_failure"):  # fmt: skip
        assert step in source, step
    assert hasattr(Worker, "_handle_stopped_job")
    assert "self._stopped_job_id" in inspect.getsource(Worker.__init__)
    assert "self._process" in inspect.getsource(RQScheduler.__init__)
