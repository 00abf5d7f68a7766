"""Data faults written into Redis as the platform would have left them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.utils import utcformat

from sandbox.config import SandboxConfig
from sandbox.discovery import new_job_id, write_status
from sandbox.faults import FaultName, MockDataOptions, StuckJobsOptions, forget, read, record
from sandbox.keys import CANDIDATES_KEY, DISCOVERY_QUEUE, JOB_FUNC, LOCK_KEY, STATUS_KEY


def inject_stuck_jobs(conn: Redis, config: SandboxConfig, options: StuckJobsOptions) -> list[str]:
    """Leave started jobs of a worker that died and a backlog queued ``age_seconds`` ago."""
    first = time.time() - options.age_seconds
    dead_worker = f"amc-discovery-worker.{uuid.uuid4().hex[:8]}"
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    orphans = [_orphan(conn, config, queue, first, dead_worker) for _ in range(options.orphans)]
    if orphans:
        conn.set(LOCK_KEY, orphans[0], ex=config.lock_ttl_seconds)
    step = options.age_seconds / max(options.jobs, 1)
    backlog = []
    for i in range(options.jobs):
        ts = first + i * step
        job_id = new_job_id(conn, "discovery", ts)
        job = queue.enqueue_call(JOB_FUNC, job_id=job_id, timeout=config.job_timeout_seconds)
        conn.hset(job.key, "enqueued_at", _utc(ts))
        backlog.append(job.id)
    injected = {"orphans": orphans, "backlog": backlog, "worker": dead_worker}
    record(conn, FaultName.STUCK_JOBS, injected)
    return orphans + backlog


def _utc(ts: float) -> str:
    return utcformat(datetime.fromtimestamp(ts, UTC))


def _orphan(conn: Redis, config: SandboxConfig, queue: Queue, ts: float, worker: str) -> str:
    # The same RQ calls a worker makes when it starts a job; then the worker "dies".
    job_id = new_job_id(conn, "discovery", ts)
    job = queue.create_job(JOB_FUNC, job_id=job_id, timeout=config.job_timeout_seconds)
    job.save()
    with conn.pipeline() as pipe:
        Execution.create(job, ttl=config.job_timeout_seconds, pipeline=pipe, worker_name=worker)
        job.prepare_for_execution(worker, pipeline=pipe)
        pipe.hset(job.key, mapping={"enqueued_at": _utc(ts), "started_at": _utc(ts)})
        pipe.execute()
    return job.id


def stuck_jobs_left(conn: Redis) -> list[str]:
    """The injected jobs that are still queued or started; the record goes with the last."""
    found = read(conn, FaultName.STUCK_JOBS)
    if found is None:
        return []
    left = []
    for job_id in [*found["orphans"], *found["backlog"]]:
        job = Job.fetch_many([job_id], connection=conn)[0]
        if job is not None and job.get_status() in ("queued", "started"):
            left.append(job_id)
    if not left:
        forget(conn, FaultName.STUCK_JOBS)
    return left


def remove_stuck_jobs(conn: Redis) -> None:
    """Operator's clear: delete the injected jobs wherever they are."""
    found = read(conn, FaultName.STUCK_JOBS)
    if found is None:
        return
    for job_id in [*found["orphans"], *found["backlog"]]:
        job = Job.fetch_many([job_id], connection=conn)[0]
        if job is not None:
            job.delete()
    forget(conn, FaultName.STUCK_JOBS)


def mock_payload(kind: str, now: float) -> dict[str, Any]:
    """The demo/fallback results the original platform served when discovery failed."""
    job_id = "emergency_demo" if kind == "demo" else f"fallback_{int(now)}"
    symbols = ["DEMO", "DEMO", "DEMO"] if kind == "demo" else ["AAPL", "MSFT", "NVDA", "TSLA"]
    candidates = [
        {
            "symbol": symbol,
            "bms_score": 75.0,
            "action": "TRADE_READY",
            "confidence": 0.75,
            "component_scores": {"volume_surge": 75.0, "price_momentum": 75.0,
                                 "volatility_expansion": 75.0, "risk_filter": 75.0},
            "thesis": "Fallback candidate while discovery recovers",
            "risk_level": "MEDIUM",
            "price": 100.0,
            "volume_surge": 1.0,
            "momentum_1d": 0.0,
            "atr_pct": 2.0,
            "dollar_volume": 10_000_000.0,
        }
        for symbol in symbols
    ]  # fmt: skip
    return {
        "candidates": candidates,
        "count": len(candidates),
        "engine": "Emergency Demo Engine" if kind == "demo" else "Fallback Engine",
        "strategy": "fallback",
        "job_id": job_id,
        "timestamp": now,
        "stats": {"demo": kind == "demo"},
        "error_recovery": True,
    }


def write_mock_data(
    conn: Redis, config: SandboxConfig, options: MockDataOptions, ttl: int | None = None
) -> str:
    """Put mock results in the cache (without expiry unless ``ttl``), as populate-cache did."""
    payload = mock_payload(options.kind, time.time())
    conn.set(CANDIDATES_KEY, json.dumps(payload), ex=ttl)
    write_status(conn, config, "finished", payload["job_id"], count=payload["count"])
    if ttl is None:
        conn.persist(STATUS_KEY)
    return str(payload["job_id"])


def mock_data_present(conn: Redis) -> bool:
    """True while the cache still holds the results the ``mock_data`` fault wrote."""
    found = read(conn, FaultName.MOCK_DATA)
    if found is None:
        return False
    raw = conn.get(CANDIDATES_KEY)
    if raw is not None and json.loads(raw).get("job_id") == found["job_id"]:
        return True
    forget(conn, FaultName.MOCK_DATA)
    return False
