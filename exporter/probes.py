"""The probe schedule: runs every probe on its own interval and timeout, keeps the latest results.

Interface for other packages (the remediator's HEALTH_CHECK, VALIDATE_ENDPOINTS and
verification steps import it; never copy it)::

    from exporter.config import ExporterConfig, load_config
    from exporter.probes import probe_once

    config = load_config(path_or_none, platform_url=url, redis_url=redis_url)
    snapshot = await probe_once(config, redis_client=client)   # or redis_client=None
    snapshot.status, snapshot.discovery.candidates, snapshot.routes_missing
    snapshot.model_dump(mode="json")                           # JSON-ready dict

``probe_once`` runs the health, discovery, routes and queue probes once, concurrently, each
within its configured timeout, and returns an ``exporter.snapshot.Snapshot``. It never raises
for the platform's sake: an unreachable API or Redis shows as ``api_up``/``redis_up`` False.
``redis_client`` is a synchronous ``redis.Redis`` (what RQ uses); when None, one is made from
``config.redis`` with its socket timeout, and closed afterwards. ``snapshot.routes_up`` is the
verdict per expected route: a route is missing only when it answers the framework's bare 404,
not when it answers a 404 about its resource ("no discovery results cached"); a route that
did not answer (timeout, connection) has no verdict and is left out (the long-running form
keeps its previous verdict). ``snapshot.api_up`` is whether the most recently finished core
probe (health or discovery) got an HTTP answer.

``Prober`` is the long-running form the exporter's server uses: ``await prober.run()`` loops
each probe forever; ``prober.snapshot()`` derives the current view without any I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from exporter.config import ExporterConfig, ProbeSchedule
from exporter.integrity import FrozenTracker, check
from exporter.platform_client import CallResult, PlatformClient
from exporter.queues import ExceptionCache, QueueState, read_queue_state
from exporter.snapshot import Latest, ReadyResults, Snapshot, build_snapshot
from exporter.status import HealthScorer

log = logging.getLogger(__name__)

PROBES: tuple[str, ...] = ("health", "discovery", "routes", "queues")
"""Every value of the ``probe`` label of the exporter's own metrics."""

CORE_ROUTES: tuple[str, ...] = ("health", "discovery")
"""Every value of the ``route`` label of the API probe counters."""

Clock = Callable[[], float]


def make_redis(config: ExporterConfig) -> redis.Redis:
    """A Redis client for the platform's Redis whose every command is bounded in time."""
    timeout = config.redis.socket_timeout_seconds
    # No retries: the next probe is the retry, and a read must end within its socket timeout.
    return redis.Redis.from_url(
        config.redis.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class ProbeStats:
    """Counters and timings of the probes themselves (read by the metrics collector)."""

    def __init__(self) -> None:
        self.api_probes: Counter[str] = Counter()
        self.api_failures: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.duration: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}

    def api_call(self, route: str, call: CallResult) -> None:
        """Count one core-route probe and its failure reason if it failed."""
        self.api_probes[route] += 1
        if call.failure is not None:
            self.api_failures[(route, call.failure)] += 1


