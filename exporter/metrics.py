"""A Prometheus collector that renders the probes' latest results; it never does I/O.

Metric names, labels and meanings are the contract of docs/architecture.md, "Metrics". Every label
value comes from a fixed set or from configuration, never from Redis or the platform as it is, and
never one per job or worker: ``route`` is an expected route; ``queue`` is the discovery queue, a
queue of ``rq.queues``, or ``other``, the sum of every other queue found in Redis (so 300 queues in
Redis still make 6 ``queue`` values).

What is absent, and when (nothing stale is shown as current):
- status, ``amc_api_up``: until the first health or discovery probe has finished;
- candidates, response time, ``amc_discovery_refreshing``: until the first discovery probe
  has finished or runs (a probe still in flight counts as at least as slow as it has been
  waiting). While the platform refreshes its cache (202 ``queued``), ``refreshing`` is 1 and
  candidates and quality score are those of the latest ready results, until those are two
  cache TTLs old (``exporter.snapshot``); a failed probe shows 0 candidates;
- quality score: while there are no candidates; integrity checks: until results first came
  (``amc_data_mock_suspected`` is 0 then); they stay with the latest results users could get.
  ``check="not_frozen"`` is informational: it never raises ``amc_data_mock_suspected`` nor
  lowers the ratio (markets stand still after hours; ``DiscoveryResultsFrozen`` alerts on it);
- ``amc_component_up``: while the latest ``/health`` probe got no health report;
- queue, worker, heartbeat, cache and memory gauges: while the latest Redis read failed;
  memory gauges also while Redis refuses ``INFO`` (an ACL).
"""

from __future__ import annotations

import math
import platform as python_platform
import time
from collections.abc import Callable, Iterator
from importlib import metadata

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.integrity import CHECKS
from exporter.platform_client import COMPONENTS, FAILURES
from exporter.probes import CORE_ROUTES, PROBES, Prober
from exporter.queues import FAILED_SCAN, JOB_STATES, RUN_STATUSES, WORKER_STATES
from exporter.snapshot import Snapshot
from exporter.status import STATUSES


def _version() -> str:
    try:
        return metadata.version("amc-agent")
    except metadata.PackageNotFoundError:
        return "unknown"


