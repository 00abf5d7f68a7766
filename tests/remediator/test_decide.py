"""The pure decision, one table row per case with its reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from remediator.alerts import Alert
from remediator.config import parse_config
from remediator.decide import Reason, State, decide, resolve_command
from remediator.errors import ConfigError
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
    ("resolved-even-if-claimed", make(status="resolved"), {}, State(claim="enqueued"),
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
    ("duplicate", make(), {}, State(claim="enqueued"), Reason.DUPLICATE, "EMERGENCY_RESTART"),
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
    ("dry-run-duplicate", make(), {"dry_run": True}, State(claim="enqueued"), Reason.DUPLICATE,
     "EMERGENCY_RESTART"),
    ("duplicate-before-circuit", make(), {}, State(claim="enqueued", circuit_open_until=NOW + 5),
     Reason.DUPLICATE, "EMERGENCY_RESTART"),
    ("awaiting-approval", make(), {"commands": {"EMERGENCY_RESTART": {"approval": "always"}}},
     State(), Reason.AWAITING_APPROVAL, "EMERGENCY_RESTART"),
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


def utc(text: str) -> float:
    """An instant written in UTC: the table states New York time beside it."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


IN_WINDOW: dict[str, Any] = {"commands": {"EMERGENCY_RESTART": {"approval": "in_window"}}}
HOLIDAYS: dict[str, Any] = {
    "change_window": {"holidays": ["2026-12-25"], "half_days": {"2026-11-27": "13:00"}}
}
EVERY_DAY: dict[str, Any] = {
    "change_window": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
}
WINDOW_CASES = [
    # (id, config overrides, instant in UTC (New York time), reason)
    ("09:29:59-is-before-the-session", {}, utc("2026-12-01T14:29:59"), Reason.ENQUEUED),
    ("09:30-opens-the-session", {}, utc("2026-12-01T14:30:00"), Reason.AWAITING_APPROVAL),
    ("15:59:59-is-in-the-session", {}, utc("2026-12-01T20:59:59"), Reason.AWAITING_APPROVAL),
    ("16:00-closes-the-session", {}, utc("2026-12-01T21:00:00"), Reason.ENQUEUED),
    ("saturday-noon", {}, utc("2026-12-05T17:00:00"), Reason.ENQUEUED),
    ("sunday-noon", {}, utc("2026-12-06T17:00:00"), Reason.ENQUEUED),
    ("a-configured-holiday", HOLIDAYS, utc("2026-12-25T17:00:00"), Reason.ENQUEUED),
    ("the-day-after-the-holiday", HOLIDAYS, utc("2026-12-28T17:00:00"),
     Reason.AWAITING_APPROVAL),
    ("a-half-day-before-13:00", HOLIDAYS, utc("2026-11-27T17:59:59"), Reason.AWAITING_APPROVAL),
    ("a-half-day-at-13:00", HOLIDAYS, utc("2026-11-27T18:00:00"), Reason.ENQUEUED),
    # 2026-03-08: New York springs forward (EST -5 -> EDT -4) at 02:00
    ("spring-forward-day-09:29:59-EDT", EVERY_DAY, utc("2026-03-08T13:29:59"), Reason.ENQUEUED),
    ("spring-forward-day-09:30-EDT", EVERY_DAY, utc("2026-03-08T13:30:00"),
     Reason.AWAITING_APPROVAL),
    ("spring-forward-day-16:00-EDT", EVERY_DAY, utc("2026-03-08T20:00:00"), Reason.ENQUEUED),
    ("the-day-before-09:30-EST", EVERY_DAY, utc("2026-03-07T14:30:00"),
     Reason.AWAITING_APPROVAL),
    ("the-day-before-13:30Z-is-08:30-EST", EVERY_DAY, utc("2026-03-07T13:30:00"),
     Reason.ENQUEUED),
    ("monday-after-spring-forward-09:30", {}, utc("2026-03-09T13:30:00"),
     Reason.AWAITING_APPROVAL),
    ("friday-before-spring-forward-13:30Z-is-08:30", {}, utc("2026-03-06T13:30:00"),
     Reason.ENQUEUED),
    # 2026-11-01: New York falls back (EDT -4 -> EST -5) at 02:00
    ("fall-back-day-09:29:59-EST", EVERY_DAY, utc("2026-11-01T14:29:59"), Reason.ENQUEUED),
    ("fall-back-day-09:30-EST", EVERY_DAY, utc("2026-11-01T14:30:00"), Reason.AWAITING_APPROVAL),
    ("fall-back-day-16:00-EST", EVERY_DAY, utc("2026-11-01T21:00:00"), Reason.ENQUEUED),
    ("the-day-before-fall-back-16:00-EDT", EVERY_DAY, utc("2026-10-31T20:00:00"),
     Reason.ENQUEUED),
    ("the-day-before-fall-back-15:59-EDT", EVERY_DAY, utc("2026-10-31T19:59:00"),
     Reason.AWAITING_APPROVAL),
    ("another-zone", {"change_window": {"timezone": "Europe/London", "start": "08:00",
     "end": "16:30"}}, utc("2026-12-01T08:00:00"), Reason.AWAITING_APPROVAL),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "now", "reason"), [pytest.param(*row[1:], id=row[0]) for row in WINDOW_CASES]
)
def test_in_window_approval_at_the_window_edges(
    overrides: dict[str, Any], now: float, reason: Reason
) -> None:
    config = parse_config({**BASE, **IN_WINDOW, **overrides})
    decision = decide(make(), config, State(), now)
    assert decision.reason is reason, decision.detail
    assert decision.command == "EMERGENCY_RESTART"
    assert decision.claims  # either way, the episode is decided once


