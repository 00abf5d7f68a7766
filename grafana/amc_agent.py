"""``amc-agent``: is the agent itself healthy? Scrapes, probes, intake, Redis, notifications."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from grafana.panels import AnyPanel, Look, Query, build, graph, rate, sel, timeline

UID = "amc-agent"
UP_DOWN = {0: ("down", "red"), 1: ("up", "green")}
META_ALERTS = "Amc.*|Alertmanager.*|Prometheus.*|RemediationNotEffective"


def scrapes_row() -> list[AnyPanel]:
    return [
        timeline(
            Look(
                "Targets",
                "Whether Prometheus' latest scrape of each target succeeded "
                "(AmcExporterDown, AmcRemediatorDown).",
                "none",
                24,
                6,
                queries=[Query(sel("up"), "{{job}} {{instance}}")],
            ),
            UP_DOWN,
        ),
        graph(
            Look(
                "Scrape duration",
                "How long Prometheus' scrapes of each target take (the "
                "exporter never blocks a scrape on the platform).",
                "s",
                12,
                queries=[Query(sel("scrape_duration_seconds"), "{{job}}")],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Samples scraped",
                "Samples in each target's latest scrape.",
                "short",
                12,
                queries=[Query(sel("scrape_samples_scraped"), "{{job}}")],
            ),
            minimum=0,
        ),
    ]


def probes_row() -> list[AnyPanel]:
    return [
        graph(
            Look(
                "Probe duration",
                "Duration of the latest run of each exporter probe.",
                "s",
                8,
                queries=[Query(sel("amc_exporter_probe_duration_seconds"), "{{probe}}")],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Probe errors",
                "Failed exporter probe runs per minute, by probe.",
                "opm",
                8,
                queries=[
                    Query(
                        "sum by (probe) (" + rate("amc_exporter_probe_errors_total") + ") * 60",
                        "{{probe}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Probe age",
                "Seconds since each probe last finished (AmcExporterProbeStale above 600).",
                "s",
                8,
                queries=[
                    Query(
                        "time() - " + sel("amc_exporter_last_probe_timestamp_seconds"), "{{probe}}"
                    )
                ],
            ),
            minimum=0,
        ),
    ]


def intake_row() -> list[AnyPanel]:
    buckets = "sum by (le) (" + rate("amc_remediator_decision_latency_seconds_bucket") + ")"
    return [
        graph(
            Look(
                "Intake latency",
                "From an Alertmanager webhook received to its decisions "
                "durable in Redis, 50th and 99th percentiles.",
                "s",
                8,
                queries=[
                    Query(f"histogram_quantile(0.5, {buckets})", "p50"),
                    Query(f"histogram_quantile(0.99, {buckets})", "p99"),
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Alerts received",
                "Alerts received per minute at the remediator's webhook by alertname and status.",
                "opm",
                8,
                queries=[
                    Query(
                        "sum by (alertname, status) ("
                        + rate("amc_remediator_alerts_received_total")
                        + ") * 60",
                        "{{alertname}} {{status}}",
                    )
                ],
            ),
            minimum=0,
        ),
        timeline(
            Look(
                "Redis",
                "Whether the remediator reads its Redis and the exporter the "
                "platform's (AmcPlatformRedisUnreachable).",
                "none",
                8,
                queries=[
                    Query(sel("amc_remediator_redis_up"), "remediator {{instance}}"),
                    Query(sel("amc_redis_up"), "platform {{instance}}"),
                ],
            ),
            UP_DOWN,
        ),
    ]


def notifications_row() -> list[AnyPanel]:
    return [
        graph(
            Look(
                "Notifications",
                "Alertmanager's notifications per minute by integration, "
                "and those that failed (AlertmanagerNotificationsFailing).",
                "opm",
                8,
                queries=[
                    Query(
                        "sum by (integration) ("
                        + rate("alertmanager_notifications_total")
                        + ") * 60",
                        "sent {{integration}}",
                    ),
                    Query(
                        "sum by (integration) ("
                        + rate("alertmanager_notifications_failed_total")
                        + ") * 60",
                        "failed {{integration}}",
                    ),
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Prometheus to Alertmanager",
                "Alerts Prometheus sent, failed to send and "
                "dropped, per minute (PrometheusNotificationsFailing, "
                "PrometheusNotificationsDropped).",
                "opm",
                8,
                queries=[
                    Query("sum (" + rate("prometheus_notifications_sent_total") + ") * 60", "sent"),
                    Query(
                        "sum (" + rate("prometheus_notifications_errors_total") + ") * 60", "errors"
                    ),
                    Query(
                        "sum (" + rate("prometheus_notifications_dropped_total") + ") * 60",
                        "dropped",
                    ),
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Rule evaluation failures",
                "Failed rule evaluations per minute by rule "
                "group (PrometheusRuleEvaluationFailures).",
                "opm",
                8,
                queries=[
                    Query(
                        "sum by (rule_group) ("
                        + rate("prometheus_rule_evaluation_failures_total")
                        + ") * 60",
                        "{{rule_group}}",
                    )
                ],
            ),
            minimum=0,
        ),
        graph(
            Look(
                "Meta-alerts",
                "Alerts about the agent itself and its delivery path, pending and firing.",
                "short",
                24,
                6,
                queries=[
                    Query(
                        f'count by (alertname, alertstate) (ALERTS{{alertname=~"{META_ALERTS}"}})',
                        "{{alertname}} {{alertstate}}",
                    )
                ],
            ),
            minimum=0,
        ),
    ]


def dashboard_model() -> dashboard.Dashboard:
    """The agent's own dashboard."""
    return build(
        UID,
        "AMC agent",
        "Is the agent itself healthy? Prometheus' scrapes, the exporter's probes, the "
        "remediator's intake and Redis, and the delivery of notifications.",
        [
            ("Scrapes", scrapes_row()),
            ("Exporter probes", probes_row()),
            ("Remediator intake and Redis", intake_row()),
            ("Notifications and rules", notifications_row()),
        ],
    )
