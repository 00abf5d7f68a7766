"""The command catalog: names, priorities, timeouts and parameters (contract from the seed)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Priority(StrEnum):
    """Queue priority; the worker listens to the queues in this order."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


PRIORITY_ORDER: tuple[Priority, ...] = (
    Priority.CRITICAL,
    Priority.HIGH,
    Priority.MEDIUM,
    Priority.LOW,
)


@dataclass(frozen=True)
class CommandSpec:
    """One catalog entry: what the command is and how it is scheduled by default."""

    name: str
    priority: Priority
    timeout_seconds: int
    disruptive: bool
    summary: str
    parameters: frozenset[str] = frozenset()


_SPECS = (
    CommandSpec(
        "RESTART_DISCOVERY_SYSTEM", Priority.CRITICAL, 300, True,
        "clear job queue, restart RQ workers, flush discovery cache, run discovery",
    ),
    CommandSpec(
        "INTEGRATE_REAL_DATA", Priority.HIGH, 180, True,
        "check providers, drop mock/fallback results, run fresh discovery, validate",
    ),
    CommandSpec(
        "VALIDATE_ALGORITHMS", Priority.MEDIUM, 120, False,
        "run discovery with each strategy, validate outputs, apply the best",
        frozenset({"apply_best"}),
    ),
    CommandSpec(
        "CLEAR_JOB_QUEUE", Priority.HIGH, 60, True,
        "remove stale queued jobs, requeue or fail orphaned started jobs",
    ),
    CommandSpec(
        "RESTART_RQ_WORKERS", Priority.CRITICAL, 90, True,
        "kill-horse and shutdown over Redis, restart actuator, wait for heartbeats",
    ),
    CommandSpec("HEALTH_CHECK", Priority.MEDIUM, 60, False, "run every probe once and report"),
    CommandSpec(
        "FLUSH_REDIS", Priority.HIGH, 30, True,
        "delete the keys under the configured cache prefixes with SCAN + UNLINK",
    ),
    CommandSpec("VALIDATE_ENDPOINTS", Priority.LOW, 45, False, "check every expected route"),
    CommandSpec(
        "EMERGENCY_RESTART", Priority.CRITICAL, 600, True,
        "the restart sequence plus the API restart actuator, then full validation",
    ),
    CommandSpec(
        "UPDATE_CONFIGURATION", Priority.MEDIUM, 30, False,
        "apply validated runtime settings and record before/after",
        frozenset({"strategy", "limit"}),
    ),
)  # fmt: skip

CATALOG: dict[str, CommandSpec] = {spec.name: spec for spec in _SPECS}


def spec(name: str) -> CommandSpec:
    """The catalog entry of ``name``; KeyError when it is not a catalog command."""
    return CATALOG[name]