APPROVAL_CASES = [
    # (id, approval, instant, state, reason)
    ("never-in-the-session", "never", utc("2026-12-01T15:00:00"), State(), Reason.ENQUEUED),
    ("always-at-night", "always", utc("2026-12-06T03:00:00"), State(),
     Reason.AWAITING_APPROVAL),
    ("cooldown-before-approval", "always", NOW, State(cooldown_until=NOW + 5), Reason.COOLDOWN),
    ("circuit-before-approval", "always", NOW, State(circuit_open_until=NOW + 5),
     Reason.CIRCUIT_OPEN),
    ("duplicate-before-approval", "always", NOW, State(claim="enqueued"), Reason.DUPLICATE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("approval", "now", "state", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in APPROVAL_CASES],
)
def test_approval_policies(approval: str, now: float, state: State, reason: Reason) -> None:
    config = parse_config({**BASE, "commands": {"EMERGENCY_RESTART": {"approval": approval}}})
    assert decide(make(), config, state, now).reason is reason


def test_dry_run_wins_over_approval_nobody_is_asked_for_what_will_not_run() -> None:
    config = parse_config(
        {**BASE, "commands": {"EMERGENCY_RESTART": {"approval": "always", "dry_run": True}}}
    )
    assert decide(make(), config, State(), NOW).reason is Reason.DRY_RUN


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"timezone": "America/Nowhere"}, "change_window.timezone: unknown time zone"),
        ({"timezone": "EST5EDT+1"}, "change_window.timezone: unknown time zone"),
        ({"start": "9:30"}, "change_window.start: must be HH:MM or HH:MM:SS"),
        ({"start": "16:00", "end": "09:30"}, "change_window: end 09:30 must be after start"),
        ({"half_days": {"2026-11-27": "08:00"}}, "change_window: half_days.2026-11-27: end"),
        ({"days": ["monday"]}, "change_window.days.0: Input should be"),
    ],
)
def test_a_bad_change_window_is_a_config_error_naming_the_field(
    window: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "change_window": window})
    assert str(caught.value).startswith(message), str(caught.value)
