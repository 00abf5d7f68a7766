"""The discovery job, its cache, lock and status, as the platform's RQ worker runs them."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis import Redis
from rq import get_current_job

from sandbox import market, wedge
from sandbox.config import STRATEGIES, SandboxConfig, Strategy
from sandbox.faults import degraded_strategies, provider_failures
from sandbox.keys import CANDIDATES_KEY, LOCK_KEY, RUNTIME_CONFIG_KEY, STATUS_KEY
from sandbox.logs import log_provider_failure, provider_failure

log = logging.getLogger(__name__)

_settings = SandboxConfig()
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def configure(config: SandboxConfig) -> None:
    """Install the worker process's settings for the jobs it runs."""
    global _settings
    _settings = config


def market_tick(config: SandboxConfig, now: float) -> int:
    """The market snapshot in force at ``now`` (always 0 when the market is frozen)."""
    return 0 if config.market_tick_seconds == 0 else int(now // config.market_tick_seconds)


def active_strategy(conn: Redis, config: SandboxConfig) -> Strategy:
    """The scoring strategy from the runtime configuration, else the configured default."""
    raw = conn.hget(RUNTIME_CONFIG_KEY, "scoring_strategy")
    value = raw.decode() if isinstance(raw, bytes) else raw
    return value if value in STRATEGIES else config.scoring_strategy


def discovery_limit(conn: Redis, config: SandboxConfig) -> int:
    """The default number of candidates from the runtime configuration, else the configured."""
    raw = conn.hget(RUNTIME_CONFIG_KEY, "discovery_limit")
    try:
        return int(raw) if raw is not None else config.default_limit
    except ValueError:
        return config.default_limit


def runtime_settings(conn: Redis, config: SandboxConfig) -> dict[str, Any]:
    """The runtime settings the platform reads at each discovery."""
    return {
        "scoring_strategy": active_strategy(conn, config),
        "discovery_limit": discovery_limit(conn, config),
    }


def strategy_degraded(conn: Redis, config: SandboxConfig) -> bool:
    """True while the active strategy is one the ``low_quality`` fault degraded."""
    return active_strategy(conn, config) in degraded_strategies(conn)


def write_status(
    conn: Redis, config: SandboxConfig, status: str, job_id: str, **extra: Any
) -> None:
    """Record the latest job's status for the API (expires with the cache)."""
    record = {"status": status, "job_id": job_id, "updated_at": time.time(), **extra}
    conn.set(STATUS_KEY, json.dumps(record), ex=config.cache_ttl_seconds)


def new_job_id(conn: Redis, prefix: str, ts: float) -> str:
    """``<prefix>_<ts>``, or ``<prefix>_<ts>_<n>`` when a job already has that id."""
    base = f"{prefix}_{int(ts)}"
    job_id, n = base, 1
    while conn.exists(f"rq:job:{job_id}"):
        n += 1
        job_id = f"{base}_{n}"
    return job_id


def run_discovery(limit: int | None = None, strategy: str | None = None) -> dict[str, Any]:
    """The RQ job: score the market with the active strategy and cache the candidates."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_discovery runs inside an RQ job")
    conn, config = job.connection, _settings
    wedge.hang_if_wedged(conn)
    failing = provider_failures(conn)
    if failing:
        provider, kind = next(iter(sorted(failing.items())))
        error = provider_failure(provider, kind)
        write_status(conn, config, "failed", job.id, error=str(error))
        log_provider_failure(log, logging.ERROR, error)
        raise error
    if not conn.set(LOCK_KEY, job.id, nx=True, ex=config.lock_ttl_seconds):
        log.warning("discovery %s skipped: %s is held", job.id, LOCK_KEY)
        write_status(conn, config, "skipped", job.id, reason="locked")
        return {"status": "skipped", "reason": "locked", "job_id": job.id}
    try:
        return _discover(conn, config, job.id, limit, strategy)
    finally:
        conn.eval(_RELEASE_LOCK, 1, LOCK_KEY, job.id)


def _discover(
    conn: Redis, config: SandboxConfig, job_id: str, limit: int | None, strategy: str | None
) -> dict[str, Any]:
    write_status(conn, config, "running", job_id)
    started = time.time()
    chosen = strategy if strategy in STRATEGIES else active_strategy(conn, config)
    quotes = market.snapshot(config.seed, config.universe_size, market_tick(config, started))
    degraded = chosen in degraded_strategies(conn)
    candidates = market.discover(quotes, chosen, limit or discovery_limit(conn, config), degraded)
    if degraded:  # a strategy gone bad scans badly: the run is measurably slower
        time.sleep(config.degraded_strategy_job_delay_seconds)
    duration = round(time.time() - started, 3)
    result = {
        "candidates": candidates,
        "count": len(candidates),
        "engine": f"BMS discovery ({chosen})",
        "strategy": chosen,
        "job_id": job_id,
        "timestamp": started,
        "duration_seconds": duration,
        "universe_size": config.universe_size,
        "stats": {"universe": len(quotes), "demo": False},
    }
    conn.set(CANDIDATES_KEY, json.dumps(result), ex=config.cache_ttl_seconds)
    write_status(conn, config, "finished", job_id, count=len(candidates))
    log.info("discovery %s finished: %d candidates with %s", job_id, len(candidates), chosen)
    return {
        "status": "finished", "count": len(candidates), "strategy": chosen, "job_id": job_id,
        "duration_seconds": duration,
    }  # fmt: skip
