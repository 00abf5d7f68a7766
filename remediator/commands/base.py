"""What every command gets (its context and a step recorder) and what it provides."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from rq.timeouts import BaseTimeoutException

from remediator.config import Effective, RemediatorConfig
from remediator.records import Execution, Step

T = TypeVar("T")

# The share of an attempt's time kept for verification when a step waits for an effect.
VERIFY_RESERVE = 0.2


@dataclass
class Context:
    """One attempt of one execution: settings, parameters and the record being written."""

    config: RemediatorConfig
    policy: Effective
    record: Execution
    save: Callable[[Execution], None]
    platform_redis: Callable[[], redis.Redis]
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.monotonic)

    @property
    def params(self) -> dict[str, Any]:
        """The execution's parameters (configured ones overlaid by the operator's)."""
        return self.record.params

    def remaining(self) -> float:
        """Seconds left before this attempt's timeout."""
        return self.policy.timeout_seconds - (time.monotonic() - self.started)

    def budget(self, most: float) -> float:
        """How long a step may wait for an effect: ``most``, within what the attempt has left
        once verification's share is kept."""
        reserve = self.policy.timeout_seconds * VERIFY_RESERVE
        return max(0.0, min(most, self.remaining() - reserve))

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run one named step, recording its timing and result (or error) as it goes."""
        started = self.clock()
        entry = Step(name=name, attempt=self.record.attempts, started_at=started)
        self.record.steps.append(entry)
        self.save(self.record)
        try:
            result = fn()
        except BaseTimeoutException as exc:
            self._end(entry, "timed_out", error=str(exc))
            raise
        except Exception as exc:
            self._end(entry, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        self._end(entry, "succeeded", result=result)
        return result

    def _end(self, entry: Step, status: Any, result: Any = None, error: str | None = None) -> None:
        entry.status = status
        entry.ended_at = self.clock()
        entry.duration_seconds = round(entry.ended_at - entry.started_at, 6)
        entry.result = result
        entry.error = error
        self.save(self.record)


@dataclass(frozen=True)
class Verification:
    """Whether a command's effect holds, what was checked and what was seen."""

    verified: bool
    reason: str
    checks: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The step's result: JSON-ready."""
        return {"verified": self.verified, "reason": self.reason, "checks": self.checks}


@dataclass(frozen=True)
class Command:
    """A command's body: ``run`` does the work in steps, ``verify`` re-checks the platform."""

    run: Callable[[Context], Any]
    verify: Callable[[Context], Verification]


def wait_until(check: Callable[[], T | None], seconds: float, interval: float = 0.5) -> T | None:
    """Call ``check`` until it returns something other than None, ``seconds`` at most."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
