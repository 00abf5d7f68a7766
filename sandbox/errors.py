"""Errors of the sandbox platform."""


class SandboxError(Exception):
    """Base class of the sandbox's errors."""


class ConfigError(SandboxError):
    """The sandbox configuration is invalid; the message names the field and the value."""


class FaultError(SandboxError):
    """A fault name or its options are invalid."""


class FaultConflict(FaultError):
    """A fault cannot be set in the platform's present state (already active, no worker)."""


class ProviderUnavailable(SandboxError):
    """A market-data provider did not answer (the ``provider_down`` fault)."""
