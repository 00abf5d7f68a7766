"""System status from the platform's machinery, and health scores (pure).

The status is the evidence of the platform's machinery alone (docs/architecture.md, "Metrics"),
never the candidate count or the discovery latency: those are the two other signals of the
two-of-three decision rules, and a status derived from them would count one symptom twice.

- ``down``: the API did not answer the latest core probe;
- ``critical``: ``/health`` fails ``redis`` or ``database``, or answers without a health
  report (the API is broken); no live discovery worker (no heartbeat, or one older than
  ``DEAD_HEARTBEATS`` intervals); the oldest queued discovery job is older than the job
  timeout;
- ``degraded``: another ``/health`` component fails (``polygon``, ``alpaca``, ``env``); a
  late heartbeat (older than ``LATE_HEARTBEATS`` intervals); discovery jobs failing (the
  platform's last run failed, or jobs entered RQ's failed registry within the cache TTL);
- ``healthy``: none of these.

What was not read (``/health`` unanswered, Redis unreadable) is evidence of nothing. The
heartbeat is judged by its age when Redis was read, not when the status is asked for, so a
heartbeat faster than the queue probe never looks late. The reason names every signal of
the deciding level.

A component's health score is the share (0-100) of the recent ``/health`` probes in which it
was ok; a probe that got no health report counts as every component down. The overall score is
the mean of the five.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from exporter.config import ThresholdsConfig
from exporter.platform_client import COMPONENTS, HealthResult
from exporter.queues import FAILED_SCAN, QueueState

Status = Literal["healthy", "degraded", "critical", "down"]
STATUSES: tuple[Status, ...] = ("healthy", "degraded", "critical", "down")
"""Every value of the ``status`` label, best first."""

CRITICAL_COMPONENTS: tuple[str, ...] = ("redis", "database")
"""``/health`` components without which nothing works; any other failing one degrades."""
LATE_HEARTBEATS = 2
"""Heartbeat intervals after which the discovery worker is late (``degraded``)."""
DEAD_HEARTBEATS = 3
"""Heartbeat intervals after which no discovery worker is alive (``critical``)."""

Signals = tuple[list[str], list[str]]
"""Critical and degraded signals, each as the words of the status reason."""


def classify(
    api_up: bool,
    health: HealthResult | None,
    queue: QueueState | None,
    heartbeat_at: float | None,
    thresholds: ThresholdsConfig,
) -> tuple[Status, str]:
    """The system status and the signals that decided it.

    ``health`` is the latest ``/health`` probe, ``queue`` the latest Redis read (None when it
    failed), ``heartbeat_at`` the latest heartbeat the exporter has seen.
    """
    if not api_up:
        return "down", "API unreachable"
    critical, degraded = _health_signals(health)
    if queue is not None:
        more_critical, more_degraded = _queue_signals(queue, heartbeat_at, thresholds)
        critical, degraded = critical + more_critical, degraded + more_degraded
    if critical:
        return "critical", "; ".join(critical)
    if degraded:
        return "degraded", "; ".join(degraded)
    unread = [
        what for what, gone in (("/health", _unread(health)), ("Redis", queue is None)) if gone
    ]
    return "healthy", "all checks pass" + (f" (not read: {', '.join(unread)})" if unread else "")


def _unread(health: HealthResult | None) -> bool:
    return health is None or not health.answered


def _health_signals(health: HealthResult | None) -> Signals:
    if health is None or not health.answered:
        return [], []
    if health.healthy is None:
        return [f"/health answered HTTP {health.http_status} without a health report"], []
    failing = sorted(name for name, ok in health.components.items() if not ok)
    critical = [f"{name} failing in /health" for name in failing if name in CRITICAL_COMPONENTS]
    degraded = [f"{name} failing in /health" for name in failing if name not in CRITICAL_COMPONENTS]
    return critical, degraded


def _queue_signals(
    queue: QueueState, heartbeat_at: float | None, thresholds: ThresholdsConfig
) -> Signals:
    critical: list[str] = []
    degraded: list[str] = []
    interval, now = thresholds.heartbeat_interval_seconds, queue.read_at
    if heartbeat_at is None:
        critical.append("no discovery worker heartbeat")
    else:
        age = now - heartbeat_at
        if age > DEAD_HEARTBEATS * interval:
            critical.append(
                f"discovery worker heartbeat {age:.1f}s old (dead after"
                f" {DEAD_HEARTBEATS * interval:g}s)"
            )
        elif age > LATE_HEARTBEATS * interval:
            degraded.append(
                f"discovery worker heartbeat {age:.1f}s old (late after"
                f" {LATE_HEARTBEATS * interval:g}s)"
            )
    waited, timeout = queue.oldest_queued_age(now), thresholds.job_timeout_seconds
    if waited > timeout:
        critical.append(f"a discovery job queued {waited:.0f}s ago (job timeout {timeout:g}s)")
    if queue.last_run_status == "failed":
        degraded.append("the platform's last discovery run failed")
    ttl = thresholds.cache_ttl_seconds
    failed = queue.failures_since(now - ttl)
    if failed:
        many = "+" if failed == FAILED_SCAN else ""
        degraded.append(f"discovery jobs failing ({failed}{many} failed in the last {ttl:g}s)")
    return critical, degraded


class HealthScorer:
    """Per-component health scores over a window of recent ``/health`` probes."""

    def __init__(self, window: int) -> None:
        self._reports: deque[dict[str, bool]] = deque(maxlen=window)

    def observe(self, components: dict[str, bool] | None) -> None:
        """Record one probe's component flags (None: no health report at all)."""
        self._reports.append(dict(components or {}))

    def scores(self) -> dict[str, float]:
        """Score 0-100 of each of the five components (empty before the first probe)."""
        if not self._reports:
            return {}
        n = len(self._reports)
        return {c: 100.0 * sum(r.get(c, False) for r in self._reports) / n for c in COMPONENTS}

    def overall(self) -> float | None:
        """The mean of the five component scores (None before the first probe)."""
        scores = self.scores()
        return sum(scores.values()) / len(scores) if scores else None
