"""A circuit closed by its timeout is audited once, by the first read that sees it closed."""

from __future__ import annotations

import time

import redis as redis_lib

from remediator import audit, keys
from remediator.store import Store


def test_a_circuit_closed_by_its_timeout_is_audited_once_when_seen(
    store: Store, redis: redis_lib.Redis
) -> None:
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
    store: Store, redis: redis_lib.Redis
) -> None:
    now = time.time()
    redis.set(keys.circuit_open("FLUSH_REDIS"), now + 60, ex=60)
    store.circuits(now)
    store.reset_circuit("FLUSH_REDIS", "api", now)
    store.circuits(now)
    assert [e["event"] for e in audit.read(redis, 10)] == ["circuit_reset"]
