"""The remediator's settings: Redis, token, alert->command map, per-command policy, actuators.

Loading, the error format and the shared types are ``amc_core.config``'s: a flag overrides the
file, which overrides ``REDIS_URL``/``AMC_PLATFORM_URL``, which override the built-in defaults.
The actuators and secrets are in ``remediator.actuator_config``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, field_validator, model_validator

from amc_core import config as core
from amc_core.config import FieldError, HttpUrl, Listen, Model, RedisUrl
from remediator import keys
from remediator.actuator_config import (
    Actuator,
    Secret,
    SignalActuator,
)
from remediator.commands import params
from remediator.commands.catalog import CATALOG, CommandSpec, Priority
from remediator.errors import ConfigError
from remediator.windows import ChangeWindow

__all__ = ["RemediatorConfig", "load_config", "parse_config"]

DEFAULT_LISTEN = "127.0.0.1:9865"
# Where the environment's defaults go (docs/architecture.md, "Programs"); the platform's
# Redis is ours unless the file says otherwise.
ENVIRONMENT = {
    "redis_url": core.REDIS_URL_VARIABLE,
    "platform.url": core.PLATFORM_URL_VARIABLE,
    "platform.redis_url": core.REDIS_URL_VARIABLE,
}
DEFAULT_ALERTS = {
    "DiscoverySystemFailure": "RESTART_DISCOVERY_SYSTEM",
    "DataIntegrityCompromised": "INTEGRATE_REAL_DATA",
    "AlgorithmQualityDegraded": "VALIDATE_ALGORITHMS",
    "HighErrorRate": "EMERGENCY_RESTART",
}
# RQ's default interval between a worker's checks of its work horse.
RQ_MONITOR_SECONDS = 30
# The platform's cache keys (docs/architecture.md, "The platform being watched"); the worker
# heartbeat is deliberately not under them, so a flush never makes a live worker look dead.
DEFAULT_CACHE_PREFIXES = ["amc:discovery:candidates:", "amc:discovery:status:"]


def _catalog_name(value: str) -> str:
    if value not in CATALOG:
        raise ValueError("unknown command")
    return value


CommandName = Annotated[str, AfterValidator(_catalog_name)]


class Backoff(Model):
    """Retry delays: initial * factor**n, capped (RQ schedules retries in whole seconds)."""

    initial_seconds: int = Field(default=10, ge=0)
    factor: float = Field(default=2.0, ge=1.0)
    max_seconds: int = Field(default=300, ge=0)

    def intervals(self, retries: int) -> list[int]:
        """The delay before each retry."""
        return [
            min(self.max_seconds, round(self.initial_seconds * self.factor**n))
            for n in range(retries)
        ]


class Circuit(Model):
    """Open after ``max_executions`` alert-triggered runs within the window; stay open a while."""

    max_executions: int = Field(default=3, ge=1)
    window_seconds: int = Field(default=3600, ge=1)
    open_seconds: int = Field(default=3600, ge=1)


Approval = Literal["never", "always", "in_window"]


class Policy(Model):
    """Defaults for every command (docs/architecture.md, "Contracts")."""

    cooldown_seconds: int = Field(default=600, ge=0)
    retries: int = Field(default=0, ge=0, le=10)
    backoff: Backoff = Backoff()
    circuit: Circuit = Circuit()
    dry_run: bool = False
    # never: alerts run it; always: a person approves each alert-triggered execution;
    # in_window: a person approves it while the change window (the market session) is open.
    approval: Approval = "never"
    approval_timeout_seconds: int = Field(default=1800, ge=1)


class CommandOverride(Model):
    """Per-command settings; anything left out comes from the defaults or the catalog."""

    enabled: bool = True
    timeout_seconds: int | None = Field(default=None, ge=1)
    priority: Priority | None = None
    cooldown_seconds: int | None = Field(default=None, ge=0)
    retries: int | None = Field(default=None, ge=0, le=10)
    backoff: Backoff | None = None
    circuit: Circuit | None = None
    dry_run: bool | None = None
    approval: Approval | None = None
    approval_timeout_seconds: int | None = Field(default=None, ge=1)
    parameters: dict[str, str | int | float | bool] = {}


class Platform(Model):
    """Where the AMC-TRADER platform is and how it is acted on."""

    url: HttpUrl = core.DEFAULT_PLATFORM_URL
    redis_url: RedisUrl = core.DEFAULT_REDIS_URL
    redis_timeout_seconds: float = Field(default=10, gt=0)
    # FLUSH_REDIS deletes the keys under these prefixes (literal, no glob: SCAN MATCH
    # <escaped prefix>*).
    cache_prefixes: list[str] = Field(default=DEFAULT_CACHE_PREFIXES, min_length=1)
    exporter_config: Path | None = None
    workers_restart: str | None = None
    api_restart: str | None = None
    configuration: str | None = None
    # How the commands act and judge: the platform's HTTP calls, its scoring strategies
    # (VALIDATE_ALGORITHMS runs each), what a valid discovery run is, how many probes the
    # full validation of EMERGENCY_RESTART takes.
    api_timeout_seconds: float = Field(default=10, gt=0, le=300)
    strategies: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] = Field(
        default=["legacy_v0", "hybrid_v1"], min_length=1
    )
    min_candidates: int = Field(default=3, ge=1)
    max_discovery_seconds: float = Field(default=20, gt=0)
    validation_probes: int = Field(default=3, ge=1, le=20)

    @model_validator(mode="before")
    @classmethod
    def _no_patterns(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cache_patterns" in data:
            raise FieldError(
                "cache_patterns",
                data["cache_patterns"],
                "replaced by cache_prefixes (literal key prefixes, without * or ?)",
            )
        return data

    @field_validator("strategies")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must be unique")
        return value

    @field_validator("cache_prefixes")
    @classmethod
    def _narrow_prefixes(cls, value: list[str]) -> list[str]:
        for at, prefix in enumerate(value):
            if not prefix:
                raise FieldError(str(at), prefix, "must not be empty (it would take every key)")
            for protected, whose in keys.PROTECTED.items():
                # Either way round, the prefix's keys and the protected ones meet.
                if prefix.startswith(protected) or protected.startswith(prefix):
                    raise FieldError(str(at), prefix, f"would reach {whose} ({protected}...)")
        return value


class Retention(Model):
    """How much history Redis keeps."""

    audit_max_len: int = Field(default=10_000, ge=10)
    max_executions: int = Field(default=1000, ge=1)
    execution_ttl_seconds: int = Field(default=7 * 86400, ge=60)


class RemediatorConfig(Model):
    """The whole configuration file."""

    listen: Listen = DEFAULT_LISTEN
    redis_url: RedisUrl = core.DEFAULT_REDIS_URL
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    token: Secret = Secret(env="AMC_REMEDIATOR_TOKEN")
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    intake_threads: int = Field(default=8, ge=1, le=128)
    max_concurrent_requests: int = Field(default=256, ge=1, le=65536)
    # Longer than Alertmanager's repeat_interval for the remediator (ours: 1h); refreshed by
    # every repeat.
    dedup_ttl_seconds: int = Field(default=86400, ge=60)
    # How long in all an execution of a disruptive command waits its turn for the lock
    # (longer than EMERGENCY_RESTART's timeout, so one emergency never fails the others).
    lock_wait_seconds: int = Field(default=900, ge=0)
    # How long a work horse may outlive its command's timeout (to record its own end) before
    # the worker kills it.
    kill_grace_seconds: int = Field(default=30, ge=1)
    dry_run: bool = False
    alerts: dict[str, CommandName] = DEFAULT_ALERTS
    label_commands: list[CommandName] | None = None
    defaults: Policy = Policy()
    commands: dict[CommandName, CommandOverride] = {}
    change_window: ChangeWindow = ChangeWindow()
    platform: Platform = Field(default_factory=Platform)
    actuators: dict[str, Actuator] = {}
    retention: Retention = Retention()
    _policies: dict[str, Effective] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _actuators_exist(self) -> RemediatorConfig:
        for role in ("workers_restart", "api_restart", "configuration"):
            name = getattr(self.platform, role)
            if name is not None and name not in self.actuators:
                raise FieldError(f"platform.{role}", name, "no actuator of that name")
        name = self.platform.configuration
        if name is not None and isinstance(self.actuators[name], SignalActuator):
            raise FieldError(
                "platform.configuration", name, "the actuator sends a signal, which cannot "
                "carry settings (use an http or command actuator)",
            )  # fmt: skip
        for name, override in self.commands.items():
            where = f"commands.{name}.parameters"
            unknown = sorted(set(override.parameters) - CATALOG[name].parameters)
            if unknown:
                takes = ", ".join(sorted(CATALOG[name].parameters)) or "none"
                raise FieldError(
                    f"{where}.{unknown[0]}",
                    override.parameters[unknown[0]],
                    f"unknown parameter (takes: {takes})",
                )
            try:
                params.parse(name, dict(override.parameters), self.platform.strategies)
            except params.ParamsError as exc:
                parameter = exc.field.removeprefix("params").removeprefix(".")
                value: Any = override.parameters  # the parameters as a whole, else the one
                if parameter:
                    where, value = f"{where}.{parameter}", value.get(parameter)
                raise FieldError(where, value, exc.message) from None
        return self

    def effective(self, name: str) -> Effective:
        """The policy of one command: catalog, then defaults, then its override."""
        policy = self._policies.get(name)
        if policy is None:  # computed once: the config is frozen
            policy = self._policies[name] = effective_policy(self, CATALOG[name])
        return policy

    def monitor_interval(self) -> int:
        """How often a worker checks its work horse: often enough to honour the kill grace."""
        return max(1, min(RQ_MONITOR_SECONDS, self.kill_grace_seconds))

    def kill_after(self, name: str) -> int:
        """Seconds after an attempt of ``name`` starts by which its work horse is surely dead."""
        timeout = self.effective(name).timeout_seconds
        return timeout + self.kill_grace_seconds + self.monitor_interval()

    def allows_label(self, name: str) -> bool:
        """May an alert's ``command`` label choose this command?

        By default only the non-disruptive ones: a label is whatever a rule author wrote, so
        a restart, flush or clear is chosen by a label only when ``label_commands`` says so.
        """
        if name not in CATALOG:
            return False
        if self.label_commands is None:
            return not CATALOG[name].disruptive
        return name in self.label_commands


@dataclass(frozen=True)
class Effective:
    """A command's resolved policy: what the decision and the queue use."""

    spec: CommandSpec
    enabled: bool
    priority: Priority
    timeout_seconds: int
    cooldown_seconds: int
    retries: int
    backoff: Backoff
    circuit: Circuit
    dry_run: bool
    parameters: dict[str, str | int | float | bool]
    approval: Approval
    approval_timeout_seconds: int


