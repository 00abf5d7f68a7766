"""What the sandbox API's handlers share: typed app state and the blocking-call helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

from aiohttp import web
from redis import Redis

from sandbox.config import SandboxConfig
from sandbox.faults import ApiFaults

P = ParamSpec("P")
T = TypeVar("T")

CONFIG = web.AppKey("config", SandboxConfig)
REDIS = web.AppKey("redis", Redis)
API_FAULTS = web.AppKey("api_faults", ApiFaults)


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking Redis/RQ operation off the event loop."""
    return await asyncio.to_thread(partial(fn, *args, **kwargs))
