"""The exporter's errors. Probes never raise for the platform's sake: a failed probe is a result."""

from __future__ import annotations

from amc_core import config


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""


class ConfigError(ExporterError, config.ConfigError):
    """The configuration is unreadable or invalid; the message is one line naming the field."""
