"""The exporter's HTTP server: ``/metrics`` from its own registry, ``/healthz``, and the probes.

The probes start with the application and run in the background; ``/metrics`` only renders
their latest results, so a scrape never waits on the platform or its Redis. The probe loop is
supervised: should it ever end other than by cancellation, ``/healthz`` answers 503 and the
process is stopped (``amc-exporter`` then exits 1), rather than serving frozen metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import redis
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.config import ExporterConfig
from exporter.metrics import ExporterCollector
from exporter.probes import Prober, make_redis

log = logging.getLogger(__name__)


def stop_process() -> None:
    """Ask this process to stop; ``web.run_app`` shuts down cleanly on SIGTERM."""
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Supervision:
    """The probe loop's fate: ``died`` holds its error once it ended; ``stop`` is then called."""

    stop: Callable[[], None] = stop_process
    died: BaseException | None = None


CONFIG = web.AppKey("config", ExporterConfig)
PROBER = web.AppKey("prober", Prober)
REGISTRY = web.AppKey("registry", CollectorRegistry)
SUPERVISION = web.AppKey("supervision", Supervision)


def supervise(task: asyncio.Task[None], supervision: Supervision) -> None:
    """Done-callback of the probe loop: any end but cancellation is recorded, logged, fatal."""
    if task.cancelled():
        return
    supervision.died = task.exception() or RuntimeError("the probe loop returned")
    log.critical("probe loop died; stopping", exc_info=supervision.died)
    supervision.stop()


async def metrics(request: web.Request) -> web.Response:
    """Render the latest probe results in the format the scraper asked for."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """The exporter itself is up (whatever the platform's state); 503 once the probes died."""
    died = request.app[SUPERVISION].died
    if died is not None:
        return web.json_response({"status": "probe loop dead", "error": repr(died)}, status=503)
    return web.json_response({"status": "ok"})


async def index(request: web.Request) -> web.Response:
    """A pointer to the metrics."""
    return web.Response(text="amc-exporter: see /metrics and /healthz\n")


async def _probing(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    client: redis.Redis = make_redis(config)
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, client)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(ExporterCollector(prober))
        app[PROBER], app[REGISTRY] = prober, registry
        task = asyncio.create_task(prober.run(), name="probes")
        task.add_done_callback(lambda t: supervise(t, app[SUPERVISION]))
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # collector's full passes, which would otherwise stall an occasional scrape.
        gc.freeze()
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    client.close()


def create_app(config: ExporterConfig, stop: Callable[[], None] = stop_process) -> web.Application:
    """The exporter's application; the probes run from startup to cleanup.

    ``stop`` is called should the probe loop die (by default: SIGTERM to this process).
    """
    app = web.Application()
    app[CONFIG] = config
    app[SUPERVISION] = Supervision(stop)
    app.cleanup_ctx.append(_probing)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app
