"""The seven commands whose bodies come with the next issue: they fail, clearly, never fake."""

from __future__ import annotations

from typing import Any, NoReturn

from remediator.commands.base import Command, Context
from remediator.errors import NotImplementedYet

DEFERRED = (
    "RESTART_DISCOVERY_SYSTEM",
    "INTEGRATE_REAL_DATA",
    "VALIDATE_ALGORITHMS",
    "CLEAR_JOB_QUEUE",
    "RESTART_RQ_WORKERS",
    "EMERGENCY_RESTART",
    "UPDATE_CONFIGURATION",
)


def _not_implemented(ctx: Context) -> NoReturn:
    raise NotImplementedYet(f"{ctx.record.command} is not implemented yet")


def _never_verified(ctx: Context) -> bool:
    return False


def command() -> Command:
    """The stand-in body: fails with a 'not implemented yet' error."""
    run: Any = _not_implemented
    return Command(run=run, verify=_never_verified)