# name -> (type, help, labels): every family the exporter renders.
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "amc_discovery_candidates": ("gauge", "Candidates in the latest result users can get.", ()),
    "amc_discovery_response_seconds": ("gauge", "Duration of the latest discovery probe.", ()),
    "amc_discovery_quality_score": ("gauge", "Mean bms_score of the latest candidates.", ()),
    "amc_discovery_refreshing": (
        "gauge",
        "1 while the discovery route answers 202 queued (the platform refreshing its results).",
        (),
    ),
    "amc_system_status": ("gauge", "System status: exactly one is 1.", ("status",)),
    "amc_component_up": ("gauge", "1 when the /health component is ok.", ("component",)),
    "amc_component_health_score": (
        "gauge",
        "Share (0-100) of recent /health probes in which the component was ok.",
        ("component",),
    ),
    "amc_health_score": ("gauge", "Overall health score (0-100), mean of the components.", ()),
    "amc_api_probes": ("counter", "Probes of the core routes.", ("route",)),
    "amc_api_probe_failures": ("counter", "Failed core-route probes.", ("route", "reason")),
    "amc_api_route_up": ("gauge", "1 when an expected route answers other than 404.", ("route",)),
    "amc_data_mock_suspected": ("gauge", "1 when the latest results look like mock data.", ()),
    "amc_data_integrity_check": ("gauge", "1 when the integrity check passes.", ("check",)),
    "amc_data_integrity_ratio": (
        "gauge",
        "Share (0-1) of mock-data checks that pass (not_frozen is informational, left out).",
        (),
    ),
    "amc_discovery_jobs": ("gauge", "Jobs of the discovery queue by RQ state.", ("state",)),
    "amc_rq_jobs": (
        "gauge",
        "RQ jobs by queue (configured ones; the rest summed as other) and state.",
        ("queue", "state"),
    ),
    "amc_discovery_job_failures": (
        "gauge",
        "Discovery jobs that failed within the cache TTL, by exception class (known classes,"
        f" else other); only the newest {FAILED_SCAN} in RQ's failed registry are counted, so"
        f" the sum is at most {FAILED_SCAN}.",
        ("exception",),
    ),
    "amc_discovery_oldest_queued_job_age_seconds": (
        "gauge",
        "Age of the oldest queued discovery job (0 when none).",
        (),
    ),
    "amc_discovery_worker_heartbeat_age_seconds": (
        "gauge",
        "Age of the discovery worker heartbeat (+Inf when never seen).",
        (),
    ),
    "amc_discovery_lock_held": ("gauge", "1 while the discovery job lock is held.", ()),
    "amc_discovery_cache_ttl_seconds": (
        "gauge",
        "Remaining lifetime of the results cache (0: absent, +Inf: never expires).",
        (),
    ),
    "amc_discovery_last_run_status": (
        "gauge",
        "The platform's status of its latest discovery run: exactly one is 1.",
        ("status",),
    ),
    "amc_rq_workers": ("gauge", "RQ workers by queue and state.", ("queue", "state")),
    "amc_redis_memory_used_bytes": ("gauge", "Memory used by the platform's Redis.", ()),
    "amc_redis_memory_max_bytes": ("gauge", "Redis maxmemory (0: no limit).", ()),
    "amc_redis_up": ("gauge", "1 when the platform's Redis answered the latest read.", ()),
    "amc_api_up": ("gauge", "1 when the platform's API answered the latest core probe.", ()),
    "amc_exporter_probe_duration_seconds": (
        "gauge",
        "Duration of the latest run of the probe.",
        ("probe",),
    ),
    "amc_exporter_probe_errors": ("counter", "Probe runs that failed.", ("probe",)),
    "amc_exporter_last_probe_timestamp_seconds": (
        "gauge",
        "When the probe last finished (Unix time).",
        ("probe",),
    ),
    "amc_exporter_build_info": ("gauge", "The exporter's version.", ("version", "python_version")),
}


def _families() -> dict[str, Metric]:
    """Every family the exporter can render, without samples yet."""
    families: dict[str, Metric] = {}
    for name, (kind, doc, labels) in FAMILIES.items():
        family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
        families[name] = family(name, doc, labels=list(labels))
    return families


class ExporterCollector(Collector):
    """Renders a ``Prober``'s latest results; cheap and free of I/O, so scrapes never wait."""

    def __init__(self, prober: Prober, clock: Callable[[], float] = time.time) -> None:
        self.prober = prober
        self.clock = clock
        self.version = _version()

    def describe(self) -> Iterator[Metric]:
        """The families this collector yields (without samples)."""
        yield from _families().values()

    def collect(self) -> Iterator[Metric]:
        """The families with samples from the latest probe results."""
        families = _families()
        snapshot = self.prober.snapshot(self.clock())
        _render_status(families, snapshot)
        _render_discovery(families, snapshot)
        _render_integrity(families, snapshot)
        _render_queue(families, snapshot)
        self._render_own(families)
        for family in families.values():
            if family.samples:
                yield family

    def _render_own(self, families: dict[str, Metric]) -> None:
        stats = self.prober.stats
        for route in CORE_ROUTES:
            _add(families, "amc_api_probes", [route], stats.api_probes[route])
            for reason in FAILURES:
                value = stats.api_failures[(route, reason)]
                _add(families, "amc_api_probe_failures", [route, reason], value)
        for probe in PROBES:
            _add(families, "amc_exporter_probe_errors", [probe], stats.errors[probe])
            if probe in stats.finished_at:
                _add(
                    families, "amc_exporter_probe_duration_seconds", [probe], stats.duration[probe]
                )
                stamp = stats.finished_at[probe]
                _add(families, "amc_exporter_last_probe_timestamp_seconds", [probe], stamp)
        build = [self.version, python_platform.python_version()]
        _add(families, "amc_exporter_build_info", build, 1)