class Prober:
    """Runs the probes and keeps their latest results; readers call ``snapshot()``."""

    def __init__(
        self,
        config: ExporterConfig,
        session: aiohttp.ClientSession,
        redis_client: redis.Redis,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.client = PlatformClient(config.platform.url, session)
        self.redis = redis_client
        self.clock = clock
        self.latest = Latest(scorer=HealthScorer(config.thresholds.health_score_window))
        self.stats = ProbeStats()
        self.frozen = FrozenTracker()
        self._read: asyncio.Future[QueueState] | None = None
        # The exception classes of the failed jobs the latest read found (each read once).
        self._exceptions: ExceptionCache = {}

    def snapshot(self, now: float | None = None) -> Snapshot:
        """The current view, derived without I/O."""
        return build_snapshot(self.latest, self.config, self.clock() if now is None else now)

    async def probe_health(self) -> bool:
        """Probe ``/health``; True when it answered with a health report."""
        probes = self.config.probes
        result = await self.client.health(
            self.config.platform.health_path, probes.health.timeout_seconds
        )
        self.latest.health, self.latest.api_answered = result, result.answered
        self.latest.scorer.observe(result.components if result.healthy is not None else None)
        self.stats.api_call("health", result)
        if result.failure is not None:
            log.warning("health probe failed", extra=self._failure("health", result))
        return result.failure is None

    async def probe_discovery(self) -> bool:
        """Probe the discovery route; a 202 ("queued": a refresh) is an answer, not a failure."""
        self.latest.discovery_started = self.clock()
        try:
            result = await self.client.discovery(
                self.config.platform.discovery_path,
                self.config.probes.discovery.timeout_seconds,
            )
        finally:
            self.latest.discovery_started = None
        self.latest.discovery, self.latest.api_answered = result, result.answered
        self.stats.api_call("discovery", result)
        if result.state == "ready" and result.payload is not None:
            now = self.clock()
            self.latest.ready = ReadyResults.received(result.payload, now)
            frozen_for = self.frozen.observe(result.payload, now)
            self.latest.integrity = check(result.payload, self.config.integrity, frozen_for)
        if result.failure is not None:
            log.warning("discovery probe failed", extra=self._failure("discovery", result))
        return result.failure is None

    def _failure(self, probe: str, result: CallResult) -> dict[str, str | None]:
        """Log fields of a failed core probe; a timeout names the setting that fired."""
        detail = result.detail
        if result.failure == "timeout":
            seconds = getattr(self.config.probes, probe).timeout_seconds
            detail = f"probes.{probe}.timeout_seconds ({seconds:g}s) passed"
        return {"probe": probe, "reason": result.failure, "detail": detail}

    async def probe_routes(self) -> bool:
        """Check every expected route; True when every one answered (404 included).

        An unanswered route keeps its previous verdict (none before its first answer).
        """
        expected = self.config.platform.expected_routes
        results = await self.client.routes(expected, self.config.probes.routes.timeout_seconds)
        verdicts = {r.route: r.up for r in results if r.up is not None}
        previous = {r: up for r, up in self.latest.routes.items() if r in expected}
        self.latest.routes = {**previous, **verdicts}
        unanswered = [f"{r.route} ({r.failure})" for r in results if r.up is None]
        if unanswered:
            log.warning("routes unanswered", extra={"detail": ", ".join(unanswered)})
        return not unanswered

    async def probe_queues(self) -> bool:
        """Read RQ/Redis state in a thread (pipelined, with a socket timeout).

        A thread cannot be cancelled: a read that outlived the probe's timeout runs on until
        its socket timeout ends it, and no new read starts meanwhile, so reads never pile up.
        """
        if self._read is not None and not self._read.done():
            self.latest.redis_up = False
            log.warning("queue probe skipped", extra={"detail": "the previous read still runs"})
            return False
        config, now = self.config, self.clock()
        read = asyncio.ensure_future(
            asyncio.to_thread(
                read_queue_state,
                self.redis,
                config.discovery,
                now,
                config.rq.queues,
                self._exceptions,
            )
        )
        read.add_done_callback(_consume)
        self._read = read
        try:
            state = await asyncio.wait_for(
                asyncio.shield(read), config.probes.queues.timeout_seconds
            )
        except (redis.RedisError, OSError, TimeoutError) as exc:
            self.latest.redis_up = False
            log.warning("queue probe failed", extra={"detail": _why(exc, config)})
            return False
        self.latest.queues, self.latest.redis_up = state, True
        if state.heartbeat_at is not None:
            self.latest.last_heartbeat_at = state.heartbeat_at
        return True

    def _probe(self, name: str) -> Callable[[], Awaitable[bool]]:
        probe: Callable[[], Awaitable[bool]] = getattr(self, f"probe_{name}")
        return probe

    async def run_probe(self, name: str) -> None:
        """Run one probe once, timing it and counting its errors; never raises."""
        started = time.monotonic()
        try:
            ok = await self._probe(name)()
        except Exception:
            log.exception("probe crashed", extra={"probe": name})
            ok = False
        self.stats.duration[name] = time.monotonic() - started
        self.stats.finished_at[name] = self.clock()
        if not ok:
            self.stats.errors[name] += 1

    async def run_once(self) -> None:
        """Run every probe once, concurrently."""
        await asyncio.gather(*(self.run_probe(name) for name in PROBES))

    async def _loop(self, name: str, schedule: ProbeSchedule) -> None:
        while True:
            started = time.monotonic()
            await self.run_probe(name)
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, schedule.interval_seconds - elapsed))

    async def run(self) -> None:
        """Run every probe on its own schedule until cancelled."""
        probes = self.config.probes
        schedules = {
            "health": probes.health,
            "discovery": probes.discovery,
            "routes": probes.routes,
            "queues": probes.queues,
        }
        await asyncio.gather(*(self._loop(name, s) for name, s in schedules.items()))


def _consume(read: asyncio.Future[QueueState]) -> None:
    """Retrieve the outcome of a read nobody awaits any more (its probe timed out)."""
    if not read.cancelled():
        read.exception()


def _why(exc: BaseException, config: ExporterConfig) -> str:
    """The log detail of a failed Redis read, naming the timeout that fired, if one did."""
    if isinstance(exc, redis.TimeoutError):
        seconds = config.redis.socket_timeout_seconds
        return f"redis.socket_timeout_seconds ({seconds:g}s) passed: {exc}"
    if isinstance(exc, TimeoutError):
        seconds = config.probes.queues.timeout_seconds
        return f"probes.queues.timeout_seconds ({seconds:g}s) passed"
    return f"{type(exc).__name__}: {exc}"


async def probe_once(config: ExporterConfig, redis_client: redis.Redis | None = None) -> Snapshot:
    """Run every probe once and return the snapshot (see the module docstring)."""
    own = redis_client is None
    client = make_redis(config) if redis_client is None else redis_client
    try:
        async with aiohttp.ClientSession() as session:
            prober = Prober(config, session, client)
            await prober.run_once()
            return prober.snapshot()
    finally:
        if own:
            with contextlib.suppress(redis.RedisError):
                client.close()
