"""The platform's HTTP API, with the sandbox's admin routes for faults and configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from redis import Redis, RedisError
from rq.job import Job

from sandbox import redis_ops
from sandbox.app_state import API_FAULTS, CONFIG, REDIS
from sandbox.config import STRATEGIES, SandboxConfig
from sandbox.discovery import strategy_degraded
from sandbox.errors import OperationalError
from sandbox.faults import PROVIDERS
from sandbox.logs import log_provider_failure, provider_failure
from sandbox.redis_ops import blocking

log = logging.getLogger(__name__)
PREFIXES = ("/discovery", "/api/discovery")
SWITCH_POLL_SECONDS = 0.25
"""How often a slow answer of a degraded strategy looks whether the platform switched."""
DATABASE_REFUSED = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
"""What the platform's database driver says while the ``database_down`` fault holds."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json_error(status: int, detail: Any) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the API-process faults to the platform's routes (never to /admin or a 404)."""
    faults = request.app[API_FAULTS]
    route = request.match_info.route.resource
    path = route.canonical if route is not None else None
    if path is not None and not path.startswith("/admin"):
        if faults.should_fail(path):
            try:
                raise RuntimeError("injected api_errors fault")
            except RuntimeError:
                log.exception("Exception in ASGI application")  # uvicorn's words
            return _json_error(faults.error_status, "Internal Server Error")
        if faults.latency_seconds > 0 and request.path.startswith(PREFIXES):
            await asyncio.sleep(faults.latency_seconds)
    try:
        return await handler(request)
    except RedisError as exc:
        log.exception("Exception in ASGI application")
        return _json_error(503, f"redis unavailable: {exc.__class__.__name__}")


def _limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        detail = f"limit: expected an integer 1-500, got {raw!r}"
        raise web.HTTPBadRequest(
            text=json.dumps({"detail": detail}), content_type="application/json"
        )
    return int(raw)


def _queued(job: Job, prefix: str) -> web.Response:
    body = {
        "status": "queued",
        "job_id": job.id,
        "poll_url": f"{prefix}/status?job_id={job.id}",
        "message": "Discovery job queued; poll for results",
    }
    return web.json_response(body, status=202)


async def _scan_slowly_while_degraded(conn: Redis, config: SandboxConfig) -> None:
    """Take ``degraded_strategy_delay_seconds`` while the active strategy is a degraded one;
    a switch to a sound strategy ends the wait within ``SWITCH_POLL_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.degraded_strategy_delay_seconds
    while await blocking(strategy_degraded, conn, config):
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, SWITCH_POLL_SECONDS))


async def contenders(request: web.Request, prefix: str) -> web.Response:
    """200 with cached candidates, else 202 with the queued job that will produce them; slow
    while the active strategy is a degraded one (the ``low_quality`` fault)."""
    conn, config = request.app[REDIS], request.app[CONFIG]
    limit = _limit(request)
    await _scan_slowly_while_degraded(conn, config)
    cached = await blocking(redis_ops.cached_results, conn)
    if cached is not None:
        results, age = cached
        candidates = results["candidates"][:limit] if limit else results["candidates"]
        body = {**results, "status": "ready", "count": len(candidates), "candidates": candidates}
        return web.json_response({**body, "cached": True, "cache_age_seconds": round(age, 1)})
    job = await blocking(redis_ops.pending_job, conn)
    if job is None:
        job = await blocking(redis_ops.enqueue_discovery, conn, config, "discovery")
    return _queued(job, prefix)


async def contenders_last(request: web.Request) -> web.Response:
    """The latest results while cached, or 404."""
    cached = await blocking(redis_ops.cached_results, request.app[REDIS])
    if cached is None:
        return _json_error(404, "no discovery results cached")
    results, age = cached
    return web.json_response({**results, "cache_age_seconds": round(age, 1)})


async def status(request: web.Request) -> web.Response:
    """A job's state by ``job_id``."""
    job_id = request.query.get("job_id")
    if not job_id:
        return _json_error(400, "job_id: required query parameter")
    report = await blocking(redis_ops.job_report, request.app[REDIS], job_id)
    if report is None:
        return _json_error(404, f"job {job_id!r} not found")
    return web.json_response(report)


