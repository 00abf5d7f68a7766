"""The sandbox's settings: defaults match the real platform; YAML file, then flags.

Loading, the error format and the shared types are ``amc_core.config``'s: a flag overrides
the file, which overrides ``REDIS_URL``, which overrides the built-in default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from amc_core import config as core
from amc_core.config import DEFAULT_REDIS_URL, Listen, Model, RedisUrl
from sandbox.errors import ConfigError

Strategy = Literal["legacy_v0", "hybrid_v1"]
STRATEGIES: tuple[Strategy, ...] = ("legacy_v0", "hybrid_v1")
# Where the environment's defaults go (docs/architecture.md, "Programs").
ENVIRONMENT = {"redis_url": core.REDIS_URL_VARIABLE}


class SandboxConfig(Model):
    """Everything the sandbox API and its discovery worker read."""

    listen: Listen = "127.0.0.1:8700"
    redis_url: RedisUrl = DEFAULT_REDIS_URL
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

    @property
    def host(self) -> str:
        """The host part of ``listen``."""
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        """The port part of ``listen``."""
        return int(self.listen.rsplit(":", 1)[1])


def load_config(
    path: Path | None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> SandboxConfig:
    """Load the YAML file (if any), then ``REDIS_URL`` (``environ``, else the process's
    environment) where neither the file nor a flag sets it, then the flags in ``overrides``
    (field name to value; None: not given)."""
    flags = {
        name: (f"--{name.replace('_', '-')}", value) for name, value in (overrides or {}).items()
    }
    environ = dict(os.environ) if environ is None else environ
    return core.load(SandboxConfig, path, flags, ENVIRONMENT, environ, ConfigError)
