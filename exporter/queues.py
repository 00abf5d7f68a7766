"""RQ and Redis state: job counts by state, queued-job age, workers, heartbeat, memory.

Everything is read with two pipelined round trips on a client with a socket timeout, without
running RQ's registry cleanups (the exporter only reads). The cost does not grow with the
number of jobs: lengths and cardinalities only, plus the timestamps of the first few queued
jobs and of the newest few failed ones.

RQ's failed-job registry scores its entries by expiry (failure time + ``failure_ttl``), so the
newest entries by score are read, and each one's failure time from its job hash: ``ended_at``
(set by a worker), else the score less the job's ``failure_ttl`` (a job that RQ's maintenance
failed for its dead worker has no ``ended_at``). A job whose hash is gone is left out. Each
one's exception class comes from its latest RQ result (``exporter.failures``), read once: a
failed job's result does not change, so the caller's ``ExceptionCache`` keeps each entry's class
for as long as the entry is among the newest read.

Queue names come from Redis (``rq:queues``, the workers' queue lists), so they are not used as
label values as they are: the discovery queue and the configured ``rq.queues`` keep their
names, and every other queue is summed under ``other`` (counted, never dropped). ``INFO
memory`` is optional: a Redis whose ACL denies ``INFO`` still reads as up, without memory.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict
from rq.defaults import DEFAULT_FAILURE_TTL, RQ_KEY_PREFIX
from rq.results import Result

from exporter.config import DEFAULT_RQ_QUEUES, OTHER_QUEUE, DiscoveryConfig
from exporter.failures import EXCEPTION_LABELS, OTHER, exception_label
from exporter.timestamps import epoch_seconds

log = logging.getLogger(__name__)

JOB_STATES: tuple[str, ...] = ("queued", "started", "failed", "deferred", "scheduled", "finished")
"""Every value of the ``state`` label of job gauges."""

WORKER_STATES: tuple[str, ...] = ("idle", "busy", "started", "suspended", "unknown")
"""Every value of the ``state`` label of ``amc_rq_workers``."""

RUN_STATUSES: tuple[str, ...] = ("queued", "running", "finished", "failed", "other")
"""Every value of the ``status`` label of the platform's latest discovery run."""

QUEUES_KEY = f"{RQ_KEY_PREFIX}:queues"
WORKERS_KEY = f"{RQ_KEY_PREFIX}:workers"
QUEUE_PREFIX = f"{RQ_KEY_PREFIX}:queue:"
JOB_PREFIX = f"{RQ_KEY_PREFIX}:job:"
# RQ registries by state; entries of these are scored by their expiry time.
_REGISTRIES = {
    "started": f"{RQ_KEY_PREFIX}:wip:",
    "failed": f"{RQ_KEY_PREFIX}:failed:",
    "deferred": f"{RQ_KEY_PREFIX}:deferred:",
    "scheduled": f"{RQ_KEY_PREFIX}:scheduled:",
    "finished": f"{RQ_KEY_PREFIX}:finished:",
}
# Finished and failed entries lapse at their score (their TTL); the others count until moved.
_EXPIRING = ("failed", "finished")
OLDEST_SCAN = 10
"""How many jobs at the head of the queue are looked at for the oldest enqueue time."""
FAILED_SCAN = 20
"""How many of the newest entries of the discovery queue's failed registry are looked at."""


class WorkerCount(BaseModel):
    """How many workers listen on ``queue`` in ``state``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str
    state: str
    count: int


class FailedJob(BaseModel):
    """One of the newest failed discovery jobs: when it failed and its exception class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float
    exception: str


ExceptionCache = dict[tuple[str, float], str]
"""The exception class of each failed-registry entry (job id, score) already read."""


