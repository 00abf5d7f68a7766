"""Execution records: what ran, why, each step's timing and result, and whether it worked."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Status(StrEnum):
    """Where an execution is; all but the first five are final."""

    AWAITING_APPROVAL = "awaiting_approval"  # a person approves or rejects it; not queued
    QUEUED = "queued"
    WAITING = "waiting"  # for the disruptive-command lock: rescheduled, not started
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    DRY_RUN = "dry_run"  # an operator's run under dry-run: recorded, nothing run
    REJECTED = "rejected"  # a person said no: nothing run
    EXPIRED = "expired"  # nobody approved it in time: nothing run, people told


FINAL = frozenset(
    {
        Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED, Status.DRY_RUN,
        Status.REJECTED, Status.EXPIRED,
    }
)  # fmt: skip
# Not started yet: a resolution of its alert, or an operator, cancels it.
NOT_STARTED = frozenset({Status.AWAITING_APPROVAL, Status.QUEUED, Status.WAITING})

Trigger = Literal["alert", "manual", "cli"]


class Step(BaseModel):
    """One named step of a command, with its timing and result."""

    model_config = ConfigDict(extra="ignore")

    name: str
    attempt: int
    status: Literal["running", "succeeded", "failed", "timed_out"] = "running"
    started_at: float
    ended_at: float | None = None
    duration_seconds: float | None = None
    result: Any = None
    error: str | None = None


class AlertRef(BaseModel):
    """The alert that triggered an execution (never used on a command line)."""

    model_config = ConfigDict(extra="ignore")

    alertname: str
    fingerprint: str
    starts_at: float
    dedup_key: str


class Approval(BaseModel):
    """Why an execution needs a person's yes, until when, and who answered."""

    model_config = ConfigDict(extra="ignore")

    policy: str
    deadline: float
    by: str | None = None
    reason: str | None = None
    answered_at: float | None = None


class Execution(BaseModel):
    """The record of one execution, kept in Redis with bounded retention."""

    model_config = ConfigDict(extra="ignore")

    id: str
    command: str
    trigger: Trigger
    priority: str
    params: dict[str, Any] = {}
    alert: AlertRef | None = None
    status: Status = Status.QUEUED
    attempts: int = 0
    max_attempts: int = 1
    steps: list[Step] = []
    verified: bool | None = None
    verification: dict[str, Any] | None = None  # what verification checked and saw
    result: Any = None
    error: str | None = None
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    next_attempt_at: float | None = None
    waiting_since: float | None = None
    waiting_for: str | None = None  # the lock holder while waiting
    approval: Approval | None = None
    cancelled_by: str | None = None

    @property
    def final(self) -> bool:
        """Has the execution reached a final status?"""
        return self.status in FINAL
