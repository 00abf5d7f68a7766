"""A person's word on an execution: approve, reject, cancel; and approvals that expire.

Each is one WATCH/MULTI transaction on the execution's record that changes it only from
the statuses it may leave: two approvals at once enqueue it once, and a cancel never
overwrites a start (``Store.save_if_open`` is the worker's side of the same guard).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import redis

from remediator import audit, keys, metrics, queue
from remediator.decide import gate, last_run
from remediator.decisions import state_keys
from remediator.errors import Conflict, NotFound, PayloadError
from remediator.records import NOT_STARTED, Execution, Status
from remediator.store import Store, awaiting_member

log = logging.getLogger(__name__)

# Execution ids: ``alert-`` + a hex digest of the dedup key, ``manual-`` + hex.
EXECUTION_ID = re.compile(r"^(alert|manual)-[0-9a-f]{1,64}$")
MAX_WHO = 100
MAX_WHY = 500

Change = Callable[[Execution, redis.client.Pipeline], None]


def check_id(execution_id: str) -> str:
    """An execution id fit for a Redis key, else a PayloadError naming ``id``."""
    if not EXECUTION_ID.match(execution_id):
        raise PayloadError("id", "not an execution id", execution_id[:80])
    return execution_id


def check_words(by: Any, reason: Any) -> tuple[str, str | None]:
    """Who answered and why: short strings (kept in the record and the audit)."""
    if not isinstance(by, str) or not 0 < len(by.strip()) <= MAX_WHO:
        raise PayloadError("by", f"must be a non-empty string of at most {MAX_WHO} characters")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_WHY):
        raise PayloadError("reason", f"must be a string of at most {MAX_WHY} characters")
    return by.strip(), reason


def _transition(
    store: Store,
    execution_id: str,
    allowed: Iterable[Status],
    change: Change,
    event: str,
    prepare: Callable[[Execution, redis.client.Pipeline], None] | None = None,
    **extra: Any,
) -> Execution:
    """Change a record whose stored status is one of ``allowed``, atomically.

    ``prepare`` reads what it needs on the WATCHing pipe (and may raise); ``change`` edits
    the record and queues further writes inside MULTI.
    """
    allowed = frozenset(allowed)

    def check(stored: Execution | None, pipe: redis.client.Pipeline) -> None:
        if stored is None:
            raise NotFound(f"no execution {execution_id!r}")
        if stored.status not in allowed:
            raise Conflict(f"execution {execution_id} is {stored.status.value}")
        if prepare is not None:
            prepare(stored, pipe)

    def changed(stored: Execution | None, pipe: redis.client.Pipeline) -> Execution:
        assert stored is not None
        change(stored, pipe)
        return stored

    record = store.update_record(check_id(execution_id), check, changed, event, **extra)
    assert isinstance(record, Execution)  # check refuses by raising
    return record


def _answer(record: Execution, by: str, reason: str | None, now: float) -> None:
    assert record.approval is not None
    record.approval.by, record.approval.reason, record.approval.answered_at = by, reason, now


def _end(
    store: Store, pipe: redis.client.Pipeline, record: Execution, status: Status, now: float
) -> None:
    """End an execution that never started: counted, its marks released."""
    record.status, record.ended_at = status, now
    record.next_attempt_at = None
    metrics.record_execution(pipe, record.command, status.value, None)
    store.clear_pending(record, pipe)
    pipe.zrem(keys.AWAITING, awaiting_member(record))


def approve(store: Store, execution_id: str, by: str, reason: str | None, now: float) -> Execution:
    """Queue an execution awaiting approval with its original priority, if its command's
    cooldown and circuit allow it now (Conflict naming what holds it back otherwise)."""
    record = store.get_execution(check_id(execution_id))
    overdue = record is not None and record.approval and now >= record.approval.deadline
    if overdue and record is not None and record.status is Status.AWAITING_APPROVAL:
        expire(store, execution_id, now)
        raise Conflict(f"execution {execution_id} expired: nobody approved it in time")

    opens = {"circuit": False}

    def prepare(record: Execution, pipe: redis.client.Pipeline) -> None:
        policy = store.config.effective(record.command)
        dedup_key = record.alert.dedup_key if record.alert else record.id
        pipe.watch(*state_keys(dedup_key, record.command))
        state, _ = store.read_decision(pipe, dedup_key, record.command, now)
        opens["circuit"] = last_run(policy, state)
        held = gate(policy, state, now)
        if held is not None:
            raise Conflict(f"{held.reason.value}: {held.detail}; approve again later, or run "
                           f"{record.command} by hand")  # fmt: skip

    def change(record: Execution, pipe: redis.client.Pipeline) -> None:
        _answer(record, by, reason, now)
        record.status = Status.QUEUED
        pipe.zrem(keys.AWAITING, awaiting_member(record))
        store.admit(pipe, record, now)
        if opens["circuit"]:  # as an enqueued decision does: the last run of the window
            alertname = record.alert.alertname if record.alert else ""
            store.open_circuit(pipe, record.command, now, alertname)
        policy = store.config.effective(record.command)
        queue.enqueue(store.conn, record.id, policy, pipe, priority=record.priority)

    return _transition(store, execution_id, [Status.AWAITING_APPROVAL], change, "approved",
                       prepare, by=by, reason=reason)  # fmt: skip


def reject(store: Store, execution_id: str, by: str, reason: str | None, now: float) -> Execution:
    """A person says no: the execution ends ``rejected`` and nothing runs."""

    def change(record: Execution, pipe: redis.client.Pipeline) -> None:
        _answer(record, by, reason, now)
        _end(store, pipe, record, Status.REJECTED, now)

    return _transition(store, execution_id, [Status.AWAITING_APPROVAL], change, "rejected",
                       by=by, reason=reason)  # fmt: skip


def cancel(store: Store, execution_id: str, by: str, reason: str | None, now: float) -> Execution:
    """Cancel an execution not yet started (awaiting approval, queued, waiting for the lock);
    a running one is never interrupted (Conflict)."""

    def change(record: Execution, pipe: redis.client.Pipeline) -> None:
        record.cancelled_by = by
        record.error = f"cancelled by {by}" + (f": {reason}" if reason else "")
        _end(store, pipe, record, Status.CANCELLED, now)

    return _transition(store, execution_id, NOT_STARTED, change, "cancelled", by=by,
                       reason=reason)  # fmt: skip


def cancel_on_resolve(store: Store, execution_id: str, now: float) -> Execution | None:
    """The alert episode of an execution resolved: cancel it if it has not started."""
    try:
        return cancel(store, execution_id, "resolved", "its alert resolved", now)
    except (Conflict, NotFound):
        return None  # running, over or expired: a running command is never interrupted


def expire(store: Store, execution_id: str, now: float) -> Execution | None:
    """End an execution nobody approved in time: ``expired``, and escalated to people."""

    def change(record: Execution, pipe: redis.client.Pipeline) -> None:
        _end(store, pipe, record, Status.EXPIRED, now)
        deadline = record.approval.deadline if record.approval else now
        fields = {"execution_id": record.id, "command": record.command,
                  "status": record.status.value, "reason": "nobody approved it in time",
                  "deadline": deadline}  # fmt: skip
        audit.append(pipe, "execution_escalated", fields, store.config.retention.audit_max_len)

    try:
        return _transition(store, execution_id, [Status.AWAITING_APPROVAL], change, "expired")
    except (Conflict, NotFound):
        return None


def expire_overdue(store: Store, now: float) -> list[str]:
    """Expire every execution whose approval deadline passed; their ids."""
    members: list[bytes] = store.conn.zrangebyscore(keys.AWAITING, "-inf", now)  # type: ignore[assignment]
    expired = []
    for member in members:
        _, _, execution_id = member.decode().partition("|")
        if EXECUTION_ID.match(execution_id) and expire(store, execution_id, now) is not None:
            expired.append(execution_id)
        else:  # answered or gone meanwhile: its member is stale
            store.conn.zrem(keys.AWAITING, member)
    return expired


def waiting(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """What waits for whom: executions awaiting a person, queued, or waiting for the lock."""
    out = []
    for record in store.unfinished(limit):
        if record.status is Status.AWAITING_APPROVAL:
            deadline = record.approval.deadline if record.approval else None
            whom = "a person: approve or reject"
        elif record.status is Status.WAITING:
            deadline, whom = None, f"the lock held by {record.waiting_for or '?'}"
        elif record.status is Status.QUEUED:
            deadline, whom = None, "a worker"
        else:
            continue
        out.append({"execution_id": record.id, "command": record.command,
                    "status": record.status.value, "since": record.created_at,
                    "waits_for": whom, "deadline": deadline,
                    "alertname": record.alert.alertname if record.alert else None})  # fmt: skip
    return out