class QueueState(BaseModel):
    """One read of the platform's RQ and Redis state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_at: float
    jobs: dict[str, int]
    queue_jobs: dict[str, dict[str, int]]
    oldest_queued_at: float | None
    heartbeat_at: float | None
    lock_held: bool
    cache_ttl_seconds: float | None
    last_run_status: str | None
    workers: tuple[WorkerCount, ...]
    memory_used_bytes: int | None
    memory_max_bytes: int | None
    # The newest few failed discovery jobs, newest first (at most FAILED_SCAN).
    failed_jobs: tuple[FailedJob, ...] = ()

    @property
    def failed_at(self) -> tuple[float, ...]:
        """When the newest failed discovery jobs read failed, newest first."""
        return tuple(job.at for job in self.failed_jobs)

    def oldest_queued_age(self, now: float) -> float:
        """Seconds since the oldest queued discovery job was enqueued (0 when none)."""
        return max(0.0, now - self.oldest_queued_at) if self.oldest_queued_at else 0.0

    def failures_by_exception(self, since: float) -> dict[str, int]:
        """Of the newest failed discovery jobs read, how many of each exception class failed
        at ``since`` or later (every class of ``EXCEPTION_LABELS``, zeros included)."""
        counts = dict.fromkeys(EXCEPTION_LABELS, 0)
        for job in self.failed_jobs:
            if job.at >= since:
                counts[job.exception] += 1
        return counts

    def failures_since(self, since: float) -> int:
        """Of the newest failed discovery jobs read, how many failed at ``since`` or later."""
        return sum(self.failures_by_exception(since).values())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _failed_at(fields: list[Any], score: float) -> float | None:
    """When a job in the failed registry failed; None when its hash is gone or tells nothing."""
    ended, ttl, created = fields
    if created is None:
        return None  # the job's hash is gone (deleted, or expired with a shorter failure_ttl)
    at = epoch_seconds(ended)
    if at is not None:
        return at
    try:
        keep = int(_text(ttl)) if ttl else DEFAULT_FAILURE_TTL
    except ValueError:
        return None
    return score - keep if keep >= 0 and math.isfinite(score) else None


def _cache_ttl(pttl: int) -> float | None:
    """Remaining lifetime of the results cache: None when absent, inf when it never expires."""
    if pttl == -2:
        return None
    return float("inf") if pttl == -1 else pttl / 1000


def _run_status(raw: Any) -> str | None:
    """The ``status`` field of the platform's status key, within ``RUN_STATUSES``."""
    if raw is None:
        return None
    try:
        status = json.loads(raw).get("status")
    except (ValueError, AttributeError):
        return "other"
    return status if status in RUN_STATUSES else "other"


def _queue_counts(pipe: Any, queue: str, now: float) -> None:
    pipe.llen(QUEUE_PREFIX + queue)
    for state, prefix in _REGISTRIES.items():
        if state in _EXPIRING:
            pipe.zcount(prefix + queue, now, "+inf")
        else:
            pipe.zcard(prefix + queue)


def _label(queue: str, named: frozenset[str]) -> str:
    """The ``queue`` label value of ``queue``: its name when configured, else ``other``."""
    return queue if queue in named else OTHER_QUEUE


def _worker_counts(rows: list[tuple[Any, Any]], named: frozenset[str]) -> tuple[WorkerCount, ...]:
    counts: Counter[tuple[str, str]] = Counter()
    for state, queues in rows:
        if state is None and queues is None:
            continue  # a registered worker whose key expired: it is gone
        name = _text(state) if state is not None else "unknown"
        name = name if name in WORKER_STATES else "unknown"
        # A worker on two unnamed queues counts once under "other", as under any one name.
        labels = {_label(q, named) for q in filter(None, _text(queues or b"").split(","))}
        for label in labels:
            counts[(label, name)] += 1
    return tuple(WorkerCount(queue=q, state=s, count=n) for (q, s), n in sorted(counts.items()))


def _sum_by_label(
    counts: dict[str, dict[str, int]], named: frozenset[str]
) -> dict[str, dict[str, int]]:
    """Job counts per label value: every named queue (zeros when absent) and ``other``."""
    labelled = {q: dict.fromkeys(JOB_STATES, 0) for q in (*sorted(named), OTHER_QUEUE)}
    for queue, jobs in counts.items():
        total = labelled[_label(queue, named)]
        for state, count in jobs.items():
            total[state] += count
    return labelled


@dataclass(frozen=True)
class _Round:
    """What the second round trip reads: every queue's counts, the head and failed jobs, workers."""

    queue_jobs: dict[str, dict[str, int]]
    oldest_queued_at: float | None
    failed_jobs: tuple[FailedJob, ...]
    workers: tuple[WorkerCount, ...]


def _second_round(
    client: redis.Redis,
    queues: list[str],
    head_ids: list[str],
    failed: list[tuple[str, float]],
    workers: list[str],
    now: float,
    named: frozenset[str],
    known: ExceptionCache,
) -> _Round:
    """Counts of every queue, times of the head and failed jobs, the latest results of the
    failed jobs not in ``known``, and workers, in one round trip. ``known`` is left holding
    the failed entries read this time."""
    unknown = [entry for entry in failed if entry not in known]
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            _queue_counts(pipe, queue, now)
        for job_id in head_ids:
            pipe.hmget(JOB_PREFIX + job_id, "enqueued_at", "created_at")
        for job_id, _ in failed:
            pipe.hmget(JOB_PREFIX + job_id, "ended_at", "failure_ttl", "created_at")
        for job_id, _ in unknown:
            pipe.xrevrange(Result.get_key(job_id), "+", "-", count=1)
        for key in workers:
            pipe.hmget(key, "state", "queues")
        replies = pipe.execute()
    width = 1 + len(_REGISTRIES)
    queue_jobs = {
        queue: dict(zip(JOB_STATES, map(int, replies[i * width : (i + 1) * width]), strict=True))
        for i, queue in enumerate(queues)
    }
    rest = replies[len(queues) * width :]
    heads, rest = rest[: len(head_ids)], rest[len(head_ids) :]
    times = [t for e, c in heads if (t := epoch_seconds(e or c)) is not None]
    failures, rest = rest[: len(failed)], rest[len(failed) :]
    latest, rest = rest[: len(unknown)], rest[len(unknown) :]
    exceptions = {entry: known[entry] for entry in failed if entry in known}
    for (job_id, score), result in zip(unknown, latest, strict=True):
        exceptions[job_id, score] = _exception(client, job_id, result)
    known.clear()
    known.update(exceptions)
    jobs = [
        FailedJob(at=at, exception=exceptions[entry])
        for entry, fields in zip(failed, failures, strict=True)
        if (at := _failed_at(fields, entry[1])) is not None
    ]
    return _Round(
        queue_jobs=queue_jobs,
        oldest_queued_at=min(times) if times else None,
        failed_jobs=tuple(sorted(jobs, key=lambda job: (job.at, job.exception), reverse=True)),
        workers=_worker_counts(rest, named),
    )


