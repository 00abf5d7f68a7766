"""The remediator's actuators as configured (``actuators:``), and the secrets they and the token
read: how the platform is acted on (docs/architecture.md, "Configuration")."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from amc_core.config import Model
from remediator.errors import ConfigError


class Secret(Model):
    """A secret read from a file or an environment variable, never written in the config."""

    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of file or env")
        return self

    def read(self) -> str:
        """The secret's value, stripped; ConfigError when it is missing or empty."""
        if self.file is not None:
            try:
                value = self.file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"secret file {self.file}: {exc.strerror}") from None
            where = f"file {self.file}"
        else:
            assert self.env is not None
            value = os.environ.get(self.env, "").strip()
            where = f"environment variable {self.env}"
        if not value:
            raise ConfigError(f"secret {where} is empty")
        return value


class CommandActuator(Model):
    """Run an argv list (no shell) with a timeout and an explicit environment."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=30, gt=0)
    env: dict[str, str] = {}


class HttpActuator(Model):
    """Call an HTTP API (a hosting provider's restart or environment API)."""

    kind: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, Secret] = {}
    timeout_seconds: float = Field(default=30, gt=0)
    expect_status: list[int] = [200, 201, 202, 204]


class SignalActuator(Model):
    """Send a signal to the process named by a pidfile."""

    kind: Literal["signal"]
    pidfile: Path
    signal: str = "SIGTERM"

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if not value.startswith("SIG") or not hasattr(signal.Signals, value):
            raise ValueError("unknown signal")
        return value


Actuator = Annotated[CommandActuator | HttpActuator | SignalActuator, Field(discriminator="kind")]
