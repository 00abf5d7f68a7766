"""``amc-platform``: is the platform producing candidates, and is it healthy?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from grafana.panels import AnyPanel, Look, Query, build, graph, rate, sel, single, timeline

UID = "amc-platform"
STATUS_CODES = {0: ("healthy", "green"), 1: ("degraded", "yellow"),
                2: ("critical", "orange"), 3: ("down", "red")}  # fmt: skip
UP_DOWN = {0: ("down", "red"), 1: ("up", "green")}
STATUS = " or ".join(
    "(" + sel("amc_system_status", f'status="{name}"') + f" == 1) * {code}"
    for code, (name, _) in STATUS_CODES.items()
)


def candidates_row() -> list[AnyPanel]:
    return [
        graph(
            Look(
                "Candidates",
                "Candidates in the latest discovery result users can get "
                "(0 when none: unreachable, error, empty cache). DiscoverySystemFailure "
                "counts 0 as a failure signal.",
                "short",
                8,
                queries=[Query(sel("amc_discovery_candidates"), "{{instance}}")],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Quality score",
                "Mean bms_score of the latest candidates (absent while there are none).",
                "none",
                8,
                queries=[Query(sel("amc_discovery_quality_score"), "{{instance}}")],
            )
        ),
        graph(
            Look(
                "Data integrity",
                "Share of mock-data checks the latest results pass, and "
                "whether mock or fallback data is suspected (DataIntegrityCompromised).",
                "percentunit",
                8,
                queries=[
                    Query(sel("amc_data_integrity_ratio"), "checks passed {{instance}}"),
                    Query(sel("amc_data_mock_suspected"), "mock suspected {{instance}}"),
                ],
            ),
            minimum=0,
            maximum=1,
        ),
    ]


def health_row() -> list[AnyPanel]:
    return [
        timeline(
            Look(
                "System status",
                "The exporter's system status from the platform's "
                "machinery: down (API unreachable), critical (Redis or database failing, "
                "no live worker, a queued job older than the job timeout), degraded "
                "(a provider failing, a late heartbeat, jobs failing), else healthy.",
                "none",
                12,
                6,
                queries=[Query(f"max by (job, instance) ({STATUS})", "{{instance}}")],
            ),
            STATUS_CODES,
        ),
        timeline(
            Look(
                "Component health",
                "Each /health component (env, database, redis, "
                "polygon, alpaca) as the latest health probe saw it.",
                "none",
                12,
                6,
                queries=[Query(sel("amc_component_up"), "{{component}}")],
            ),
            UP_DOWN,
        ),
        graph(
            Look(
                "Discovery latency",
                "Duration of the latest discovery probe. Above 20 s "
                "counts for AlgorithmQualityDegraded, above 60 s for "
                "DiscoverySystemFailure.",
                "s",
                8,
                queries=[Query(sel("amc_discovery_response_seconds"), "{{instance}}")],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Latency per route",
                "95th percentile of the platform's request durations "
                "per route, from its access logs (mtail).",
                "s",
                8,
                queries=[
                    Query(
                        "histogram_quantile(0.95, sum by (job, instance, route, le) ("
                        + rate("amc_platform_http_request_duration_seconds_bucket")
                        + "))",
                        "p95 {{route}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Error ratios",
                "Failed over all core-route probes of the exporter in the "
                "last 10 minutes, and 5xx over all requests of the platform's own traffic "
                "(from its logs). HighErrorRate fires on either above 20 %.",
                "percentunit",
                8,
                queries=[
                    Query(sel("amc:api_probe_failures:ratio_rate10m"), "probes {{instance}}"),
                    Query(sel("amc:platform_http_errors:ratio_rate10m"), "traffic {{instance}}"),
                ],
            ),
            minimum=0,
            maximum=1,
        ),
        graph(
            Look(
                "Probe failures by reason",
                "Failed core-route probes per second, by route "
                "and reason (timeout, connection, status).",
                "reqps",
                12,
                queries=[
                    Query(
                        "sum by (route, reason) (" + rate("amc_api_probe_failures_total") + ")",
                        "{{route}} {{reason}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Requests by status class",
                "The platform's requests per second by route "
                "and status class, from its access logs (mtail).",
                "reqps",
                12,
                queries=[
                    Query(
                        "sum by (route, status_class) ("
                        + rate("amc_platform_http_requests_total")
                        + ")",
                        "{{route}} {{status_class}}",
                    )
                ],
            ),
            minimum=0,
        ),
        timeline(
            Look(
                "Routes",
                "Whether each expected route answers with something other "
                "than 404 (PlatformRouteMissing).",
                "none",
                12,
                6,
                queries=[Query(sel("amc_api_route_up"), "{{route}}")],
            ),
            UP_DOWN,
        ),
    ]


def queue_row() -> list[AnyPanel]:
    return [
        graph(
            Look(
                "Discovery jobs by state",
                "Jobs of the discovery queue by RQ state.",
                "short",
                8,
                queries=[Query(sel("amc_discovery_jobs"), "{{state}}")],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Job ages",
                "Age of the oldest queued discovery job (0 when none; "
                "DiscoveryQueueStuck above the job timeout) and of the worker heartbeat "
                "(DiscoveryWorkerHeartbeatStale).",
                "s",
                8,
                queries=[
                    Query(sel("amc_discovery_oldest_queued_job_age_seconds"), "oldest queued job"),
                    Query(sel("amc_discovery_worker_heartbeat_age_seconds"), "heartbeat"),
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Workers",
                "RQ workers by queue and state.",
                "short",
                8,
                queries=[
                    Query(
                        "sum by (queue, state) (" + sel("amc_rq_workers") + ")",
                        "{{queue}} {{state}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Jobs by outcome",
                "Jobs finished per second by queue and outcome, from the workers' logs (mtail).",
                "ops",
                8,
                queries=[
                    Query(
                        "sum by (queue, outcome) (" + rate("amc_platform_jobs_total") + ")",
                        "{{queue}} {{outcome}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Job failures by exception",
                "Failed jobs per second by exception class "
                "(known classes, the rest as other), from the workers' logs (mtail).",
                "ops",
                8,
                queries=[
                    Query(
                        "sum by (queue, exception) ("
                        + rate("amc_platform_job_failures_total")
                        + ")",
                        "{{queue}} {{exception}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Failed discovery jobs by exception",
                "Discovery jobs that failed within the cache TTL, by exception class, as the "
                "exporter reads them from RQ's failed-job registry (no logs needed).",
                "short",
                8,
                queries=[
                    Query(
                        "max by (exception) (" + sel("amc_discovery_job_failures") + ")",
                        "{{exception}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Redis memory",
                "Memory used by the platform's Redis, and its maxmemory (0: no limit).",
                "bytes",
                8,
                queries=[
                    Query(sel("amc_redis_memory_used_bytes"), "used"),
                    Query(sel("amc_redis_memory_max_bytes"), "max"),
                ],
            ),
            minimum=0,
        ),
    ]


def logs_row() -> list[AnyPanel]:
    return [
        graph(
            Look(
                "Provider errors",
                "Market-data provider errors per second by provider and "
                "kind (rate_limited, auth, timeout, other), from the platform's logs "
                "(mtail).",
                "ops",
                12,
                queries=[
                    Query(
                        "sum by (provider, kind) ("
                        + rate("amc_platform_provider_errors_total")
                        + ")",
                        "{{provider}} {{kind}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Log lines",
                "Log lines read per second by log and whether a pattern "
                "matched them (unknown lines are counted, never dropped).",
                "ops",
                12,
                queries=[
                    Query(
                        "sum by (log, matched) (" + rate("amc_platform_log_lines_total") + ")",
                        "{{log}} matched={{matched}}",
                    )
                ],
            ),
            minimum=0,
        ),
        single(
            Look(
                "Requests in range",
                "The platform's requests over the dashboard's time range, by status class (mtail).",
                "short",
                24,
                4,
                queries=[
                    Query(
                        "sum by (status_class) (increase("
                        + sel("amc_platform_http_requests_total")
                        + "[$__range]))",
                        "{{status_class}}",
                        instant=True,
                    )
                ],
            )
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
