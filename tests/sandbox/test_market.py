"""The synthetic market: deterministic, plausible, and scored like the platform."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import market
from sandbox.config import STRATEGIES

SYMBOL = re.compile(r"^[A-Z]{1,5}$")
CANDIDATE_KEYS = {
    "symbol", "bms_score", "action", "confidence", "component_scores", "thesis", "risk_level",
    "price", "volume_surge", "momentum_1d", "atr_pct", "dollar_volume",
}  # fmt: skip


def test_same_seed_and_tick_give_identical_candidates() -> None:
    first = market.discover(market.snapshot(7, 600, 3), "hybrid_v1", 50)
    market.universe.cache_clear()
    second = market.discover(market.snapshot(7, 600, 3), "hybrid_v1", 50)
    assert first == second
    assert len(first) == 50


def test_other_seed_or_tick_gives_other_candidates() -> None:
    base = market.discover(market.snapshot(7, 600, 3), "hybrid_v1", 50)
    assert market.discover(market.snapshot(8, 600, 3), "hybrid_v1", 50) != base
    assert market.discover(market.snapshot(7, 600, 4), "hybrid_v1", 50) != base


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_universe_is_distinct_plausible_symbols(seed: int) -> None:
    listings = market.universe(seed, 500)
    symbols = [listing.symbol for listing in listings]
    assert len(set(symbols)) == 500
    assert all(SYMBOL.match(symbol) for symbol in symbols)
    assert all(listing.base_price > 0 and listing.avg_volume > 0 for listing in listings)


def test_candidates_have_the_platform_shape_and_thresholds() -> None:
    for strategy in STRATEGIES:
        candidates = market.discover(market.snapshot(42, 600, 0), strategy, 500)
        assert candidates, strategy
        for candidate in candidates:
            assert set(candidate) == CANDIDATE_KEYS
            assert set(candidate["component_scores"]) == {
                "volume_surge", "price_momentum", "volatility_expansion", "risk_filter",
            }  # fmt: skip
            assert 45 <= candidate["bms_score"] <= 100
            expected = "TRADE_READY" if candidate["bms_score"] >= 65 else "MONITOR"
            assert candidate["action"] == expected
        scores = [c["bms_score"] for c in candidates]
        assert scores == sorted(scores, reverse=True)
        assert len(set(scores)) > len(scores) // 2  # real scores are spread out


def test_strategies_rank_differently() -> None:
    quotes = market.snapshot(42, 600, 0)
    legacy = [c["symbol"] for c in market.discover(quotes, "legacy_v0", 20)]
    hybrid = [c["symbol"] for c in market.discover(quotes, "hybrid_v1", 20)]
    assert legacy != hybrid


def test_a_degraded_strategy_yields_one_low_scored_candidate() -> None:
    for tick in range(10):
        degraded = market.discover(market.snapshot(42, 600, tick), "legacy_v0", 50, degraded=True)
        assert len(degraded) == 1
        assert 45 <= degraded[0]["bms_score"] < 50
