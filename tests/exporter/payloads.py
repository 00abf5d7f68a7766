"""Discovery payloads shaped like the real platform's, for the pure tests."""

from __future__ import annotations

from typing import Any


def candidate(symbol: str, score: float, **extra: Any) -> dict[str, Any]:
    """One candidate with every field the platform sends."""
    return {
        "symbol": symbol,
        "bms_score": score,
        "action": "TRADE_READY" if score >= 65 else "MONITOR",
        "confidence": round(score / 100, 2),
        "component_scores": {"volume_surge": 70.1, "price_momentum": 61.0,
                             "volatility_expansion": 55.2, "risk_filter": 80.0},
        "thesis": "Volume surge 3.1x with momentum above tested support level; sample size ok",
        "risk_level": "MEDIUM",
        "price": 12.5,
        "volume_surge": 3.1,
        "momentum_1d": 4.2,
        "atr_pct": 3.3,
        "dollar_volume": 25_000_000.0,
        **extra,
    }  # fmt: skip


def ready(candidates: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A 200 body of the discovery route with real-looking results."""
    rows = candidates if candidates is not None else [
        candidate("AAPL", 71.2), candidate("TSLA", 66.0), candidate("QS", 58.4),
        candidate("SOFI", 51.9), candidate("PLTR", 49.3), candidate("F", 47.7),
    ]  # fmt: skip
    return {
        "status": "ready",
        "count": len(rows),
        "candidates": rows,
        "engine": "BMS discovery (hybrid_v1)",
        "strategy": "hybrid_v1",
        "job_id": "discovery_1760000000",
        "cached": True,
        "cache_age_seconds": 12.0,
        "stats": {"universe": 600, "demo": False},
        **extra,
    }
