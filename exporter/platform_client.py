"""A typed client of the platform's API: health, discovery contenders and route presence.

Every call has its own timeout and returns a result, never raises for the platform's sake: a
failed call carries ``failure`` in ``timeout``, ``connection`` or ``status`` (a bounded metric
label). A 202 from the discovery route is ``queued``, not a failure; a 503 from ``/health`` with
a health body is the platform saying "degraded", also not a failure.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.timestamps import epoch_seconds

Failure = Literal["timeout", "connection", "status"]
FAILURES: tuple[str, ...] = ("timeout", "connection", "status")
"""Every value of the ``reason`` label of probe failures."""

COMPONENTS: tuple[str, ...] = ("env", "database", "redis", "polygon", "alpaca")
"""The five components of the platform's ``/health``."""


class _Payload(BaseModel):
    # The platform's payloads grow fields over versions: read what we know, ignore the rest.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Candidate(_Payload):
    """One discovery candidate: the fields the checks read."""

    symbol: str
    bms_score: float
    price: float | None = None


class DiscoveryPayload(_Payload):
    """The body of the discovery route (ready or queued); ``malformed`` counts bad candidates.

    ``cache_age_seconds`` (the platform's own count, free of clock skew) and ``timestamp``
    (when the run started) date the results; unreadable values read as absent.
    """

    candidates: tuple[Candidate, ...] = ()
    malformed: int = 0
    engine: str | None = None
    job_id: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    error_recovery: bool | None = None
    cache_age_seconds: float | None = None
    timestamp: float | None = None

    @field_validator("stats", mode="before")
    @classmethod
    def _no_stats(cls, value: Any) -> Any:
        return {} if value is None else value

    # A date the exporter cannot read must not make good results unreadable.
    @field_validator("timestamp", mode="before")
    @classmethod
    def _time(cls, value: Any) -> float | None:
        return epoch_seconds(value)

    @field_validator("cache_age_seconds", mode="before")
    @classmethod
    def _age(cls, value: Any) -> float | None:
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        return float(number) if number is not None and math.isfinite(number) else None

    @classmethod
    def parse(cls, body: Any) -> DiscoveryPayload:
        """Parse a JSON body; candidates that do not parse are counted, not fatal."""
        if not isinstance(body, dict):
            raise ValueError(f"body is {type(body).__name__}, not an object")
        raw = body.get("candidates") or []
        if not isinstance(raw, list):
            raise ValueError("candidates is not a list")
        good: list[Candidate] = []
        for item in raw:
            try:
                good.append(Candidate.model_validate(item))
            except ValidationError:
                continue
        fields = {k: v for k, v in body.items() if k not in ("candidates", "malformed")}
        return cls.model_validate({**fields, "candidates": good, "malformed": len(raw) - len(good)})


class ComponentHealth(_Payload):
    """One component of ``/health``."""

    ok: bool


class HealthPayload(_Payload):
    """The body of ``/health``."""

    status: str | None = None
    components: dict[str, ComponentHealth]


class CallResult(BaseModel):
    """What one HTTP probe saw: timing, status and the failure reason if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duration_seconds: float
    http_status: int | None = None
    failure: Failure | None = None
    detail: str | None = None

    @property
    def answered(self) -> bool:
        """True when the platform sent an HTTP response at all."""
        return self.http_status is not None


class HealthResult(CallResult):
    """A ``/health`` probe: the component flags when the body was a health report."""

    healthy: bool | None = None
    components: dict[str, bool] = Field(default_factory=dict)


class DiscoveryResult(CallResult):
    """A discovery probe: ``ready`` with candidates, ``queued``, or failed (``None``)."""

    state: Literal["ready", "queued"] | None = None
    payload: DiscoveryPayload | None = None


class RouteResult(BaseModel):
    """Whether one expected route exists: ``up`` is None when it did not answer (no verdict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str
    up: bool | None
    http_status: int | None = None
    failure: Failure | None = None


def _resource_not_found(body: Any) -> bool:
    """A 404 that a route sent about its resource ("no results cached"), not a missing route.

    Frameworks answer an unknown route with a bare "Not Found" (FastAPI ``{"detail": "Not
    Found"}``, aiohttp plain text); a route of the platform names what it did not find.
    """
    if not isinstance(body, dict):
        return False
    detail = body.get("detail", body.get("error"))
    return isinstance(detail, str) and detail.strip().lower() not in ("", "not found")


class PlatformClient:
    """Calls the platform's API on one aiohttp session with a timeout per call."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def _get(self, path: str, seconds: float) -> tuple[CallResult, int, Any]:
        t0 = time.monotonic()
        status, body, failure, detail = 0, None, None, None
        try:
            async with self.session.get(
                self.base_url + path, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError:
            failure, detail = "timeout", f"no answer within {seconds:g}s"
        except aiohttp.ClientError as exc:
            failure, detail = "connection", f"{type(exc).__name__}: {exc}"
        call = CallResult(
            duration_seconds=time.monotonic() - t0,
            http_status=status or None,
            failure=failure,
            detail=detail,
        )
        return call, status, body

    async def health(self, path: str, seconds: float) -> HealthResult:
        """Probe ``/health``: 200 healthy, 503 degraded (both answers), else a failure."""
        call, status, body = await self._get(path, seconds)
        base = call.model_dump()
        if call.failure is not None:
            return HealthResult(**base)
        try:
            payload = HealthPayload.model_validate(body)
        except ValidationError:
            payload = None
        if status not in (200, 503) or payload is None:
            base.update(failure="status", detail=f"HTTP {status} without a health report")
            return HealthResult(**base)
        components = {name: c.ok for name, c in payload.components.items()}
        healthy = status == 200 and all(components.values())
        return HealthResult(**base, healthy=healthy, components=components)

    async def discovery(self, path: str, seconds: float) -> DiscoveryResult:
        """Probe the discovery route: 200 ready, 202 queued, anything else a failure."""
        call, status, body = await self._get(path, seconds)
        base = call.model_dump()
        if call.failure is not None:
            return DiscoveryResult(**base)
        if status not in (200, 202):
            base.update(failure="status", detail=f"HTTP {status}")
            return DiscoveryResult(**base)
        try:
            payload = DiscoveryPayload.parse(body)
        except (ValueError, ValidationError) as exc:
            base.update(failure="status", detail=f"HTTP {status}, bad body: {exc}"[:300])
            return DiscoveryResult(**base)
        state: Literal["ready", "queued"] = "queued" if status == 202 else "ready"
        return DiscoveryResult(**base, state=state, payload=payload)

    async def routes(
        self, paths: tuple[str, ...], seconds: float, concurrency: int = 8
    ) -> list[RouteResult]:
        """Check which ``paths`` exist; only a bare 404 means missing.

        A route that times out or cannot be reached gets no verdict (``up`` None): a slow or
        restarting platform must not make existing routes look missing.
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(path: str) -> RouteResult:
            async with gate:
                call, status, body = await self._get(path, seconds)
            if not call.answered:
                return RouteResult(route=path, up=None, failure=call.failure)
            up = status != 404 or _resource_not_found(body)
            return RouteResult(route=path, up=up, http_status=status)

        return list(await asyncio.gather(*(one(p) for p in paths)))
