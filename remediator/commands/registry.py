"""The body of each catalog command, by name."""

from __future__ import annotations

from remediator.commands import cache, checks, deferred
from remediator.commands.base import Command
from remediator.commands.catalog import CATALOG

_REGISTRY: dict[str, Command] = {"FLUSH_REDIS": cache.FLUSH_REDIS, **checks.COMMANDS}
for _name in CATALOG:
    _REGISTRY.setdefault(_name, deferred.command())


def implementation(name: str) -> Command:
    """The body of a catalog command."""
    return _REGISTRY[name]
