"""System status classification and health scores, with thresholds from configuration."""

from __future__ import annotations

import pytest

from exporter.config import ThresholdsConfig
from exporter.status import HealthScorer, classify

DEFAULT = ThresholdsConfig()

CASES = [
    # api_up, response seconds, candidates, /health ok -> status
    ("unreachable", False, 1.0, 20, True, "down"),
    ("unreachable beats everything", False, 100.0, 0, False, "down"),
    ("slower than 15 s", True, 15.5, 20, True, "critical"),
    ("no candidates", True, 1.0, 0, True, "critical"),
    ("slower than 5 s", True, 5.5, 20, True, "degraded"),
    ("fewer than 5 candidates", True, 1.0, 4, True, "degraded"),
    ("/health degraded", True, 1.0, 20, False, "degraded"),
    ("/health not probed yet", True, 1.0, 20, None, "degraded"),
    ("exactly 5 s is fine", True, 5.0, 5, True, "healthy"),
    ("healthy", True, 0.2, 50, True, "healthy"),
    ("discovery not probed yet", True, None, None, True, "healthy"),
]


@pytest.mark.parametrize(
    ("api_up", "seconds", "candidates", "health_ok", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_classify(
    api_up: bool, seconds: float | None, candidates: int | None, health_ok: bool | None,
    expected: str,
) -> None:  # fmt: skip
    status, reason = classify(api_up, seconds, candidates, health_ok, DEFAULT)
    assert status == expected
    assert reason


def test_thresholds_come_from_configuration() -> None:
    strict = ThresholdsConfig(
        degraded_response_seconds=1, critical_response_seconds=2,
        critical_max_candidates=10, degraded_min_candidates=30,
    )  # fmt: skip
    assert classify(True, 1.5, 50, True, strict)[0] == "degraded"
    assert classify(True, 2.5, 50, True, strict)[0] == "critical"
    assert classify(True, 0.1, 10, True, strict)[0] == "critical"
    assert classify(True, 0.1, 29, True, strict)[0] == "degraded"
    assert classify(True, 0.1, 29, True, DEFAULT)[0] == "healthy"


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
