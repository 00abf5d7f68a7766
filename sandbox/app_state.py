"""The sandbox API application's typed state: its configuration, Redis client and API faults."""

from __future__ import annotations

from aiohttp import web
from redis import Redis

from sandbox.config import SandboxConfig
from sandbox.faults import ApiFaults

CONFIG = web.AppKey("config", SandboxConfig)
REDIS = web.AppKey("redis", Redis)
API_FAULTS = web.AppKey("api_faults", ApiFaults)
