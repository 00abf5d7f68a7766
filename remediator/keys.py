"""The remediator's Redis key names, in one place (all under ``amc:remediator:``)."""

from __future__ import annotations

PREFIX = "amc:remediator:"
EXECUTIONS = PREFIX + "executions"
EPISODES_ACTIVE = PREFIX + "episodes:active"
EXECUTION_COUNTS = PREFIX + "metrics:executions"
UNVERIFIED_COUNTS = PREFIX + "metrics:unverified"
STATS = PREFIX + "stats"
AUDIT = PREFIX + "audit"
LOCK = PREFIX + "lock:disruptive"
MAINTENANCE = PREFIX + "lock:maintenance"
# Executions awaiting a person's approval: members ``<command>|<execution id>``, score their
# deadline.
AWAITING = PREFIX + "awaiting"
# Keys that no cache flush may touch when the platform shares our Redis, and whose they are.
PROTECTED = {PREFIX: "the remediator's own keys", "rq:": "RQ's keys"}


def claim(dedup_key: str) -> str:
    """The dedup claim of one firing episode."""
    return f"{PREFIX}claim:{dedup_key}"


def resolved(dedup_key: str) -> str:
    """The claim that an episode's resolution was recorded (MTTR counted once)."""
    return f"{PREFIX}resolved:{dedup_key}"


def episode(dedup_key: str) -> str:
    """The hash describing one firing episode."""
    return f"{PREFIX}episode:{dedup_key}"


def pending(command: str) -> str:
    """Set while an alert-triggered execution of ``command`` is queued and not started."""
    return f"{PREFIX}pending:{command}"


def cooldown(command: str) -> str:
    """Holds the end of ``command``'s cooldown; expires with it."""
    return f"{PREFIX}cooldown:{command}"


def circuit_open(command: str) -> str:
    """Holds the end of ``command``'s open circuit; expires with it."""
    return f"{PREFIX}circuit:open:{command}"


def circuit_seen(command: str) -> str:
    """Holds the end of ``command``'s open circuit as last seen (its close is audited once)."""
    return f"{PREFIX}circuit:seen:{command}"


def circuit_window(command: str) -> str:
    """Sorted set of alert-triggered executions of ``command`` (score: time)."""
    return f"{PREFIX}circuit:window:{command}"


def execution(execution_id: str) -> str:
    """The JSON record of one execution."""
    return f"{PREFIX}execution:{execution_id}"


def histogram(name: str) -> str:
    """A Redis-backed histogram written by workers."""
    return f"{PREFIX}metrics:{name}"
