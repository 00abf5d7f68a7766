"""``amc-agent``: is the agent itself healthy? Scrapes, probes, intake, Redis, notifications."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from grafana.panels import (
    UP_DOWN,
    AnyPanel,
    Query,
    build,
    by,
    graph,
    per_minute,
    rate,
    sel,
    timeline,
)

UID = "amc-agent"
META_ALERTS = "Amc.*|Alertmanager.*|Prometheus.*|Remediation.*"


def scrapes_row() -> list[AnyPanel]:
    return [
        timeline(
            "Targets",
            "Whether Prometheus' latest scrape of each target succeeded (AmcExporterDown, "
            "AmcRemediatorDown).",
            UP_DOWN,
            Query(sel("up"), "{{job}} {{instance}}"),
            width=24,
            height=6,
        ),
        graph(
            "Scrape duration",
            "How long Prometheus' scrapes of each target take (the exporter never blocks a "
            "scrape on the platform).",
            "s",
            Query(sel("scrape_duration_seconds"), "{{job}}"),
        ),
        graph(
            "Samples scraped",
            "Samples in each target's latest scrape.",
            "short",
            Query(sel("scrape_samples_scraped"), "{{job}}"),
        ),
    ]


def probes_row() -> list[AnyPanel]:
    return [
        graph(
            "Probe duration",
            "Duration of the latest run of each exporter probe.",
            "s",
            Query(sel("amc_exporter_probe_duration_seconds"), "{{probe}}"),
            width=8,
        ),
        graph(
            "Probe errors",
            "Failed exporter probe runs per minute, by probe.",
            "opm",
            Query(per_minute("probe", "amc_exporter_probe_errors_total"), "{{probe}}"),
            width=8,
        ),
        graph(
            "Probe age",
            "Seconds since each probe last finished (AmcExporterProbeStale above 600).",
            "s",
            Query("time() - " + sel("amc_exporter_last_probe_timestamp_seconds"), "{{probe}}"),
            width=8,
        ),
    ]


def intake_row() -> list[AnyPanel]:
    buckets = by("le", rate("amc_remediator_decision_latency_seconds_bucket"))
    return [
        graph(
            "Intake latency",
            "From an Alertmanager webhook received to its decisions durable in Redis, 50th and "
            "99th percentiles.",
            "s",
            Query(f"histogram_quantile(0.5, {buckets})", "p50"),
            Query(f"histogram_quantile(0.99, {buckets})", "p99"),
            width=8,
        ),
        graph(
            "Alerts received",
            "Alerts received per minute at the remediator's webhook by alertname and status.",
            "opm",
            Query(
                per_minute("alertname, status", "amc_remediator_alerts_received_total"),
                "{{alertname}} {{status}}",
            ),
            width=8,
        ),
        timeline(
            "Redis",
            "Whether the remediator reads its Redis and the exporter the platform's "
            "(AmcPlatformRedisUnreachable).",
            UP_DOWN,
            Query(sel("amc_remediator_redis_up"), "remediator {{instance}}"),
            Query(sel("amc_redis_up"), "platform {{instance}}"),
            width=8,
        ),
    ]


def notifications_row() -> list[AnyPanel]:
    return [
        graph(
            "Notifications",
            "Alertmanager's notifications per minute by integration, and those that failed "
            "(AlertmanagerNotificationsFailing).",
            "opm",
            Query(
                per_minute("integration", "alertmanager_notifications_total"),
                "sent {{integration}}",
            ),
            Query(
                per_minute("integration", "alertmanager_notifications_failed_total"),
                "failed {{integration}}",
            ),
            width=8,
        ),
        graph(
            "Prometheus to Alertmanager",
            "Alerts Prometheus sent, failed to send and dropped, per minute "
            "(PrometheusNotificationsFailing, PrometheusNotificationsDropped).",
            "opm",
            Query("sum (" + rate("prometheus_notifications_sent_total") + ") * 60", "sent"),
            Query("sum (" + rate("prometheus_notifications_errors_total") + ") * 60", "errors"),
            Query("sum (" + rate("prometheus_notifications_dropped_total") + ") * 60", "dropped"),
            width=8,
        ),
        graph(
            "Rule evaluation failures",
            "Failed rule evaluations per minute by rule group (PrometheusRuleEvaluationFailures).",
            "opm",
            Query(
                per_minute("rule_group", "prometheus_rule_evaluation_failures_total"),
                "{{rule_group}}",
            ),
            width=8,
        ),
        graph(
            "Meta-alerts",
            "Alerts about the agent itself and its delivery path, pending and firing.",
            "short",
            Query(
                by("alertname, alertstate", f'ALERTS{{alertname=~"{META_ALERTS}"}}', "count"),
                "{{alertname}} {{alertstate}}",
            ),
            width=24,
            height=6,
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
