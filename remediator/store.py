"""Redis state: dedup claims, episodes, cooldowns, circuits, the lock and execution records."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import redis

from remediator import audit, decisions, keys, pipelines
from remediator.alerts import Alert
from remediator.circuits import Circuits
from remediator.config import Effective, RemediatorConfig
from remediator.decide import Decision, Reason, State
from remediator.decisions import Seen, execution_id_for, state_from_reply, state_keys
from remediator.errors import Conflict
from remediator.records import AlertRef, Approval, Execution, Status

log = logging.getLogger(__name__)

# Keep the newest ARGV[1] executions: older ones leave the index and their records go too.
_TRIM = """
local old = redis.call('ZRANGE', KEYS[1], 0, -tonumber(ARGV[1]) - 1)
for _, id in ipairs(old) do redis.call('UNLINK', ARGV[2] .. id) end
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
return #old
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Delete a key whose value starts with ARGV[1]: the lock of any attempt of one execution.
_RELEASE_PREFIX = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A script's client: a pipeline to queue the call on, else the store's connection.
Client = redis.client.Pipeline | redis.Redis | None

# How often a transaction on one record is tried again after conflicting writes.
MAX_CONFLICTS = 20

# Time an enqueued job may wait in its queue behind others before its pending mark is
# given up (the worker's maintenance clears a mark whose job is gone sooner).
PENDING_QUEUE_SECONDS = 600


def connect(url: str, timeout: float) -> redis.Redis:
    """A client with bounded connect and read timeouts, so an outage fails fast.

    Its pipelines run the audit's log lines only after they executed (``pipelines``).
    """
    return pipelines.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=30
    )


def awaiting_member(record: Execution) -> str:
    """An execution's member in the set of those awaiting approval."""
    return f"{record.command}|{record.id}"


def manual_execution_id() -> str:
    """A fresh id for an operator's run."""
    return f"manual-{uuid.uuid4().hex[:20]}"


def lock_token(execution_id: str, attempt: int) -> str:
    """The lock's value while attempt ``attempt`` of an execution holds it."""
    return f"{execution_id}:{attempt}"


