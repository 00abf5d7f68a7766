"""The remediator's settings: Redis, token, alert->command map, per-command policy, actuators."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from remediator import keys
from remediator.commands import params
from remediator.commands.catalog import CATALOG, CommandSpec, Priority
from remediator.errors import ConfigError
from remediator.globs import may_match_prefix
from remediator.windows import ChangeWindow

DEFAULT_LISTEN = "127.0.0.1:9865"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PLATFORM_URL = "http://127.0.0.1:8700"
DEFAULT_ALERTS = {
    "DiscoverySystemFailure": "RESTART_DISCOVERY_SYSTEM",
    "DataIntegrityCompromised": "INTEGRATE_REAL_DATA",
    "AlgorithmQualityDegraded": "VALIDATE_ALGORITHMS",
    "HighErrorRate": "EMERGENCY_RESTART",
}
# RQ's default interval between a worker's checks of its work horse.
RQ_MONITOR_SECONDS = 30
# The platform's cache keys (docs/architecture.md, "The platform being watched"); the worker
# heartbeat is deliberately not matched, so a flush never makes a live worker look dead.
DEFAULT_CACHE_PATTERNS = ["amc:discovery:candidates:*", "amc:discovery:status:*"]


def _catalog_name(value: str) -> str:
    if value not in CATALOG:
        raise ValueError(f"unknown command {value!r}")
    return value


CommandName = Annotated[str, AfterValidator(_catalog_name)]


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be HOST:PORT, got {value!r}")
    return value


Listen = Annotated[str, AfterValidator(_listen)]


class Model(BaseModel):
    """Our own configuration: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
            raise ValueError(f"unknown signal {value!r}")
        return value


Actuator = Annotated[CommandActuator | HttpActuator | SignalActuator, Field(discriminator="kind")]


class Platform(Model):
    """Where the AMC-TRADER platform is and how it is acted on."""

    url: str = Field(
        default_factory=lambda: os.environ.get("AMC_PLATFORM_URL", DEFAULT_PLATFORM_URL),
        pattern=r"^https?://",
    )
    redis_url: str = Field(
        default_factory=lambda: os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        pattern=r"^(redis|rediss|unix)://",
    )
    redis_timeout_seconds: float = Field(default=10, gt=0)
    cache_patterns: list[str] = Field(default=DEFAULT_CACHE_PATTERNS, min_length=1)
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

    @field_validator("strategies")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("strategies must be unique")
        return value

    @field_validator("cache_patterns")
    @classmethod
    def _narrow_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.strip("*?") == "":
                raise ValueError(f"pattern {pattern!r} would match every key")
            for prefix, whose in keys.PROTECTED.items():
                if may_match_prefix(pattern, prefix):
                    raise ValueError(f"pattern {pattern!r} could match {whose} ({prefix}*)")
        return value


class Retention(Model):
    """How much history Redis keeps."""

    audit_max_len: int = Field(default=10_000, ge=10)
    max_executions: int = Field(default=1000, ge=1)
    execution_ttl_seconds: int = Field(default=7 * 86400, ge=60)


class RemediatorConfig(Model):
    """The whole configuration file."""

    listen: Listen = DEFAULT_LISTEN
    redis_url: str = Field(
        default_factory=lambda: os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        pattern=r"^(redis|rediss|unix)://",
    )
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
                raise ValueError(f"platform.{role}: no actuator named {name!r}")
        name = self.platform.configuration
        if name is not None and isinstance(self.actuators[name], SignalActuator):
            raise ValueError(
                f"platform.configuration: actuator {name!r} sends a signal, which cannot carry "
                "settings (use an http or command actuator)"
            )
        for name, override in self.commands.items():
            unknown = sorted(set(override.parameters) - CATALOG[name].parameters)
            if unknown:
                takes = ", ".join(sorted(CATALOG[name].parameters)) or "none"
                raise ValueError(
                    f"commands.{name}.parameters: unknown parameter {unknown[0]!r} (takes: {takes})"
                )
            try:
                params.parse(name, dict(override.parameters), self.platform.strategies)
            except params.ParamsError as exc:
                where = f"commands.{name}.parameters{exc.field.removeprefix('params')}"
                raise ValueError(f"{where}: {exc.message}") from None
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
    approval: str = "never"
    approval_timeout_seconds: int = 1800


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


def _format_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required field missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
    where = f"{loc}: " if loc else ""
    quiet = ("extra_forbidden", "missing", "value_error", "union_tag_invalid")
    if not loc or kind in quiet or "input" not in error:
        return f"{where}{message}"
    return f"{where}{message} (got {error['input']!r})"


def parse_config(data: Any, overrides: dict[str, Any] | None = None) -> RemediatorConfig:
    """Validate a loaded YAML document; flags in ``overrides`` win over the file."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping")
    merged = dict(data)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "platform_url":
            merged["platform"] = {**merged.get("platform", {}), "url": value}
        else:
            merged[key] = value
    try:
        return RemediatorConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> RemediatorConfig:
    """Read and validate the configuration file (defaults only when ``path`` is None)."""
    data: Any = None
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return parse_config(data, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
