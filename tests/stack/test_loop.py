"""The whole loop, end to end, in the local stack at its default time scale (30x): for each
decision rule, its sandbox fault goes pending, fires, reaches the remediator, runs the mapped
command once and is cured by it, and the alert resolves; inhibitions hold; an outage pages
people and opens no loop; a healthy stack stays quiet.

Every scenario has a stack of its own (``tests/stack/scenarios.py``), and all of them run at
once, launched when collection ends (``tests/stack/conftest.py``) with faults injected as soon
as each has settled, so the scenarios' minutes pass while the rest of the suite runs. The real
Prometheus, Alertmanager, supervisord, Redis and RQ workers run in each.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.services import wait_for
from tests.stack import loop
from tests.stack.platform import Stack
from tests.stack.scenarios import RULE_FAULTS, Scenario

# The first test to read the stacks waits for all of them to start; each test waits for its
# own scenario's minutes (the quiet one: 5).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
QUIET_SECONDS = 300.0  # 2.5 production hours at 30x


def _final_alert_execution(stack: Stack, command: str) -> dict[str, Any] | None:
    done = [e for e in loop.executions(stack, command) if e["trigger"] == "alert"]
    final = [e for e in done if e["status"] in ("succeeded", "failed", "timed_out")]
    return final[0] if final else None


@pytest.mark.parametrize("rule", list(RULE_FAULTS))
def test_each_rules_fault_is_cured_by_its_command_end_to_end(
    scenarios: dict[str, Scenario], rule: str
) -> None:
    scenario = scenarios[rule]
    stack, command = scenario.up(), loop.DECISION_RULES[rule]
    fault = RULE_FAULTS[rule][0]
    record: dict[str, Any] = {}

    def remediated() -> bool:
        record.update(_final_alert_execution(stack, command) or {})
        return bool(record)

    wait_for(remediated, 420, f"{rule} to be remediated by {command}", step=2)
    assert record["status"] == "succeeded", (record["error"], record["steps"][-3:])
    assert record["verified"] is True, record["verification"]
    assert record["alert"]["alertname"] == rule
    wait_for(lambda: loop.active(stack, rule) is None, 120, f"{rule} to resolve", step=2)
    wait_for(lambda: any(d["reason"] == "resolved" for d in loop.decisions(stack, rule)),
             60, f"the resolution of {rule} to reach the remediator", step=1)  # fmt: skip

    seen = loop.alert_samples(stack, rule, scenario.started)
    assert seen.get("pending", 0) >= 1, seen
    assert seen.get("firing", 0) >= 1, seen
    enqueued = [d for d in loop.decisions(stack, rule) if d["reason"] == "enqueued"]
    assert len(enqueued) == 1
    runs = [e for e in loop.executions(stack, command) if e["trigger"] == "alert"]
    assert len(runs) == 1  # once
    state = stack.faults()[fault]
    assert not state.get("affecting", state["active"]), state  # cured by the command's effect
    resolution = "amc_remediator_alert_resolution_seconds_count"
    assert loop.remediator_metric(stack, resolution, alertname=rule) >= 1
    to_remediate = "amc_remediator_time_to_remediate_seconds_count"
    assert loop.remediator_metric(stack, to_remediate, command=command) == 1


def test_high_error_rate_inhibits_the_other_decision_rules(
    scenarios: dict[str, Scenario],
) -> None:
    stack = scenarios["inhibition"].up()
    wait_for(lambda: loop.active(stack, "DiscoverySystemFailure") == "firing", 300,
             "DiscoverySystemFailure to fire behind HighErrorRate", step=2)  # fmt: skip
    assert loop.active(stack, "HighErrorRate") == "firing"

    def inhibited() -> bool:
        alerts = loop.alertmanager_alerts(stack, "DiscoverySystemFailure")
        return bool(alerts) and all(a["status"]["inhibitedBy"] for a in alerts)

    wait_for(inhibited, 60, "Alertmanager to inhibit DiscoverySystemFailure", step=1)
    assert [d["reason"] for d in loop.decisions(stack, "HighErrorRate")][-1:] == ["dry_run"]
    assert loop.decisions(stack, "DiscoverySystemFailure") == []
    names = {name for _, name, _ in loop.paged(stack)}
    assert "HighErrorRate" in names
    assert "DiscoverySystemFailure" not in names
    # No leak through the meta-alert: it may page about HighErrorRate itself (its dry-run
    # "cure" leaves it firing), never about a rule HighErrorRate inhibits.
    assert _not_effective_about(stack) <= {"HighErrorRate"}


def _not_effective_about(stack: Stack) -> set[str]:
    """The decision rules that RemediationNotEffective paged people about."""
    return {
        alert["labels"].get("decision_alert", "")
        for _, alert in loop.sent_to_people(stack)
        if alert["labels"]["alertname"] == "RemediationNotEffective"
    }


def _paged_components(stack: Stack) -> set[str]:
    """The components of the PlatformComponentDown alerts that paged people."""
    return {
        alert["labels"].get("component", "")
        for receiver, alert in loop.sent_to_people(stack)
        if alert["labels"]["alertname"] == "PlatformComponentDown" and receiver == "people-page"
    }


def test_a_provider_outage_pages_people_escalates_once_and_opens_no_loop(
    scenarios: dict[str, Scenario],
) -> None:
    stack = scenarios["provider"].up()
    wait_for(lambda: "polygon" in _paged_components(stack), 120,
             "people to be paged about the provider", step=2)  # fmt: skip
    # The data rule runs its command once: it stops at the outage, names it and escalates.
    record: dict[str, Any] = {}

    def escalated() -> bool:
        record.update(_final_alert_execution(stack, "INTEGRATE_REAL_DATA") or {})
        return bool(record)

    wait_for(escalated, 600, "INTEGRATE_REAL_DATA to run and escalate", step=2)
    assert record["status"] == "succeeded"
    assert record["verified"] is False
    assert "polygon" in record["verification"]["reason"]
    assert [s["name"] for s in record["steps"]] == ["check providers", "verify"]
    wait_for(lambda: "AmcRemediationNotVerified" in {n for _, n, _ in loop.paged(stack)}, 120,
             "people to hear that remediation did not cure it", step=2)  # fmt: skip
    # Alertmanager sends the firing alert again (repeat_interval): no second run.
    wait_for(lambda: any(d["reason"] == "duplicate"
                         for d in loop.decisions(stack, "DataIntegrityCompromised")),
             300, "Alertmanager to repeat the alert", step=2)  # fmt: skip
    commands = [e["command"] for e in loop.executions(stack)]
    assert commands.count("INTEGRATE_REAL_DATA") == 1
    # Only the data and quality rules ran (each at most once, unverified): no restart.
    assert set(commands) <= {"INTEGRATE_REAL_DATA", "VALIDATE_ALGORITHMS"}, commands
    assert len(commands) == len(set(commands))
    assert all(e["verified"] is False for e in loop.executions(stack))


def test_a_database_outage_inhibits_the_restart_rules(scenarios: dict[str, Scenario]) -> None:
    stack = scenarios["database"].up()
    wait_for(lambda: {"database", "alpaca"} <= _paged_components(stack), 120,
             "people to be paged about both outages", step=2)  # fmt: skip
    wait_for(lambda: loop.active(stack, "DiscoverySystemFailure") == "firing", 420,
             "DiscoverySystemFailure to fire during the outage", step=2)  # fmt: skip

    def inhibited() -> bool:
        alerts = loop.alertmanager_alerts(stack, "DiscoverySystemFailure")
        return bool(alerts) and all(a["status"]["inhibitedBy"] for a in alerts)

    wait_for(inhibited, 60, "Alertmanager to inhibit DiscoverySystemFailure", step=1)
    assert loop.decisions(stack, "DiscoverySystemFailure") == []
    assert "DiscoverySystemFailure" not in {n for _, n, _ in loop.paged(stack)}
    assert loop.executions(stack) == []  # nothing restarts the platform


def test_a_hung_discovery_route_fires_discovery_system_failure_and_pages_people(
    scenarios: dict[str, Scenario],
) -> None:
    stack = scenarios["slow_api"].up()
    record: dict[str, Any] = {}

    def ran() -> bool:
        record.update(_final_alert_execution(stack, "RESTART_DISCOVERY_SYSTEM") or {})
        return bool(record)

    wait_for(ran, 600, "DiscoverySystemFailure to run RESTART_DISCOVERY_SYSTEM", step=2)
    # Restarting workers cannot cure the API process: its call to the slow route fails.
    assert record["status"] == "failed", record
    assert "/discovery/trigger" in record["error"]
    wait_for(lambda: "AmcRemediationFailing" in {n for _, n, _ in loop.paged(stack)}, 120,
             "people to hear that remediation failed", step=2)  # fmt: skip
    assert "DiscoverySystemFailure" in {n for _, n, _ in loop.paged(stack)}
    assert len(loop.executions(stack)) == 1  # once: the episode is not run again
    assert stack.faults()["api_latency"]["active"] is True


def test_a_healthy_stack_has_no_decision_rule_pending(scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["healthy"]
    stack = scenario.up()
    wait_for(lambda: time.time() - scenario.started >= QUIET_SECONDS, QUIET_SECONDS + 10,
             "the quiet period", step=5)  # fmt: skip
    for rule in loop.DECISION_RULES:
        assert loop.alert_samples(stack, rule, scenario.started) == {}, rule
    assert loop.executions(stack) == []
