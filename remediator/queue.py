"""Priority queues on RQ and enqueueing one execution."""

from __future__ import annotations

import redis
from rq import Callback, Queue, Retry

from remediator.commands.catalog import PRIORITY_ORDER
from remediator.config import Effective

JOB_FUNCTION = "remediator.runner.run_job"
# Also called by RQ's maintenance for a job whose worker died with it (abandoned).
FAILURE_CALLBACK = "remediator.recovery.job_failed"
RESULT_TTL_SECONDS = 86400


def queue_name(priority: str) -> str:
    """The RQ queue of a priority: ``remediation-<priority>``."""
    return f"remediation-{priority}"


QUEUE_NAMES: tuple[str, ...] = tuple(queue_name(p.value) for p in PRIORITY_ORDER)


def queues(conn: redis.Redis) -> list[Queue]:
    """The four queues in the order workers listen to them."""
    return [Queue(name, connection=conn) for name in QUEUE_NAMES]


def enqueue(
    conn: redis.Redis,
    execution_id: str,
    policy: Effective,
    pipe: redis.client.Pipeline,
    priority: str | None = None,
) -> None:
    """Queue the job of one execution on ``pipe``; its id is the execution id. Its queue is
    the command's priority, or ``priority`` (an approved execution keeps its original one)."""
    retry = None
    if policy.retries > 0:
        retry = Retry(max=policy.retries, interval=policy.backoff.intervals(policy.retries))
    queue = Queue(queue_name(priority or policy.priority.value), connection=conn)
    queue.enqueue_call(
        JOB_FUNCTION,
        args=(execution_id,),
        timeout=policy.timeout_seconds,
        job_id=execution_id,
        retry=retry,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        description=f"{policy.spec.name} {execution_id}",
        on_failure=Callback(FAILURE_CALLBACK),
        pipeline=pipe,
    )
