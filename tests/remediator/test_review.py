"""Smaller review items: errors in one module, circuits closed by time, the report's format."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis as redis_lib
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from remediator import actuators, audit, errors, keys
from remediator.config import RemediatorConfig
from remediator.server import create_app
from remediator.store import Store
from tests.remediator.conftest import TOKEN, Clock

AUTH = {"Authorization": f"Bearer {TOKEN}"}
Client = TestClient[Any, Any]


def test_actuator_failures_are_remediator_errors_of_errors_py() -> None:
    assert actuators.ActuatorFailed is errors.ActuatorFailed
    assert issubclass(errors.ActuatorFailed, errors.RemediatorError)


def test_a_circuit_closed_by_its_timeout_is_audited_once_when_seen(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config())
    now = time.time()
    # as an opening decision leaves it: the end of the open period, expiring with it
    redis.set(keys.circuit_open("FLUSH_REDIS"), now + 0.2, px=200)
    assert store.circuits(now)["FLUSH_REDIS"]["open"] is True
    assert audit.read(redis, 10, event="circuit_closed") == []
    time.sleep(0.3)
    assert store.circuits(now + 0.3)["FLUSH_REDIS"]["open"] is False
    (closed,) = audit.read(redis, 10, event="circuit_closed")
    assert (closed["command"], closed["by"]) == ("FLUSH_REDIS", "timeout")
    assert abs(float(closed["open_until"]) - (now + 0.2)) < 0.01
    store.circuits(now + 1)
    assert len(audit.read(redis, 10, event="circuit_closed")) == 1  # once


def test_a_circuit_reset_by_hand_is_not_also_closed_by_timeout(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config())
    now = time.time()
    redis.set(keys.circuit_open("FLUSH_REDIS"), now + 60, ex=60)
    store.circuits(now)
    store.reset_circuit("FLUSH_REDIS", "api", now)
    store.circuits(now)
    assert [e["event"] for e in audit.read(redis, 10)] == ["circuit_reset"]


async def test_report_format_must_be_text_or_json(
    aiohttp_client: Callable[..., Awaitable[Client]],
    make_config: Callable[..., RemediatorConfig],
    clock: Clock,
    redis: redis_lib.Redis,
) -> None:
    client = await aiohttp_client(create_app(make_config(), TOKEN, clock, CollectorRegistry()))
    resp = await client.get("/api/v1/report?format=xml", headers=AUTH)
    assert resp.status == 400
    assert await resp.json() == {
        "error": "invalid_request",
        "detail": {"field": "format", "message": "must be text or json"},
    }
    for fmt, kind in (("text", "text/plain"), ("json", "application/json")):
        resp = await client.get(f"/api/v1/report?format={fmt}", headers=AUTH)
        assert resp.status == 200
        assert resp.content_type == kind
