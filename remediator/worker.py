"""The remediation worker: a real RQ worker on the four priority queues, in priority order."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from rq import SimpleWorker, Worker
from rq.job import Job

from remediator.config import RemediatorConfig
from remediator.queue import queues
from remediator.runner import Runtime, horse_died, install
from remediator.store import Store, connect

log = logging.getLogger(__name__)


class RemediationWorker(Worker):
    """RQ's forking worker that records executions whose work horse died."""

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
        """Mark the execution timed out (horse outlived its timeout) or failed (crash)."""
        started = job.started_at or job.enqueued_at
        worked = (datetime.now(UTC) - started).total_seconds() if started else 0.0
        timed_out = job.timeout is not None and job.timeout > 0 and worked > job.timeout
        detail = f"waitpid status {ret_val} after {worked:.1f}s"
        try:
            horse_died(job.id, timed_out, bool(job.retries_left), detail)
        except Exception:
            log.error("could not record the death of %s", job.id, exc_info=True)


def build(config: RemediatorConfig, simple: bool = False) -> Worker | SimpleWorker:
    """A worker listening to remediation-critical, -high, -medium, -low (in that order)."""
    # RQ gives its own connection the long read timeout that BLPOP needs; the store keeps
    # a short one so that an outage fails a step instead of hanging it.
    rq_conn = redis.Redis.from_url(config.redis_url)
    store_conn = connect(config.redis_url, config.redis_timeout_seconds)
    install(Runtime(config=config, store=Store(store_conn, config)))
    kind = SimpleWorker if simple else RemediationWorker
    return kind(queues(rq_conn), connection=rq_conn)


def work(config: RemediatorConfig, burst: bool = False) -> bool:
    """Run the worker (with RQ's scheduler, which runs delayed retries) until stopped."""
    worker = build(config)
    log.info("remediation worker starting", extra={"queues": [q.name for q in worker.queues]})
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
