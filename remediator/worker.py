"""The remediation worker: a real RQ worker on the four priority queues, in priority order."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import InvalidJobOperation
from rq.executions import Execution
from rq.job import Job, JobStatus

from remediator import recovery
from remediator.config import RemediatorConfig
from remediator.queue import queues
from remediator.runner import Runtime, install, installed, patiently
from remediator.store import Store, connect

log = logging.getLogger(__name__)

# How often a worker runs RQ's registry cleanup (abandoned jobs) and our reconciliation.
MAINTENANCE_SECONDS = 60
# What a Redis that is away (stopped, crashed, restarting, paused) raises.
REDIS_AWAY = (redis.ConnectionError, redis.TimeoutError)


def _worked(job: Job) -> float:
    started = job.started_at or job.enqueued_at
    return (datetime.now(UTC) - started).total_seconds() if started else 0.0


class RemediationWorker(Worker):
    """RQ's forking worker that kills a horse past its timeout and records lost attempts."""

    def __init__(self, *args: Any, kill_grace_seconds: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_grace_seconds = kill_grace_seconds
        self._dead_scheduler: object = None

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """Between checks of the horse: kill it once it outlived its timeout by the grace.

        The horse's own alarm ends a runaway step at the timeout; a step that blocks the
        alarm (a C loop, masked signals) is ended here, sooner than RQ's own 60 s.
        """
        if self._overdue(job):
            log.warning("killing the work horse of %s: past its timeout", job.id)
            self.kill_horse()
            return
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_AWAY as exc:  # the horse works on: watch it, beat again next time
            log.warning("heartbeat of %s skipped: Redis unavailable (%s)", job.id, exc)

    def _overdue(self, job: Job) -> bool:
        timeout = job.timeout
        return (
            timeout is not None and timeout > 0 and _worked(job) > timeout + self.kill_grace_seconds
        )

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
        """Mark the execution timed out (horse outlived its timeout) or failed (crash)."""
        self._record_horse_death(job, f"waitpid status {ret_val}")

    def _record_horse_death(self, job: Job, how: str) -> None:
        worked = _worked(job)
        timed_out = job.timeout is not None and job.timeout > 0 and worked > job.timeout
        detail = f"{how} after {worked:.1f}s"
        try:
            recovery.horse_died(job.id, timed_out, bool(job.retries_left), detail)
        except Exception:
            log.error("could not record the death of %s", job.id, exc_info=True)

    # A Redis that goes away (a crash, a restart) while a horse works: RQ reads the job's
    # status after a horse that did not exit cleanly and records its failure, both in Redis,
    # outside the handling that waits out an outage, so the error used to kill the worker
    # (and leave the job started, its execution running, until the abandoned-job cleanup).
    # Instead the worker waits for Redis (``patiently``) and ends the job as RQ would have.

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's start of a dequeued job, waiting for a Redis that went away meanwhile."""
        return patiently(lambda: super(RemediationWorker, self).prepare_execution(job),
                         f"starting job {job.id}")  # fmt: skip

    def monitor_work_horse(self, job: Job, queue: Queue, execution: Execution) -> None:
        """RQ's watch of the horse; when Redis was away as it ended, its end once Redis is back."""
        try:
            super().monitor_work_horse(job, queue, execution)
        except REDIS_AWAY as exc:
            log.warning("the work horse of %s ended while Redis was unavailable (%s)", job.id, exc)
            patiently(lambda: self._horse_ended(job, queue, execution), f"ending job {job.id}")

    def _horse_ended(self, job: Job, queue: Queue, execution: Execution) -> None:
        """What RQ does after a horse that did not exit cleanly (worker_classes.py); again
        when it fails half-way: the job's status says what was done."""
        try:
            status = job.get_status()
        except InvalidJobOperation:
            return  # the job is gone
        if status in (JobStatus.FINISHED, JobStatus.FAILED):
            return
        if self._stopped_job_id == job.id:
            self._handle_stopped_job(job, queue, execution)
            return
        how = "work horse ended while Redis was unavailable"
        self._record_horse_death(job, how)
        self.handle_job_failure(job, queue=queue, exc_string=how, execution=execution)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat, skipped while Redis does not answer (the next one comes)."""
        try:
            super().heartbeat(timeout, pipeline)
        except REDIS_AWAY as exc:
            log.warning("worker heartbeat skipped: Redis unavailable (%s)", exc)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """RQ's schedule, and at once when RQ's scheduler process died (it exits when Redis
        goes away): the maintenance starts it again, else delayed retries and lock waits
        would wait for the next maintenance, up to a minute."""
        return bool(super().should_run_maintenance_tasks) or self._scheduler_died()

    def _scheduler_died(self) -> bool:
        """True once for each scheduler process found dead."""
        process = getattr(self.scheduler, "_process", None)
        if process is None or process.is_alive() or process is self._dead_scheduler:
            return False
        self._dead_scheduler = process
        return True

    # RQ's work loop calls these three (and the heartbeat, above) outside the handling that
    # waits out a Redis outage (its dequeue backs off and reconnects): a Redis restart at that
    # moment killed the worker. Skipped while Redis is away, they run again on the next round.

    def set_state(self, state: Any, pipeline: Any = None) -> None:
        """RQ's worker state (informational), skipped while Redis does not answer."""
        try:
            super().set_state(state, pipeline)
        except REDIS_AWAY as exc:
            log.warning("worker state not recorded: Redis unavailable (%s)", exc)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's suspension check, skipped while Redis does not answer."""
        try:
            super().check_for_suspension(burst)
        except REDIS_AWAY as exc:
            log.warning("suspension check skipped: Redis unavailable (%s)", exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (abandoned jobs fail through our callback), then reconciliation;
        skipped while Redis does not answer."""
        try:
            super().run_maintenance_tasks()
        except REDIS_AWAY as exc:
            log.warning("maintenance skipped: Redis unavailable (%s)", exc)
            return
        try:
            recovery.reconcile(installed(), MAINTENANCE_SECONDS - 1)
        except Exception:
            log.error("reconciliation failed", exc_info=True)


def build(config: RemediatorConfig, simple: bool = False) -> Worker | SimpleWorker:
    """A worker listening to remediation-critical, -high, -medium, -low (in that order)."""
    # RQ gives its own connection the long read timeout that BLPOP needs; the store keeps
    # a short one so that an outage fails a step instead of hanging it.
    rq_conn = redis.Redis.from_url(config.redis_url)
    store_conn = connect(config.redis_url, config.redis_timeout_seconds)
    install(Runtime(config=config, store=Store(store_conn, config)))
    options: dict[str, Any] = {
        "connection": rq_conn,
        "job_monitoring_interval": config.monitor_interval(),
        "maintenance_interval": MAINTENANCE_SECONDS,
    }
    if simple:
        return SimpleWorker(queues(rq_conn), **options)
    return RemediationWorker(
        queues(rq_conn), kill_grace_seconds=config.kill_grace_seconds, **options
    )


def work(config: RemediatorConfig, burst: bool = False) -> bool:
    """Run the worker (with RQ's scheduler, which runs delayed retries) until stopped."""
    worker = build(config)
    # Work horses are forks of this process: frozen, its objects are not written by the
    # collector in a horse, so the pages they share stay shared.
    gc.collect()
    gc.freeze()
    log.info("remediation worker starting", extra={"queues": [q.name for q in worker.queues]})
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
