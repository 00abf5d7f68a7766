"""The rule files keep the contracts of docs/architecture.md, read as data."""

from __future__ import annotations

import re

import pytest

from tests.rules.tools import (
    PROMETHEUS_DIR,
    RUNBOOKS,
    Rule,
    alert,
    alerts,
    load_yaml,
    rule_test_files,
    rules,
    seconds,
)

# docs/architecture.md, "Rules": alert -> (for, severity, priority, command).
DECISION_RULES = {
    "DiscoverySystemFailure": ("30m", "critical", "critical", "RESTART_DISCOVERY_SYSTEM"),
    "DataIntegrityCompromised": ("60m", "error", "high", "INTEGRATE_REAL_DATA"),
    "AlgorithmQualityDegraded": ("45m", "warning", "medium", "VALIDATE_ALGORITHMS"),
    "HighErrorRate": ("15m", "critical", "critical", "EMERGENCY_RESTART"),
}
SEVERITIES = {"info", "warning", "error", "critical"}
CONTRACT_RECORDING_RULES = (
    "amc:api_probe_failures:ratio_rate10m",
    "amc:platform_http_errors:ratio_rate10m",
)

# The metric names the rules may read: docs/architecture.md, "Metrics" (exporter), section 6
# (remediator) and section 8 (the mtail programs' and the exporter's job failures), the
# exporter's probe freshness, and Prometheus' own series.
KNOWN_METRICS = {
    "amc_discovery_candidates",
    "amc_discovery_response_seconds",
    "amc_discovery_quality_score",
    "amc_system_status",
    "amc_component_up",
    "amc_api_probes_total",
    "amc_api_probe_failures_total",
    "amc_api_route_up",
    "amc_data_mock_suspected",
    "amc_discovery_jobs",
    "amc_discovery_oldest_queued_job_age_seconds",
    "amc_discovery_worker_heartbeat_age_seconds",
    "amc_rq_workers",
    "amc_redis_up",
    "amc_api_up",
    "amc_exporter_last_probe_timestamp_seconds",
    "amc_discovery_job_failures",
    "amc_platform_http_requests_total",
    "amc_platform_http_request_duration_seconds",
    "amc_platform_jobs_total",
    "amc_platform_job_failures_total",
    "amc_platform_provider_errors_total",
    "amc_platform_exceptions_total",
    "amc_platform_worker_starts_total",
    "amc_platform_log_lines_total",
    "amc_remediator_executions_total",
    "amc_remediator_circuit_open",
    "amc_remediator_unverified_total",
    "amc_remediator_awaiting_approval",
    "alertmanager_notifications_failed_total",
    "prometheus_notifications_errors_total",
    "prometheus_notifications_dropped_total",
    "prometheus_rule_evaluation_failures_total",
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
_FUNCTIONS_AND_KEYWORDS = {
    "abs", "absent", "and", "avg_over_time", "bool", "by", "changes", "clamp_min", "group_left",
    "ignoring", "increase", "label_replace", "max", "max_over_time", "offset", "on", "or",
    "predict_linear", "rate", "stddev_over_time", "sum", "time", "unless", "vector", "without",
}  # fmt: skip
_IDENTIFIER = re.compile(r"(?<![\w:\"$])[a-zA-Z_:][\w:]*(?![\w\"])")


def _selected_names(expr: str) -> set[str]:
    """Metric and recording-rule names that an expression reads (not labels, not strings)."""
    no_strings = re.sub(r'"[^"]*"', '""', expr)
    no_matchers = re.sub(r"\{[^}]*\}", "{}", no_strings)
    no_groupings = re.sub(r"\b(by|without|on|ignoring|group_left)\s*\([^)]*\)", r"\1", no_matchers)
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_groupings)
    no_offsets = re.sub(r"\boffset\s+\w+", "", no_ranges)
    return set(_IDENTIFIER.findall(no_offsets)) - _FUNCTIONS_AND_KEYWORDS


