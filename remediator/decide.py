"""The pure decision: (alert, configuration, recorded state, clock) -> Decision with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from remediator.alerts import Alert
from remediator.config import Effective, RemediatorConfig
from remediator.windows import ChangeWindow


class Reason(StrEnum):
    """Every outcome of a decision; the metric label and the audit field."""

    ENQUEUED = "enqueued"
    DUPLICATE = "duplicate"
    RESOLVED = "resolved"
    UNMAPPED = "unmapped"
    COOLDOWN = "cooldown"
    CIRCUIT_OPEN = "circuit_open"
    DRY_RUN = "dry_run"
    REJECTED = "rejected"
    AWAITING_APPROVAL = "awaiting_approval"


@dataclass(frozen=True)
class State:
    """What Redis records about the alert's episode and its command, read before deciding."""

    claim: str | None = None  # the decision that claimed the episode, if one did
    pending: bool = False
    cooldown_until: float | None = None
    circuit_open_until: float | None = None
    recent_executions: int = 0

    @property
    def claimed(self) -> bool:
        """Was the episode decided already?"""
        return self.claim is not None


@dataclass(frozen=True)
class Decision:
    """The outcome: a reason, the command it concerns and a human detail."""

    reason: Reason
    command: str | None
    detail: str
    opens_circuit: bool = False

    @property
    def claims(self) -> bool:
        """Does this decision take the episode's dedup claim?"""
        return self.reason in (Reason.ENQUEUED, Reason.DRY_RUN, Reason.AWAITING_APPROVAL)

    @property
    def records_execution(self) -> bool:
        """Does this decision write an execution record (queued, or waiting for a person)?"""
        return self.reason in (Reason.ENQUEUED, Reason.AWAITING_APPROVAL)


@dataclass(frozen=True)
class Mapping:
    """Which command an alert asks for, or why it asks for none."""

    command: str | None
    reason: Reason | None
    detail: str


def resolve_command(alert: Alert, config: RemediatorConfig) -> Mapping:
    """The configured map first; an alert's command label only when the config allows it."""
    mapped = config.alerts.get(alert.alertname)
    if mapped is not None:
        return Mapping(mapped, None, f"alertname {alert.alertname!r} maps to {mapped}")
    label = alert.labels.get("command")
    if label is None:
        return Mapping(None, Reason.UNMAPPED, f"no command for alertname {alert.alertname!r}")
    if not config.allows_label(label):
        return Mapping(None, Reason.REJECTED, f"command label {label!r} is not allowed")
    return Mapping(label, None, f"command label names {label}")


def decide(alert: Alert, config: RemediatorConfig, state: State, now: float) -> Decision:
    """Decide one alert on its own; never by the group's status."""
    if alert.status == "resolved":
        return Decision(Reason.RESOLVED, None, "the alert resolved")
    mapping = resolve_command(alert, config)
    if mapping.command is None:
        assert mapping.reason is not None
        return Decision(mapping.reason, None, mapping.detail)
    name = mapping.command
    policy = config.effective(name)
    if not policy.enabled:
        return Decision(Reason.REJECTED, name, f"{name} is disabled in the configuration")
    if state.claimed:
        return Decision(Reason.DUPLICATE, name, "this firing episode was already decided")
    held = gate(policy, state, now)
    if held is not None:
        return held
    if policy.dry_run:
        return Decision(Reason.DRY_RUN, name, f"dry run: {name} would be enqueued")
    why = needs_approval(policy, config.change_window, now)
    if why is not None:
        return Decision(Reason.AWAITING_APPROVAL, name, f"{mapping.detail}; {why}")
    return Decision(Reason.ENQUEUED, name, mapping.detail, opens_circuit=last_run(policy, state))


def last_run(policy: Effective, state: State) -> bool:
    """Is the run about to be queued the last one its circuit's window allows (it opens it)?"""
    return state.recent_executions + 1 >= policy.circuit.max_executions


def gate(policy: Effective, state: State, now: float) -> Decision | None:
    """What holds a command back (open circuit, its limit, a queued one, cooldown), if
    anything: at the decision, and again when a person approves a waiting execution."""
    name = policy.spec.name
    if state.circuit_open_until is not None and state.circuit_open_until > now:
        until = state.circuit_open_until - now
        return Decision(Reason.CIRCUIT_OPEN, name, f"circuit open for {until:.0f}s more")
    if state.recent_executions >= policy.circuit.max_executions:
        return Decision(Reason.CIRCUIT_OPEN, name, "execution limit reached", opens_circuit=True)
    if state.pending:
        return Decision(Reason.COOLDOWN, name, f"an execution of {name} is already queued")
    if state.cooldown_until is not None and state.cooldown_until > now:
        left = state.cooldown_until - now
        return Decision(Reason.COOLDOWN, name, f"cooldown for {left:.0f}s more")
    return None


def needs_approval(policy: Effective, window: ChangeWindow, now: float) -> str | None:
    """Why an alert-triggered execution of the command waits for a person, or None."""
    if policy.approval == "always":
        return "approval: always"
    if policy.approval == "in_window" and window.contains(now):
        return f"approval: in_window, and the change window ({window.timezone}) is open"
    return None
