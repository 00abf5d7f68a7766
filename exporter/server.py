"""The exporter's HTTP server: ``/metrics`` from its own registry, ``/healthz``, and the probes.

The probes start with the application and run in the background; ``/metrics`` only renders
their latest results, so a scrape never waits on the platform or its Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import aiohttp
import redis
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.config import ExporterConfig
from exporter.metrics import ExporterCollector
from exporter.probes import Prober, make_redis

CONFIG = web.AppKey("config", ExporterConfig)
PROBER = web.AppKey("prober", Prober)
REGISTRY = web.AppKey("registry", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    """Render the latest probe results in the format the scraper asked for."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """The exporter itself is up (whatever the platform's state)."""
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
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # collector's full passes, which would otherwise stall an occasional scrape.
        gc.freeze()
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    client.close()


def create_app(config: ExporterConfig) -> web.Application:
    """The exporter's application; the probes run from startup to cleanup."""
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(_probing)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app