def _exception(client: redis.Redis, job_id: str, latest: list[Any]) -> str:
    """The exception class of a failed job's latest result (``other`` when it has none)."""
    if not latest:
        return OTHER
    result_id, payload = latest[0]
    try:
        result = Result.restore(job_id, _text(result_id), payload, connection=client)
    except Exception:  # an unreadable result (another RQ version): counted, not fatal
        log.warning("unreadable RQ result", extra={"job_id": job_id}, exc_info=True)
        return OTHER
    return exception_label(result.exc_string)


def _memory(reply: Any) -> tuple[int | None, int | None]:
    """Used and max memory from ``INFO memory``; None when Redis refused it (an ACL)."""
    if isinstance(reply, redis.ResponseError):
        return None, None
    if isinstance(reply, Exception):
        raise reply
    return int(reply.get("used_memory", 0)), int(reply.get("maxmemory", 0))


def read_queue_state(
    client: redis.Redis,
    discovery: DiscoveryConfig,
    now: float,
    named: tuple[str, ...] = DEFAULT_RQ_QUEUES,
    exceptions: ExceptionCache | None = None,
) -> QueueState:
    """Read the RQ/Redis state in two pipelined round trips; raises ``redis.RedisError``.

    ``named`` are the queues reported by name besides ``discovery.queue``; the rest are summed
    under ``other``. ``exceptions`` (updated in place) holds the exception classes of the
    failed jobs the previous read found, so that each failed job's result is read once.
    """
    labels = frozenset(named) | {discovery.queue}
    with client.pipeline(transaction=False) as pipe:
        pipe.smembers(QUEUES_KEY)
        pipe.smembers(WORKERS_KEY)
        pipe.lrange(QUEUE_PREFIX + discovery.queue, 0, OLDEST_SCAN - 1)
        pipe.zrevrangebyscore(
            _REGISTRIES["failed"] + discovery.queue, "+inf", now, 0, FAILED_SCAN, withscores=True
        )
        pipe.get(discovery.heartbeat_key)
        pipe.exists(discovery.lock_key)
        pipe.pttl(discovery.candidates_key)
        pipe.get(discovery.status_key)
        pipe.info("memory")
        replies = pipe.execute(raise_on_error=False)
    for reply in replies[:-1]:
        if isinstance(reply, Exception):
            raise reply
    queue_keys, worker_keys, head, failed, heartbeat, lock, pttl, status, memory = replies
    used, limit = _memory(memory)
    queues = sorted({_text(k).removeprefix(QUEUE_PREFIX) for k in queue_keys} | labels)
    second = _second_round(
        client, queues, [_text(j) for j in head], [(_text(j), s) for j, s in failed],
        sorted(_text(k) for k in worker_keys), now, labels,
        {} if exceptions is None else exceptions,
    )  # fmt: skip
    heartbeat_at = epoch_seconds(heartbeat)
    if heartbeat is not None and heartbeat_at is None:
        # Read as "never seen" (an infinite age), which alerts: say why.
        value = _text(heartbeat)[:80]
        log.warning(
            "unreadable worker heartbeat",
            extra={"key": discovery.heartbeat_key, "detail": f"not a time: {value!r}"},
        )
    return QueueState(
        read_at=now,
        jobs=second.queue_jobs[discovery.queue],
        queue_jobs=_sum_by_label(second.queue_jobs, labels),
        oldest_queued_at=second.oldest_queued_at,
        failed_jobs=second.failed_jobs,
        heartbeat_at=heartbeat_at,
        lock_held=bool(lock),
        cache_ttl_seconds=_cache_ttl(int(pttl)),
        last_run_status=_run_status(status),
        workers=second.workers,
        memory_used_bytes=used,
        memory_max_bytes=limit,
    )