async def trigger(request: web.Request, prefix: str) -> web.Response:
    """Queue a manual discovery run (``manual_<ts>``)."""
    limit = _limit(request)
    strategy = request.query.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        return _json_error(400, f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
    job = await blocking(
        redis_ops.enqueue_discovery, request.app[REDIS], request.app[CONFIG], "manual",
        limit=limit, strategy=strategy,
    )  # fmt: skip
    return _queued(job, prefix)


async def discovery_health(request: web.Request) -> web.Response:
    """The discovery subsystem: worker heartbeat, queue and cache."""
    conn = request.app[REDIS]
    workers = await blocking(redis_ops.worker_health, conn, request.app[CONFIG])
    cached = await blocking(redis_ops.cached_results, conn)
    healthy = workers["alive"] and cached is not None
    body = {
        "status": "healthy" if healthy else "degraded",
        "worker": {
            "alive": workers["alive"],
            "heartbeat_age_seconds": workers["heartbeat_age_seconds"],
        },
        "queue": {k: workers[k] for k in ("queued", "started", "failed")},
        "cache": {"present": cached is not None, "age_seconds": cached[1] if cached else None},
    }
    return web.json_response(body)


async def health(request: web.Request) -> web.Response:
    """The platform's ``/health``: 200 when all five components are ok, else 503; a failed
    check is logged as the platform logs it."""
    conn = request.app[REDIS]
    components = await blocking(redis_ops.components, conn)
    for provider in sorted(PROVIDERS):
        if kind := components[provider].get("kind"):
            log_provider_failure(log, logging.WARNING, provider_failure(provider, kind))
    if not components["database"]["ok"]:
        _log_database_failure()
    ok = all(c["ok"] for c in components.values())
    body = {"status": "healthy" if ok else "degraded", "components": components}
    return web.json_response(body, status=200 if ok else 503)


def _log_database_failure() -> None:
    try:
        raise OperationalError(DATABASE_REFUSED)
    except OperationalError:
        log.exception("health check failed: database")


def emergency(action: Callable[..., Any], *with_config: bool) -> Handler:
    """A handler for one ``/emergency/...`` operation."""

    async def handle(request: web.Request) -> web.Response:
        args: list[Any] = [request.app[REDIS]]
        if with_config:
            args.append(request.app[CONFIG])
        result = await blocking(action, *args)
        log.warning("emergency action %s: %s", request.path, result)
        return web.json_response({"success": True, "result": result})

    return handle


async def worker_health(request: web.Request) -> web.Response:
    """Workers of the discovery queue and the heartbeat."""
    return web.json_response(
        await blocking(redis_ops.worker_health, request.app[REDIS], request.app[CONFIG])
    )


def add_routes(app: web.Application) -> None:
    """Mount the platform's routes under both discovery prefixes, and ``/health``."""
    for path in ("/health", "/healthz"):
        app.router.add_get(path, health)
    for prefix in PREFIXES:
        for name in ("contenders", "candidates"):
            app.router.add_get(f"{prefix}/{name}", partial(contenders, prefix=prefix))
        app.router.add_get(f"{prefix}/contenders/last", contenders_last)
        app.router.add_get(f"{prefix}/status", status)
        app.router.add_post(f"{prefix}/trigger", partial(trigger, prefix=prefix))
        app.router.add_get(f"{prefix}/health", discovery_health)
        app.router.add_get(f"{prefix}/emergency/worker-health", worker_health)
        actions: dict[str, Handler] = {
            "clear-queue": emergency(redis_ops.clear_queue),
            "clear-stuck-jobs": emergency(redis_ops.clear_stuck_jobs),
            "reset-system": emergency(redis_ops.reset_system),
            "populate-cache": emergency(redis_ops.populate_cache, True),
        }
        for action, handler in actions.items():
            app.router.add_post(f"{prefix}/emergency/{action}", handler)
