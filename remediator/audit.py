"""The audit trail: every decision and execution event in a bounded Redis stream and the log."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

import redis

from amc_core import logs
from amc_core.logs import RawJson
from remediator import keys
from remediator.pipelines import after_execute

log = logging.getLogger(__name__)


def append(
    pipe: redis.client.Pipeline, event: str, fields: dict[str, Any], max_len: int
) -> dict[str, Any]:
    """Queue one audit entry on ``pipe``; it is logged once the pipeline has executed.

    A transaction lost to a WATCH conflict or to an unreachable Redis logs nothing, so the
    log never holds an entry that the stream does not.
    """
    entry = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    data = {"event": event, "data": json.dumps(entry, default=str)}
    pipe.xadd(keys.AUDIT, data, maxlen=max_len, approximate=True)  # type: ignore[arg-type]
    after_execute(pipe, partial(log_entry, event, entry))
    return entry


def log_entry(event: str, entry: dict[str, Any] | str) -> None:
    """The audit entry's copy in the JSON log (``entry`` may be its JSON text already);
    without a LogRecord in ``serve``, which logs one per decision (``amc_core.logs.info``)."""
    value = RawJson(entry) if isinstance(entry, str) else entry
    logs.info(log, f"audit {event}", audit=value)


def _decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw.get(b"data", b"{}"))
    return data


def read(
    conn: redis.Redis,
    limit: int = 100,
    event: str | None = None,
    command: str | None = None,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first, optionally filtered (scans at most 10x ``limit`` entries)."""
    raw: list[tuple[bytes, dict[bytes, bytes]]] = conn.xrevrange(  # type: ignore[assignment]
        keys.AUDIT, count=limit * 10
    )
    out: list[dict[str, Any]] = []
    for entry_id, fields in raw:
        entry = {"id": entry_id.decode(), **_decode(fields)}
        if event and entry.get("event") != event:
            continue
        if command and entry.get("command") != command:
            continue
        if reason and entry.get("reason") != reason:
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    return out
