"""The exporter's view of the platform at one moment: typed, JSON-serialisable, derived only.

``Snapshot`` is what ``probes.probe_once`` returns to the remediator and what the metrics
collector renders; ``build_snapshot`` derives it from the latest probe results without I/O.

A refresh is not a failure: while the discovery route answers 202 ``queued`` (the platform
refreshing its cache), the view keeps the latest ``ready`` results users got, for as long as
the platform's cache would have kept them plus one cache TTL for the refresh (their age, by
the platform's ``cache_age_seconds`` or ``timestamp``, below twice the cache TTL); after that,
and after any failed probe, there are no candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from exporter.config import ExporterConfig
from exporter.integrity import IntegrityReport
from exporter.platform_client import DiscoveryPayload, DiscoveryResult, HealthResult
from exporter.queues import QueueState, WorkerCount
from exporter.status import HealthScorer, Status, classify

REFRESH_TTLS = 2
"""Results are shown during a refresh until their age reaches this many cache TTLs."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoveryView(_Model):
    """The latest discovery probe as users would see it."""

    state: str | None
    candidates: int
    quality_score: float | None
    response_seconds: float
    in_flight: bool
    refreshing: bool
    results_age_seconds: float | None
    job_id: str | None
    engine: str | None
    failure: str | None


class IntegrityView(_Model):
    """The integrity checks of the latest results users could get."""

    checks: dict[str, bool]
    ratio: float
    mock_suspected: bool
    reasons: tuple[str, ...]


class QueueView(_Model):
    """The discovery queue and the RQ workers."""

    jobs: dict[str, int]
    queue_jobs: dict[str, dict[str, int]]
    oldest_queued_job_age_seconds: float
    worker_heartbeat_age_seconds: float | None
    lock_held: bool
    cache_present: bool
    cache_ttl_seconds: float | None
    last_run_status: str | None
    last_job_failure_age_seconds: float | None
    # Discovery jobs that failed within the cache TTL, by exception class (zeros included).
    job_failures: dict[str, int]
    workers: tuple[WorkerCount, ...]
    memory_used_bytes: int | None
    memory_max_bytes: int | None


class Snapshot(_Model):
    """Every probe's latest result and what follows from them (``model_dump(mode="json")``)."""

    taken_at: float
    status: Status | None
    status_reason: str
    api_up: bool | None
    redis_up: bool | None
    components: dict[str, bool]
    health_scores: dict[str, float]
    health_score: float | None
    discovery: DiscoveryView | None
    routes_up: dict[str, bool]
    routes_missing: tuple[str, ...]
    integrity: IntegrityView | None
    queue: QueueView | None


@dataclass(frozen=True)
class ReadyResults:
    """The latest results of a ``ready`` answer and when the platform made them."""

    payload: DiscoveryPayload
    made_at: float

    @classmethod
    def received(cls, payload: DiscoveryPayload, at: float) -> ReadyResults:
        """Results that arrived at ``at``, dated by ``cache_age_seconds``, else ``timestamp``."""
        if payload.cache_age_seconds is not None:
            return cls(payload, at - max(0.0, payload.cache_age_seconds))
        if payload.timestamp is not None:
            return cls(payload, min(payload.timestamp, at))
        return cls(payload, at)


@dataclass
class Latest:
    """The latest result of each probe, as the probes leave it for readers.

    ``ready`` is the latest ``ready`` answer: the same as ``discovery`` when that is ready.
    """

    health: HealthResult | None = None
    discovery: DiscoveryResult | None = None
    discovery_started: float | None = None
    ready: ReadyResults | None = None
    integrity: IntegrityReport | None = None
    routes: dict[str, bool] = field(default_factory=dict)
    api_answered: bool | None = None
    queues: QueueState | None = None
    redis_up: bool | None = None
    last_heartbeat_at: float | None = None
    scorer: HealthScorer = field(default_factory=lambda: HealthScorer(20))


