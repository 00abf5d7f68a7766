"""``amc-automation``: what the agent is doing about it: the decision rules, the remediator's
decisions and executions, and whether they cured the platform."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from grafana.panels import (
    AnyPanel,
    Query,
    annotation,
    build,
    by,
    graph,
    per_minute,
    rate,
    sel,
    single,
    timeline,
)

UID = "amc-automation"
DECISION_RULES = (
    "DiscoverySystemFailure",
    "DataIntegrityCompromised",
    "AlgorithmQualityDegraded",
    "HighErrorRate",
)
DECISION_RULES_RE = "|".join(DECISION_RULES)
RULE_STATES = {0: ("inactive", "green"), 1: ("pending", "yellow"), 2: ("firing", "red")}
OPEN_CLOSED = {0: ("closed", "green"), 1: ("open", "red")}
DECISION_ALERTS = f'ALERTS{{alertname=~"{DECISION_RULES_RE}"'
# Every decision rule has a row, inactive ones too: amc:decision_rule_for:seconds names each.
RULE_STATE = (
    f'max by (alertname) ({DECISION_ALERTS}, alertstate="firing"}} * 2 '
    f'or {DECISION_ALERTS}, alertstate="pending"}} '
    "or amc:decision_rule_for:seconds * 0)"
)
# Executions are kept in Redis and every remediator replica reports the same cluster-wide
# counts: max, not sum, across replicas.
EXECUTIONS = per_minute("command, outcome", "amc_remediator_executions_total", "max")


def _mean(name: str, labels: str, how: str = "sum") -> str:
    """Mean observation of a histogram over the dashboard's range, per ``labels``."""
    total, count = (
        by(labels, f"increase({sel(name + suffix)}[$__range])", how)
        for suffix in ("_sum", "_count")
    )
    return f"{total} / ({count} > 0)"


def rules_row() -> list[AnyPanel]:
    return [
        timeline(
            "Decision rules",
            "The four decision rules: inactive, pending (the condition holds, waiting out the "
            "rule's for:) or firing (sent to the remediator).",
            RULE_STATES,
            Query(RULE_STATE, "{{alertname}}"),
            height=7,
        ),
        graph(
            "Time to trigger",
            "For each pending decision rule, the seconds left before it fires and the "
            "remediator acts.",
            "s",
            Query("amc:decision_rule_time_to_trigger:seconds", "{{alertname}}"),
            height=7,
        ),
        graph(
            "Alerts by state",
            "Alerts pending and firing in Prometheus, by severity (the Watchdog left out).",
            "short",
            Query(
                by("alertstate, severity", 'ALERTS{alertname!="Watchdog"}', "count"),
                "{{alertstate}} {{severity}}",
            ),
            width=24,
            height=6,
        ),
    ]


def executions_row() -> list[AnyPanel]:
    return [
        graph(
            "Decisions",
            "The remediator's decisions per minute by command and reason (enqueued, cooldown, "
            "circuit open, duplicate, dry run...).",
            "opm",
            Query(
                per_minute("command, decision", "amc_remediator_decisions_total"),
                "{{command}} {{decision}}",
            ),
        ),
        graph(
            "Executions by command and outcome",
            "Finished executions per minute by command and outcome (succeeded, failed, "
            "timed_out, cancelled).",
            "opm",
            Query(EXECUTIONS, "{{command}} {{outcome}}"),
        ),
        graph(
            "Execution duration",
            "95th percentile of the duration of finished executions, by command.",
            "s",
            Query(
                "histogram_quantile(0.95, "
                + by("command, le", rate("amc_remediator_execution_duration_seconds_bucket"), "max")
                + ")",
                "p95 {{command}}",
            ),
        ),
        graph(
            "Unverified executions",
            "Alert-triggered executions per minute that ran to the end without curing the "
            "problem (escalated to people).",
            "opm",
            Query(
                per_minute("command", "amc_remediator_unverified_total", "max"),
                "{{command}}",
            ),
        ),
    ]


def outcomes_row() -> list[AnyPanel]:
    return [
        single(
            "MTTR",
            "Mean time from an alert's start to its resolution, per alert, over the dashboard's "
            "time range.",
            "s",
            _mean("amc_remediator_alert_resolution_seconds", "alertname"),
            "{{alertname}}",
            width=8,
            height=6,
        ),
        single(
            "Time to remediate",
            "Mean time from an alert's start to its successful remediation, per command, over "
            "the dashboard's time range.",
            "s",
            _mean("amc_remediator_time_to_remediate_seconds", "command", "max"),
            "{{command}}",
            width=8,
            height=6,
        ),
        single(
            "Executions in range",
            "Finished executions over the dashboard's time range, by outcome.",
            "short",
            by(
                "outcome",
                by(
                    "command, outcome",
                    "increase(" + sel("amc_remediator_executions_total") + "[$__range])",
                    "max",
                ),
            ),
            "{{outcome}}",
            width=8,
            height=6,
        ),
        timeline(
            "Circuits",
            "Each command's circuit: open after too many executions in its window "
            "(AmcRemediationCircuitOpen), the command is then refused.",
            OPEN_CLOSED,
            Query(by("command", sel("amc_remediator_circuit_open"), "max"), "{{command}}"),
            height=7,
        ),
        graph(
            "Remediation queue depth",
            "Jobs waiting in each priority queue of the remediator.",
            "short",
            Query(by("priority", sel("amc_remediator_queue_depth"), "max"), "{{priority}}"),
            height=7,
        ),
        graph(
            "Awaiting approval",
            "Executions waiting for a person's yes, per command (RemediationAwaitingApproval "
            "pages people): approve or reject them with the API or amc-remediator "
            "approve|reject.",
            "short",
            Query(by("command", sel("amc_remediator_awaiting_approval"), "max"), "{{command}}"),
            width=24,
            height=6,
        ),
    ]


def dashboard_model() -> dashboard.Dashboard:
    """The automation dashboard."""
    return build(
        UID,
        "AMC automation",
        "What the agent does about the platform: decision rules pending and firing, the "
        "remediator's decisions and executions, MTTR and circuits.",
        [
            ("Decision rules: pending, firing, time to trigger", rules_row()),
            ("Remediation: decisions and executions", executions_row()),
            ("Outcomes: MTTR, time to remediate, circuits", outcomes_row()),
        ],
        annotations=[
            annotation("Executions", EXECUTIONS + " > 0", "{{command}}", "{{outcome}}", "blue"),
            annotation(
                "Decision rules firing",
                DECISION_ALERTS + ', alertstate="firing"}',
                "{{alertname}}",
                "{{instance}}",
                "red",
            ),
        ],
    )
