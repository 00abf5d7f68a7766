"""Mock/fallback markers and plausibility: explicit markers and implausible data only."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exporter.config import IntegrityConfig
from exporter.integrity import CHECKS, FrozenTracker, check, markers
from exporter.platform_client import DiscoveryPayload
from tests.exporter.payloads import candidate, ready

CONFIG = IntegrityConfig()


def report(body: dict[str, Any], frozen_seconds: float | None = None) -> dict[str, bool]:
    return check(DiscoveryPayload.parse(body), CONFIG, frozen_seconds).checks


def failed(body: dict[str, Any]) -> set[str]:
    return {name for name, ok in report(body).items() if not ok}


CASES = [
    ("real results", ready(), set()),
    ("free text mentions test and sample", ready(
        [candidate("NVDA", 70.0, thesis="test sample demo fallback mock"), candidate("AMD", 60.0)]
    ), set()),
    ("symbol DEMO", ready([candidate("DEMO", 70.0), candidate("AMD", 60.0)]), {"no_mock_markers"}),
    ("stats.demo", ready(stats={"demo": True}), {"no_mock_markers"}),
    ("job_id emergency_demo", ready(job_id="emergency_demo"), {"no_mock_markers"}),
    ("job_id fallback_<ts>", ready(job_id="fallback_1760000000"), {"no_mock_markers"}),
    ("engine Fallback", ready(engine="Fallback Engine"), {"no_mock_markers"}),
    ("engine Demo", ready(engine="Emergency Demo Engine"), {"no_mock_markers"}),
    ("error_recovery", ready(error_recovery=True), {"no_mock_markers"}),
    ("identical scores", ready([candidate("AAPL", 75.0), candidate("MSFT", 75.0),
                                candidate("NVDA", 75.0)]), {"distinct_scores"}),
    ("most scores identical", ready([candidate("AAPL", 75.0), candidate("MSFT", 75.0),
                                     candidate("NVDA", 61.0)]), {"distinct_scores"}),
    ("two equal scores only", ready([candidate("AAPL", 75.0), candidate("MSFT", 75.0)]), set()),
    ("a tie among real scores", ready([candidate("AAPL", 75.0), candidate("MSFT", 75.0),
                                       candidate("NVDA", 61.0), candidate("F", 50.0)]), set()),
    ("one odd ticker among real ones", ready([candidate("BRK.B", 70.0), candidate("MSFT", 61.0),
                                              candidate("F", 55.0)]), set()),
    ("lower-case symbols", ready([candidate("aapl", 70.0), candidate("msft", 61.0),
                                  candidate("NVDA", 55.0)]), {"valid_symbols"}),
    ("six-letter symbols", ready([candidate("ABCDEF", 70.0), candidate("GHIJKL", 61.0)]),
     {"valid_symbols"}),
    ("score above 100", ready([candidate("AAPL", 170.0), candidate("MSFT", 61.0)]),
     {"scores_in_range"}),
    ("candidate without a score", ready([{"symbol": "AAPL"}, candidate("MSFT", 61.0)]),
     {"well_formed"}),
    ("one candidate only", ready([candidate("AAPL", 70.0)]), set()),
    ("no candidates", ready([]), set()),
    ("stats null", ready(stats=None), set()),
]  # fmt: skip


@pytest.mark.parametrize(("body", "failing"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_checks(body: dict[str, Any], failing: set[str]) -> None:
    assert failed(body) == failing
    result = check(DiscoveryPayload.parse(body), CONFIG)
    assert result.mock_suspected == bool(failing)


def test_the_original_demo_payload_is_caught_by_several_checks() -> None:
    body = ready([candidate("DEMO", 75.0)] * 3, job_id="emergency_demo", error_recovery=True,
                 engine="Emergency Demo Engine", stats={"demo": True})  # fmt: skip
    result = check(DiscoveryPayload.parse(body), CONFIG)
    assert result.checks["no_mock_markers"] is False
    assert result.checks["distinct_scores"] is False
    assert result.ratio == pytest.approx(3 / 5)
    assert len(markers(DiscoveryPayload.parse(body), CONFIG)) >= 5


def test_configured_markers_are_the_ones_used() -> None:
    config = IntegrityConfig(mock_symbols=("ZZZZ",), mock_engine_words=("Canned",))
    payload = DiscoveryPayload.parse(ready([candidate("ZZZZ", 70.0), candidate("DEMO", 60.0)],
                                           engine="Canned results"))  # fmt: skip
    assert markers(payload, config) == ["symbol ZZZZ", "engine Canned results"]


def test_a_stricter_symbol_pattern_score_range_and_share_apply() -> None:
    config = IntegrityConfig(
        symbol_pattern=r"^[A-Z]{2,4}$", min_score=50, max_score=80, implausible_share=0.25
    )
    payload = DiscoveryPayload.parse(ready([candidate("F", 70.0), candidate("MSFT", 45.0)]))
    checks = check(payload, config).checks
    assert checks["valid_symbols"] is False  # one of two is above the share of 0.25
    assert checks["scores_in_range"] is False
    assert check(payload, CONFIG).checks["valid_symbols"] is True  # "F" is plausible


def test_frozen_tracker_keeps_a_bounded_memory() -> None:
    tracker = FrozenTracker()
    for run in range(1000):
        tracker.observe(DiscoveryPayload.parse(ready(job_id=f"discovery_{run}")), float(run))
    assert len(tracker.job_ids) <= 2
    assert tracker.observe(DiscoveryPayload.parse(ready(job_id="discovery_x")), 2000.0) == 2000.0


def test_frozen_results_need_new_runs_with_identical_content() -> None:
    tracker, config = FrozenTracker(), IntegrityConfig(frozen_after_seconds=600)
    first = DiscoveryPayload.parse(ready(job_id="discovery_1"))
    assert tracker.observe(first, 1000.0) == 0.0
    # The same run served from cache for a long time is not frozen.
    assert tracker.observe(first, 5000.0) == 0.0
    again = DiscoveryPayload.parse(ready(job_id="discovery_2"))
    seconds = tracker.observe(again, 5000.0)
    assert seconds == 4000.0
    assert check(again, config, seconds).checks["not_frozen"] is False
    changed = DiscoveryPayload.parse(ready([candidate("AAPL", 70.0), candidate("MSFT", 60.1)],
                                           job_id="discovery_3"))  # fmt: skip
    assert tracker.observe(changed, 5100.0) == 0.0


def test_frozen_real_data_fails_its_check_but_is_not_suspected_as_mock() -> None:
    # Identical results after market hours are real: they must not lead to INTEGRATE_REAL_DATA.
    config = IntegrityConfig(frozen_after_seconds=600)
    result = check(DiscoveryPayload.parse(ready()), config, frozen_seconds=4000.0)
    assert result.checks["not_frozen"] is False
    assert result.mock_suspected is False
    assert result.ratio == 1.0
    assert any("unchanged" in reason for reason in result.reasons)


def test_frozen_check_is_off_when_configured_zero() -> None:
    config = IntegrityConfig(frozen_after_seconds=0)
    payload = DiscoveryPayload.parse(ready())
    assert check(payload, config, 10**6).checks["not_frozen"] is True


def test_every_check_is_in_the_catalog() -> None:
    assert set(report(ready(), frozen_seconds=0.0)) == set(CHECKS)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not an object"):
        DiscoveryPayload.parse(["AAPL"])


symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
theses = st.text(max_size=80)


@settings(deadline=None)  # a loaded CI machine must not turn a GC pause into a failure
@given(st.dictionaries(symbols, st.tuples(st.floats(0, 100), theses), min_size=2, max_size=30))
def test_real_looking_results_are_never_suspected_whatever_the_thesis(
    rows: dict[str, tuple[float, str]],
) -> None:
    scores = [score for score, _ in rows.values()]
    most = Counter(scores).most_common(1)[0][1]
    assume((len(scores) < 3 or 2 * most <= len(scores)) and "DEMO" not in rows)
    body = ready([candidate(s, score, thesis=text) for s, (score, text) in rows.items()])
    assert failed(body) == set()
