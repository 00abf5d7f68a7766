"""Errors of the sandbox platform."""

from amc_core import config


class SandboxError(Exception):
    """Base class of the sandbox's errors."""


class ConfigError(SandboxError, config.ConfigError):
    """The sandbox configuration is invalid; the message names the field and the value."""


class FaultError(SandboxError):
    """A fault name or its options are invalid."""


class FaultConflict(FaultError):
    """A fault cannot be set in the platform's present state (already active, no worker)."""


class ProviderError(SandboxError):
    """A market-data provider call failed (the ``provider_down`` fault, by its ``kind``)."""


class ProviderUnavailable(ProviderError):
    """The provider answered 503 Service Unavailable."""


class ProviderRateLimited(ProviderError):
    """The provider answered 429 Too Many Requests."""


class ProviderAuthError(ProviderError):
    """The provider refused the platform's credentials (401 Unauthorized)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the platform's timeout."""


class OperationalError(SandboxError):
    """The database refused a connection (``database_down``), named as the platform's driver
    names it."""
