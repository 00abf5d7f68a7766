"""The way of one notification: each alert decided on its own, made durable, enqueued."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import redis

from remediator import approvals, audit, queue
from remediator.alerts import Alert, Message
from remediator.commands import params as typed
from remediator.commands.catalog import CATALOG
from remediator.decide import Decision, Reason, State, decide, resolve_command
from remediator.decisions import NOTHING_RECORDED, Decisions, Seen, recorded_execution, state_keys
from remediator.errors import NotFound, PayloadError, Rejected, StoreUnavailable, unavailable
from remediator.metrics import IntakeMetrics
from remediator.records import Status
from remediator.store import MAX_CONFLICTS, Store, manual_execution_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened to one alert of a notification (the webhook's reply)."""

    alertname: str
    fingerprint: str
    status: str
    decision: str
    command: str | None
    execution_id: str | None
    detail: str


class Intake:
    """Decides and records alerts on the event loop; enqueues through a worker thread."""

    def __init__(
        self,
        store: Store,
        decisions: Decisions,
        metrics: IntakeMetrics,
        clock: Callable[[], float] = time.time,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.decisions = decisions
        self.config = store.config
        self.metrics = metrics
        self.clock = clock
        self.executor = executor

    async def process(self, message: Message) -> list[Outcome]:
        """Decide every alert; returns once all decisions are durable in Redis."""
        started = time.perf_counter()
        if message.truncated_alerts:
            log.warning(
                "Alertmanager truncated %d alerts of group %s: they are not decided",
                message.truncated_alerts,
                message.group_key,
            )
        try:
            outcomes = [await self._one(alert) for alert in message.alerts]
        except redis.RedisError as exc:
            if (error := unavailable(exc)) is None:
                raise
            raise error from None
        self.metrics.decision_latency.observe(time.perf_counter() - started)
        return outcomes

    async def _one(self, alert: Alert) -> Outcome:
        self.metrics.received(alert.alertname, alert.status)
        if alert.status == "resolved":
            decision, execution_id = await self._resolve(alert), None
        else:
            decision, execution_id = await self._fire(alert)
        self.metrics.decided(decision.command or "", decision.reason.value)
        return Outcome(
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
            status=alert.status,
            decision=decision.reason.value,
            command=decision.command,
            execution_id=execution_id,
            detail=decision.detail,
        )

    async def _fire(self, alert: Alert) -> tuple[Decision, str | None]:
        """Decide on the state (assumed empty at first), commit if Redis still holds that
        state, else decide again on the state it holds. Decisions that record no execution cost
        one round trip when nothing was recorded; one that records an execution reads the
        state first, then goes through a transaction with its RQ job. A repeat's reply names
        the execution its episode recorded."""
        command = resolve_command(alert, self.config).command
        state, seen = State(), NOTHING_RECORDED
        for _ in range(MAX_CONFLICTS):
            now = self.clock()
            decision = decide(alert, self.config, state, now)
            if decision.records_execution:  # enqueued, or awaiting a person's approval
                if seen is NOTHING_RECORDED:  # read it first: a repeat stays off the thread
                    state, seen = await self.decisions.read(alert, command, now)
                    continue
                loop = asyncio.get_running_loop()
                recorded, state, seen = await loop.run_in_executor(
                    self.executor, self._transaction, alert, command
                )
                if recorded is not None:
                    return recorded
                continue  # the state in Redis asks for no execution now: commit it here
            changed = await self.decisions.commit(alert, command, decision, seen, now)
            if changed is None:
                return decision, recorded_execution(alert, state)
            state, seen = changed
        raise StoreUnavailable(f"too many concurrent updates deciding {alert.fingerprint}")

    def _transaction(
        self, alert: Alert, command: str | None
    ) -> tuple[tuple[Decision, str] | None, State, Seen]:
        """WATCH the state, decide again and, when that still records an execution, commit
        the decision with its execution and RQ job atomically: ((decision, execution id),
        state, seen). Else (None, state, seen): the state to decide on, on the event loop.

        Synchronous (RQ writes its job on a redis-py pipeline), so it runs in a thread.
        """
        for _ in range(MAX_CONFLICTS):
            with self.store.conn.pipeline() as pipe:
                try:
                    pipe.watch(*state_keys(alert.dedup_key, command))
                    now = self.clock()
                    state, seen = self.store.read_decision(pipe, alert.dedup_key, command, now)
                    decision = decide(alert, self.config, state, now)
                    if not decision.records_execution:
                        return None, state, seen
                    pipe.multi()
                    execution_id = self.store.write_decision(
                        pipe, alert, command, decision, seen, now
                    )
                    if decision.reason is Reason.ENQUEUED:
                        assert decision.command is not None
                        policy = self.config.effective(decision.command)
                        queue.enqueue(self.store.conn, execution_id, policy, pipe)
                    pipe.execute()
                    return (decision, execution_id), state, seen
                except redis.WatchError:
                    continue
        raise StoreUnavailable(f"too many concurrent updates deciding {alert.fingerprint}")

    async def _resolve(self, alert: Alert) -> Decision:
        """Close the episode; MTTR is recorded by the first resolution only."""
        first, episode = await self.decisions.close_episode(alert, self.clock())
        seconds = alert.resolution_seconds()
        if first and seconds is not None:
            self.metrics.resolved(alert.alertname, seconds)
        detail = "resolved" if first else "resolution already recorded"
        execution_id = episode.get("execution_id")
        # not started yet: it is not run any more. Every copy of the resolution tries (a
        # cancel is idempotent): one whose cancel met a Redis error is sent again, and by
        # then the resolution is recorded already
        if execution_id is not None:
            loop = asyncio.get_running_loop()
            cancelled = await loop.run_in_executor(
                self.executor, approvals.cancel_on_resolve, self.store, execution_id, self.clock()
            )
            if cancelled is not None:
                detail = f"resolved; execution {execution_id} cancelled before it started"
        return Decision(Reason.RESOLVED, episode.get("command"), detail)


def submit(store: Store, command: str, params: dict[str, object], trigger: str) -> str:
    """Queue an operator's run (bypasses cooldown and circuit, never the lock).

    Under dry-run (global or the command's) the run is recorded as ``dry_run`` and nothing
    is queued: an operator's run is no way around it.
    """
    if command not in CATALOG:
        raise NotFound(f"no command {command!r} in the catalog")
    policy = store.config.effective(command)
    if not policy.enabled:
        raise Rejected(f"{command} is disabled in the configuration")
    unknown = set(params) - policy.spec.parameters
    if unknown:
        allowed = sorted(policy.spec.parameters) or "none"
        raise PayloadError("params", f"unknown parameters {sorted(unknown)} (allowed: {allowed})")
    try:
        typed.parse(command, params, store.config.platform.strategies)
    except typed.ParamsError as exc:
        raise PayloadError(exc.field, exc.message) from None
    now = time.time()
    record = store.new_execution(manual_execution_id(), policy, trigger, dict(params), now)
    if policy.dry_run:
        record.status, record.ended_at = Status.DRY_RUN, now
        record.result = {"dry_run": True, "would_run": command, "params": record.params}
    try:
        pipe = store.conn.pipeline()
        pipe.multi()  # RQ's enqueue expects an explicit transaction on a given pipeline
        store.save_execution(pipe, record)
        fields = {"execution_id": record.id, "command": command, "trigger": trigger, "ts": now}
        fields["dry_run"] = policy.dry_run
        audit.append(pipe, "manual_run", fields, store.config.retention.audit_max_len)
        if not policy.dry_run:
            queue.enqueue(store.conn, record.id, policy, pipe)
        pipe.execute()
    except redis.RedisError as exc:
        if (error := unavailable(exc)) is None:
            raise
        raise error from None
    return record.id
