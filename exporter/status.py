"""System status and health scores from probe results (pure).

Status is classified as the original agent did, with thresholds from configuration:
unreachable -> ``down``; response above the critical threshold or too few candidates ->
``critical``; response above the degraded threshold, fewer than the degraded minimum of
candidates, or ``/health`` not healthy -> ``degraded``; else ``healthy``.

A component's health score is the share (0-100) of the recent ``/health`` probes in which it
was ok; a probe that got no health report counts as every component down. The overall score is
the mean of the five.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from exporter.config import ThresholdsConfig
from exporter.platform import COMPONENTS

Status = Literal["healthy", "degraded", "critical", "down"]
STATUSES: tuple[Status, ...] = ("healthy", "degraded", "critical", "down")
"""Every value of the ``status`` label, best first."""


def classify(
    api_up: bool,
    response_seconds: float | None,
    candidates: int | None,
    health_ok: bool | None,
    thresholds: ThresholdsConfig,
) -> tuple[Status, str]:
    """The system status and why; ``None`` inputs (not probed yet) are left out."""
    if not api_up:
        return "down", "API unreachable"
    seconds = response_seconds or 0.0
    if seconds > thresholds.critical_response_seconds:
        return "critical", f"discovery took {seconds:.1f}s"
    if candidates is not None and candidates <= thresholds.critical_max_candidates:
        return "critical", f"{candidates} candidates"
    if seconds > thresholds.degraded_response_seconds:
        return "degraded", f"discovery took {seconds:.1f}s"
    if candidates is not None and candidates < thresholds.degraded_min_candidates:
        return "degraded", f"only {candidates} candidates"
    if health_ok is not True:
        return "degraded", "/health is not healthy"
    return "healthy", "all checks pass"


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
