"""amtool: the Alertmanager configuration is valid and routes every alert where
docs/architecture.md says."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.tools import (
    ALERTING_DOC,
    ALERTMANAGER_CONFIG,
    ALERTMANAGER_DIR,
    Rule,
    alerts,
    load_yaml,
    output,
    route_test,
    run,
)

DECISION = ["DiscoverySystemFailure", "DataIntegrityCompromised", "AlgorithmQualityDegraded"]
TOKEN_FILE = "/etc/amc-agent/remediator.token"

# labels -> receivers, in routing-tree order; one row per reason.
ROUTES: list[tuple[str, dict[str, str], str]] = [
    (
        "critical decision rule: remediator and a page",
        {"alertname": "DiscoverySystemFailure", "severity": "critical", "priority": "critical",
         "command": "RESTART_DISCOVERY_SYSTEM", "job": "amc-exporter", "instance": "a"},
        "remediator,people-page",
    ),
    (
        "critical emergency: remediator and a page",
        {"alertname": "HighErrorRate", "severity": "critical", "priority": "critical",
         "command": "EMERGENCY_RESTART", "job": "amc-exporter", "instance": "a"},
        "remediator,people-page",
    ),
    (
        "error decision rule: the remediator's alone",
        {"alertname": "DataIntegrityCompromised", "severity": "error", "priority": "high",
         "command": "INTEGRATE_REAL_DATA", "job": "amc-exporter", "instance": "a"},
        "remediator,null",
    ),
    (
        "warning decision rule: the remediator's alone",
        {"alertname": "AlgorithmQualityDegraded", "severity": "warning", "priority": "medium",
         "command": "VALIDATE_ALGORITHMS", "job": "amc-exporter", "instance": "a"},
        "remediator,null",
    ),
    (
        "meta-alert: a page, no command",
        {"alertname": "AmcExporterDown", "severity": "critical", "job": "amc-exporter"},
        "people-page",
    ),
    (
        "remediation_command is not command: never to the remediator",
        {"alertname": "AmcRemediationCircuitOpen", "severity": "critical",
         "remediation_command": "EMERGENCY_RESTART", "job": "amc-remediator"},
        "people-page",
    ),
    (
        "an execution awaiting a person's approval: a page, never the remediator",
        {"alertname": "RemediationAwaitingApproval", "severity": "critical",
         "remediation_command": "EMERGENCY_RESTART", "job": "amc-remediator"},
        "people-page",
    ),
    (
        "anomaly warning: people",
        {"alertname": "DiscoveryLatencyAnomaly", "severity": "warning", "instance": "a"},
        "people",
    ),
    (
        "a decision alert the command did not cure: a page, never the remediator",
        {"alertname": "RemediationNotEffective", "severity": "critical",
         "decision_alert": "DataIntegrityCompromised",
         "remediation_command": "INTEGRATE_REAL_DATA", "job": "amc-exporter", "instance": "a"},
        "people-page",
    ),
    (
        "the Watchdog: the dead man's switch alone",
        {"alertname": "Watchdog", "severity": "info"},
        "deadmans-switch",
    ),
    (
        "an outage no command cures: a page",
        {"alertname": "PlatformComponentDown", "severity": "error", "component": "database",
         "job": "amc-exporter", "instance": "a"},
        "people-page",
    ),
    ("error without command: a page", {"alertname": "Other", "severity": "error"}, "people-page"),
    ("info: people", {"alertname": "Other", "severity": "info"}, "people"),
    ("no severity: the default, people", {"alertname": "Other"}, "people"),
    (
        "an empty command is no command",
        {"alertname": "Other", "severity": "warning", "command": ""},
        "people",
    ),
]  # fmt: skip


def _receivers(labels: dict[str, str]) -> str:
    """The routing policy of docs/architecture.md, "Rules", stated independently of the config."""
    if labels.get("alertname") == "Watchdog":
        return "deadmans-switch"
    receivers = ["remediator"] if labels.get("command") else []
    if labels.get("severity") == "critical":
        receivers.append("people-page")
    elif labels.get("command"):
        receivers.append("null")
    elif labels.get("severity") == "error":  # an outage no command cures: nobody else acts
        receivers.append("people-page")
    else:
        receivers.append("people")
    return ",".join(receivers)


def _route(name: str) -> dict[str, Any]:
    config = load_yaml(ALERTMANAGER_CONFIG)
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == name]
    return dict(route)


def _receiver(name: str) -> dict[str, Any]:
    config = load_yaml(ALERTMANAGER_CONFIG)
    (receiver,) = [r for r in config["receivers"] if r["name"] == name]
    return dict(receiver)


def test_amtool_check_config() -> None:
    result = run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, output(result)
    for found in [" - 6 inhibit rules", " - 5 receivers", " - 1 templates"]:
        assert found in result.stdout, output(result)


@pytest.mark.parametrize(("why", "labels", "receivers"), ROUTES, ids=[r[0] for r in ROUTES])
def test_route(why: str, labels: dict[str, str], receivers: str) -> None:
    result = route_test(ALERTMANAGER_CONFIG, labels)
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == receivers, why


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule.name)
def test_every_alert_of_the_rules_routes_by_the_policy(rule: Rule) -> None:
    labels = {"alertname": rule.name, **rule.labels, "job": "amc-exporter", "instance": "a"}
    expected = _receivers(labels)
    result = route_test(ALERTMANAGER_CONFIG, labels)
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == expected


def test_route_test_fails_when_the_receivers_differ() -> None:
    """The routing checks can fail: amtool's own verification disagrees with a wrong answer."""
    labels = {"alertname": "AmcExporterDown", "severity": "critical"}
    argv = [f"{key}={value}" for key, value in labels.items()]
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
        "--verify.receivers=remediator", *argv,
    )  # fmt: skip
    assert result.returncode != 0
    assert "did not match" in result.stdout + result.stderr


