"""Circuits: closed by timeout (audited once), reset by hand, opened only once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import redis as redis_lib

from remediator import audit, keys
from remediator.alerts import parse_message
from remediator.config import RemediatorConfig
from remediator.store import Store
from tests.remediator.conftest import Clock, MakeIntake, alert, body
from tests.services import wait_for


def test_a_circuit_closed_by_its_timeout_is_audited_once_when_seen(
    store: Store, redis: redis_lib.Redis
) -> None:
    now = time.time()
    # as an opening decision leaves it: the end of the open period, expiring with it
    key = keys.circuit_open("FLUSH_REDIS")
    redis.set(key, now + 0.2, px=200)
    assert store.circuits(now)["FLUSH_REDIS"]["open"] is True
    assert audit.read(redis, 10, event="circuit_closed") == []
    wait_for(lambda: not redis.exists(key), 5, "the open circuit's key to expire")
    assert store.circuits(now + 0.3)["FLUSH_REDIS"]["open"] is False
    (closed,) = audit.read(redis, 10, event="circuit_closed")
    assert (closed["command"], closed["by"]) == ("FLUSH_REDIS", "timeout")
    assert abs(float(closed["open_until"]) - (now + 0.2)) < 0.01
    store.circuits(now + 1)
    assert len(audit.read(redis, 10, event="circuit_closed")) == 1  # once


def test_a_circuit_reset_by_hand_is_not_also_closed_by_timeout(
    store: Store, redis: redis_lib.Redis
) -> None:
    now = time.time()
    redis.set(keys.circuit_open("FLUSH_REDIS"), now + 60, ex=60)
    store.circuits(now)
    store.reset_circuit("FLUSH_REDIS", "api", now)
    store.circuits(now)
    assert [e["event"] for e in audit.read(redis, 10)] == ["circuit_reset"]


async def test_a_circuit_still_open_in_redis_is_not_logged_as_opened_again(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
    redis: redis_lib.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The deciding replica's clock sees the open period over while Redis still holds the key
    (clock skew): the decision is 'execution limit reached', the script opens nothing, and
    neither the stream nor the log says circuit_opened."""
    config = make_config(defaults={"circuit": {"max_executions": 1}})
    intake, _ = make_intake(store_factory(config))
    redis.zadd(keys.circuit_window("EMERGENCY_RESTART"), {"alert-earlier": clock.now - 60})
    redis.set(keys.circuit_open("EMERGENCY_RESTART"), repr(clock.now - 5), ex=100)
    caplog.set_level(logging.INFO, logger="remediator.audit")
    (outcome,) = await intake.process(parse_message(body(alert())))
    assert (outcome.decision, outcome.detail) == ("circuit_open", "execution limit reached")
    assert audit.read(redis, 10, event="circuit_opened") == []
    assert [r.getMessage() for r in caplog.records] == ["audit decision"]
