"""The platform's operations on Redis and RQ (blocking), and how the API runs them in threads.

``blocking`` runs any blocking Redis/RQ call off the event loop (the admin routes use it too).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ParamSpec, TypeVar

from redis import Redis, RedisError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job_lifecycle import record_job_failure
from rq.registry import FailedJobRegistry, StartedJobRegistry

from sandbox.config import SandboxConfig
from sandbox.discovery import new_job_id, write_status
from sandbox.faults import PROVIDERS, MockDataOptions, database_down, provider_failures
from sandbox.injections import write_mock_data
from sandbox.keys import (
    CANDIDATES_KEY,
    DISCOVERY_QUEUE,
    HEARTBEAT_KEY,
    JOB_FUNC,
    LOCK_KEY,
    STATUS_KEY,
)

WORKER_ALIVE_SECONDS = 120.0
"""An RQ worker busy with a job heart-beats every 30 s; silent this long, it is dead."""
UNFINISHED = ("queued", "started", "deferred", "scheduled")

P = ParamSpec("P")
T = TypeVar("T")


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking Redis/RQ operation off the event loop."""
    return await asyncio.to_thread(partial(fn, *args, **kwargs))


def cached_results(conn: Redis) -> tuple[dict[str, Any], float] | None:
    """The cached discovery results and their age in seconds, or None."""
    raw = conn.get(CANDIDATES_KEY)
    if raw is None:
        return None
    results = dict(json.loads(raw))
    return results, max(0.0, time.time() - float(results.get("timestamp", time.time())))


def enqueue_discovery(
    conn: Redis, config: SandboxConfig, prefix: str, limit: int | None = None,
    strategy: str | None = None,
) -> Job:  # fmt: skip
    """Queue a discovery job ``<prefix>_<ts>`` and record it as the pending one."""
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    job = queue.enqueue_call(
        JOB_FUNC, kwargs={"limit": limit, "strategy": strategy},
        job_id=new_job_id(conn, prefix, time.time()),
        timeout=config.job_timeout_seconds, result_ttl=config.cache_ttl_seconds,
    )  # fmt: skip
    write_status(conn, config, "queued", job.id)
    return job


def pending_job(conn: Redis) -> Job | None:
    """The job the latest status says is queued or running, if it still is."""
    raw = conn.get(STATUS_KEY)
    if raw is None:
        return None
    status = json.loads(raw)
    if status.get("status") not in ("queued", "running"):
        return None
    try:
        job = Job.fetch(status["job_id"], connection=conn)
    except NoSuchJobError:
        return None
    return job if job.get_status() in UNFINISHED else None


def job_report(conn: Redis, job_id: str) -> dict[str, Any] | None:
    """A job's state for ``/discovery/status``, or None when unknown."""
    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return None
    status = job.get_status()
    report: dict[str, Any] = {
        "job_id": job.id,
        "status": status,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
    }
    if status == "finished":
        report["result"] = job.return_value()
    if status == "failed":
        result = job.latest_result()
        report["error"] = (result.exc_string or "").strip().splitlines()[-1:] if result else []
    return report


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def heartbeat_age(conn: Redis) -> float | None:
    """Seconds since the discovery worker's heartbeat, or None when there is none."""
    raw = conn.get(HEARTBEAT_KEY)
    return None if raw is None else max(0.0, time.time() - float(raw))


def queue_counts(conn: Redis) -> dict[str, int]:
    """Jobs of the discovery queue by state."""
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    return {
        "queued": queue.count,
        "started": StartedJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
    }


def components(conn: Redis) -> dict[str, dict[str, Any]]:
    """The five ``/health`` components; a provider the ``provider_down`` fault takes out
    carries how it fails (``kind``, of ``sandbox.logs.PROVIDER_FAILURES``)."""
    try:
        redis_ok = bool(conn.ping())
    except RedisError:
        redis_ok = False
    failing = provider_failures(conn) if redis_ok else {}
    db_down = database_down(conn) if redis_ok else False
    providers = {
        name: {"ok": False, "kind": failing[name]} if name in failing else {"ok": True}
        for name in PROVIDERS
    }
    return {
        "env": {"ok": True, "missing": []},
        "database": {"ok": not db_down, **({"error": "connection refused"} if db_down else {})},
        "redis": {"ok": redis_ok},
        **providers,
    }


def worker_health(conn: Redis, config: SandboxConfig) -> dict[str, Any]:
    """Discovery workers, their states and the heartbeat, for the emergency route."""
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    workers = Worker.all(queue=queue)
    age = heartbeat_age(conn)
    return {
        "workers": [{"name": w.name, "state": w.get_state()} for w in workers],
        "heartbeat_age_seconds": age,
        "alive": age is not None and age < config.heartbeat_alive_seconds,
        **queue_counts(conn),
    }


def clear_queue(conn: Redis) -> list[str]:
    """Empty the discovery queue; return the ids removed."""
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    ids = queue.get_job_ids()
    queue.empty()
    return ids


def clear_stuck_jobs(conn: Redis) -> list[str]:
    """Fail started jobs whose worker is gone; return their ids."""
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    now = time.time()
    live = {
        w.name for w in Worker.all(queue=queue)
        if w.last_heartbeat and now - w.last_heartbeat.timestamp() < WORKER_ALIVE_SECONDS
    }  # fmt: skip
    registry = StartedJobRegistry(queue=queue)
    failed = []
    for job_id in registry.get_job_ids():
        job = Job.fetch_many([job_id], connection=conn)[0]
        if job is None or job.worker_name in live:
            continue
        with conn.pipeline() as pipe:
            registry.remove_executions(job, pipeline=pipe)
            record_job_failure(job, f"worker {job.worker_name} is gone", pipe)
            pipe.execute()
        failed.append(job_id)
    return failed


def reset_system(conn: Redis) -> dict[str, Any]:
    """Clear the queue, stuck jobs, the lock and the status."""
    cleared = clear_queue(conn)
    stuck = clear_stuck_jobs(conn)
    conn.delete(LOCK_KEY, STATUS_KEY)
    return {"cleared_queue": cleared, "cleared_stuck": stuck, "lock_released": True}


def populate_cache(conn: Redis, config: SandboxConfig) -> str:
    """The original's emergency fallback: serve demo results for one cache lifetime."""
    return write_mock_data(conn, config, MockDataOptions(kind="demo"), config.cache_ttl_seconds)