def _shown(latest: Latest, cache_ttl: float, now: float) -> tuple[DiscoveryPayload, float | None]:
    """The results users can get and when they were made; empty when there are none."""
    result, ready = latest.discovery, latest.ready
    if result is not None and result.state == "ready" and result.payload is not None:
        return result.payload, ready.made_at if ready is not None else None
    refreshing = result is not None and result.state == "queued"
    if refreshing and ready is not None and now - ready.made_at < REFRESH_TTLS * cache_ttl:
        return ready.payload, ready.made_at
    return DiscoveryPayload(), None


def _discovery_view(latest: Latest, config: ExporterConfig, now: float) -> DiscoveryView | None:
    result = latest.discovery
    if result is None and latest.discovery_started is None:
        return None
    seconds = result.duration_seconds if result is not None else 0.0
    started = latest.discovery_started
    if started is not None:
        # A probe still waiting counts as at least that slow: a hung platform shows at once.
        seconds = max(seconds, now - started)
    shown, made_at = _shown(latest, config.thresholds.cache_ttl_seconds, now)
    scores = [c.bms_score for c in shown.candidates]
    answer = result.payload if result is not None else None
    return DiscoveryView(
        state=result.state if result is not None else None,
        candidates=len(scores),
        quality_score=sum(scores) / len(scores) if scores else None,
        response_seconds=seconds,
        in_flight=started is not None,
        refreshing=result is not None and result.state == "queued",
        results_age_seconds=max(0.0, now - made_at) if made_at is not None else None,
        job_id=answer.job_id if answer else None,
        engine=shown.engine or (answer.engine if answer else None),
        failure=result.failure if result is not None else None,
    )


def _heartbeat_at(latest: Latest) -> float | None:
    """The latest heartbeat seen: the key's, else the last one read before it vanished."""
    state = latest.queues
    return (state.heartbeat_at if state is not None else None) or latest.last_heartbeat_at


def _queue_view(latest: Latest, now: float, failures_since: float) -> QueueView | None:
    state = latest.queues
    if state is None or not latest.redis_up:
        return None
    beat = _heartbeat_at(latest)
    ttl = state.cache_ttl_seconds
    return QueueView(
        jobs=state.jobs,
        queue_jobs=state.queue_jobs,
        oldest_queued_job_age_seconds=state.oldest_queued_age(now),
        worker_heartbeat_age_seconds=max(0.0, now - beat) if beat else None,
        lock_held=state.lock_held,
        cache_present=state.cache_ttl_seconds is not None,
        # JSON has no infinity: a cache that never expires has no TTL (None).
        cache_ttl_seconds=ttl if ttl is not None and math.isfinite(ttl) else None,
        last_run_status=state.last_run_status,
        last_job_failure_age_seconds=max(0.0, now - state.failed_at[0])
        if state.failed_at
        else None,
        job_failures=state.failures_by_exception(failures_since),
        workers=state.workers,
        memory_used_bytes=state.memory_used_bytes,
        memory_max_bytes=state.memory_max_bytes,
    )


def build_snapshot(latest: Latest, config: ExporterConfig, now: float) -> Snapshot:
    """Derive the snapshot from the latest probe results (pure: no I/O)."""
    health, discovery = latest.health, _discovery_view(latest, config, now)
    # The most recently finished core probe decides: an old discovery answer must not keep a
    # dead API "up" (the discovery probe runs every 60 s and may take 90 s).
    api_up = latest.api_answered
    status: Status | None = None
    reason = "not probed yet"
    if api_up is not None:
        queue = latest.queues if latest.redis_up else None
        heartbeat = _heartbeat_at(latest)
        status, reason = classify(api_up, health, queue, heartbeat, config.thresholds)
    report = latest.integrity
    return Snapshot(
        taken_at=now,
        status=status,
        status_reason=reason,
        api_up=api_up,
        redis_up=latest.redis_up,
        components=dict(health.components) if health is not None else {},
        health_scores=latest.scorer.scores(),
        health_score=latest.scorer.overall(),
        discovery=discovery,
        routes_up=dict(latest.routes),
        routes_missing=tuple(route for route, up in latest.routes.items() if not up),
        integrity=IntegrityView(
            checks=report.checks,
            ratio=report.ratio,
            mock_suspected=report.mock_suspected,
            reasons=report.reasons,
        )
        if report is not None
        else None,
        queue=_queue_view(latest, now, now - config.thresholds.cache_ttl_seconds),
    )
