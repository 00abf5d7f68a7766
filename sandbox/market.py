"""Deterministic synthetic market data and the platform's two scoring strategies.

The universe depends on the seed alone; each market tick (a snapshot of the trading day)
on the seed and the tick. Same seed and tick, same candidates.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandbox.config import Strategy

TRADE_READY_SCORE = 65.0
MONITOR_SCORE = 45.0
MIN_DOLLAR_VOLUME = 1_000_000.0
# A miscalibrated strategy (the ``low_quality`` fault) squashes every score: only the
# strongest name still clears the monitor threshold, and only just.
DEGRADED_TOP_SCORE = 46.5


@dataclass(frozen=True)
class Listing:
    """A symbol of the universe with its slow-moving traits."""

    symbol: str
    base_price: float
    avg_volume: float
    base_atr_pct: float


@dataclass(frozen=True)
class Quote:
    """One symbol in one market tick."""

    listing: Listing
    price: float
    volume_surge: float
    momentum_1d: float
    atr_pct: float

    @property
    def dollar_volume(self) -> float:
        return self.price * self.listing.avg_volume * self.volume_surge


@lru_cache(maxsize=8)
def universe(seed: int, size: int) -> tuple[Listing, ...]:
    """``size`` distinct listings, 1-5 capital letters each, from ``seed``."""
    rng = random.Random(f"universe:{seed}")
    symbols: dict[str, None] = {}
    while len(symbols) < size:
        length = rng.choices((1, 2, 3, 4, 5), weights=(1, 4, 30, 50, 15))[0]
        symbols.setdefault("".join(rng.choices(string.ascii_uppercase, k=length)))
    return tuple(
        Listing(
            symbol=symbol,
            base_price=round(math.exp(rng.gauss(2.6, 1.0)), 2),
            avg_volume=round(math.exp(rng.gauss(13.5, 1.3))),
            base_atr_pct=round(math.exp(rng.gauss(1.3, 0.4)), 2),
        )
        for symbol in symbols
    )


def snapshot(seed: int, size: int, tick: int) -> list[Quote]:
    """The market at ``tick``: prices, volume surges, momentum and ranges of every listing."""
    rng = random.Random(f"tick:{seed}:{tick}")
    quotes = []
    for listing in universe(seed, size):
        momentum = rng.gauss(0.0, 2.5) + (rng.random() < 0.05) * rng.gauss(6.0, 4.0)
        quotes.append(
            Quote(
                listing=listing,
                price=round(max(0.2, listing.base_price * (1 + momentum / 100)), 2),
                volume_surge=round(math.exp(rng.gauss(0.0, 0.55)), 2),
                momentum_1d=round(momentum, 2),
                atr_pct=round(listing.base_atr_pct * math.exp(rng.gauss(0.0, 0.35)), 2),
            )
        )
    return quotes


def _clip(value: float) -> float:
    return max(0.0, min(100.0, value))


def component_scores(quote: Quote) -> dict[str, float]:
    """The four BMS components of a quote, each 0-100."""
    tradable = 1.0 <= quote.price <= 100.0 and quote.dollar_volume >= 5 * MIN_DOLLAR_VOLUME
    return {
        "volume_surge": round(_clip((quote.volume_surge - 1.0) * 45.0), 2),
        "price_momentum": round(_clip(50.0 + quote.momentum_1d * 7.0), 2),
        "volatility_expansion": round(_clip(quote.atr_pct / quote.listing.base_atr_pct * 55.0), 2),
        "risk_filter": 100.0 if tradable else 35.0,
    }


_WEIGHTS: dict[Strategy, dict[str, float]] = {
    "legacy_v0": {
        "volume_surge": 0.40,
        "price_momentum": 0.30,
        "volatility_expansion": 0.20,
        "risk_filter": 0.10,
    },
    "hybrid_v1": {
        "volume_surge": 0.35,
        "price_momentum": 0.25,
        "volatility_expansion": 0.20,
        "risk_filter": 0.20,
    },
}


def bms_score(components: dict[str, float], strategy: Strategy) -> float:
    """The weighted BMS score of a strategy; hybrid_v1 rewards volume confirmed by momentum."""
    score = sum(components[name] * weight for name, weight in _WEIGHTS[strategy].items())
    confirmed = components["volume_surge"] > 40 and components["price_momentum"] > 60
    if strategy == "hybrid_v1" and confirmed:
        score += 8.0
    return min(score, 100.0)


def discover(
    quotes: list[Quote], strategy: Strategy, limit: int, degraded: bool = False
) -> list[dict[str, Any]]:
    """Score every liquid quote and return the best candidates (score >= 45), best first."""
    liquid = [q for q in quotes if q.dollar_volume >= MIN_DOLLAR_VOLUME and q.price >= 0.5]
    scored = [(bms_score(component_scores(q), strategy), q) for q in liquid]
    factor = 1.0
    if degraded and scored:
        factor = DEGRADED_TOP_SCORE / max(score for score, _ in scored)
    results = [
        candidate(quote, component_scores(quote), round(score * factor, 2))
        for score, quote in scored
        if round(score * factor, 2) >= MONITOR_SCORE
    ]
    results.sort(key=lambda c: (-c["bms_score"], c["symbol"]))
    return results[: 1 if degraded else limit]


def candidate(quote: Quote, components: dict[str, float], score: float) -> dict[str, Any]:
    """A candidate in the platform's shape."""
    atr = quote.atr_pct
    support = round(quote.price * (1 - atr / 100), 2)
    return {
        "symbol": quote.listing.symbol,
        "bms_score": score,
        "action": "TRADE_READY" if score >= TRADE_READY_SCORE else "MONITOR",
        "confidence": round(min(1.0, score / 100), 3),
        "component_scores": components,
        "thesis": (
            f"{quote.listing.symbol}: volume {quote.volume_surge:.1f}x average, "
            f"{quote.momentum_1d:+.1f}% on the day, ATR {atr:.1f}%; tested support near ${support}"
        ),
        "risk_level": "HIGH" if atr >= 6 else "MEDIUM" if atr >= 3 else "LOW",
        "price": quote.price,
        "volume_surge": quote.volume_surge,
        "momentum_1d": quote.momentum_1d,
        "atr_pct": atr,
        "dollar_volume": round(quote.dollar_volume, 2),
    }
