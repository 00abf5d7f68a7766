"""FLUSH_REDIS: delete the platform's cache keys by configured patterns (SCAN + UNLINK)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

import redis

from remediator import keys
from remediator.commands.base import Command, Context, Verification

log = logging.getLogger(__name__)

BATCH = 500
_PROTECTED = tuple(prefix.encode() for prefix in keys.PROTECTED)


def _matching(conn: redis.Redis, pattern: str) -> Iterator[bytes]:
    """The keys matching ``pattern``, never ours nor RQ's (the config refuses patterns that
    could reach them; this holds whatever the config)."""
    for key in conn.scan_iter(match=pattern, count=BATCH):
        if key.startswith(_PROTECTED):
            log.warning("FLUSH_REDIS: %r matches protected key %r: kept", pattern, key)
            continue
        yield key


def _delete_matching(conn: redis.Redis, pattern: str) -> int:
    """UNLINK every key matching ``pattern``, a batch at a time; never FLUSHALL/FLUSHDB."""
    deleted = 0
    batch: list[bytes] = []
    for key in _matching(conn, pattern):
        batch.append(key)
        if len(batch) >= BATCH:
            deleted += int(conn.unlink(*batch))
            batch = []
    if batch:
        deleted += int(conn.unlink(*batch))
    return deleted


def _remaining(conn: redis.Redis, pattern: str) -> int:
    return sum(1 for _ in _matching(conn, pattern))


def run(ctx: Context) -> dict[str, Any]:
    """One step per configured pattern; the result counts the keys deleted."""
    conn = ctx.platform_redis()
    deleted: dict[str, int] = {}
    try:
        for pattern in ctx.config.platform.cache_patterns:
            deleted[pattern] = ctx.step(
                f"delete {pattern}", partial(_delete_matching, conn, pattern)
            )
    finally:
        conn.close()
    return {"deleted": deleted, "total": sum(deleted.values())}


def verify(ctx: Context) -> Verification:
    """No key matches any configured pattern any more."""
    conn = ctx.platform_redis()
    try:
        left = {p: _remaining(conn, p) for p in ctx.config.platform.cache_patterns}
    finally:
        conn.close()
    reason = "no key left" if not any(left.values()) else f"{sum(left.values())} keys left"
    return Verification(not any(left.values()), reason, {"keys_left": left})


FLUSH_REDIS = Command(run=run, verify=verify)
