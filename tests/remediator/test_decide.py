"""The pure decision, one table row per case with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.alerts import Alert
from remediator.config import parse_config
from remediator.decide import Reason, State, decide, resolve_command
from tests.remediator.conftest import alert

NOW = 1_800_000_000.0


def make(**labels: Any) -> Alert:
    status = labels.pop("status", "firing")
    name = labels.pop("name", "HighErrorRate")
    return Alert.model_validate(alert(name, status=status, **labels))


BASE: dict[str, Any] = {"token": {"env": "X"}}
CASES = [
    # (id, alert, config overrides, state, reason, command)
    ("enqueued", make(), {}, State(), Reason.ENQUEUED, "EMERGENCY_RESTART"),
    ("resolved", make(status="resolved"), {}, State(), Reason.RESOLVED, None),
    ("resolved-even-if-claimed", make(status="resolved"), {}, State(claimed=True),
     Reason.RESOLVED, None),
    ("unmapped", make(name="SomethingElse"), {}, State(), Reason.UNMAPPED, None),
    ("label-allowed", make(name="X", command="HEALTH_CHECK"), {}, State(),
     Reason.ENQUEUED, "HEALTH_CHECK"),
    ("label-disruptive-not-by-default", make(name="X", command="EMERGENCY_RESTART"), {},
     State(), Reason.REJECTED, None),
    ("label-flush-not-by-default", make(name="X", command="FLUSH_REDIS"), {}, State(),
     Reason.REJECTED, None),
    ("label-disruptive-configured", make(name="X", command="FLUSH_REDIS"),
     {"label_commands": ["FLUSH_REDIS"]}, State(), Reason.ENQUEUED, "FLUSH_REDIS"),
    ("label-unknown", make(name="X", command="rm -rf /"), {}, State(), Reason.REJECTED, None),
    ("label-not-allowed", make(name="X", command="FLUSH_REDIS"),
     {"label_commands": ["HEALTH_CHECK"]}, State(), Reason.REJECTED, None),
    ("map-wins-over-label", make(command="FLUSH_REDIS"), {}, State(),
     Reason.ENQUEUED, "EMERGENCY_RESTART"),
    ("disabled", make(), {"commands": {"EMERGENCY_RESTART": {"enabled": False}}}, State(),
     Reason.REJECTED, "EMERGENCY_RESTART"),
    ("duplicate", make(), {}, State(claimed=True), Reason.DUPLICATE, "EMERGENCY_RESTART"),
    ("cooldown", make(), {}, State(cooldown_until=NOW + 1), Reason.COOLDOWN, "EMERGENCY_RESTART"),
    ("cooldown-over", make(), {}, State(cooldown_until=NOW), Reason.ENQUEUED, "EMERGENCY_RESTART"),
    ("pending-is-cooldown", make(), {}, State(pending=True), Reason.COOLDOWN, "EMERGENCY_RESTART"),
    ("circuit-open", make(), {}, State(circuit_open_until=NOW + 5), Reason.CIRCUIT_OPEN,
     "EMERGENCY_RESTART"),
    ("circuit-expired", make(), {}, State(circuit_open_until=NOW - 1, recent_executions=2),
     Reason.ENQUEUED, "EMERGENCY_RESTART"),
    ("circuit-limit", make(), {}, State(recent_executions=3), Reason.CIRCUIT_OPEN,
     "EMERGENCY_RESTART"),
    ("circuit-override", make(),
     {"commands": {"EMERGENCY_RESTART": {"circuit": {"max_executions": 5}}}},
     State(recent_executions=3), Reason.ENQUEUED, "EMERGENCY_RESTART"),
    ("dry-run-global", make(), {"dry_run": True}, State(), Reason.DRY_RUN, "EMERGENCY_RESTART"),
    ("dry-run-command", make(), {"commands": {"EMERGENCY_RESTART": {"dry_run": True}}}, State(),
     Reason.DRY_RUN, "EMERGENCY_RESTART"),
    ("dry-run-duplicate", make(), {"dry_run": True}, State(claimed=True), Reason.DUPLICATE,
     "EMERGENCY_RESTART"),
    ("duplicate-before-circuit", make(), {}, State(claimed=True, circuit_open_until=NOW + 5),
     Reason.DUPLICATE, "EMERGENCY_RESTART"),
    ("circuit-before-cooldown", make(), {},
     State(circuit_open_until=NOW + 5, cooldown_until=NOW + 5), Reason.CIRCUIT_OPEN,
     "EMERGENCY_RESTART"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("alert_", "overrides", "state", "reason", "command"),
    [pytest.param(*row[1:], id=row[0]) for row in CASES],
)
def test_decision_table(
    alert_: Alert, overrides: dict[str, Any], state: State, reason: Reason, command: str | None
) -> None:
    config = parse_config({**BASE, **overrides})
    decision = decide(alert_, config, state, NOW)
    assert decision.reason is reason
    assert decision.command == command
    assert decision.detail


def test_every_reason_is_in_the_table() -> None:
    assert {row[4] for row in CASES} == set(Reason)


def test_the_third_execution_in_the_window_opens_the_circuit() -> None:
    config = parse_config(BASE)
    assert not decide(make(), config, State(recent_executions=1), NOW).opens_circuit
    assert decide(make(), config, State(recent_executions=2), NOW).opens_circuit


def test_each_alert_is_decided_by_its_own_status_not_the_groups() -> None:
    config = parse_config(BASE)
    assert decide(make(status="firing"), config, State(), NOW).reason is Reason.ENQUEUED
    assert decide(make(status="resolved"), config, State(), NOW).reason is Reason.RESOLVED


def test_a_label_is_never_used_when_it_names_no_catalog_command() -> None:
    config = parse_config(BASE)
    mapping = resolve_command(make(name="X", command="FLUSH_REDIS; reboot"), config)
    assert mapping.command is None
    assert mapping.reason is Reason.REJECTED
