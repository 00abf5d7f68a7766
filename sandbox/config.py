"""The sandbox's settings: defaults match the real platform; YAML file, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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

    listen: str = Field("127.0.0.1:8700", pattern=r"^[^\s:]+:\d{1,5}$")
    redis_url: str = Field(default_factory=default_redis_url, pattern=r"^rediss?://")
    seed: int = 42
    universe_size: int = Field(600, ge=500, le=20_000)
    market_tick_seconds: int = Field(300, ge=0)
    cache_ttl_seconds: int = Field(600, gt=0)
    lock_ttl_seconds: int = Field(240, gt=0)
    job_timeout_seconds: int = Field(900, gt=0)
    heartbeat_interval_seconds: float = Field(30.0, gt=0)
    default_limit: int = Field(50, gt=0, le=500)
    scoring_strategy: Strategy = "hybrid_v1"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> SandboxConfig:
    """Load the YAML file (if any), apply flag overrides, and validate."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=str(path or "flags"))) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        raise ConfigError(f"{path}: expected a mapping at the top level, got {kind}")
    return loaded


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line naming the first bad field, its value and what is wrong."""
    # An unknown field explains the rest (a misspelt name also leaves a required one out).
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{source}: {field}: unknown field"
    return f"{source}: {field}: {err['msg']} (got {err['input']!r})"
