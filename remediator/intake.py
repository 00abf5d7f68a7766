"""The way of one notification: each alert decided on its own, made durable, enqueued."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from remediator import audit, queue
from remediator.alerts import Alert, Message
from remediator.decide import Decision, Reason, decide, resolve_command
from remediator.errors import StoreUnavailable
from remediator.metrics import IntakeMetrics
from remediator.store import Store

log = logging.getLogger(__name__)

MAX_CONFLICTS = 20


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
    """Decides and records alerts; synchronous, run in a thread pool by the server."""

    def __init__(
        self,
        store: Store,
        metrics: IntakeMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = store.config
        self.metrics = metrics
        self.clock = clock

    def process(self, message: Message) -> list[Outcome]:
        """Decide every alert; returns once all decisions are durable in Redis."""
        started = time.perf_counter()
        try:
            outcomes = [self._one(alert) for alert in message.alerts]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis unreachable: {exc}") from None
        self.metrics.decision_latency.observe(time.perf_counter() - started)
        return outcomes

    def _one(self, alert: Alert) -> Outcome:
        self.metrics.alerts_received.labels(alert.alertname, alert.status).inc()
        if alert.status == "resolved":
            decision, execution_id = self._resolve(alert), None
        else:
            decision, execution_id = self._fire(alert)
        self.metrics.decisions.labels(decision.command or "", decision.reason.value).inc()
        return Outcome(
            alertname=alert.alertname,
            fingerprint=alert.fingerprint,
            status=alert.status,
            decision=decision.reason.value,
            command=decision.command,
            execution_id=execution_id,
            detail=decision.detail,
        )

    def _fire(self, alert: Alert) -> tuple[Decision, str | None]:
        """WATCH the state, decide purely, then commit (or decide again on a conflict)."""
        command = resolve_command(alert, self.config).command
        watched = self.store.watched_keys(alert, command)
        for _ in range(MAX_CONFLICTS):
            with self.store.conn.pipeline() as pipe:
                try:
                    pipe.watch(*watched)
                    now = self.clock()
                    state = self.store.read_state(pipe, alert, command, now)
                    decision = decide(alert, self.config, state, now)
                    if not (decision.claims or decision.opens_circuit):
                        # nothing to guard: repeats must not invalidate each other's WATCH
                        pipe.unwatch()
                    pipe.multi()
                    execution_id = self.store.write_decision(pipe, alert, decision, now)
                    if execution_id is not None:
                        assert decision.command is not None
                        policy = self.config.effective(decision.command)
                        queue.enqueue(self.store.conn, execution_id, policy, pipe)
                    pipe.execute()
                    return decision, execution_id
                except redis.WatchError:
                    continue
        raise StoreUnavailable(f"too many concurrent updates deciding {alert.fingerprint}")

    def _resolve(self, alert: Alert) -> Decision:
        """Close the episode; MTTR is recorded by the first resolution only."""
        now = self.clock()
        first, episode = self.store.close_episode(alert, now)
        seconds = alert.resolution_seconds()
        remediated = episode.get("remediated_at")
        fields = {
            "reason": Reason.RESOLVED.value,
            "alertname": alert.alertname,
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at.isoformat(),
            "resolution_seconds": seconds,
            "execution_id": episode.get("execution_id"),
            "remediated_at": float(remediated) if remediated else None,
            "first": first,
            "ts": now,
        }
        pipe = self.store.conn.pipeline()
        audit.append(pipe, "decision", fields, self.config.retention.audit_max_len)
        pipe.execute()
        if first and seconds is not None:
            self.metrics.alert_resolution.labels(alert.alertname).observe(seconds)
        detail = "resolved" if first else "resolution already recorded"
        return Decision(Reason.RESOLVED, episode.get("command"), detail)


def submit(store: Store, command: str, params: dict[str, object], trigger: str) -> str:
    """Queue an operator's run (bypasses cooldown and circuit, never the lock)."""
    from remediator.commands.catalog import CATALOG
    from remediator.errors import NotFound, PayloadError, Rejected
    from remediator.store import manual_execution_id

    if command not in CATALOG:
        raise NotFound(f"no command {command!r} in the catalog")
    policy = store.config.effective(command)
    if not policy.enabled:
        raise Rejected(f"{command} is disabled in the configuration")
    unknown = set(params) - policy.spec.parameters
    if unknown:
        allowed = sorted(policy.spec.parameters) or "none"
        raise PayloadError("params", f"unknown parameters {sorted(unknown)} (allowed: {allowed})")
    now = time.time()
    record = store.new_execution(manual_execution_id(), policy, trigger, dict(params), now)
    try:
        pipe = store.conn.pipeline()
        pipe.multi()  # RQ's enqueue expects an explicit transaction on a given pipeline
        store.save_execution(pipe, record)
        fields = {"execution_id": record.id, "command": command, "trigger": trigger, "ts": now}
        audit.append(pipe, "manual_run", fields, store.config.retention.audit_max_len)
        queue.enqueue(store.conn, record.id, policy, pipe)
        pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unreachable: {exc}") from None
    return record.id
