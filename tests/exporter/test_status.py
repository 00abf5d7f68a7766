"""System status from the platform's machinery (never candidates or latency), and health scores."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import ThresholdsConfig
from exporter.platform_client import COMPONENTS, HealthResult
from exporter.queues import FAILED_SCAN, FailedJob, QueueState
from exporter.status import HealthScorer, classify

NOW = 1_800_000_000.0
DEFAULT = ThresholdsConfig()  # heartbeat every 30 s, job timeout 900 s, cache TTL 600 s
NO_JOBS = dict.fromkeys(("queued", "started", "failed", "deferred", "scheduled", "finished"), 0)


def health(status: int | None = 200, **failing: bool) -> HealthResult:
    """A /health probe: HTTP ``status`` with the five components, those named failing."""
    if status is None:
        return HealthResult(duration_seconds=10.0, failure="timeout")
    components = {c: not failing.get(c, False) for c in COMPONENTS}
    return HealthResult(
        duration_seconds=0.01, http_status=status, components=components,
        healthy=status == 200 and all(components.values()),
    )  # fmt: skip


def broken(status: int = 500) -> HealthResult:
    """/health answering without a health report: the API itself is broken."""
    return HealthResult(duration_seconds=0.01, http_status=status, failure="status")


def queue(**fields: Any) -> QueueState:
    """A Redis read at NOW of a platform whose machinery works, with ``fields`` changed."""
    base: dict[str, Any] = {
        "read_at": NOW, "jobs": NO_JOBS, "queue_jobs": {"amc_discovery": NO_JOBS},
        "oldest_queued_at": None, "heartbeat_at": NOW - 10, "lock_held": False,
        "cache_ttl_seconds": 300.0, "last_run_status": "finished", "workers": (),
        "memory_used_bytes": 1, "memory_max_bytes": 0, "failed_jobs": (),
    }  # fmt: skip
    return QueueState.model_validate({**base, **fields})


def failures(*times: float) -> tuple[FailedJob, ...]:
    """Failed discovery jobs that failed at ``times``."""
    return tuple(FailedJob(at=at, exception="other") for at in times)


FINE = queue()

CASES: list[tuple[str, bool, HealthResult | None, QueueState | None, float | None, str, str]] = [
    # why, api up, /health, Redis read, heartbeat at -> status, words of the reason
    ("all machinery works", True, health(), FINE, NOW - 10, "healthy", "all checks pass"),
    ("unreachable API", False, health(), FINE, NOW - 10, "down", "API unreachable"),
    ("unreachable beats everything", False, broken(), None, None, "down", "API unreachable"),
    ("database failing", True, health(503, database=True), FINE, NOW - 10, "critical",
     "database failing in /health"),
    ("redis failing", True, health(503, redis=True), FINE, NOW - 10, "critical",
     "redis failing in /health"),
    ("/health without a health report", True, broken(502), FINE, NOW - 10, "critical",
     "/health answered HTTP 502 without a health report"),
    ("no heartbeat at all", True, health(), FINE, None, "critical",
     "no discovery worker heartbeat"),
    ("heartbeat older than 3 intervals", True, health(), FINE, NOW - 91, "critical",
     "discovery worker heartbeat 91.0s old (dead after 90s)"),
    ("a job queued longer than the job timeout", True, health(),
     queue(oldest_queued_at=NOW - 901), NOW - 10, "critical",
     "a discovery job queued 901s ago (job timeout 900s)"),
    ("polygon failing", True, health(503, polygon=True), FINE, NOW - 10, "degraded",
     "polygon failing in /health"),
    ("alpaca failing", True, health(503, alpaca=True), FINE, NOW - 10, "degraded",
     "alpaca failing in /health"),
    ("env failing", True, health(503, env=True), FINE, NOW - 10, "degraded",
     "env failing in /health"),
    ("heartbeat older than 2 intervals", True, health(), FINE, NOW - 61, "degraded",
     "discovery worker heartbeat 61.0s old (late after 60s)"),
    ("the last run failed", True, health(), queue(last_run_status="failed"), NOW - 10,
     "degraded", "the platform's last discovery run failed"),
    ("a job failed within the cache TTL", True, health(), queue(failed_jobs=failures(NOW - 599)),
     NOW - 10, "degraded", "discovery jobs failing (1 failed in the last 600s)"),
    ("the newest few failures read are all recent", True, health(),
     queue(failed_jobs=failures(*(NOW - s for s in range(FAILED_SCAN)))), NOW - 10, "degraded",
     f"({FAILED_SCAN}+ failed in the last 600s)"),
    ("critical beats degraded, every critical signal named", True,
     health(503, polygon=True, database=True), queue(oldest_queued_at=NOW - 1000), None,
     "critical", "database failing in /health; no discovery worker heartbeat; a discovery job"),
    # Edges that are fine.
    ("heartbeat exactly 2 intervals old", True, health(), FINE, NOW - 60, "healthy", "all"),
    ("a job queued exactly the job timeout ago", True, health(),
     queue(oldest_queued_at=NOW - 900), NOW - 10, "healthy", "all checks pass"),
    ("a failure older than the cache TTL", True, health(), queue(failed_jobs=failures(NOW - 601)),
     NOW - 10, "healthy", "all checks pass"),
    ("a run in progress after failures", True, health(), queue(last_run_status="running"),
     NOW - 10, "healthy", "all checks pass"),
    # What was not read is evidence of nothing.
    ("/health timed out", True, health(None), FINE, NOW - 10, "healthy",
     "all checks pass (not read: /health)"),
    ("Redis unreadable", True, health(), None, None, "healthy",
     "all checks pass (not read: Redis)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("api_up", "report", "state", "beat", "expected", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_classify(
    api_up: bool, report: HealthResult | None, state: QueueState | None, beat: float | None,
    expected: str, words: str,
) -> None:  # fmt: skip
    status, reason = classify(api_up, report, state, beat, DEFAULT)
    assert (status, words in reason) == (expected, True), reason


def test_the_heartbeat_is_judged_at_the_read_not_at_the_question() -> None:
    # A heartbeat 10 s old when Redis was read, asked about 100 s later (Redis not read since:
    # a slow queue probe), is not a dead worker.
    state = queue(read_at=NOW - 100, heartbeat_at=NOW - 110)
    assert classify(True, health(), state, state.heartbeat_at, DEFAULT)[0] == "healthy"


def test_thresholds_come_from_configuration() -> None:
    fast = ThresholdsConfig(heartbeat_interval_seconds=1, job_timeout_seconds=30,
                            cache_ttl_seconds=20)  # fmt: skip
    assert classify(True, health(), FINE, NOW - 2.5, fast) == (
        "degraded", "discovery worker heartbeat 2.5s old (late after 2s)",
    )  # fmt: skip
    assert classify(True, health(), FINE, NOW - 3.5, fast)[0] == "critical"
    stuck = queue(oldest_queued_at=NOW - 31)
    assert classify(True, health(), stuck, NOW, fast)[0] == "critical"
    assert classify(True, health(), stuck, NOW, DEFAULT)[0] == "healthy"
    failed = queue(failed_jobs=failures(NOW - 21))
    assert classify(True, health(), failed, NOW, fast)[0] == "healthy"
    assert classify(True, health(), failed, NOW, DEFAULT)[0] == "degraded"


def test_health_scores_are_shares_of_recent_probes() -> None:
    scorer = HealthScorer(window=4)
    assert scorer.scores() == {}
    assert scorer.overall() is None
    ok = dict.fromkeys(("env", "database", "redis", "polygon", "alpaca"), True)
    scorer.observe(ok)
    scorer.observe({**ok, "polygon": False})
    scorer.observe(None)  # no health report at all: everything counts as down
    scorer.observe({**ok, "polygon": False})
    scores = scorer.scores()
    assert scores["env"] == 75.0
    assert scores["polygon"] == 25.0
    assert scorer.overall() == pytest.approx((75 * 4 + 25) / 5)
    for _ in range(4):  # the window forgets
        scorer.observe(ok)
    assert scorer.overall() == 100.0
