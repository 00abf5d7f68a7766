"""The remediator's errors: a small hierarchy so callers catch what they mean."""

from __future__ import annotations

from typing import Any


class RemediatorError(Exception):
    """Base class of every error the remediator raises on purpose."""


class ConfigError(RemediatorError):
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


class NotFound(RemediatorError):
    """The named command, execution or circuit does not exist."""


class Rejected(RemediatorError):
    """A request is well-formed but not allowed (disabled command, unknown parameter)."""


class CommandFailed(RemediatorError):
    """A command's step failed; the execution record says which and why."""


class NotImplementedYet(CommandFailed):
    """The command is in the catalog but its body is not built yet (no fake success)."""


class LockBusy(CommandFailed):
    """Another disruptive command holds the lock for longer than we may wait."""


class ActuatorFailed(RemediatorError):
    """An actuator ran and did not do what it must (exit status, HTTP status, no process)."""