class Store:
    """All of the remediator's Redis state, behind one small interface."""

    def __init__(self, conn: redis.Redis, config: RemediatorConfig) -> None:
        self.conn = conn
        self.config = config
        self._read_state = conn.register_script(decisions.READ_STATE)
        self._commit = conn.register_script(decisions.COMMIT)
        self._open_circuit = conn.register_script(decisions.OPEN_CIRCUIT)
        self._release = conn.register_script(_RELEASE)
        self._release_prefix = conn.register_script(_RELEASE_PREFIX)
        self._trim = conn.register_script(_TRIM)
        self._circuits = Circuits(conn, config)

    # -- decisions -------------------------------------------------------------------

    def read_decision(
        self, pipe: redis.client.Pipeline, dedup_key: str, command: str | None, now: float
    ) -> tuple[State, Seen]:
        """Read what a decision about an episode needs in one round trip, on a WATCHing pipe."""
        args = [decisions.window_start(self.config, command, now)]
        reply = self._read_state(keys=state_keys(dedup_key, command), args=args, client=pipe)
        return state_from_reply(reply), reply

    def write_decision(
        self,
        pipe: redis.client.Pipeline,
        alert: Alert,
        command: str | None,
        decision: Decision,
        seen: Seen,
        now: float,
    ) -> str:
        """Queue, in MULTI with the state WATCHed as ``seen``, a decision that records an
        execution: the decision's own effects (``decisions.COMMIT``) and its execution
        record, queued or awaiting a person. Returns the execution id."""
        assert decision.records_execution
        assert decision.command is not None
        execution_id = execution_id_for(alert)
        call = decisions.commit_call(self.config, alert, command, decision, seen, now, execution_id)
        self._commit(keys=call.names, args=call.args, client=pipe)
        pipelines.after_reply(pipe, partial(_committed, call))
        policy = self.config.effective(decision.command)
        ref = AlertRef(
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at.timestamp(),
            dedup_key=alert.dedup_key,
        )
        record = self.new_execution(execution_id, policy, "alert", {}, now, ref)
        if decision.reason is Reason.ENQUEUED:
            self.admit(pipe, record, now)
        else:  # a person decides: not queued, not pending, not in the circuit's count
            deadline = now + policy.approval_timeout_seconds
            record.status = Status.AWAITING_APPROVAL
            record.approval = Approval(policy=policy.approval, deadline=deadline)
            pipe.zadd(keys.AWAITING, {awaiting_member(record): deadline})
        self.save_execution(pipe, record)
        return execution_id

    def admit(self, pipe: redis.client.Pipeline, record: Execution, now: float) -> None:
        """Queue the marks of an alert-triggered execution about to be queued (in MULTI): the
        command's pending mark and its place in the circuit's window."""
        policy = self.config.effective(record.command)
        pipe.set(keys.pending(record.command), record.id, ex=self.pending_ttl(policy))
        window = keys.circuit_window(record.command)
        pipe.zadd(window, {record.id: now})
        pipe.zremrangebyscore(window, "-inf", now - policy.circuit.window_seconds)
        pipe.expire(window, policy.circuit.window_seconds)

    def pending_ttl(self, policy: Effective) -> int:
        """How long a queued execution blocks the next one: its wait in the queue and for
        the lock, and one attempt until its work horse is surely dead."""
        name = policy.spec.name
        return PENDING_QUEUE_SECONDS + self.config.lock_wait_seconds + self.config.kill_after(name)

    def open_circuit(
        self, pipe: redis.client.Pipeline, command: str, now: float, alertname: str
    ) -> None:
        """Queue the opening of ``command``'s circuit and its audit entry (in MULTI)."""
        until, seconds, entry = decisions.circuit_opening(self.config, command, alertname, now)
        args: list[str | int] = [until, seconds, self.config.retention.audit_max_len, entry]
        self._open_circuit(keys=[keys.circuit_open(command), keys.AUDIT], args=args, client=pipe)

        def opened(reply: int) -> None:
            if reply:  # not when it was open already
                audit.log_entry("circuit_opened", entry)

        pipelines.after_reply(pipe, opened)

    def active_episodes(self, limit: int = 100) -> list[dict[str, str]]:
        """The firing episodes, oldest first."""
        ids: list[bytes] = self.conn.zrange(keys.EPISODES_ACTIVE, 0, limit - 1)  # type: ignore[assignment]
        pipe = self.conn.pipeline(transaction=False)
        for dedup in ids:
            pipe.hgetall(keys.episode(dedup.decode()))
        out, gone = [], []
        for dedup, raw in zip(ids, pipe.execute(), strict=True):
            if not raw:  # neither repeated nor resolved within the dedup TTL: forgotten
                gone.append(dedup)
                continue
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            out.append({"dedup_key": dedup.decode(), **fields})
        if gone:
            self.conn.zrem(keys.EPISODES_ACTIVE, *gone)
        return out

    def stats(self) -> dict[str, float]:
        """Cluster-wide running totals (resolution sum and count)."""
        raw: dict[bytes, bytes] = self.conn.hgetall(keys.STATS)  # type: ignore[assignment]
        return {k.decode(): float(v) for k, v in raw.items()}

    # -- executions ------------------------------------------------------------------

    def new_execution(
        self,
        execution_id: str,
        policy: Effective,
        trigger: str,
        params: dict[str, Any],
        now: float,
        alert: AlertRef | None = None,
    ) -> Execution:
        """A queued execution record (not yet saved)."""
        return Execution.model_validate(
            {
                "id": execution_id,
                "command": policy.spec.name,
                "trigger": trigger,
                "priority": policy.priority.value,
                "params": {**policy.parameters, **params},
                "alert": alert,
                "max_attempts": policy.retries + 1,
                "created_at": now,
            }
        )

    def save_execution(self, pipe: redis.client.Pipeline | redis.Redis, record: Execution) -> None:
        """Write a record and keep the index bounded."""
        retention = self.config.retention
        pipe.set(
            keys.execution(record.id), record.model_dump_json(), ex=retention.execution_ttl_seconds
        )
        pipe.zadd(keys.EXECUTIONS, {record.id: record.created_at})
        self._trim(
            keys=[keys.EXECUTIONS],
            args=[retention.max_executions, keys.execution("")],
            client=pipe,
        )

    def get_execution(self, execution_id: str) -> Execution | None:
        """One record, or None when unknown or expired."""
        raw = self.conn.get(keys.execution(execution_id))
        return None if raw is None else Execution.model_validate_json(raw)

    def list_executions(
        self, command: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Execution]:
        """The newest records first, filtered by command and status."""
        ids: list[bytes] = self.conn.zrevrange(keys.EXECUTIONS, 0, -1)  # type: ignore[assignment]
        out: list[Execution] = []
        for start in range(0, len(ids), 200):
            batch = ids[start : start + 200]
            raws: list[bytes | None] = self.conn.mget([keys.execution(i.decode()) for i in batch])  # type: ignore[assignment]
            for raw in raws:
                if raw is None:
                    continue
                record = Execution.model_validate_json(raw)
                if command and record.command != command:
                    continue
                if status and record.status != status:
                    continue
                out.append(record)
                if len(out) >= limit:
                    return out
        return out

    def execution_event(self, record: Execution, event: str, **extra: Any) -> None:
        """Save a record and audit the change in one transaction."""
        pipe = self.conn.pipeline()
        self.save_execution(pipe, record)
        self._audit_execution(pipe, record, event, extra)
        pipe.execute()

    def _audit_execution(
        self, pipe: redis.client.Pipeline, record: Execution, event: str, extra: dict[str, Any]
    ) -> None:
        fields = {
            "execution_id": record.id,
            "command": record.command,
            "trigger": record.trigger,
            "status": record.status.value,
            "attempt": record.attempts,
            **extra,
        }
        audit.append(pipe, event, fields, self.config.retention.audit_max_len)

    def update_record(
        self,
        execution_id: str,
        check: Callable[[Execution | None, redis.client.Pipeline], Status | None],
        change: Callable[[Execution | None, redis.client.Pipeline], Execution],
        event: str | None = None,
        **extra: Any,
    ) -> Execution | Status:
        """Change one execution record atomically: WATCH it and read it, ``check`` the stored
        record (it may read more on the WATCHing pipe, raise, or refuse with a status that is
        returned), then in MULTI ``change`` queues further writes and gives the record to
        save, audited as ``event``. Retried on a conflicting write, at most MAX_CONFLICTS
        times (then Conflict)."""
        key = keys.execution(execution_id)
        for _ in range(MAX_CONFLICTS):
            with self.conn.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    stored = None if raw is None else Execution.model_validate_json(raw)
                    refused = check(stored, pipe)
                    if refused is not None:
                        return refused
                    pipe.multi()
                    record = change(stored, pipe)
                    self.save_execution(pipe, record)
                    if event is not None:
                        self._audit_execution(pipe, record, event, extra)
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue
        raise Conflict(f"execution {execution_id} changed too often to decide; try again")

    def save_if_open(
        self,
        record: Execution,
        event: str | None = None,
        before: Callable[[redis.client.Pipeline], None] | None = None,
        **extra: Any,
    ) -> Status | None:
        """Save a record (and audit ``event``) unless the stored one is final by now: a
        cancel, rejection or expiry that came first is never overwritten. None when saved,
        else the stored final status. ``before`` queues further writes of the transaction."""

        def final(stored: Execution | None, _: redis.client.Pipeline) -> Status | None:
            return stored.status if stored is not None and stored.final else None

        def ours(_: Execution | None, pipe: redis.client.Pipeline) -> Execution:
            if before is not None:
                before(pipe)
            return record

        saved = self.update_record(record.id, final, ours, event, **extra)
        return saved if isinstance(saved, Status) else None

    def start_execution(self, record: Execution, now: float) -> Status | None:
        """Mark an attempt started: the cooldown begins, the pending mark goes. Not when the
        execution was cancelled meanwhile: then its final status."""
        policy = self.config.effective(record.command)

        def marks(pipe: redis.client.Pipeline) -> None:
            if policy.cooldown_seconds > 0:
                until = now + policy.cooldown_seconds
                pipe.set(keys.cooldown(record.command), until, ex=policy.cooldown_seconds)
            self.clear_pending(record, pipe)

        return self.save_if_open(record, "execution_started", marks)

    def clear_pending(self, record: Execution, pipe: Client = None) -> None:
        """Drop the pending mark of an alert-triggered execution (never another's)."""
        if record.trigger == "alert":
            self.clear_pending_mark(record.command, record.id, pipe)

    def clear_pending_mark(
        self,
        command: str,
        execution_id: str,
        pipe: redis.client.Pipeline | redis.Redis | None = None,
    ) -> bool:
        """Drop ``command``'s pending mark if ``execution_id`` set it; True if it did.

        On ``pipe`` the deletion is queued (and the reply is the pipe's).
        """
        keys_, args = [keys.pending(command)], [execution_id]
        return bool(self._release(keys=keys_, args=args, client=pipe))

    def audit_event(self, event: str, fields: dict[str, Any]) -> None:
        """Write one audit entry on its own."""
        pipe = self.conn.pipeline()
        audit.append(pipe, event, fields, self.config.retention.audit_max_len)
        pipe.execute()

    def unfinished(self, limit: int) -> list[Execution]:
        """The records among the newest ``limit`` that have no final status yet."""
        ids: list[bytes] = self.conn.zrevrange(keys.EXECUTIONS, 0, limit - 1)  # type: ignore[assignment]
        if not ids:
            return []
        raws: list[bytes | None] = self.conn.mget([keys.execution(i.decode()) for i in ids])  # type: ignore[assignment]
        records = [Execution.model_validate_json(raw) for raw in raws if raw is not None]
        return [record for record in records if not record.final]

    # -- circuits and the lock ---------------------------------------------------------

    def circuits(self, now: float) -> dict[str, dict[str, Any]]:
        """Each command's circuit (a close by timeout seen here is audited)."""
        return self._circuits.states(now)

    def reset_circuit(self, command: str, who: str, now: float) -> None:
        """Close a circuit by hand and forget its window."""
        self._circuits.reset(command, who, now)

    def acquire_lock(self, token: str, ttl_seconds: int) -> bool:
        """Take the one-disruptive-command lock."""
        return bool(self.conn.set(keys.LOCK, token, nx=True, ex=ttl_seconds))

    def lock_holder(self) -> str | None:
        """Who holds the lock (an execution id), if anyone."""
        raw = self.conn.get(keys.LOCK)
        return None if raw is None else raw.decode()  # type: ignore[union-attr]

    def release_lock(self, token: str) -> None:
        """Release the lock if we still hold it."""
        self._release(keys=[keys.LOCK], args=[token])

    def release_lock_of(self, execution_id: str) -> bool:
        """Release the lock if any attempt of ``execution_id`` holds it; True if it did."""
        return bool(self._release_prefix(keys=[keys.LOCK], args=[f"{execution_id}:"]))


def _committed(call: decisions.Commit, reply: list[Any]) -> None:
    """Log what a decision's COMMIT wrote in its transaction. Its state is WATCHed, so the
    transaction would have failed before the script could refuse; say so if it ever does."""
    if reply[0]:
        call.log(reply)
    else:
        log.error("a decision's commit was refused inside its transaction: %s", call.entry)


def dumps(record: Execution) -> dict[str, Any]:
    """A record as plain JSON data."""
    data: dict[str, Any] = json.loads(record.model_dump_json())
    return data


__all__ = [
    "MAX_CONFLICTS", "Store", "awaiting_member", "connect", "dumps", "lock_token",
    "manual_execution_id",
]  # fmt: skip