def _matched_route(config: Path, tmp_path: Path, labels: dict[str, str]) -> tuple[str, str]:
    """The receiver and effective repeat_interval of the route that amtool picks for labels.

    Several routes share a receiver (`people` twice, besides the root), so amtool's answer
    alone cannot tell them apart: in a copy, every top-level route names its own receiver
    (`<receiver>-<index>`), and the route's own repeat_interval, or the root's, is looked up.
    """
    tree = load_yaml(config)
    routes = tree["route"]["routes"]
    for index, route in enumerate(routes):
        tag = f"{route['receiver']}-{index}"
        tree["receivers"].append({"name": tag})
        route["receiver"] = tag
    tree["templates"] = [str(ALERTMANAGER_DIR / "templates" / "*.tmpl")]
    tagged = tmp_path / "tagged.yml"
    tagged.write_text(yaml.safe_dump(tree, sort_keys=False))
    result = route_test(tagged, labels)
    assert result.returncode == 0, output(result)
    (matched,) = result.stdout.strip().split(",")[-1:]
    root = tree["route"]
    if matched == root["receiver"]:
        return matched, str(root["repeat_interval"])
    receiver, position = matched.rsplit("-", 1)
    return receiver, str(routes[int(position)].get("repeat_interval", root["repeat_interval"]))


# labels -> the people's route that takes them, told apart by its repeat interval.
PEOPLE_ROUTES: list[tuple[str, dict[str, str], tuple[str, str]]] = [
    ("critical: a page, repeated hourly",
     {"alertname": "AmcExporterDown", "severity": "critical"}, ("people-page", "1h")),
    ("warning: people, the root's 4h",
     {"alertname": "DiscoveryLatencyAnomaly", "severity": "warning"}, ("people", "4h")),
    ("an outage without command: a page, repeated hourly",
     {"alertname": "PlatformComponentDown", "severity": "error", "component": "polygon"},
     ("people-page", "1h")),
    ("error without command: a page, repeated hourly",
     {"alertname": "Other", "severity": "error"}, ("people-page", "1h")),
    ("info: people once a day",
     {"alertname": "PlatformRouteMissing", "severity": "info"}, ("people", "24h")),
    ("no severity: the root route itself",
     {"alertname": "Other"}, ("people", "4h")),
    ("the Watchdog: the dead man's switch every 5 minutes",
     {"alertname": "Watchdog", "severity": "info"}, ("deadmans-switch", "5m")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "labels", "expected"), PEOPLE_ROUTES, ids=[r[0] for r in PEOPLE_ROUTES]
)
def test_people_routes_are_told_apart_by_their_repeat_interval(
    tmp_path: Path, why: str, labels: dict[str, str], expected: tuple[str, str]
) -> None:
    assert _matched_route(ALERTMANAGER_CONFIG, tmp_path, labels) == expected, why


def test_route_timer_check_sees_a_lost_repeat_interval(tmp_path: Path) -> None:
    """The check above can fail: without its 24h, the info route repeats every 4h."""
    copy = tmp_path / "alertmanager.yml"
    text = ALERTMANAGER_CONFIG.read_text()
    lost = "      matchers: ['severity=\"info\"']\n      repeat_interval: 24h\n"
    assert text.count(lost) == 1
    copy.write_text(text.replace(lost, "      matchers: ['severity=\"info\"']\n"))
    labels = {"alertname": "PlatformRouteMissing", "severity": "info"}
    assert _matched_route(copy, tmp_path, labels) == ("people", "4h")


