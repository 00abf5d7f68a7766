"""The sandbox API application: the platform's routes and the sandbox's admin routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis import Redis

from sandbox import admin, api
from sandbox.app_state import API_FAULTS, CONFIG, REDIS
from sandbox.config import SandboxConfig
from sandbox.faults import ApiFaults


def create_app(config: SandboxConfig, conn: Redis | None = None) -> web.Application:
    """The sandbox API; ``conn`` defaults to a client of ``config.redis_url``."""
    app = web.Application(middlewares=[api.faults_middleware])
    app[CONFIG] = config
    app[API_FAULTS] = ApiFaults()
    client = conn or Redis.from_url(
        config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
    )
    app[REDIS] = client

    async def close_redis(_: web.Application) -> AsyncIterator[None]:
        yield
        if conn is None:
            client.close()

    app.cleanup_ctx.append(close_redis)
    api.add_routes(app)
    admin.add_routes(app)
    return app
