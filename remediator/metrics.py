"""The remediator's metrics: intake counters in-process, execution facts read from Redis.

Workers are other processes (and forks), so what they observe is kept in Redis hashes and
rendered by a collector at scrape time: every replica reports the same cluster-wide values
(aggregate them with ``max``, not ``sum``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from rq import Queue

from remediator import keys
from remediator.commands.catalog import CATALOG, PRIORITY_ORDER
from remediator.queue import queue_name

log = logging.getLogger(__name__)

PREFIX = "amc_remediator_"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
EPISODE_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)
# The outcomes of executions_total (docs/architecture.md, "Contracts"): every command has
# each, from 0.
OUTCOMES = ("succeeded", "failed", "timed_out", "cancelled", "rejected", "expired")
EXECUTION_DURATION = "execution_duration_seconds"
TIME_TO_REMEDIATE = "time_to_remediate_seconds"
_HISTOGRAMS = {
    EXECUTION_DURATION: ("Duration of finished executions.", DURATION_BUCKETS),
    TIME_TO_REMEDIATE: ("From an alert's start to its successful remediation.", EPISODE_BUCKETS),
}


OTHER_ALERT = "other"
"""The ``alertname`` label of alerts the configuration does not map: the webhook is open to
whoever can reach it, so its series are bounded by the configuration, not by the payloads."""


class IntakeMetrics:
    """What one serve process observes at its webhook."""

    def __init__(self, registry: CollectorRegistry, alertnames: Iterable[str] = ()) -> None:
        self.alertnames = frozenset(alertnames)
        self.alerts_received = Counter(
            PREFIX + "alerts_received_total",
            "Alerts received at the webhook, by alertname and status.",
            ["alertname", "status"],
            registry=registry,
        )
        self.decisions = Counter(
            PREFIX + "decisions_total",
            "Decisions taken, by command and reason.",
            ["command", "decision"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            PREFIX + "decision_latency_seconds",
            "From webhook received to decisions durable in Redis.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.alert_resolution = Histogram(
            PREFIX + "alert_resolution_seconds",
            "How long alerts fired before they resolved (MTTR).",
            ["alertname"],
            buckets=EPISODE_BUCKETS,
            registry=registry,
        )
        # labels() validates and looks up on every call; the webhook counts two per alert
        self._children: dict[tuple[str, str, str], Any] = {}

    def label(self, alertname: str) -> str:
        """The ``alertname`` label value: the name when configured, else ``other``."""
        return alertname if alertname in self.alertnames else OTHER_ALERT

    def received(self, alertname: str, status: str) -> None:
        """Count one alert received."""
        self._child(self.alerts_received, "r", self.label(alertname), status).inc()

    def resolved(self, alertname: str, seconds: float) -> None:
        """Observe how long a resolved alert fired."""
        self.alert_resolution.labels(self.label(alertname)).observe(seconds)

    def decided(self, command: str, reason: str) -> None:
        """Count one decision."""
        self._child(self.decisions, "d", command, reason).inc()

    def _child(self, counter: Counter, kind: str, first: str, second: str) -> Any:
        key = (kind, first, second)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(first, second)
        return child


def record_execution(
    pipe: redis.client.Pipeline, command: str, outcome: str, duration: float | None
) -> None:
    """Queue the counters of one finished execution on ``pipe`` (no duration: never ran)."""
    pipe.hincrby(keys.EXECUTION_COUNTS, f"{command}|{outcome}", 1)
    if duration is not None:
        observe(pipe, EXECUTION_DURATION, command, duration)


def record_unverified(pipe: redis.client.Pipeline, command: str) -> None:
    """Queue the count of an alert-triggered execution whose verification failed."""
    pipe.hincrby(keys.UNVERIFIED_COUNTS, command, 1)


def observe(pipe: redis.client.Pipeline, name: str, label: str, value: float) -> None:
    """Queue one observation of a Redis-backed histogram on ``pipe``."""
    key = keys.histogram(name)
    for le in _HISTOGRAMS[name][1]:
        if value <= le:
            pipe.hincrby(key, f"{label}|{le}", 1)
    pipe.hincrby(key, f"{label}|+Inf", 1)
    pipe.hincrbyfloat(key, f"{label}|sum", value)


def _histogram(name: str, raw: dict[bytes, bytes], label: str) -> HistogramMetricFamily:
    doc, buckets = _HISTOGRAMS[name]
    family = HistogramMetricFamily(PREFIX + name, doc, labels=[label])
    values: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        owner, _, part = field.decode().rpartition("|")
        values.setdefault(owner, {})[part] = float(value)
    for owner, parts in sorted(values.items()):
        cumulative = [(str(le), parts.get(str(le), 0.0)) for le in buckets]
        cumulative.append(("+Inf", parts.get("+Inf", 0.0)))
        family.add_metric([owner], cumulative, parts.get("sum", 0.0))
    return family


def _unverified(raw: dict[bytes, bytes]) -> CounterMetricFamily:
    family = CounterMetricFamily(
        PREFIX + "unverified",
        "Alert-triggered executions that ran to the end but did not cure the problem "
        "(verification failed; escalated to people).",
        labels=["command"],
    )
    counts = {name.decode(): float(value) for name, value in raw.items()}
    for command in CATALOG:
        family.add_metric([command], counts.get(command, 0.0))
    return family


def _redis_up(up: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        PREFIX + "redis_up",
        "1 when this scrape read the remediator's Redis; 0: the Redis-backed families are as "
        "last read.",
        value=float(up),
    )


class RedisCollector(Collector):
    """Renders the execution facts that workers keep in Redis; reads Redis at scrape time.

    When Redis cannot be read, the families are those of the last successful read (a
    counter must neither vanish nor fall back to 0) and ``redis_up`` is 0; before any
    successful read, only ``redis_up``.
    """

    def __init__(self, conn: redis.Redis, priorities: Sequence[str] | None = None) -> None:
        self.conn = conn
        self.priorities = list(priorities or [p.value for p in PRIORITY_ORDER])
        self.last: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        """The families this collector renders (without reading Redis)."""
        yield GaugeMetricFamily(PREFIX + "redis_up", "")
        yield CounterMetricFamily(PREFIX + "executions", "", labels=["command", "outcome"])
        yield CounterMetricFamily(PREFIX + "unverified", "", labels=["command"])
        yield HistogramMetricFamily(PREFIX + EXECUTION_DURATION, "", labels=["command"])
        yield HistogramMetricFamily(PREFIX + TIME_TO_REMEDIATE, "", labels=["command"])
        yield GaugeMetricFamily(PREFIX + "queue_depth", "", labels=["priority"])
        yield GaugeMetricFamily(PREFIX + "circuit_open", "", labels=["command"])
        yield GaugeMetricFamily(PREFIX + "awaiting_approval", "", labels=["command"])

    def collect(self) -> Iterable[Metric]:
        """Read Redis once per scrape; when it is unreachable, the last read and redis_up 0."""
        try:
            families = list(self._read())
        except redis.RedisError:
            log.warning("metrics: Redis unreachable at scrape", exc_info=True)
            yield _redis_up(False)
            yield from self.last
            return
        self.last = families
        yield _redis_up(True)
        yield from families

    def _read(self) -> Iterable[Metric]:
        pipe = self.conn.pipeline(transaction=False)
        pipe.hgetall(keys.EXECUTION_COUNTS)
        pipe.hgetall(keys.histogram(EXECUTION_DURATION))
        pipe.hgetall(keys.histogram(TIME_TO_REMEDIATE))
        pipe.hgetall(keys.UNVERIFIED_COUNTS)
        for priority in self.priorities:
            pipe.llen(Queue(queue_name(priority), connection=self.conn).key)
        for name in CATALOG:
            pipe.exists(keys.circuit_open(name))
        pipe.zrange(keys.AWAITING, 0, -1)
        replies = pipe.execute()
        counts = CounterMetricFamily(
            PREFIX + "executions",
            "Finished executions by command and outcome.",
            labels=["command", "outcome"],
        )
        values = {(command, outcome): 0.0 for command in CATALOG for outcome in OUTCOMES}
        for field, value in replies[0].items():
            command, _, outcome = field.decode().partition("|")
            values[(command, outcome)] = float(value)
        for (command, outcome), value in sorted(values.items()):
            counts.add_metric([command, outcome], value)
        yield counts
        yield _unverified(replies[3])
        yield _histogram(EXECUTION_DURATION, replies[1], "command")
        yield _histogram(TIME_TO_REMEDIATE, replies[2], "command")
        depth = GaugeMetricFamily(
            PREFIX + "queue_depth", "Jobs waiting per priority queue.", labels=["priority"]
        )
        rest = replies[4:]
        for priority, value in zip(self.priorities, rest, strict=False):
            depth.add_metric([priority], float(value))
        yield depth
        circuits = GaugeMetricFamily(
            PREFIX + "circuit_open", "1 while a command's circuit is open.", labels=["command"]
        )
        circuit_replies = rest[len(self.priorities) : len(self.priorities) + len(CATALOG)]
        for name, value in zip(CATALOG, circuit_replies, strict=True):
            circuits.add_metric([name], float(value))
        yield circuits
        yield _awaiting(replies[-1])


def _awaiting(members: list[bytes]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        PREFIX + "awaiting_approval",
        "Alert-triggered executions waiting for a person's approval (not queued).",
        labels=["command"],
    )
    counts = {name: 0 for name in CATALOG}
    for member in members:
        command = member.decode().partition("|")[0]
        if command in counts:
            counts[command] += 1
    for command, count in counts.items():
        family.add_metric([command], float(count))
    return family
