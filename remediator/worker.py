"""The remediation worker: a real RQ worker on the four priority queues, in priority order."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from typing import Any

import redis
from rq import SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job

from remediator import recovery
from remediator.config import RemediatorConfig
from remediator.queue import queues
from remediator.runner import Runtime, install, installed
from remediator.store import Store, connect

log = logging.getLogger(__name__)

# How often a worker runs RQ's registry cleanup (abandoned jobs) and our reconciliation.
MAINTENANCE_SECONDS = 60


def _worked(job: Job) -> float:
    started = job.started_at or job.enqueued_at
    return (datetime.now(UTC) - started).total_seconds() if started else 0.0


class RemediationWorker(Worker):
    """RQ's forking worker that kills a horse past its timeout and records lost attempts."""

    def __init__(self, *args: Any, kill_grace_seconds: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_grace_seconds = kill_grace_seconds

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """Between checks of the horse: kill it once it outlived its timeout by the grace.

        The horse's own alarm ends a runaway step at the timeout; a step that blocks the
        alarm (a C loop, masked signals) is ended here, sooner than RQ's own 60 s.
        """
        if self._overdue(job):
            log.warning("killing the work horse of %s: past its timeout", job.id)
            self.kill_horse()
            return
        super().maintain_heartbeats(job, execution)

    def _overdue(self, job: Job) -> bool:
        timeout = job.timeout
        return (
            timeout is not None and timeout > 0 and _worked(job) > timeout + self.kill_grace_seconds
        )

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
        """Mark the execution timed out (horse outlived its timeout) or failed (crash)."""
        worked = _worked(job)
        timed_out = job.timeout is not None and job.timeout > 0 and worked > job.timeout
        detail = f"waitpid status {ret_val} after {worked:.1f}s"
        try:
            recovery.horse_died(job.id, timed_out, bool(job.retries_left), detail)
        except Exception:
            log.error("could not record the death of %s", job.id, exc_info=True)

    # RQ's work loop calls these three outside the handling that waits out a Redis outage
    # (its dequeue backs off and reconnects): a Redis restart at that moment killed the
    # worker. Skipped while Redis is away, they run again on the next round.

    def set_state(self, state: Any, pipeline: Any = None) -> None:
        """RQ's worker state (informational), skipped while Redis does not answer."""
        try:
            super().set_state(state, pipeline)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker state not recorded: Redis unavailable (%s)", exc)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's suspension check, skipped while Redis does not answer."""
        try:
            super().check_for_suspension(burst)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("suspension check skipped: Redis unavailable (%s)", exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (abandoned jobs fail through our callback), then reconciliation;
        skipped while Redis does not answer."""
        try:
            super().run_maintenance_tasks()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
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
