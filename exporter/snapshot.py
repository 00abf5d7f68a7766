"""The exporter's view of the platform at one moment: typed, JSON-serialisable, derived only.

``Snapshot`` is what ``probes.probe_once`` returns to the remediator and what the metrics
collector renders; ``build_snapshot`` derives it from the latest probe results without I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from exporter.config import ExporterConfig
from exporter.integrity import IntegrityReport
from exporter.platform import DiscoveryResult, HealthResult
from exporter.queues import QueueState, WorkerCount
from exporter.status import HealthScorer, Status, classify


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoveryView(_Model):
    """The latest discovery probe as users would see it."""

    state: str | None
    candidates: int
    quality_score: float | None
    response_seconds: float
    in_flight: bool
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


@dataclass
class Latest:
    """The latest result of each probe, as the probes leave it for readers."""

    health: HealthResult | None = None
    discovery: DiscoveryResult | None = None
    discovery_started: float | None = None
    integrity: IntegrityReport | None = None
    routes: dict[str, bool] = field(default_factory=dict)
    api_answered: bool | None = None
    queues: QueueState | None = None
    redis_up: bool | None = None
    last_heartbeat_at: float | None = None
    scorer: HealthScorer = field(default_factory=lambda: HealthScorer(20))


def _discovery_view(latest: Latest, now: float) -> DiscoveryView | None:
    result = latest.discovery
    if result is None and latest.discovery_started is None:
        return None
    seconds = result.duration_seconds if result is not None else 0.0
    started = latest.discovery_started
    if started is not None:
        # A probe still waiting counts as at least that slow: a hung platform shows at once.
        seconds = max(seconds, now - started)
    payload = result.payload if result is not None else None
    ready = result is not None and result.state == "ready" and payload is not None
    scores = [c.bms_score for c in payload.candidates] if ready and payload else []
    return DiscoveryView(
        state=result.state if result is not None else None,
        candidates=len(scores),
        quality_score=sum(scores) / len(scores) if scores else None,
        response_seconds=seconds,
        in_flight=started is not None,
        job_id=payload.job_id if payload else None,
        engine=payload.engine if payload else None,
        failure=result.failure if result is not None else None,
    )


def _queue_view(latest: Latest, now: float) -> QueueView | None:
    state = latest.queues
    if state is None or not latest.redis_up:
        return None
    beat = state.heartbeat_at or latest.last_heartbeat_at
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
        workers=state.workers,
        memory_used_bytes=state.memory_used_bytes,
        memory_max_bytes=state.memory_max_bytes,
    )


def build_snapshot(latest: Latest, config: ExporterConfig, now: float) -> Snapshot:
    """Derive the snapshot from the latest probe results (pure: no I/O)."""
    health, discovery = latest.health, _discovery_view(latest, now)
    # The most recently finished core probe decides: an old discovery answer must not keep a
    # dead API "up" (the discovery probe runs every 60 s and may take 90 s).
    api_up = latest.api_answered
    health_ok = health.healthy if health is not None else None
    status: Status | None = None
    reason = "not probed yet"
    if api_up is not None:
        status, reason = classify(
            api_up,
            discovery.response_seconds if discovery else None,
            discovery.candidates if discovery and latest.discovery is not None else None,
            health_ok,
            config.thresholds,
        )
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
        queue=_queue_view(latest, now),
    )
