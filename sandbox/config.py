"""The sandbox's settings: defaults match the real platform; YAML file, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from sandbox.errors import ConfigError

Strategy = Literal["legacy_v0", "hybrid_v1"]
STRATEGIES: tuple[Strategy, ...] = ("legacy_v0", "hybrid_v1")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def default_redis_url() -> str:
    """``REDIS_URL`` from the environment (the platform's own name for it), else localhost."""
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


class SandboxConfig(BaseModel):
    """Everything the sandbox API and its discovery worker read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1:8700"
    redis_url: str = Field(default_factory=default_redis_url)
    seed: int = 42
    universe_size: int = Field(600, ge=500, le=20_000)
    market_tick_seconds: int = Field(300, ge=0)
    cache_ttl_seconds: int = Field(600, gt=0)
    lock_ttl_seconds: int = Field(240, gt=0)
    job_timeout_seconds: int = Field(900, gt=0)
    heartbeat_interval_seconds: float = Field(30.0, gt=0)
    heartbeat_alive_seconds: float = Field(180.0, gt=0)
    default_limit: int = Field(50, gt=0, le=500)
    scoring_strategy: Strategy = "hybrid_v1"
    # A strategy the ``low_quality`` fault degraded scans badly: while it is the active one,
    # the discovery routes answer this slowly (beyond the rules' 20 s, well within 60 s),
    # and a discovery job run with it takes this much longer.
    degraded_strategy_delay_seconds: float = Field(25.0, ge=0, le=3600)
    degraded_strategy_job_delay_seconds: float = Field(5.0, ge=0, le=3600)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return check_listen(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @property
    def host(self) -> str:
        """The host part of ``listen``."""
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        """The port part of ``listen``."""
        return int(self.listen.rsplit(":", 1)[1])


def check_listen(value: str) -> str:
    """A ``HOST:PORT`` listen address, or ValueError."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT with a port 1-65535")
    return value


def check_redis_url(value: str) -> str:
    """A ``redis://`` or ``rediss://`` URL, or ValueError."""
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> SandboxConfig:
    """Load the YAML file (if any), apply flag overrides, and validate."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(path)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    data.update(flags)
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        loc = first_error(exc)["loc"]
        if loc and loc[0] in flags:  # a bad flag is the flag's fault, not the file's
            raise ConfigError(describe_validation_error(exc, f"--{str(loc[0]).replace('_', '-')}",
                                                        with_field=False)) from None  # fmt: skip
        raise ConfigError(describe_validation_error(exc, str(path or "defaults"))) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        raise ConfigError(f"{path}: expected a mapping at the top level, got {kind}")
    return loaded


def first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report: an unknown field first, since it explains the others."""
    return sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]


def describe_validation_error(exc: ValidationError, source: str, with_field: bool = True) -> str:
    """One line naming the first bad field, its value and what is wrong."""
    err = first_error(exc)
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{source}: {field}: unknown field"
    message = str(err["msg"]).removeprefix("Value error, ")
    where = f"{source}: {field}" if with_field else source
    return f"{where}: {message} (got {err['input']!r})"
