"""The promtool and amtool tests can fail: each wrong rule or route below is caught.

Each row changes one thing in a copy of prometheus/ or alertmanager/ (the kind of slip a
maintainer makes) and names the unit test file or routing case that must then fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.rules.tools import (
    ALERTMANAGER_DIR,
    PROMETHEUS_DIR,
    output,
    route_test,
    run,
)

# (why, rule file, old text, new text, promtool test file that must fail)
RULE_MUTATIONS: list[tuple[str, str, str, str, str]] = [
    ("DiscoverySystemFailure fires a minute early", "decision.yml",
     "for: 30m", "for: 29m", "discovery_system_failure.yml"),
    ("DiscoverySystemFailure on one signal", "decision.yml",
     "(amc_discovery_response_seconds > bool 60)\n          ) >= 2",
     "(amc_discovery_response_seconds > bool 60)\n          ) >= 1",
     "discovery_system_failure.yml"),
    ("AlgorithmQualityDegraded fires a minute early", "decision.yml",
     "for: 45m", "for: 44m", "algorithm_quality_degraded.yml"),
    ("a status state that is not published silences the two other signals", "decision.yml",
     'amc_system_status{status="degraded"} or amc_system_status * 0',
     'amc_system_status{status="degraded"}', "algorithm_quality_degraded.yml"),
    ("DataIntegrityCompromised fires a minute early", "decision.yml",
     "for: 60m", "for: 59m", "data_integrity_compromised.yml"),
    ("three candidates counted as too few", "decision.yml",
     "max_over_time(amc_discovery_candidates[15m]) < 3",
     "max_over_time(amc_discovery_candidates[15m]) <= 3", "data_integrity_compromised.yml"),
    ("fewer than 3 candidates without 15 minutes of history", "decision.yml",
     "amc_discovery_candidates offset 15m", "amc_discovery_candidates offset 1m",
     "data_integrity_compromised.yml"),
    ("old samples of a vanished exporter keep the rule pending", "decision.yml",
     "< 3\n            and\n              amc_discovery_candidates\n            and",
     "< 3\n            and", "data_integrity_compromised.yml"),
    ("HighErrorRate at exactly 20 %", "decision.yml",
     "          ) > 0.20\n        for: 15m", "          ) >= 0.20\n        for: 15m",
     "high_error_rate.yml"),
    ("HighErrorRate deaf to the platform's own traffic", "decision.yml",
     "max(amc:platform_http_errors:ratio_rate10m)",
     "max(amc:platform_http_errors:ratio_rate10m) * 0",
     "high_error_rate.yml"),
    ("/health's 503s counted as failed requests", "recording.yml",
     'rate(amc_platform_http_requests_total{route!="health"}[10m])\n                  ) > 0',
     'rate(amc_platform_http_requests_total[10m])\n                  ) > 0',
     "high_error_rate.yml"),
    ("the log's error ratio outlives mtail", "recording.yml",
     "          and on (job, instance)\n"
     "          sum without (route, status_class) (amc_platform_http_requests_total)\n",
     "", "high_error_rate.yml"),
    ("no failure series means no ratio instead of 0", "recording.yml",
     "                or\n"
     "                  sum without (route) (rate(amc_api_probes_total[10m])) * 0\n",
     "", "recording.yml"),
    ("the error ratio outlives a vanished exporter", "recording.yml",
     "          and on (job, instance)\n          sum without (route) (amc_api_probes_total)\n",
     "", "high_error_rate.yml"),
    ("a flat latency baseline divides by a smaller floor", "recording.yml",
     "baseline_stddev1h, 0.5)", "baseline_stddev1h, 0.25)", "recording.yml"),
    ("the latency baseline absorbs the anomaly", "recording.yml",
     "amc_discovery_response_seconds[1h] offset 20m", "amc_discovery_response_seconds[1h]",
     "anomaly.yml"),
    ("time to trigger from a wrong for", "recording.yml",
     "vector(1800)", "vector(1700)", "discovery_system_failure.yml"),
    ("time to trigger for firing alerts too", "recording.yml",
     'ALERTS{alertstate="pending"}', "ALERTS", "discovery_system_failure.yml"),
    ("frozen results on a moving score", "anomaly.yml",
     "changes(amc_discovery_quality_score[1h]) == 0",
     "changes(amc_discovery_quality_score[1h]) >= 0", "anomaly.yml"),
    ("meta-alerts keep the command label (they would reach the remediator)", "meta.yml",
     '"command", "", "", ""', '"unused", "", "", ""', "meta.yml"),
    ("remediation failures older than the hour page", "meta.yml",
     'outcome=~"failed|timed_out"}[1h]', 'outcome=~"failed|timed_out"}[2h]', "meta.yml"),
    ("timed-out executions are not failures", "meta.yml",
     'outcome=~"failed|timed_out"}[1h]', 'outcome="failed"}[1h]', "meta.yml"),
    ("the failures of a command counted by its worse outcome alone", "meta.yml",
     "sum without (outcome) (", "max without (outcome) (", "meta.yml"),
    ("PlatformComponentDown pages a minute early", "platform.yml",
     "amc_component_up == 0\n        for: 5m", "amc_component_up == 0\n        for: 4m",
     "platform.yml"),
    ("PlatformComponentDown on healthy components", "platform.yml",
     "expr: amc_component_up == 0", "expr: amc_component_up <= 1", "platform.yml"),
    ("PlatformComponentDown with another severity", "platform.yml",
     "for: 5m\n        labels:\n          severity: error",
     "for: 5m\n        labels:\n          severity: critical", "platform.yml"),
    ("AlgorithmQualityDegraded on one candidate alone", "decision.yml",
     "(amc_discovery_response_seconds > bool 20)\n          ) >= 2",
     "(amc_discovery_response_seconds > bool 20)\n          ) >= 1",
     "algorithm_quality_degraded.yml"),
    ("every route reported missing while the API is down", "platform.yml",
     "amc_api_route_up == 0 and on (job, instance) amc_api_up == 1", "amc_api_route_up == 0",
     "platform.yml"),
    ("exporter absence looked up under a wrong job", "meta.yml",
     'absent(up{job="amc-exporter"})', 'absent(up{job="amc-exporters"})', "meta.yml"),
    # Thresholds and timers pinned at their boundaries.
    ("an error ratio of exactly 10 % compromises the data", "decision.yml",
     "(amc:api_probe_failures:ratio_rate10m > 0.10)",
     "(amc:api_probe_failures:ratio_rate10m >= 0.10)", "data_integrity_compromised.yml"),
    ("an error ratio of 11 % does not compromise the data", "decision.yml",
     "(amc:api_probe_failures:ratio_rate10m > 0.10)",
     "(amc:api_probe_failures:ratio_rate10m > 0.11)", "data_integrity_compromised.yml"),
    ("a route failing 20 % of its requests spikes", "classification.yml",
     "          ) > 0.20\n        for: 5m", "          ) > 0.19\n        for: 5m",
     "classification.yml"),
    ("the first job timeout goes unseen", "classification.yml",
     'exception="JobTimeoutException"} offset 30m', 'exception="JobTimeoutException"} offset 0m',
     "classification.yml"),
    ("a 3-minute burst of rate limits is an incident", "classification.yml",
     'kind="rate_limited"}[5m])', 'kind="rate_limited"}[10m])', "classification.yml"),
    ("three worker starts are a crash loop", "classification.yml",
     "(amc_platform_worker_starts_total[15m])) > 3", "(amc_platform_worker_starts_total[15m])) > 2",
     "classification.yml"),
    ("a latency z-score of exactly 3 is an anomaly", "anomaly.yml",
     "zscore5m > 3", "zscore5m >= 3", "anomaly.yml"),
    ("a candidate z-score of exactly -3 is an anomaly", "anomaly.yml",
     "zscore5m < -3", "zscore5m <= -3", "anomaly.yml"),
    ("DiscoveryLatencyAnomaly fires a minute early", "anomaly.yml",
     "zscore5m > 3\n        for: 15m", "zscore5m > 3\n        for: 14m", "anomaly.yml"),
    ("DiscoveryCandidatesAnomaly fires a minute early", "anomaly.yml",
     "zscore5m < -3\n        for: 15m", "zscore5m < -3\n        for: 14m", "anomaly.yml"),
    ("anomalies resolve once the baseline catches up", "anomaly.yml",
     "        keep_firing_for: 30m\n", "", "anomaly.yml"),
    ("frozen results over half an hour", "anomaly.yml",
     "changes(amc_discovery_quality_score[1h])", "changes(amc_discovery_quality_score[30m])",
     "anomaly.yml"),
    ("candidates trending to zero within two hours", "anomaly.yml",
     "[1h], 3600) <= 0", "[1h], 7200) <= 0", "anomaly.yml"),
    ("candidates trending to zero within half an hour", "anomaly.yml",
     "[1h], 3600) <= 0", "[1h], 1800) <= 0", "anomaly.yml"),
    ("a latency baseline before its hour is full", "recording.yml",
     "amc_discovery_response_seconds offset 80m", "amc_discovery_response_seconds offset 79m",
     "recording.yml"),
    ("a candidate baseline before its hour is full", "recording.yml",
     "amc_discovery_candidates offset 80m", "amc_discovery_candidates offset 79m",
     "recording.yml"),
    ("a negative time to trigger", "recording.yml",
     "            0\n          )\n          and ignoring",
     "            -3600\n          )\n          and ignoring", "recording.yml"),
    ("rule inputs without amc_discovery_candidates", "meta.yml",
     "              amc_discovery_candidates\n"
     "            and on (job, instance) amc_discovery_response_seconds\n",
     "              amc_discovery_response_seconds\n", "meta.yml"),
    ("rule inputs without amc_discovery_response_seconds", "meta.yml",
     "            and on (job, instance) amc_discovery_response_seconds\n", "", "meta.yml"),
    ("rule inputs without amc_system_status", "meta.yml",
     "            and on (job, instance) max without (status) (amc_system_status)\n", "",
     "meta.yml"),
    ("rule inputs without amc_api_probes_total", "meta.yml",
     "            and on (job, instance) sum without (route) (amc_api_probes_total)\n", "",
     "meta.yml"),
    ("rule inputs without amc_data_mock_suspected", "meta.yml",
     "\n            and on (job, instance) amc_data_mock_suspected", "", "meta.yml"),
    ("two replicas reporting one failure count it twice", "meta.yml",
     "max by (job, command) (\n                sum without (outcome)",
     "sum by (job, command) (\n                sum without (outcome)", "meta.yml"),
    ("AmcRemediatorDown fires a minute early", "meta.yml",
     'up{job="amc-remediator"} == 0\n        for: 5m',
     'up{job="amc-remediator"} == 0\n        for: 4m', "meta.yml"),
    ("AmcRemediatorAbsent fires a minute early", "meta.yml",
     'absent(up{job="amc-remediator"})\n        for: 10m',
     'absent(up{job="amc-remediator"})\n        for: 9m', "meta.yml"),
    ("two replicas reporting one wait for approval count it twice", "meta.yml",
     "max by (job, command) (amc_remediator_awaiting_approval)",
     "sum by (job, command) (amc_remediator_awaiting_approval)", "meta.yml"),
    ("none awaiting approval pages people", "meta.yml",
     "(amc_remediator_awaiting_approval) > 0", "(amc_remediator_awaiting_approval) >= 0",
     "meta.yml"),
    ("rejections page as expiries", "meta.yml",
     'executions_total{outcome="expired"}[1h]', 'executions_total{outcome=~"expired|rejected"}[1h]',
     "meta.yml"),
    ("expiries older than the hour page", "meta.yml",
     'executions_total{outcome="expired"}[1h]', 'executions_total{outcome="expired"}[2h]',
     "meta.yml"),
    ("the wait for approval pages a minute late", "meta.yml",
     '"command", "", "", ""\n          )\n        labels:\n          severity: critical\n'
     "        annotations:\n          summary: Remediation {{ $labels.remediation_command }} "
     "awaits approval",
     '"command", "", "", ""\n          )\n        for: 1m\n        labels:\n'
     "          severity: critical\n        annotations:\n"
     "          summary: Remediation {{ $labels.remediation_command }} awaits approval",
     "meta.yml"),
    ("a probe exactly 600 s old is stale", "meta.yml",
     "amc_exporter_last_probe_timestamp_seconds > 600",
     "amc_exporter_last_probe_timestamp_seconds >= 600", "meta.yml"),
    ("RemediationNotEffective pages a minute early", "meta.yml",
     "        for: 2h\n", "        for: 119m\n", "meta.yml"),
    ("RemediationNotEffective for alerts without a command", "meta.yml",
     'ALERTS{alertstate="firing", command!=""}', 'ALERTS{alertstate="firing"}', "meta.yml"),
    ("RemediationNotEffective for pending alerts", "meta.yml",
     'ALERTS{alertstate="firing", command!=""}', 'ALERTS{command!=""}', "meta.yml"),
    ("AlertmanagerNotificationsFailing pages a minute early", "meta.yml",
     "rate(alertmanager_notifications_failed_total[5m])\n          ) > 0\n        for: 10m",
     "rate(alertmanager_notifications_failed_total[5m])\n          ) > 0\n        for: 9m",
     "meta.yml"),
    ("PrometheusNotificationsFailing pages a minute early", "meta.yml",
     "(rate(prometheus_notifications_errors_total[5m])) > 0\n        for: 10m",
     "(rate(prometheus_notifications_errors_total[5m])) > 0\n        for: 9m", "meta.yml"),
    ("PrometheusNotificationsDropped pages a minute early", "meta.yml",
     "rate(prometheus_notifications_dropped_total[5m]) > 0\n        for: 10m",
     "rate(prometheus_notifications_dropped_total[5m]) > 0\n        for: 9m", "meta.yml"),
    ("PrometheusRuleEvaluationFailures pages a minute early", "meta.yml",
     "rate(prometheus_rule_evaluation_failures_total[5m])\n          ) > 0\n        for: 10m",
     "rate(prometheus_rule_evaluation_failures_total[5m])\n          ) > 0\n        for: 9m",
     "meta.yml"),
    ("the Watchdog stops firing", "meta.yml",
     "expr: vector(1)", "expr: vector(1) == 0", "meta.yml"),
]  # fmt: skip

CRITICAL_DECISION = {
    "alertname": "DiscoverySystemFailure", "severity": "critical", "priority": "critical",
    "command": "RESTART_DISCOVERY_SYSTEM", "job": "amc-exporter", "instance": "a",
}  # fmt: skip
ERROR_DECISION = {
    "alertname": "DataIntegrityCompromised", "severity": "error", "priority": "high",
    "command": "INTEGRATE_REAL_DATA", "job": "amc-exporter", "instance": "a",
}  # fmt: skip

# (why, old text, new text, labels, the receivers that the real config gives)
ROUTE_MUTATIONS: list[tuple[str, str, str, dict[str, str], str]] = [
    ("without continue, critical decision rules page nobody",
     "      continue: true\n", "", CRITICAL_DECISION, "remediator,people-page"),
    ("without the null route, non-critical decision rules reach people",
     "    - receiver: \"null\"\n      matchers: ['command=~\".+\"']\n", "",
     ERROR_DECISION, "remediator,null"),
    ("a command matcher that misses the catalog names",
     "matchers: ['command=~\".+\"']\n      group_by",
     "matchers: ['command=~\"[a-z]+\"']\n      group_by",
     CRITICAL_DECISION, "remediator,people-page"),
    ("without the error page, an outage no command cures only notifies people",
     "    - receiver: people-page\n      matchers: ['severity=\"error\"']\n",
     "    - receiver: people\n      matchers: ['severity=\"error\"']\n",
     {"alertname": "PlatformComponentDown", "severity": "error", "component": "database",
      "job": "amc-exporter", "instance": "a"}, "people-page"),
    ("the error page placed before the null route pages the error decision rule",
     "    - receiver: \"null\"\n      matchers: ['command=~\".+\"']\n",
     "    - receiver: people-page\n      matchers: ['severity=\"error\"']\n"
     "    - receiver: \"null\"\n      matchers: ['command=~\".+\"']\n",
     ERROR_DECISION, "remediator,null"),
    ("a misspelt Watchdog route sends it to people instead of the dead man's switch",
     "matchers: ['alertname=\"Watchdog\"']", "matchers: ['alertname=\"WatchDog\"']",
     {"alertname": "Watchdog", "severity": "info"}, "deadmans-switch"),
]  # fmt: skip


def _mutate(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"mutation does not apply to {path.name}: {old!r}"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("why", "rule_file", "old", "new", "test_file"),
    RULE_MUTATIONS,
    ids=[m[0] for m in RULE_MUTATIONS],
)
def test_unit_tests_catch_a_wrong_rule(
    tmp_path: Path, why: str, rule_file: str, old: str, new: str, test_file: str
) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)  # intact, its tests pass: test_promtool.py
    _mutate(copy / "rules" / rule_file, old, new)
    result = run("promtool", "test", "rules", str(copy / "tests" / test_file))
    assert result.returncode != 0, f"{why}: not caught by {test_file}\n{output(result)}"
    assert "FAILED" in result.stdout + result.stderr, output(result)


@pytest.mark.parametrize(
    ("why", "old", "new", "labels", "receivers"),
    ROUTE_MUTATIONS,
    ids=[m[0] for m in ROUTE_MUTATIONS],
)
def test_route_tests_catch_a_wrong_route(
    tmp_path: Path, why: str, old: str, new: str, labels: dict[str, str], receivers: str
) -> None:
    copy = tmp_path / "alertmanager"
    shutil.copytree(ALERTMANAGER_DIR, copy)
    config = copy / "alertmanager.yml"
    assert route_test(config, labels).stdout.strip() == receivers
    _mutate(config, old, new)
    checked = run("amtool", "check-config", str(config))
    assert checked.returncode == 0, f"the mutation must stay a valid config\n{output(checked)}"
    assert route_test(config, labels).stdout.strip() != receivers, why
