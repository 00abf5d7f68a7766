"""The remediator's errors: a small hierarchy so callers catch what they mean."""

from __future__ import annotations

from typing import Any

import redis
from redis.exceptions import OutOfMemoryError, ReadOnlyError

from amc_core import config


class RemediatorError(Exception):
    """Base class of every error the remediator raises on purpose."""


class ConfigError(RemediatorError, config.ConfigError):
    """The configuration is unreadable or invalid; the message is one line naming the field."""


class PayloadError(RemediatorError):
    """A webhook payload is not valid JSON or not an Alertmanager message."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.value = value


class StoreUnavailable(RemediatorError):
    """Redis cannot be reached, so nothing can be made durable."""


def unavailable(exc: redis.RedisError) -> StoreUnavailable | None:
    """The 503 of a Redis error that says Redis cannot take the write now: unreachable, too
    slow, a read-only replica (after a failover), out of memory, refusing writes because it
    cannot persist (MISCONF) or lacks the replicas it must write to (NOREPLICAS). None for any
    other error, which is a bug (a 500)."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return StoreUnavailable(f"Redis unreachable: {exc}")
    refused = str(exc).startswith(("MISCONF", "NOREPLICAS"))
    if isinstance(exc, (ReadOnlyError, OutOfMemoryError)) or refused:
        return StoreUnavailable(f"Redis cannot take writes: {exc}")
    return None


class NotFound(RemediatorError):
    """The named command, execution or circuit does not exist."""


class Rejected(RemediatorError):
    """A request is well-formed but not allowed (disabled command, unknown parameter)."""


class Conflict(Rejected):
    """The execution is not in a state that allows the request (already answered, started)."""


class CommandFailed(RemediatorError):
    """A command's step failed; the execution record says which and why."""


class LockBusy(CommandFailed):
    """Another disruptive command holds the lock for longer than we may wait."""


class ActuatorFailed(RemediatorError):
    """An actuator ran and did not do what it must (exit status, HTTP status, no process)."""
