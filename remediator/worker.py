"""The remediation worker: a real RQ worker on the four priority queues, in priority order."""

from __future__ import annotations

import logging

import redis
from rq import SimpleWorker, Worker

from remediator.config import RemediatorConfig
from remediator.queue import queues
from remediator.runner import Runtime, install
from remediator.store import Store, connect

log = logging.getLogger(__name__)


def build(config: RemediatorConfig, simple: bool = False) -> Worker | SimpleWorker:
    """A worker listening to remediation-critical, -high, -medium, -low (in that order)."""
    # RQ gives its own connection the long read timeout that BLPOP needs; the store keeps
    # a short one so that an outage fails a step instead of hanging it.
    rq_conn = redis.Redis.from_url(config.redis_url)
    store_conn = connect(config.redis_url, config.redis_timeout_seconds)
    install(Runtime(config=config, store=Store(store_conn, config)))
    kind = SimpleWorker if simple else Worker
    return kind(queues(rq_conn), connection=rq_conn)


def work(config: RemediatorConfig, burst: bool = False) -> bool:
    """Run the worker (with RQ's scheduler, which runs delayed retries) until stopped."""
    worker = build(config)
    log.info("remediation worker starting", extra={"queues": [q.name for q in worker.queues]})
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
