"""The exporter's settings: platform, Redis, probe schedule, thresholds and integrity markers.

The defaults match the real AMC-TRADER platform (DESIGN.md section 3), so pointing the exporter
at it is a matter of setting its base URL and Redis URL. ``load_config(path)`` reads a YAML file
into a validated, frozen ``ExporterConfig``; any error is a ``ConfigError`` whose message is one
line naming the field path and the bad value. ``ExporterConfig.with_overrides`` applies the
command line's flags (which win over the file). ``exporter/example.yml`` states every setting
with its default (a test keeps the two equal).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from exporter.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:9864"
DEFAULT_PLATFORM_URL = "http://127.0.0.1:8700"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# The routes the platform serves, then the six the original agent found missing (404).
DEFAULT_EXPECTED_ROUTES: tuple[str, ...] = (
    "/health",
    "/discovery/contenders/last",
    "/discovery/status",
    "/discovery/trigger",
    "/discovery/health",
    "/discovery/emergency/worker-health",
    "/api/discovery/health",
    "/discovery/test",
    "/discovery/strategy-validation",
    "/discovery/calibration/status",
    "/discovery/direct",
    "/squeeze/alerts",
    "/trades/portfolio",
)

_LISTEN = re.compile(r"^[^\s:]+:\d{1,5}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformConfig(_Model):
    """Where the platform's API is and which routes it should have."""

    url: str = DEFAULT_PLATFORM_URL
    health_path: str = "/health"
    discovery_path: str = "/discovery/contenders"
    expected_routes: tuple[str, ...] = DEFAULT_EXPECTED_ROUTES

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

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


class RedisConfig(_Model):
    """The platform's Redis and how long one pipelined read may take."""

    url: str = DEFAULT_REDIS_URL
    socket_timeout_seconds: float = Field(2.0, gt=0, le=30)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class DiscoveryConfig(_Model):
    """The platform's discovery queue and Redis keys."""

    queue: str = Field("amc_discovery", min_length=1)
    candidates_key: str = Field("amc:discovery:candidates:v2", min_length=1)
    status_key: str = Field("amc:discovery:status:v2", min_length=1)
    heartbeat_key: str = Field("amc:discovery:worker:heartbeat", min_length=1)
    lock_key: str = Field("discovery_job_lock", min_length=1)


class ProbeSchedule(_Model):
    """How often one probe runs and how long it may take."""

    interval_seconds: float = Field(gt=0)
    timeout_seconds: float = Field(gt=0)


class DiscoveryProbeSchedule(ProbeSchedule):
    """The discovery probe: its timeout exceeds 60 s, since rule 1 looks for slower answers."""

    interval_seconds: float = Field(60.0, gt=0)
    timeout_seconds: float = Field(90.0, gt=60)


class ProbesConfig(_Model):
    """The schedule of every probe."""

    health: ProbeSchedule = ProbeSchedule(interval_seconds=15, timeout_seconds=10)
    discovery: DiscoveryProbeSchedule = DiscoveryProbeSchedule()
    routes: ProbeSchedule = ProbeSchedule(interval_seconds=300, timeout_seconds=10)
    queues: ProbeSchedule = ProbeSchedule(interval_seconds=5, timeout_seconds=5)


class ThresholdsConfig(_Model):
    """System status classification (the original agent's thresholds) and health scoring."""

    degraded_response_seconds: float = Field(5.0, gt=0)
    critical_response_seconds: float = Field(15.0, gt=0)
    critical_max_candidates: int = Field(0, ge=0)
    degraded_min_candidates: int = Field(5, ge=0)
    health_score_window: int = Field(20, ge=1, le=10_000)

    @field_validator("critical_response_seconds")
    @classmethod
    def _critical_after_degraded(cls, value: float, info: ValidationInfo) -> float:
        degraded = info.data.get("degraded_response_seconds")
        if degraded is not None and value < degraded:
            raise ValueError(f"must be at least degraded_response_seconds ({degraded})")
        return value

    @field_validator("degraded_min_candidates")
    @classmethod
    def _degraded_above_critical(cls, value: int, info: ValidationInfo) -> int:
        critical = info.data.get("critical_max_candidates")
        if critical is not None and value <= critical:
            raise ValueError(f"must be greater than critical_max_candidates ({critical})")
        return value


class IntegrityConfig(_Model):
    """Explicit mock/fallback markers and the bounds of plausible discovery data."""

    mock_symbols: tuple[str, ...] = ("DEMO",)
    mock_job_ids: tuple[str, ...] = ("emergency_demo",)
    mock_job_id_prefixes: tuple[str, ...] = ("fallback_",)
    mock_engine_words: tuple[str, ...] = ("Demo", "Fallback")
    symbol_pattern: str = r"^[A-Z]{1,5}$"
    min_score: float = 0.0
    max_score: float = 100.0
    frozen_after_seconds: float = Field(3600.0, ge=0)

    @field_validator("symbol_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("max_score")
    @classmethod
    def _range(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min_score")
        if low is not None and value <= low:
            raise ValueError(f"must be greater than min_score ({low})")
        return value


class ExporterConfig(_Model):
    """Everything the exporter needs; the defaults describe the real platform."""

    listen: str = DEFAULT_LISTEN
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    platform: PlatformConfig = PlatformConfig()
    redis: RedisConfig = RedisConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    probes: ProbesConfig = ProbesConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    integrity: IntegrityConfig = IntegrityConfig()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if not _LISTEN.match(value) or not 0 < int(value.rsplit(":", 1)[1]) < 65536:
            raise ValueError("must be HOST:PORT")
        return value

    def with_overrides(
        self,
        listen: str | None = None,
        platform_url: str | None = None,
        redis_url: str | None = None,
    ) -> ExporterConfig:
        """A validated copy with the given command-line values in place of the file's."""
        data = self.model_dump()
        if listen is not None:
            data["listen"] = listen
        if platform_url is not None:
            data["platform"]["url"] = platform_url
        if redis_url is not None:
            data["redis"]["url"] = redis_url
        return validate_config(data, "command line")


def _format(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: {loc}: {message} (got {first.get('input')!r})"


def validate_config(data: Any, source: str = "config") -> ExporterConfig:
    """Validate a mapping into an ``ExporterConfig`` or raise a one-line ``ConfigError``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): must be a mapping (got {data!r})")
    try:
        return ExporterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc, source)) from None


def load_config(path: str | Path | None = None) -> ExporterConfig:
    """Read the YAML file at ``path`` (the defaults when None) into a validated config."""
    if path is None:
        return ExporterConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    return validate_config(data, str(path))
