"""A real Alertmanager: outages mute the restarts, and meta-alerts follow their decision alert.

``PlatformComponentDown`` for a provider or the database inhibits the restart-type decision
rules; whatever inhibits a decision alert also inhibits ``RemediationNotEffective`` about it
(Prometheus' ALERTS include inhibited alerts, so without that the meta-alert would page
people about an alert Alertmanager holds back). Each new inhibit rule is also removed in turn
to show that its targets then reach people: the checks can fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.conftest import (
    Receiver,
    alert_key,
    post,
    render,
    start_alertmanager,
    statuses,
)
from tests.rules.tools import load_yaml
from tests.services import Service, wait_for

pytestmark = pytest.mark.slow

DECISION_LABELS = {
    "HighErrorRate": {"severity": "critical", "command": "EMERGENCY_RESTART"},
    "DiscoverySystemFailure": {"severity": "critical", "command": "RESTART_DISCOVERY_SYSTEM"},
    "DataIntegrityCompromised": {"severity": "error", "command": "INTEGRATE_REAL_DATA"},
    "AlgorithmQualityDegraded": {"severity": "warning", "command": "VALIDATE_ALGORITHMS"},
}


def _alert(name: str, instance: str, **labels: str) -> dict[str, Any]:
    base = {"alertname": name, "job": "amc-exporter", "instance": instance, **labels}
    return {"labels": base, "annotations": {"summary": name}}


def decision(name: str, instance: str) -> dict[str, Any]:
    return _alert(name, instance, **DECISION_LABELS[name])


def outage(component: str, instance: str) -> dict[str, Any]:
    return _alert("PlatformComponentDown", instance, severity="error", component=component)


def not_effective(about: str, instance: str) -> dict[str, Any]:
    command = DECISION_LABELS[about]["command"]
    return _alert(
        "RemediationNotEffective", instance, severity="critical", decision_alert=about,
        remediation_command=command,
    )  # fmt: skip


DSF, HER = "DiscoverySystemFailure", "HighErrorRate"
RNE = "RemediationNotEffective"
ALERTS = [
    # a: the database is down; the discovery restart would loop.
    outage("database", "a"), decision(DSF, "a"), not_effective(DSF, "a"),
    # f: a provider is down; the emergency restart would loop.
    outage("alpaca", "f"), decision(HER, "f"), not_effective(HER, "f"),
    # b: env is not an outage that inhibits: everything goes through.
    outage("env", "b"), decision(DSF, "b"), not_effective(DSF, "b"),
    # c: the api_errors case: HighErrorRate mutes the meta-alerts about what it mutes, not
    # the meta-alert about itself.
    decision(HER, "c"), not_effective(DSF, "c"), not_effective("DataIntegrityCompromised", "c"),
    not_effective(HER, "c"),
    # d: DiscoverySystemFailure mutes the meta-alert about the quality rule, not about itself.
    decision(DSF, "d"), not_effective("AlgorithmQualityDegraded", "d"), not_effective(DSF, "d"),
    # e: a provider down does not mute the rules that run no restart.
    outage("polygon", "e"), decision("AlgorithmQualityDegraded", "e"),
]  # fmt: skip

# The index of each new inhibit rule in alertmanager.yml -> the alerts it alone inhibits here.
NEW_RULES: dict[int, set[tuple[str, str]]] = {
    1: {(f"{RNE}[{DSF}]", "c"), (f"{RNE}[DataIntegrityCompromised]", "c")},
    3: {(f"{RNE}[AlgorithmQualityDegraded]", "d")},
    4: {(DSF, "a"), (HER, "f")},
    5: {(f"{RNE}[{DSF}]", "a"), (f"{RNE}[{HER}]", "f")},
}
INHIBITED = set().union(*NEW_RULES.values())


def _routed(
    alerts: list[dict[str, Any]], inhibited: set[tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """The receivers' paths each alert that is not inhibited reaches, by routing policy."""
    paths: dict[str, list[tuple[str, str]]] = {"/webhook": [], "/page": [], "/notify": []}
    for alert in alerts:
        key, labels = alert_key(alert["labels"]), alert["labels"]
        if key in inhibited:
            continue
        if labels.get("command"):
            paths["/webhook"].append(key)
        if labels["severity"] == "critical" or (
            labels["severity"] == "error" and not labels.get("command")
        ):
            paths["/page"].append(key)
    return {path: sorted(keys) for path, keys in paths.items()}


def _without_rule(config: Path, index: int) -> None:
    rendered = load_yaml(config)
    del rendered["inhibit_rules"][index]
    config.write_text(yaml.safe_dump(rendered, sort_keys=False))


@pytest.mark.parametrize("removed", [None, *NEW_RULES], ids=lambda r: f"without-rule-{r}")
def test_outages_and_meta_alerts_are_inhibited(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service], removed: int | None
) -> None:
    config = render(tmp_path, receiver)
    if removed is not None:
        _without_rule(config, removed)
    base = start_alertmanager(services, config, tmp_path)
    post(base, ALERTS)
    inhibited = INHIBITED - (NEW_RULES[removed] if removed is not None else set())

    def settled() -> bool:
        seen = statuses(base)
        return len(seen) == len(ALERTS) and {k for k, by in seen.items() if by} == inhibited

    wait_for(settled, 10, "Alertmanager to inhibit exactly the expected alerts")
    expected = _routed(ALERTS, inhibited)
    if removed is not None:  # what the rule held back now reaches people
        assert set(expected["/page"]) & NEW_RULES[removed]
    wait_for(lambda: receiver.alerts("/page") == expected["/page"], 10, "the pages")
    wait_for(lambda: receiver.alerts("/webhook") == expected["/webhook"], 10, "the remediator")
    # A sentinel sent last and heard last: every group of the alerts above has flushed by now,
    # so an inhibited alert that was going to be sent would have been.
    sentinel = {"labels": {"alertname": "Sentinel", "severity": "info", "instance": "z"}}
    post(base, [sentinel])
    wait_for(lambda: receiver.alerts("/notify") == [("Sentinel", "z")], 10, "the sentinel")
    assert receiver.alerts("/page") == expected["/page"]
    assert receiver.alerts("/webhook") == expected["/webhook"]
    if removed is None:
        assert ("PlatformComponentDown[database]", "a") in expected["/page"]  # it pages


def test_an_outage_that_resolves_lets_the_restart_through(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service]
) -> None:
    base = start_alertmanager(services, render(tmp_path, receiver), tmp_path)
    post(base, [outage("database", "a"), decision(DSF, "a")])
    wait_for(lambda: bool(statuses(base).get((DSF, "a"))), 10, "the restart to be inhibited")
    ended = outage("database", "a")
    ended["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    post(base, [ended])
    wait_for(lambda: receiver.alerts("/webhook") == [(DSF, "a")], 10, "the restart to be sent")
