"""The job entry point: lock, steps, verification, retries and the execution record."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from rq import Retry, get_current_job
from rq.timeouts import BaseTimeoutException

from remediator import keys, metrics
from remediator.commands.base import Context
from remediator.commands.registry import implementation
from remediator.config import Effective, RemediatorConfig
from remediator.errors import CommandFailed, LockBusy, NotFound, RemediatorError
from remediator.records import Execution, Status
from remediator.store import Store, connect, lock_token

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.2
# An attempt polls a busy lock this long at most (and a tenth of its timeout at most), then
# gives its worker back to other jobs: RQ's scheduler brings it back after these delays.
LOCK_POLL_MAX_SECONDS = 2.0
LOCK_RETRY_INTERVALS = (1, 2, 4, 8, 15)
# The lock outlives the hard kill of its holder's work horse by this much.
LOCK_MARGIN_SECONDS = 10
# Before its command starts, an attempt waits this long at most for a Redis that pauses or
# restarts (RDB fork, failover, SIGSTOP), trying again with these delays.
REDIS_PATIENCE_SECONDS = 30.0
REDIS_PATIENCE_DELAYS = (0.25, 0.5, 1.0, 2.0)

T = TypeVar("T")


def patiently(fn: Callable[[], T], doing: str, seconds: float = REDIS_PATIENCE_SECONDS) -> T:
    """``fn()``, again while Redis does not answer, for ``seconds`` at most.

    For the Redis work of an attempt before its command starts: nothing has happened yet, so
    waiting is safe, while failing would end the episode's one execution without running it
    (the alert's repeats are duplicates of it). ``fn`` must be safe to repeat.
    """
    deadline = time.monotonic() + seconds
    for tries in itertools.count():
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            delay = REDIS_PATIENCE_DELAYS[min(tries, len(REDIS_PATIENCE_DELAYS) - 1)]
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis did not answer while %s (%s); again in %gs", doing, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


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


def runtime_or_none() -> Runtime | None:
    """The installed runtime, if this process is a remediation worker."""
    return _runtime


def run_job(execution_id: str) -> str | Retry:
    """Run one attempt of an execution; its status, or a Retry while it waits for the lock.

    Raises to let RQ retry a failed attempt.
    """
    runtime = installed()
    record = patiently(
        lambda: runtime.store.get_execution(execution_id), "reading the execution record"
    )
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
        self.lock_waits = int(job.number_of_retries or 0) if job is not None else 0
        self.lock_token: str | None = None

    def run(self) -> str | Retry:
        """Take the lock or wait for it; then start, run the steps and verification, record."""
        if not self._lock():
            try:
                return self._wait()
            except LockBusy as exc:
                self._fail(Status.FAILED, str(exc), retry=False)
                return self.record.status.value
        try:
            return self._run()
        finally:
            self._unlock()

    def _run(self) -> str:
        record = self.record
        ended = self._start()
        if ended is not None:  # cancelled (its alert resolved, or by hand) before it started
            log.info("execution %s was %s before it started; not run", record.id, ended)
            record.status = ended
            return ended.value
        ctx = Context(
            config=self.runtime.config,
            policy=self.policy,
            record=record,
            save=self._save,
            platform_redis=self.runtime.platform_redis,
            clock=self.runtime.clock,
        )
        try:
            command = implementation(record.command)
            record.result = command.run(ctx)
            record.verification = ctx.step("verify", lambda: command.verify(ctx).as_dict())
            record.verified = bool(record.verification["verified"])
        except BaseTimeoutException as exc:
            self._fail(Status.TIMED_OUT, f"timed out: {exc}", retry=True)
            raise
        except CommandFailed as exc:  # permanent: retrying cannot help
            self._fail(Status.FAILED, str(exc), retry=False)
            return record.status.value
        except Exception as exc:
            self._fail(Status.FAILED, f"{type(exc).__name__}: {exc}", retry=True)
            raise
        self._finish(Status.SUCCEEDED)
        return record.status.value

    def _start(self) -> Status | None:
        """The attempt starts: the cooldown begins, the pending mark goes. Not when the
        execution ended meanwhile (cancelled): then its final status."""
        now = self.runtime.clock()
        record = self.record
        record.attempts += 1
        record.status = Status.RUNNING
        record.started_at = record.started_at or now
        record.next_attempt_at = None
        record.error = None
        record.waiting_since = record.waiting_for = None
        return patiently(lambda: self.store.start_execution(record, now), "starting the attempt")

    def _save(self, record: Execution) -> None:
        pipe = self.store.conn.pipeline()
        self.store.save_execution(pipe, record)
        pipe.execute()

    def _lock(self) -> bool:
        """Take the one-disruptive-command lock if needed, polling briefly; False if busy."""
        if not self.policy.spec.disruptive:
            return True
        token = lock_token(self.record.id, self.record.attempts + 1)
        ttl = self.runtime.config.kill_after(self.record.command) + LOCK_MARGIN_SECONDS
        deadline = time.monotonic() + self._poll_seconds()

        def acquire() -> bool:  # a SET that timed out may have been applied: then it is ours
            return self.store.acquire_lock(token, ttl) or self.store.lock_holder() == token

        while not patiently(acquire, "taking the lock"):
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL_SECONDS)
        self.lock_token = token
        return True

    def _poll_seconds(self) -> float:
        left = self.runtime.config.lock_wait_seconds - self._waited()
        return max(0.0, min(LOCK_POLL_MAX_SECONDS, self.policy.timeout_seconds / 10, left))

    def _waited(self) -> float:
        since = self.record.waiting_since
        return 0.0 if since is None else self.runtime.clock() - since

    def _wait(self) -> Retry | str:
        """Record that the execution waits for the lock and have RQ bring it back later
        (its final status instead when it was cancelled meanwhile)."""
        holder = self.store.lock_holder() or "(just released)"
        budget = self.runtime.config.lock_wait_seconds
        if self._waited() >= budget:
            raise LockBusy(f"another disruptive command held the lock for {budget}s: {holder}")
        now = self.runtime.clock()
        record = self.record
        first = record.waiting_since is None
        delay = LOCK_RETRY_INTERVALS[min(self.lock_waits, len(LOCK_RETRY_INTERVALS) - 1)]
        record.status = Status.WAITING
        record.waiting_since = record.waiting_since or now
        record.waiting_for = holder
        record.next_attempt_at = now + delay
        event = "execution_waiting" if first else None
        ended = self.store.save_if_open(record, event, holder=holder)
        if ended is not None:
            record.status = ended
            return ended.value
        # RQ fails a job once it asked for max retries: the budget above is the bound
        return Retry(max=self.lock_waits + 1, interval=delay)

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
            ended = self.store.save_if_open(
                self.record, "execution_retrying", error=error, failed_as=status.value
            )
            if ended is not None:  # cancelled meanwhile: that stands
                self.record.status = ended
            return
        self._finish(status)

    def _finish(self, status: Status) -> None:
        finish(self.runtime, self.record, status)


def finish(runtime: Runtime, record: Execution, status: Status) -> None:
    """Record the final status, its metrics and, after a verified success, the remediation."""
    now = runtime.clock()
    record.status = status
    record.ended_at = now
    # an execution that never started (the lock stayed busy, its worker was lost) has none
    duration = None if record.started_at is None else now - record.started_at
    extra: dict[str, Any] = {
        "duration_seconds": None if duration is None else round(duration, 6),
        "verified": record.verified,
    }
    succeeded = status is Status.SUCCEEDED and record.alert is not None
    to_remediate = None
    if succeeded and record.verified and record.alert is not None:
        to_remediate = max(0.0, now - record.alert.starts_at)
        extra["time_to_remediate_seconds"] = round(to_remediate, 3)
    escalate = succeeded and record.verified is False

    def counted(pipe: redis.client.Pipeline) -> None:
        metrics.record_execution(pipe, record.command, status.value, duration)
        runtime.store.clear_pending(record, pipe)
        if to_remediate is not None and record.alert is not None:
            metrics.observe(pipe, metrics.TIME_TO_REMEDIATE, record.command, to_remediate)
            pipe.hset(keys.episode(record.alert.dedup_key), "remediated_at", now)
        if escalate:
            metrics.record_unverified(pipe, record.command)

    ended = runtime.store.save_if_open(
        record, "execution_finished", counted, error=record.error, **extra
    )
    if ended is not None:  # cancelled, rejected or expired meanwhile: that end stands
        record.status = ended
        log.info("execution %s was %s before it could end %s", record.id, ended.value, status)
        return
    if escalate:
        # The automation ran and the problem is still there: people are told (the metric
        # feeds AmcRemediationNotVerified); the episode is not retried (its claim holds).
        why = (record.verification or {}).get("reason")
        runtime.store.execution_event(record, "execution_escalated", reason=why)
    log.info("execution %s %s", record.id, status.value)