def _add(families: dict[str, Metric], name: str, labels: list[str], value: float) -> None:
    family = families[name]
    if isinstance(family, GaugeMetricFamily | CounterMetricFamily):
        family.add_metric(labels, value)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _render_status(families: dict[str, Metric], snap: Snapshot) -> None:
    if snap.api_up is not None:
        _add(families, "amc_api_up", [], float(snap.api_up))
    if snap.status is not None:
        for status in STATUSES:
            _add(families, "amc_system_status", [status], float(status == snap.status))
    for component in COMPONENTS:
        if component in snap.components:
            _add(families, "amc_component_up", [component], float(snap.components[component]))
    for component, score in snap.health_scores.items():
        _add(families, "amc_component_health_score", [component], score)
    if snap.health_score is not None:
        _add(families, "amc_health_score", [], snap.health_score)
    for route, up in snap.routes_up.items():
        _add(families, "amc_api_route_up", [route], float(up))


def _render_discovery(families: dict[str, Metric], snap: Snapshot) -> None:
    view = snap.discovery
    if view is None:
        return
    _add(families, "amc_discovery_response_seconds", [], view.response_seconds)
    if view.state is not None or view.failure is not None:
        _add(families, "amc_discovery_candidates", [], view.candidates)
        _add(families, "amc_discovery_refreshing", [], float(view.refreshing))
    if view.quality_score is not None:
        _add(families, "amc_discovery_quality_score", [], view.quality_score)


def _render_integrity(families: dict[str, Metric], snap: Snapshot) -> None:
    view = snap.integrity
    if view is None:
        if snap.discovery is not None:
            _add(families, "amc_data_mock_suspected", [], 0.0)  # no results yet: nothing to suspect
        return
    _add(families, "amc_data_mock_suspected", [], float(view.mock_suspected))
    for name in CHECKS:
        if name in view.checks:
            _add(families, "amc_data_integrity_check", [name], float(view.checks[name]))
    _add(families, "amc_data_integrity_ratio", [], view.ratio)


def _render_queue(families: dict[str, Metric], snap: Snapshot) -> None:
    if snap.redis_up is not None:
        _add(families, "amc_redis_up", [], float(snap.redis_up))
    view = snap.queue
    if view is None:
        return
    for state in JOB_STATES:
        _add(families, "amc_discovery_jobs", [state], view.jobs.get(state, 0))
    for queue, jobs in view.queue_jobs.items():
        for state in JOB_STATES:
            _add(families, "amc_rq_jobs", [queue, state], jobs.get(state, 0))
    for exception, count in view.job_failures.items():
        _add(families, "amc_discovery_job_failures", [exception], count)
    age = view.oldest_queued_job_age_seconds
    _add(families, "amc_discovery_oldest_queued_job_age_seconds", [], age)
    # Never seen a heartbeat: infinitely old, so "age > limit" alerts hold.
    beat = view.worker_heartbeat_age_seconds
    _add(families, "amc_discovery_worker_heartbeat_age_seconds", [], _or_inf(beat))
    _add(families, "amc_discovery_lock_held", [], float(view.lock_held))
    ttl = view.cache_ttl_seconds if view.cache_present else 0.0
    _add(families, "amc_discovery_cache_ttl_seconds", [], _or_inf(ttl))
    if view.last_run_status is not None:
        for status in RUN_STATUSES:
            value = float(status == view.last_run_status)
            _add(families, "amc_discovery_last_run_status", [status], value)
    # Zeros for every known queue and state, so "no idle worker" is 0 rather than absent.
    workers = {(w.queue, w.state): w.count for w in view.workers}
    for queue in sorted(set(view.queue_jobs) | {q for q, _ in workers}):
        for state in WORKER_STATES:
            _add(families, "amc_rq_workers", [queue, state], workers.get((queue, state), 0))
    if view.memory_used_bytes is not None:
        _add(families, "amc_redis_memory_used_bytes", [], view.memory_used_bytes)
    if view.memory_max_bytes is not None:
        _add(families, "amc_redis_memory_max_bytes", [], view.memory_max_bytes)
