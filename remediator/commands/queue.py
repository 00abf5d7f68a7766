"""CLEAR_JOB_QUEUE: stale queued discovery jobs cancelled, orphaned started jobs failed, a lock
left by a job that no longer runs released; every job id recorded.

A job counts as orphaned when the RQ worker that started it is gone: its worker key expired,
or it has not heart-beaten for ``WORKER_SILENT_SECONDS`` (a busy RQ worker heart-beats at every
check of its work horse, 30 s by default). A live worker's running job is never touched, even
a hung one: RESTART_RQ_WORKERS is the cure for that.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import StartedJobRegistry

from exporter.config import DiscoveryConfig
from exporter.timestamps import epoch_seconds
from remediator.commands.base import Command, Context, Verification
from remediator.commands.view import exporter_config

WORKER_SILENT_SECONDS = 120.0
# Deletes the lock only while it still holds the value we judged stale.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _age(when: datetime | None, now: float) -> float | None:
    """Seconds since one of RQ's (naive UTC) datetimes; None when absent."""
    at = epoch_seconds(when)
    return None if at is None else now - at


def live_workers(conn: redis.Redis, queue: Queue, now: float) -> set[str]:
    """Names of the workers of ``queue`` that heart-beat recently."""
    live = set()
    for worker in Worker.all(queue=queue):
        age = _age(worker.last_heartbeat, now)
        if age is not None and age < WORKER_SILENT_SECONDS:
            live.add(worker.name)
    return live


def stale_queued(queue: Queue, stale_after: float, now: float) -> list[Job]:
    """Queued jobs enqueued longer than ``stale_after`` seconds ago (no one waits for them)."""
    jobs = Job.fetch_many(queue.get_job_ids(), connection=queue.connection)
    return [
        job
        for job in jobs
        if job is not None and (_age(job.enqueued_at or job.created_at, now) or 0) > stale_after
    ]


def orphaned_started(conn: redis.Redis, queue: Queue, now: float) -> list[Job]:
    """Started jobs whose worker is gone."""
    live = live_workers(conn, queue, now)
    registry = StartedJobRegistry(queue=queue)
    jobs = Job.fetch_many(registry.get_job_ids(cleanup=False), connection=conn)
    return [job for job in jobs if job is not None and job.worker_name not in live]


def cancel_stale(conn: redis.Redis, queue: Queue, stale_after: float, now: float) -> list[str]:
    """Cancel the stale queued jobs (RQ keeps them as canceled); their ids."""
    ids = []
    for job in stale_queued(queue, stale_after, now):
        job.cancel()
        ids.append(job.id)
    return ids


def fail_orphans(conn: redis.Redis, queue: Queue, now: float) -> list[str]:
    """Fail the started jobs of dead workers, as RQ's own abandoned-job cleanup does."""
    registry = StartedJobRegistry(queue=queue)
    ids = []
    for job in orphaned_started(conn, queue, now):
        with conn.pipeline() as pipe:
            registry.remove_executions(job, pipeline=pipe)
            record_job_failure(job, f"worker {job.worker_name} is gone (CLEAR_JOB_QUEUE)", pipe)
            pipe.execute()
        ids.append(job.id)
    return ids


def stale_lock(conn: redis.Redis, discovery: DiscoveryConfig, now: float) -> str | None:
    """The holder of the discovery lock when that job no longer runs on a live worker."""
    raw = conn.get(discovery.lock_key)
    if raw is None:
        return None
    holder = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    job = Job.fetch_many([holder], connection=conn)[0]
    if job is None or job.get_status() != JobStatus.STARTED:
        return holder
    queue = Queue(discovery.queue, connection=conn)
    return None if job.worker_name in live_workers(conn, queue, now) else holder


def release_stale_lock(conn: redis.Redis, discovery: DiscoveryConfig) -> dict[str, Any]:
    """Release the discovery lock when its holder no longer runs (it would skip every run)."""
    holder = stale_lock(conn, discovery, time.time())
    if holder is None:
        held = conn.exists(discovery.lock_key)
        return {"released": None, "held_by_running_job": bool(held)}
    released = bool(conn.eval(_RELEASE, 1, discovery.lock_key, holder))
    return {"released": holder if released else None, "held_by_running_job": False}


def clear(ctx: Context) -> dict[str, Any]:
    """The steps of CLEAR_JOB_QUEUE (also the first of the restart sequences)."""
    platform = exporter_config(ctx)
    discovery = platform.discovery
    stale_after = platform.thresholds.job_timeout_seconds
    conn = ctx.platform_redis()
    try:
        queue = Queue(discovery.queue, connection=conn)
        cancelled = ctx.step(
            "cancel stale queued jobs", lambda: cancel_stale(conn, queue, stale_after, time.time())
        )
        failed = ctx.step(
            "fail orphaned started jobs", lambda: fail_orphans(conn, queue, time.time())
        )
        lock = ctx.step(
            "release a stale discovery lock", lambda: release_stale_lock(conn, discovery)
        )
    finally:
        conn.close()
    return {
        "cancelled": cancelled,
        "failed": failed,
        "lock_released": lock["released"],
        "stale_after_seconds": stale_after,
    }


def leftovers(ctx: Context) -> dict[str, Any]:
    """What CLEAR_JOB_QUEUE would still find: stale queued jobs, orphans, a stale lock."""
    platform = exporter_config(ctx)
    discovery, now = platform.discovery, time.time()
    conn = ctx.platform_redis()
    try:
        queue = Queue(discovery.queue, connection=conn)
        return {
            "stale_queued": [
                j.id for j in stale_queued(queue, platform.thresholds.job_timeout_seconds, now)
            ],
            "orphaned_started": [j.id for j in orphaned_started(conn, queue, now)],
            "stale_lock": stale_lock(conn, discovery, now),
        }
    finally:
        conn.close()


def verify(ctx: Context) -> Verification:
    """No stale queued job, no orphaned started job and no stale lock is left."""
    left = leftovers(ctx)
    clean = not left["stale_queued"] and not left["orphaned_started"] and left["stale_lock"] is None
    reason = "queue clean" if clean else "stale jobs or lock left"
    return Verification(clean, reason, left)


CLEAR_JOB_QUEUE = Command(run=clear, verify=verify)