def effective_policy(config: RemediatorConfig, spec: CommandSpec) -> Effective:
    """Merge the catalog entry, the defaults and the override of one command."""
    over = config.commands.get(spec.name, CommandOverride())
    base = config.defaults

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return Effective(
        spec=spec,
        enabled=over.enabled,
        priority=pick(over.priority, spec.priority),
        timeout_seconds=pick(over.timeout_seconds, spec.timeout_seconds),
        cooldown_seconds=pick(over.cooldown_seconds, base.cooldown_seconds),
        retries=pick(over.retries, base.retries),
        backoff=pick(over.backoff, base.backoff),
        circuit=pick(over.circuit, base.circuit),
        dry_run=config.dry_run or pick(over.dry_run, base.dry_run),
        parameters=dict(over.parameters),
        approval=pick(over.approval, base.approval),
        approval_timeout_seconds=pick(over.approval_timeout_seconds, base.approval_timeout_seconds),
    )


_FLAG_FIELDS = {"platform_url": "platform.url"}


def _flags(overrides: dict[str, Any] | None) -> dict[str, tuple[str, Any]]:
    """The flags' names and values by the path of their field (others: their own name)."""
    return {
        _FLAG_FIELDS.get(name, name): (f"--{name.replace('_', '-')}", value)
        for name, value in (overrides or {}).items()
    }


def parse_config(data: Any, overrides: dict[str, Any] | None = None) -> RemediatorConfig:
    """Validate a loaded YAML document, then the environment's defaults and the flags in
    ``overrides`` (field name to value; None: not given)."""
    config = core.validate(RemediatorConfig, data, None, ConfigError)
    return core.apply(config, _flags(overrides), ENVIRONMENT, os.environ, ConfigError)


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> RemediatorConfig:
    """Read and validate the configuration file (defaults only when ``path`` is None)."""
    flags = _flags(overrides)
    return core.load(RemediatorConfig, path, flags, ENVIRONMENT, os.environ, ConfigError)
