"""The body of each catalog command, by name."""

from __future__ import annotations

from remediator.commands import (
    cache,
    checks,
    configuration,
    data,
    discovery,
    queue,
    validation,
    workers,
)
from remediator.commands.base import Command
from remediator.commands.catalog import CATALOG

_REGISTRY: dict[str, Command] = {
    "RESTART_DISCOVERY_SYSTEM": discovery.RESTART_DISCOVERY_SYSTEM,
    "INTEGRATE_REAL_DATA": data.INTEGRATE_REAL_DATA,
    "VALIDATE_ALGORITHMS": validation.VALIDATE_ALGORITHMS,
    "CLEAR_JOB_QUEUE": queue.CLEAR_JOB_QUEUE,
    "RESTART_RQ_WORKERS": workers.RESTART_RQ_WORKERS,
    "FLUSH_REDIS": cache.FLUSH_REDIS,
    "EMERGENCY_RESTART": discovery.EMERGENCY_RESTART,
    "UPDATE_CONFIGURATION": configuration.UPDATE_CONFIGURATION,
    **checks.COMMANDS,
}
assert set(_REGISTRY) == set(CATALOG), "every catalog command has a body"


def implementation(name: str) -> Command:
    """The body of a catalog command."""
    return _REGISTRY[name]
