"""The exporter's errors: a small hierarchy so callers catch what they mean."""

from __future__ import annotations


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """The configuration is unreadable or invalid; the message is one line naming the field."""


class ProbeError(ExporterError):
    """A probe could not get its answer; ``reason`` is a bounded metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