def test_remediator_receiver_is_the_webhook_with_a_token_file() -> None:
    (webhook,) = _receiver("remediator")["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:9865/webhook"
    assert webhook["send_resolved"] is True
    assert webhook["http_config"] == {
        "authorization": {"type": "Bearer", "credentials_file": TOKEN_FILE}
    }


def test_remediator_route_keeps_one_alert_per_group() -> None:
    route = _route("remediator")
    assert route["matchers"] == ['command=~".+"']
    assert route["group_by"] == ["..."]
    assert route["continue"] is True
    # The remediator's dedup TTL is set above this (see the comment in alertmanager.yml).
    assert route["repeat_interval"] == "1h"


def test_people_receivers_send_resolved_too() -> None:
    for name in ["people-page", "people"]:
        (webhook,) = _receiver(name)["webhook_configs"]
        assert webhook["send_resolved"] is True


def _inhibition(source: list[str], targets: list[str]) -> list[dict[str, list[str]]]:
    """An inhibition of decision alerts, and the same of RemediationNotEffective about them."""
    alternatives = "|".join(targets)
    return [
        {"source_matchers": source, "target_matchers": [f'alertname=~"{alternatives}"'],
         "equal": ["job", "instance"]},
        {"source_matchers": source,
         "target_matchers": ['alertname="RemediationNotEffective"',
                             f'decision_alert=~"{alternatives}"'],
         "equal": ["job", "instance"]},
    ]  # fmt: skip


def test_inhibitions_are_those_of_the_design() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    outage = ['alertname="PlatformComponentDown"', 'component=~"polygon|alpaca|database"']
    assert config["inhibit_rules"] == [
        *_inhibition(['alertname="HighErrorRate"'], DECISION),
        *_inhibition(['alertname="DiscoverySystemFailure"'], DECISION[1:]),
        *_inhibition(outage, ["DiscoverySystemFailure", "HighErrorRate"]),
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ template "amc.title" . }}', "[ALERTSTATUS] "),
        ('{{ template "amc.text" . }}', "[ALERTSTATUS] [] \nStarted: "),
    ],
)
def test_notification_templates_render(template: str, expected: str) -> None:
    """amtool renders with its own sample data (status "alertstatus", alerts without labels)."""
    glob = f"--template.glob={ALERTMANAGER_DIR}/templates/*.tmpl"
    result = run("amtool", "template", "render", glob, f"--template.text={template}")
    assert result.returncode == 0, output(result)
    assert result.stdout.startswith(expected), output(result)


def test_an_unknown_template_is_an_error() -> None:
    glob = f"--template.glob={ALERTMANAGER_DIR}/templates/*.tmpl"
    result = run(
        "amtool", "template", "render", glob, '--template.text={{ template "amc.nope" . }}'
    )
    assert result.returncode != 0
    assert "amc.nope" in result.stdout + result.stderr


def _documented_receivers() -> list[dict[str, Any]]:
    """The receiver examples of docs/alerting.md (its YAML blocks that define receivers)."""
    blocks = re.findall(r"```yaml\n(.*?)```", ALERTING_DOC.read_text(), flags=re.DOTALL)
    return [yaml.safe_load(block)["receivers"][0] for block in blocks if "receivers:" in block]


@pytest.mark.parametrize(
    "example", _documented_receivers(), ids=lambda r: next(k for k in r if k != "name")
)
def test_documented_receivers_are_valid_in_our_config(
    tmp_path: Path, example: dict[str, Any]
) -> None:
    shutil.copytree(ALERTMANAGER_DIR, tmp_path / "alertmanager")
    path = tmp_path / "alertmanager" / "alertmanager.yml"
    config = load_yaml(path)
    config["receivers"] = [
        example if r["name"] == example["name"] else r for r in config["receivers"]
    ]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run("amtool", "check-config", str(path))
    assert result.returncode == 0, output(result)
    assert route_test(path, ROUTES[0][1]).stdout.strip() == ROUTES[0][2]


def test_the_documentation_shows_every_integration() -> None:
    kinds = {next(k for k in r if k != "name") for r in _documented_receivers()}
    # webhook_configs: the dead man's switch example.
    assert kinds == {"email_configs", "slack_configs", "pagerduty_configs", "webhook_configs"}
