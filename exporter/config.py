"""The exporter's settings: platform, Redis, probe schedule, platform timers, integrity markers.

The defaults match the real AMC-TRADER platform (docs/architecture.md, "The platform being
watched"), so pointing the exporter at it is a matter of setting its base URL and Redis URL.
``load_config(path)`` reads a YAML file into a validated, frozen ``ExporterConfig``; any error is a
``ConfigError`` whose message is one line naming the field path and the bad value. Precedence
(docs/architecture.md, "Programs"): a flag overrides the file, which overrides the defaults;
``AMC_PLATFORM_URL`` and ``REDIS_URL`` are only defaults. ``load_config(path, environ, **flags)``
fills them in where the file is silent and applies the flags; a bad value names its flag or
variable. The loading, the error format and the shared types are ``amc_core.config``'s.
``exporter/example.yml`` states every setting with its default (a test keeps the two equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from amc_core import config as core
from amc_core.config import FieldError, HttpUrl, Listen, Model, RedisUrl
from exporter.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:9864"
# Where the environment's defaults go (docs/architecture.md, "Programs").
ENVIRONMENT = {"platform.url": core.PLATFORM_URL_VARIABLE, "redis.url": core.REDIS_URL_VARIABLE}

KNOWN_MISSING_ROUTES: tuple[str, ...] = (
    "/discovery/test",
    "/discovery/strategy-validation",
    "/discovery/calibration/status",
    "/discovery/direct",
    "/squeeze/alerts",
    "/trades/portfolio",
)
"""The six routes the original agent found missing (404); expected, so their absence shows."""

# The routes the platform serves, then the six it lacks.
DEFAULT_EXPECTED_ROUTES: tuple[str, ...] = (
    "/health",
    "/discovery/contenders/last",
    "/discovery/status",
    "/discovery/trigger",
    "/discovery/health",
    "/discovery/emergency/worker-health",
    "/api/discovery/health",
    *KNOWN_MISSING_ROUTES,
)

# The remediator's queues (docs/architecture.md, "Contracts"); with the discovery queue,
# exported by name.
DEFAULT_RQ_QUEUES: tuple[str, ...] = (
    "remediation-critical",
    "remediation-high",
    "remediation-medium",
    "remediation-low",
)
OTHER_QUEUE = "other"
"""The ``queue`` label value under which every queue not configured by name is summed."""

NonEmpty = Annotated[str, Field(min_length=1)]


def _blame(model: BaseModel, first: str, second: str) -> str:
    """Of two conflicting fields, the one the file set (the second when both or neither)."""
    fields = model.model_fields_set
    return first if first in fields and second not in fields else second


class PlatformConfig(Model):
    """Where the platform's API is and which routes it should have."""

    url: HttpUrl = core.DEFAULT_PLATFORM_URL
    health_path: str = "/health"
    discovery_path: str = "/discovery/contenders"
    expected_routes: tuple[str, ...] = DEFAULT_EXPECTED_ROUTES

    @field_validator("health_path", "discovery_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("expected_routes")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for route in value:
            if not route.startswith("/"):
                raise ValueError(f"route {route!r} must start with /")
        if len(set(value)) != len(value):
            raise ValueError("routes must be unique")
        return value


class RedisConfig(Model):
    """The platform's Redis and how long one pipelined read may take."""

    url: RedisUrl = core.DEFAULT_REDIS_URL
    socket_timeout_seconds: float = Field(2.0, gt=0, le=30)


class DiscoveryConfig(Model):
    """The platform's discovery queue and Redis keys."""

    queue: str = Field("amc_discovery", min_length=1)
    candidates_key: str = Field("amc:discovery:candidates:v2", min_length=1)
    status_key: str = Field("amc:discovery:status:v2", min_length=1)
    heartbeat_key: str = Field("amc:discovery:worker:heartbeat", min_length=1)
    lock_key: str = Field("discovery_job_lock", min_length=1)


class RqConfig(Model):
    """Which RQ queues get a ``queue`` label of their own; the rest are summed as "other"."""

    # Queue names come from Redis: without a list, label cardinality would follow its content.
    queues: tuple[NonEmpty, ...] = DEFAULT_RQ_QUEUES

    @field_validator("queues")
    @classmethod
    def _named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if OTHER_QUEUE in value:
            raise ValueError(f"{OTHER_QUEUE!r} is reserved for the queues not listed")
        if len(set(value)) != len(value):
            raise ValueError("queues must be unique")
        return value


class ProbeSchedule(Model):
    """How often one probe runs and how long it may take (each probe has its own defaults)."""

    interval_seconds: float = Field(gt=0)
    timeout_seconds: float = Field(gt=0)


class HealthProbeSchedule(ProbeSchedule):
    """The ``/health`` probe."""

    interval_seconds: float = Field(15.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)


class DiscoveryProbeSchedule(ProbeSchedule):
    """The discovery probe: its timeout exceeds 60 s, since rule 1 looks for slower answers."""

    interval_seconds: float = Field(60.0, gt=0)
    timeout_seconds: float = Field(90.0, gt=60)


class RoutesProbeSchedule(ProbeSchedule):
    """The expected-routes probe."""

    interval_seconds: float = Field(300.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)


class QueuesProbeSchedule(ProbeSchedule):
    """The RQ/Redis read."""

    interval_seconds: float = Field(5.0, gt=0)
    timeout_seconds: float = Field(5.0, gt=0)


class ProbesConfig(Model):
    """The schedule of every probe; a probe's unset fields keep that probe's defaults."""

    health: HealthProbeSchedule = HealthProbeSchedule()
    discovery: DiscoveryProbeSchedule = DiscoveryProbeSchedule()
    routes: RoutesProbeSchedule = RoutesProbeSchedule()
    queues: QueuesProbeSchedule = QueuesProbeSchedule()


class ThresholdsConfig(Model):
    """The platform's timers that system status is judged by, and health scoring.

    The defaults are the real platform's (docs/architecture.md, "The platform being watched"); a
    deployment whose platform runs other timers (the local stack scales them) states them here.
    """

    # The discovery worker sets its heartbeat this often: late after 2, dead after 3 of them.
    heartbeat_interval_seconds: float = Field(30.0, gt=0)
    # A queued discovery job older than this waits for no one (RQ's job timeout).
    job_timeout_seconds: float = Field(900.0, gt=0)
    # The results cache's lifetime: failed jobs within it degrade the status, and a refresh
    # keeps the previous results for at most one more of it.
    cache_ttl_seconds: float = Field(600.0, gt=0)
    health_score_window: int = Field(20, ge=1, le=10_000)


class IntegrityConfig(Model):
    """Explicit mock/fallback markers and the bounds of plausible discovery data."""

    # Empty strings would match everything ("" is in every engine name, a prefix of every id).
    mock_symbols: tuple[NonEmpty, ...] = ("DEMO",)
    mock_job_ids: tuple[NonEmpty, ...] = ("emergency_demo",)
    mock_job_id_prefixes: tuple[NonEmpty, ...] = ("fallback_",)
    mock_engine_words: tuple[NonEmpty, ...] = ("Demo", "Fallback")
    symbol_pattern: str = Field(r"^[A-Z]{1,5}$", min_length=1)
    min_score: float = 0.0
    max_score: float = 100.0
    # Above this share of the candidates, odd symbols or one repeated score are implausible.
    implausible_share: float = Field(0.5, gt=0, lt=1)
    frozen_after_seconds: float = Field(3600.0, ge=0)

    @field_validator("symbol_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _range(self) -> Self:
        low, high = self.min_score, self.max_score
        if high <= low:
            if _blame(self, "min_score", "max_score") == "min_score":
                raise FieldError("min_score", low, f"must be less than max_score ({high})")
            raise FieldError("max_score", high, f"must be greater than min_score ({low})")
        return self


class ExporterConfig(Model):
    """Everything the exporter needs; the defaults describe the real platform."""

    listen: Listen = DEFAULT_LISTEN
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    platform: PlatformConfig = PlatformConfig()
    redis: RedisConfig = RedisConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    rq: RqConfig = RqConfig()
    probes: ProbesConfig = ProbesConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    integrity: IntegrityConfig = IntegrityConfig()


def _flags(
    listen: str | None, platform_url: str | None, redis_url: str | None
) -> dict[str, tuple[str, str | None]]:
    return {
        "listen": ("--listen", listen),
        "platform.url": ("--platform-url", platform_url),
        "redis.url": ("--redis-url", redis_url),
    }


def validate_config(data: Any, source: str = "config") -> ExporterConfig:
    """Validate a mapping into an ``ExporterConfig`` or raise a one-line ``ConfigError``."""
    return core.validate(ExporterConfig, data, source, ConfigError)


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    listen: str | None = None,
    platform_url: str | None = None,
    redis_url: str | None = None,
) -> ExporterConfig:
    """Read the YAML file at ``path`` (the defaults when None) into a validated config; then
    ``environ``'s variables where neither the file nor a flag is set, and the flags."""
    flags = _flags(listen, platform_url, redis_url)
    return core.load(ExporterConfig, path, flags, ENVIRONMENT, environ, ConfigError)
