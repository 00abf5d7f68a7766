"""The catalog of injectable faults: names, options, and the flags that live in Redis.

Where each fault lives decides what cures it: API-process faults (``api_latency``,
``api_errors``) and the worker-process fault (``worker_wedged``, see ``wedge.py``) end with
their process; data faults (``stuck_jobs``, ``mock_data``, see ``injections.py``) end when
their keys are gone; outages (``provider_down``, ``database_down``) and a miscalibrated
strategy (``low_quality``) stay until removed by hand, though switching the platform to
another strategy takes ``low_quality`` out of the results and out of the discovery routes'
latency (see ``discovery.strategy_degraded``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis import Redis

from amc_core.config import describe
from sandbox.config import Strategy
from sandbox.errors import FaultError
from sandbox.keys import FAULTS_KEY
from sandbox.logs import ProviderFailure


class FaultName(StrEnum):
    """Every fault the sandbox can inject."""

    WORKER_WEDGED = "worker_wedged"
    STUCK_JOBS = "stuck_jobs"
    MOCK_DATA = "mock_data"
    API_LATENCY = "api_latency"
    API_ERRORS = "api_errors"
    PROVIDER_DOWN = "provider_down"
    DATABASE_DOWN = "database_down"
    LOW_QUALITY = "low_quality"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoOptions(_Options):
    """A fault without options."""


class StuckJobsOptions(_Options):
    """Orphaned started jobs of a dead worker and a backdated backlog of queued jobs."""

    jobs: int = Field(3, ge=0, le=10_000)
    orphans: int = Field(2, ge=0, le=100)
    age_seconds: float = Field(3600.0, gt=0)


class MockDataOptions(_Options):
    """Which of the platform's known mock payloads to leave in the cache."""

    kind: Literal["demo", "fallback"] = "demo"


class ApiLatencyOptions(_Options):
    """Seconds added to every discovery response."""

    seconds: float = Field(gt=0, le=3600)


class ApiErrorsOptions(_Options):
    """The share of platform requests answered with a 5xx."""

    ratio: float = Field(gt=0, le=1)
    status: int = Field(500, ge=500, le=599)


Provider = Literal["polygon", "alpaca"]
PROVIDERS: tuple[str, ...] = get_args(Provider)
"""The platform's market-data providers (its /health components of the same names)."""


class ProviderDownOptions(_Options):
    """The market-data provider that fails, and how: 503s, 429s (rate limited), 401s (its
    credentials refused) or no answer in time."""

    provider: Provider
    kind: ProviderFailure = "unavailable"


class LowQualityOptions(_Options):
    """The strategy that goes bad (default: the active one when injected)."""

    strategy: Strategy | None = None


OPTIONS: dict[FaultName, type[_Options]] = {
    FaultName.WORKER_WEDGED: NoOptions,
    FaultName.STUCK_JOBS: StuckJobsOptions,
    FaultName.MOCK_DATA: MockDataOptions,
    FaultName.API_LATENCY: ApiLatencyOptions,
    FaultName.API_ERRORS: ApiErrorsOptions,
    FaultName.PROVIDER_DOWN: ProviderDownOptions,
    FaultName.DATABASE_DOWN: NoOptions,
    FaultName.LOW_QUALITY: LowQualityOptions,
}

CURES: dict[FaultName, str] = {
    FaultName.WORKER_WEDGED: "restart the discovery worker process (RESTART_RQ_WORKERS)",
    FaultName.STUCK_JOBS: "remove the stale and orphaned jobs (CLEAR_JOB_QUEUE)",
    FaultName.MOCK_DATA: (
        "delete the cache keys and run discovery (FLUSH_REDIS, INTEGRATE_REAL_DATA)"
    ),
    FaultName.API_LATENCY: "restart the API process (EMERGENCY_RESTART)",
    FaultName.API_ERRORS: "restart the API process (EMERGENCY_RESTART)",
    FaultName.PROVIDER_DOWN: "none: an outage of the provider; escalate to people",
    FaultName.DATABASE_DOWN: "none: an outage of the database; escalate to people",
    FaultName.LOW_QUALITY: "switch to a strategy that validates (VALIDATE_ALGORITHMS)",
}


def fault_name(name: str) -> FaultName:
    """The fault called ``name``, or FaultError listing the known ones."""
    try:
        return FaultName(name)
    except ValueError:
        known = ", ".join(f.value for f in FaultName)
        raise FaultError(f"unknown fault {name!r} (known: {known})") from None


def parse_fault(name: str, options: dict[str, Any] | None) -> tuple[FaultName, _Options]:
    """Validate a fault name and its options, or raise FaultError saying what is wrong."""
    fault = fault_name(name)
    try:
        return fault, OPTIONS[fault].model_validate(options or {})
    except ValidationError as exc:
        raise FaultError(describe(exc, source=fault.value)) from None


def record(conn: Redis, fault: FaultName, data: dict[str, Any]) -> None:
    """Keep a Redis-held fault's record (its options and what it injected)."""
    conn.hset(FAULTS_KEY, fault.value, json.dumps({"since": time.time(), **data}))


def read(conn: Redis, fault: FaultName) -> dict[str, Any] | None:
    """The record of a Redis-held fault, or None."""
    raw = conn.hget(FAULTS_KEY, fault.value)
    return None if raw is None else dict(json.loads(raw))


def forget(conn: Redis, fault: FaultName) -> None:
    """Drop a Redis-held fault's record."""
    conn.hdel(FAULTS_KEY, fault.value)


def provider_failures(conn: Redis) -> dict[str, str]:
    """Each provider the ``provider_down`` fault takes out, with how it fails."""
    found = read(conn, FaultName.PROVIDER_DOWN)
    if not found:
        return {}
    kinds = found.get("kinds", {})
    return {provider: kinds.get(provider, "unavailable") for provider in found["providers"]}


def database_down(conn: Redis) -> bool:
    """True while the ``database_down`` fault holds."""
    return read(conn, FaultName.DATABASE_DOWN) is not None


def degraded_strategies(conn: Redis) -> set[str]:
    """The strategies the ``low_quality`` fault has made go bad."""
    found = read(conn, FaultName.LOW_QUALITY)
    return set(found["strategies"]) if found else set()


@dataclass
class ApiFaults:
    """Faults held in the API process's memory: they end when the process does."""

    latency_seconds: float = 0.0
    error_ratio: float = 0.0
    error_status: int = 500
    _seen: dict[str, int] = field(default_factory=dict)

    def should_fail(self, route: str) -> bool:
        """Deterministically fail ``error_ratio`` of the requests to ``route`` so far."""
        if self.error_ratio <= 0:
            return False
        seen = self._seen.get(route, 0)
        self._seen[route] = seen + 1
        return int((seen + 1) * self.error_ratio) > int(seen * self.error_ratio)
