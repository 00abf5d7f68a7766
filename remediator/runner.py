"""The job entry point: lock, steps, verification, retries and the execution record."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import get_current_job
from rq.timeouts import BaseTimeoutException

from remediator import keys, metrics
from remediator.commands.base import Context
from remediator.commands.registry import implementation
from remediator.config import Effective, RemediatorConfig
from remediator.errors import CommandFailed, LockBusy, NotFound, RemediatorError
from remediator.records import Execution, Status
from remediator.store import Store, connect

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.2
LOCK_MARGIN_SECONDS = 30


@dataclass
class Runtime:
    """What jobs need in a worker process: set once by the worker before it forks."""

    config: RemediatorConfig
    store: Store
    clock: Callable[[], float] = field(default=time.time)

    def platform_redis(self) -> redis.Redis:
        """A fresh client of the platform's Redis (created in the work horse, after fork)."""
        platform = self.config.platform
        return connect(platform.redis_url, platform.redis_timeout_seconds)


# RQ calls jobs by import path with serialisable arguments only, so the worker process
# installs its runtime here once; nothing else is global.
_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the one jobs of this process use."""
    global _runtime
    _runtime = runtime


def installed() -> Runtime:
    """The runtime installed by the worker."""
    if _runtime is None:
        raise RemediatorError("no remediator runtime installed in this worker")
    return _runtime


def run_job(execution_id: str) -> str:
    """Run one attempt of an execution; returns its status (raises to let RQ retry)."""
    runtime = installed()
    record = runtime.store.get_execution(execution_id)
    if record is None:
        raise NotFound(f"execution {execution_id} has no record")
    if record.final:
        log.warning("execution %s is already %s; not run again", record.id, record.status)
        return record.status.value
    return Attempt(runtime, record).run()


class Attempt:
    """One try of one execution."""

    def __init__(self, runtime: Runtime, record: Execution) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.record = record
        self.policy: Effective = runtime.config.effective(record.command)
        job = get_current_job()
        self.retries_left = int(job.retries_left or 0) if job is not None else 0
        self.retry_interval = job.get_retry_interval() if job and self.retries_left else 0
        self.lock_token: str | None = None

    def run(self) -> str:
        """Start, run the command's steps and its verification, record the outcome."""
        now = self.runtime.clock()
        record = self.record
        record.attempts += 1
        record.status = Status.RUNNING
        record.started_at = record.started_at or now
        record.next_attempt_at = None
        record.error = None
        self.store.start_execution(record, now)
        ctx = Context(
            config=self.runtime.config,
            policy=self.policy,
            record=record,
            save=self._save,
            platform_redis=self.runtime.platform_redis,
            clock=self.runtime.clock,
        )
        try:
            self._lock()
            command = implementation(record.command)
            record.result = command.run(ctx)
            record.verified = ctx.step("verify", lambda: command.verify(ctx))
        except BaseTimeoutException as exc:
            self._fail(Status.TIMED_OUT, f"timed out: {exc}", retry=True)
            raise
        except CommandFailed as exc:  # permanent: retrying cannot help
            self._fail(Status.FAILED, str(exc), retry=False)
            return record.status.value
        except Exception as exc:
            self._fail(Status.FAILED, f"{type(exc).__name__}: {exc}", retry=True)
            raise
        finally:
            self._unlock()
        self._finish(Status.SUCCEEDED)
        return record.status.value

    def _save(self, record: Execution) -> None:
        pipe = self.store.conn.pipeline()
        self.store.save_execution(pipe, record)
        pipe.execute()

    def _lock(self) -> None:
        if not self.policy.spec.disruptive:
            return
        token = f"{self.record.id}:{uuid.uuid4().hex[:8]}"
        ttl = self.policy.timeout_seconds + LOCK_MARGIN_SECONDS
        deadline = time.monotonic() + self.runtime.config.lock_wait_seconds
        while not self.store.acquire_lock(token, ttl):
            if time.monotonic() >= deadline:
                holder = self.store.lock_holder()
                raise LockBusy(f"another disruptive command holds the lock: {holder}")
            time.sleep(LOCK_POLL_SECONDS)
        self.lock_token = token

    def _unlock(self) -> None:
        if self.lock_token is not None:
            try:
                self.store.release_lock(self.lock_token)
            except redis.RedisError:
                log.error("could not release the lock of %s", self.record.id, exc_info=True)
            self.lock_token = None

    def _fail(self, status: Status, error: str, retry: bool) -> None:
        self.record.error = error
        if retry and self.retries_left > 0:
            self.record.status = Status.RETRYING
            self.record.next_attempt_at = self.runtime.clock() + self.retry_interval
            self.store.execution_event(
                self.record, "execution_retrying", error=error, failed_as=status.value
            )
            return
        self._finish(status)

    def _finish(self, status: Status) -> None:
        finish(self.runtime, self.record, status)


def horse_died(execution_id: str, timed_out: bool, will_retry: bool, detail: str) -> None:
    """Record an attempt whose work horse died without recording its own end.

    Called by the worker when the horse was killed (it outlived the job timeout and ignored
    the alarm) or crashed; without it the record would stay ``running`` for ever.
    """
    runtime = installed()
    record = runtime.store.get_execution(execution_id)
    if record is None or record.final or record.status is not Status.RUNNING:
        return
    status = Status.TIMED_OUT if timed_out else Status.FAILED
    record.error = f"work horse died: {detail}"
    for step in record.steps:
        if step.status == "running":
            step.status = "timed_out" if timed_out else "failed"
            step.ended_at = runtime.clock()
    if will_retry:
        record.status = Status.RETRYING
        runtime.store.execution_event(record, "execution_retrying", failed_as=status.value)
        return
    finish(runtime, record, status)


def finish(runtime: Runtime, record: Execution, status: Status) -> None:
    """Record the final status, its metrics and, after a verified success, the remediation."""
    now = runtime.clock()
    record.status = status
    record.ended_at = now
    assert record.started_at is not None
    duration = now - record.started_at
    pipe = runtime.store.conn.pipeline()
    metrics.record_execution(pipe, record.command, status.value, duration)
    extra: dict[str, Any] = {
        "duration_seconds": round(duration, 6),
        "verified": record.verified,
    }
    if status is Status.SUCCEEDED and record.verified and record.alert is not None:
        to_remediate = max(0.0, now - record.alert.starts_at)
        metrics.observe(pipe, metrics.TIME_TO_REMEDIATE, record.command, to_remediate)
        pipe.hset(keys.episode(record.alert.dedup_key), "remediated_at", now)
        extra["time_to_remediate_seconds"] = round(to_remediate, 3)
    pipe.execute()
    runtime.store.execution_event(record, "execution_finished", error=record.error, **extra)
    log.info("execution %s %s", record.id, status.value)
