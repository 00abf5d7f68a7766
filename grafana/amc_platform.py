"""``amc-platform``: is the platform producing candidates, and is it healthy?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from grafana.panels import UP_DOWN, AnyPanel, Query, build, by, graph, rate, sel, single, timeline

UID = "amc-platform"
STATUS_CODES = {0: ("healthy", "green"), 1: ("degraded", "yellow"),
                2: ("critical", "orange"), 3: ("down", "red")}  # fmt: skip
STATUS = " or ".join(
    "(" + sel("amc_system_status", f'status="{name}"') + f" == 1) * {code}"
    for code, (name, _) in STATUS_CODES.items()
)


def candidates_row() -> list[AnyPanel]:
    return [
        graph(
            "Candidates",
            "Candidates in the latest discovery result users can get (0 when none: unreachable, "
            "error, empty cache). DiscoverySystemFailure counts 0 as a failure signal.",
            "short",
            Query(sel("amc_discovery_candidates"), "{{instance}}"),
            width=8,
        ),
        graph(
            "Quality score",
            "Mean bms_score of the latest candidates (absent while there are none).",
            "none",
            Query(sel("amc_discovery_quality_score"), "{{instance}}"),
            width=8,
            minimum=None,
        ),
        graph(
            "Data integrity",
            "Share of mock-data checks the latest results pass, and whether mock or fallback "
            "data is suspected (DataIntegrityCompromised).",
            "percentunit",
            Query(sel("amc_data_integrity_ratio"), "checks passed {{instance}}"),
            Query(sel("amc_data_mock_suspected"), "mock suspected {{instance}}"),
            width=8,
            maximum=1,
        ),
    ]


def health_row() -> list[AnyPanel]:
    return [
        timeline(
            "System status",
            "The exporter's system status from the platform's machinery: down (API "
            "unreachable), critical (Redis or database failing, no live worker, a queued job "
            "older than the job timeout), degraded (a provider failing, a late heartbeat, jobs "
            "failing), else healthy.",
            STATUS_CODES,
            Query(by("job, instance", STATUS, "max"), "{{instance}}"),
            height=6,
        ),
        timeline(
            "Component health",
            "Each /health component (env, database, redis, polygon, alpaca) as the latest "
            "health probe saw it.",
            UP_DOWN,
            Query(sel("amc_component_up"), "{{component}}"),
            height=6,
        ),
        graph(
            "Discovery latency",
            "Duration of the latest discovery probe. Above 20 s counts for "
            "AlgorithmQualityDegraded, above 60 s for DiscoverySystemFailure.",
            "s",
            Query(sel("amc_discovery_response_seconds"), "{{instance}}"),
            width=8,
        ),
        graph(
            "Latency per route",
            "95th percentile of the platform's request durations per route, from its access "
            "logs (mtail).",
            "s",
            Query(
                "histogram_quantile(0.95, "
                + by(
                    "job, instance, route, le",
                    rate("amc_platform_http_request_duration_seconds_bucket"),
                )
                + ")",
                "p95 {{route}}",
            ),
            width=8,
        ),
        graph(
            "Error ratios",
            "Failed over all core-route probes of the exporter in the last 10 minutes, and 5xx "
            "over all requests of the platform's own traffic (from its logs). HighErrorRate "
            "fires on either above 20 %.",
            "percentunit",
            Query(sel("amc:api_probe_failures:ratio_rate10m"), "probes {{instance}}"),
            Query(sel("amc:platform_http_errors:ratio_rate10m"), "traffic {{instance}}"),
            width=8,
            maximum=1,
        ),
        graph(
            "Probe failures by reason",
            "Failed core-route probes per second, by route and reason (timeout, connection, "
            "status).",
            "reqps",
            Query(
                by("route, reason", rate("amc_api_probe_failures_total")), "{{route}} {{reason}}"
            ),
        ),
        graph(
            "Requests by status class",
            "The platform's requests per second by route and status class, from its access "
            "logs (mtail).",
            "reqps",
            Query(
                by("route, status_class", rate("amc_platform_http_requests_total")),
                "{{route}} {{status_class}}",
            ),
        ),
        timeline(
            "Routes",
            "Whether each expected route answers with something other than 404 "
            "(PlatformRouteMissing).",
            UP_DOWN,
            Query(sel("amc_api_route_up"), "{{route}}"),
            height=6,
        ),
    ]


def queue_row() -> list[AnyPanel]:
    return [
        graph(
            "Discovery jobs by state",
            "Jobs of the discovery queue by RQ state.",
            "short",
            Query(sel("amc_discovery_jobs"), "{{state}}"),
            width=8,
        ),
        graph(
            "Job ages",
            "Age of the oldest queued discovery job (0 when none; DiscoveryQueueStuck above the "
            "job timeout) and of the worker heartbeat (DiscoveryWorkerHeartbeatStale).",
            "s",
            Query(sel("amc_discovery_oldest_queued_job_age_seconds"), "oldest queued job"),
            Query(sel("amc_discovery_worker_heartbeat_age_seconds"), "heartbeat"),
            width=8,
        ),
        graph(
            "Workers",
            "RQ workers by queue and state.",
            "short",
            Query(by("queue, state", sel("amc_rq_workers")), "{{queue}} {{state}}"),
            width=8,
        ),
        graph(
            "Jobs by outcome",
            "Jobs started, finished and failed per second by queue and outcome, from the "
            "workers' logs (mtail).",
            "ops",
            Query(by("queue, outcome", rate("amc_platform_jobs_total")), "{{queue}} {{outcome}}"),
            width=8,
        ),
        graph(
            "Job failures by exception",
            "Failed jobs per second by exception class (known classes, the rest as other), from "
            "the workers' logs (mtail).",
            "ops",
            Query(
                by("queue, exception", rate("amc_platform_job_failures_total")),
                "{{queue}} {{exception}}",
            ),
            width=8,
        ),
        graph(
            "Failed discovery jobs by exception",
            "Discovery jobs that failed within the cache TTL, by exception class, as the "
            "exporter reads them from RQ's failed-job registry (no logs needed).",
            "short",
            Query(by("exception", sel("amc_discovery_job_failures"), "max"), "{{exception}}"),
            width=8,
        ),
        graph(
            "Redis memory",
            "Memory used by the platform's Redis, and its maxmemory (0: no limit).",
            "bytes",
            Query(sel("amc_redis_memory_used_bytes"), "used"),
            Query(sel("amc_redis_memory_max_bytes"), "max"),
            width=8,
        ),
    ]


def logs_row() -> list[AnyPanel]:
    return [
        graph(
            "Provider errors",
            "Market-data provider errors per second by provider and kind (rate_limited, auth, "
            "timeout, other), from the platform's logs (mtail).",
            "ops",
            Query(
                by("provider, kind", rate("amc_platform_provider_errors_total")),
                "{{provider}} {{kind}}",
            ),
        ),
        graph(
            "Log lines",
            "Log lines read per second by log and whether a pattern matched them (unknown lines "
            "are counted, never dropped).",
            "ops",
            Query(
                by("log, matched", rate("amc_platform_log_lines_total")),
                "{{log}} matched={{matched}}",
            ),
        ),
        single(
            "Requests in range",
            "The platform's requests over the dashboard's time range, by status class (mtail).",
            "short",
            by(
                "status_class",
                "increase(" + sel("amc_platform_http_requests_total") + "[$__range])",
            ),
            "{{status_class}}",
            width=24,
            height=4,
        ),
    ]


def dashboard_model() -> dashboard.Dashboard:
    """The platform dashboard."""
    return build(
        UID,
        "AMC platform",
        "Is the AMC-TRADER platform producing candidates, and is it healthy? The exporter's "
        "probes and the platform's logs.",
        [
            ("Candidates: is the platform producing?", candidates_row()),
            ("Health: latency, errors, components, status", health_row()),
            ("Queue and workers", queue_row()),
            ("Logs: traffic, providers, log lines", logs_row()),
        ],
    )
