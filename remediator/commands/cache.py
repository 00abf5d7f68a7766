"""FLUSH_REDIS: delete the platform's cache keys under the configured prefixes (SCAN + UNLINK)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import redis

from remediator import keys
from remediator.commands.base import Command, Context, Verification

log = logging.getLogger(__name__)

BATCH = 500
_PROTECTED = tuple(prefix.encode() for prefix in keys.PROTECTED)
_GLOB = re.compile(r"([*?\[\]\\])")


def match(prefix: str) -> str:
    """The SCAN MATCH pattern of the keys under ``prefix``: the prefix taken literally (its
    glob characters escaped), then ``*``."""
    return _GLOB.sub(r"\\\1", prefix) + "*"


def _under(conn: redis.Redis, prefix: str) -> Iterator[bytes]:
    """The keys under ``prefix``, never ours nor RQ's (the config refuses prefixes that reach
    them; this holds whatever the config)."""
    for key in conn.scan_iter(match=match(prefix), count=BATCH):
        if key.startswith(_PROTECTED):
            log.warning("FLUSH_REDIS: %r reaches protected key %r: kept", prefix, key)
            continue
        yield key


def _delete_under(conn: redis.Redis, prefix: str) -> int:
    """UNLINK every key under ``prefix``, a batch at a time; never FLUSHALL/FLUSHDB."""
    deleted = 0
    batch: list[bytes] = []
    for key in _under(conn, prefix):
        batch.append(key)
        if len(batch) >= BATCH:
            deleted += int(conn.unlink(*batch))
            batch = []
    if batch:
        deleted += int(conn.unlink(*batch))
    return deleted


def _remaining(conn: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in _under(conn, prefix))


def run(ctx: Context) -> dict[str, Any]:
    """One step per configured prefix; the result counts the keys deleted under each."""
    conn = ctx.platform_redis()
    deleted: dict[str, int] = {}
    try:
        for prefix in ctx.config.platform.cache_prefixes:
            deleted[prefix] = ctx.step(f"delete {prefix}*", partial(_delete_under, conn, prefix))
    finally:
        conn.close()
    return {"deleted": deleted, "total": sum(deleted.values())}


def verify(ctx: Context) -> Verification:
    """No key is left under any configured prefix."""
    conn = ctx.platform_redis()
    try:
        left = {p: _remaining(conn, p) for p in ctx.config.platform.cache_prefixes}
    finally:
        conn.close()
    reason = "no key left" if not any(left.values()) else f"{sum(left.values())} keys left"
    return Verification(not any(left.values()), reason, {"keys_left": left})


FLUSH_REDIS = Command(run=run, verify=verify)