def _runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook headings."""
    headings = re.findall(r"^#{2,3} (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize(("name", "expected"), DECISION_RULES.items())
def test_decision_rule_is_the_contract(name: str, expected: tuple[str, str, str, str]) -> None:
    rule = alert(name)
    duration, severity, priority, command = expected
    assert rule.file == "decision.yml"
    assert rule.duration == duration
    assert rule.labels == {"severity": severity, "priority": priority, "command": command}


def test_only_decision_rules_carry_a_command_or_a_priority() -> None:
    carrying = {rule.name for rule in alerts() if {"command", "priority"} & rule.labels.keys()}
    assert carrying == set(DECISION_RULES)


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule.name)
def test_alert_has_severity_annotations_and_a_runbook(rule: Rule) -> None:
    assert rule.labels.get("severity") in SEVERITIES
    assert set(rule.annotations) == {"summary", "description", "runbook_url"}
    anchor = rule.name.lower()
    assert rule.annotations["runbook_url"] == f"docs/runbooks.md#{anchor}"
    assert anchor in _runbook_anchors(), f"docs/runbooks.md has no heading {rule.name}"


def test_meta_and_anomaly_alerts_page_or_notify_people_only() -> None:
    for rule in alerts():
        if rule.name == "Watchdog":  # always firing, to the dead man's switch only
            assert rule.labels == {"severity": "info"}
        elif rule.name in OUTAGES:
            continue  # below
        elif rule.file == "meta.yml":
            assert rule.labels == {"severity": "critical"}, rule.name
        elif rule.file in {"anomaly.yml", "platform.yml"}:
            assert set(rule.labels) == {"severity"}, rule.name
            assert rule.labels["severity"] in {"info", "warning"}, rule.name
        elif rule.file == "classification.yml":
            assert set(rule.labels) == {"severity"}, rule.name  # no command: people act


# The classification rules (docs/architecture.md, "Rules"): alert -> severity.
CLASSIFICATION = {
    "PlatformProviderRateLimited": "warning",
    "PlatformProviderAuthFailing": "error",
    "PlatformDatabaseErrors": "error",
    "DiscoveryWorkerCrashLoop": "error",
    "DiscoveryJobTimeouts": "warning",
    "DiscoveryJobsFailing": "warning",
    "PlatformRouteErrorSpike": "warning",
}


def test_classification_rules_are_the_known_set_with_their_severities() -> None:
    found = {rule.name: rule.labels for rule in alerts() if rule.file == "classification.yml"}
    assert found == {name: {"severity": severity} for name, severity in CLASSIFICATION.items()}


# docs/architecture.md, "Rules": outages no command cures page people (severity error, no command).
OUTAGES = {"PlatformComponentDown": ("platform.yml", "5m", "amc_component_up == 0")}


@pytest.mark.parametrize(("name", "expected"), OUTAGES.items())
def test_outage_alert_is_the_contract(name: str, expected: tuple[str, str, str]) -> None:
    rule = alert(name)
    file, duration, expr = expected
    assert (rule.file, rule.group, rule.duration, rule.expr) == (
        file,
        "amc-platform",
        duration,
        expr,
    )
    assert rule.labels == {"severity": "error"}  # no command, no priority: it pages people


@pytest.mark.parametrize("name", CONTRACT_RECORDING_RULES)
def test_contract_recording_rule_exists_once(name: str) -> None:
    assert [rule.name for rule in rules()].count(name) == 1


@pytest.mark.parametrize(
    "rule", [r for r in rules() if r.kind == "record"], ids=lambda rule: rule.name
)
def test_recording_rule_is_named_level_metric_operations(rule: Rule) -> None:
    assert re.fullmatch(r"[a-z]+:[a-z0-9_]+:[a-z0-9_]+", rule.name)


def test_rules_read_only_contract_metrics_and_recorded_series() -> None:
    recorded = {rule.name for rule in rules() if rule.kind == "record"}
    unknown = {
        f"{rule.name}: {name}"
        for rule in rules()
        for name in _selected_names(rule.expr)
        if name not in KNOWN_METRICS | recorded
    }
    assert not unknown, f"rules read series outside the contract: {sorted(unknown)}"


def test_the_name_check_sees_the_names_an_expression_reads() -> None:
    """The check above can fail: it finds metric names, not labels, strings or functions."""
    expr = 'sum by (job) (rate(amc_typo_total{route="x"}[5m] offset 1h)) > on (job) up'
    assert _selected_names(expr) == {"amc_typo_total", "up"}


def test_decision_timers_restate_the_decision_rules_for() -> None:
    timers: dict[str, float] = {}
    for rule in rules():
        if rule.name == "amc:decision_rule_for:seconds":
            match = re.fullmatch(r"vector\((\d+)\)", rule.expr)
            assert match, f"timer of {rule.labels} is not a constant: {rule.expr}"
            timers[rule.labels["alertname"]] = float(match[1])
    assert timers == {name: seconds(alert(name).duration) for name in DECISION_RULES}


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in rule_test_files():
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule.name for rule in alerts()}
    assert names - firing == set(), "alerts without a firing unit test"
    # The Watchdog always fires: it has no quiet state to test.
    assert names - quiet == {"Watchdog"}, "alerts without a non-firing unit test"


def test_prometheus_config_scrapes_both_jobs_and_alerts_alertmanager() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert jobs["amc-exporter"] == ["127.0.0.1:9864"]
    assert jobs["amc-remediator"] == ["127.0.0.1:9865"]
    assert jobs["amc-mtail"] == ["127.0.0.1:3903"]  # the platform's logs (mtail's default)
    # The delivery path: the meta-alerts of group amc-delivery read their metrics.
    assert jobs["alertmanager"] == ["127.0.0.1:9093"]
    assert jobs["prometheus"] == ["127.0.0.1:9090"]
    assert config["rule_files"] == ["rules/*.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["127.0.0.1:9093"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", 900), ("1h30m", 5400), ("30s", 30), ("2d", 172800)],
)
def test_seconds_reads_prometheus_durations(text: str, expected: float) -> None:
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["", "15", "15 m", "m15", "1.5h"])
def test_seconds_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        seconds(text)
