"""Setting, clearing and listing faults (the admin routes and ``amc-sandbox fault``)."""

from __future__ import annotations

from typing import Any

from redis import Redis

from sandbox import injections, wedge
from sandbox.config import SandboxConfig
from sandbox.discovery import active_strategy, strategy_degraded
from sandbox.errors import FaultConflict
from sandbox.faults import (
    CURES,
    ApiErrorsOptions,
    ApiFaults,
    ApiLatencyOptions,
    FaultName,
    LowQualityOptions,
    MockDataOptions,
    ProviderDownOptions,
    StuckJobsOptions,
    degraded_strategies,
    fault_name,
    forget,
    parse_fault,
    provider_failures,
    read,
    record,
)
from sandbox.keys import CANDIDATES_KEY, STATUS_KEY
from sandbox.redis_ops import heartbeat_age

SCOPES = {
    FaultName.WORKER_WEDGED: "worker process",
    FaultName.API_LATENCY: "api process",
    FaultName.API_ERRORS: "api process",
}


class FaultControl:
    """Faults of one sandbox: Redis-held ones and those of this API process's memory."""

    def __init__(self, conn: Redis, config: SandboxConfig, api: ApiFaults) -> None:
        self.conn = conn
        self.config = config
        self.api = api

    def set(self, name: str, options: dict[str, Any] | None) -> dict[str, Any]:
        """Inject a fault; raises FaultError on a bad name or options."""
        fault, parsed = parse_fault(name, options)
        detail: dict[str, Any] = {}
        if isinstance(parsed, ApiLatencyOptions):
            self.api.latency_seconds = parsed.seconds
        elif isinstance(parsed, ApiErrorsOptions):
            self.api.error_ratio, self.api.error_status = parsed.ratio, parsed.status
        elif isinstance(parsed, StuckJobsOptions):
            left = injections.stuck_jobs_left(self.conn)
            if left:
                message = f"stuck_jobs: already active ({len(left)} jobs left); clear it first"
                raise FaultConflict(message)
            detail["jobs"] = injections.inject_stuck_jobs(self.conn, self.config, parsed)
        elif isinstance(parsed, MockDataOptions):
            job_id = injections.write_mock_data(self.conn, self.config, parsed)
            record(self.conn, fault, {"job_id": job_id, "kind": parsed.kind})
        elif isinstance(parsed, ProviderDownOptions):
            kinds = {**provider_failures(self.conn), parsed.provider: parsed.kind}
            providers = sorted(kinds)
            record(self.conn, fault, {"providers": providers, "kinds": kinds})
            detail["providers"] = providers
        elif isinstance(parsed, LowQualityOptions):
            strategy = parsed.strategy or active_strategy(self.conn, self.config)
            strategies = sorted({*degraded_strategies(self.conn), strategy})
            record(self.conn, fault, {"strategies": strategies})
            detail["strategies"] = strategies
        elif fault is FaultName.DATABASE_DOWN:
            record(self.conn, fault, {})
        elif fault is FaultName.WORKER_WEDGED:
            self._require_live_worker()
            detail.update(wedge.request(self.conn))
        return {"name": fault.value, "options": parsed.model_dump(), **detail}

    def _require_live_worker(self) -> None:
        age = heartbeat_age(self.conn)
        fresh = max(3 * self.config.heartbeat_interval_seconds, 5.0)
        if age is None or age > fresh:
            seen = "no heartbeat" if age is None else f"heartbeat {age:.0f}s old"
            raise FaultConflict(f"worker_wedged: no running discovery worker to wedge ({seen})")

    def clear(self, name: str) -> dict[str, Any]:
        """Remove a fault by hand; raises FaultError on an unknown name."""
        fault = fault_name(name)
        if fault is FaultName.API_LATENCY:
            self.api.latency_seconds = 0.0
        elif fault is FaultName.API_ERRORS:
            self.api.error_ratio = 0.0
        elif fault is FaultName.WORKER_WEDGED:
            wedge.release_all(self.conn)
        elif fault is FaultName.STUCK_JOBS:
            injections.remove_stuck_jobs(self.conn)
        elif fault is FaultName.MOCK_DATA:
            if injections.mock_data_present(self.conn):
                self.conn.delete(CANDIDATES_KEY, STATUS_KEY)
            forget(self.conn, fault)
        else:
            forget(self.conn, fault)
        return {"name": fault.value, "cleared": True}

    def list(self) -> list[dict[str, Any]]:
        """Every fault with whether it is active now, where it lives and what cures it."""
        return [
            {
                "name": fault.value,
                "scope": SCOPES.get(fault, "redis"),
                "cure": CURES[fault],
                **self._state(fault),
            }
            for fault in FaultName
        ]

    def _state(self, fault: FaultName) -> dict[str, Any]:
        if fault is FaultName.API_LATENCY:
            return {"active": self.api.latency_seconds > 0, "seconds": self.api.latency_seconds}
        if fault is FaultName.API_ERRORS:
            return {"active": self.api.error_ratio > 0, "ratio": self.api.error_ratio}
        if fault is FaultName.WORKER_WEDGED:
            holders = wedge.holders(self.conn)
            return {"active": bool(holders), "holders": holders}
        if fault is FaultName.STUCK_JOBS:
            left = injections.stuck_jobs_left(self.conn)
            return {"active": bool(left), "jobs": left}
        if fault is FaultName.MOCK_DATA:
            return {"active": injections.mock_data_present(self.conn)}
        found = read(self.conn, fault)
        state: dict[str, Any] = {"active": found is not None, **(found or {})}
        if fault is FaultName.LOW_QUALITY and found is not None:
            state["affecting"] = strategy_degraded(self.conn, self.config)
        return state
