"""Every write a worker makes to an execution record goes through one guard: a cancel that
landed first is never overwritten (``Store.update_record``, ``save_if_open``)."""

from __future__ import annotations

import pytest
import redis as redis_lib

from remediator import approvals, audit, keys
from remediator.records import Execution, Status
from remediator.runner import Runtime, finish
from remediator.store import Store, manual_execution_id
from tests.remediator.conftest import record_of


def waiting_record(store: Store) -> Execution:
    """An execution waiting for the lock, saved: what a worker holds between its attempts."""
    policy = store.config.effective("FLUSH_REDIS")
    record = store.new_execution(manual_execution_id(), policy, "manual", {}, 1000.0)
    record.status = Status.WAITING
    store.execution_event(record, "execution_waiting")
    return record


@pytest.mark.parametrize(("status", "retry"), [(Status.FAILED, False), (Status.FAILED, True)])
def test_a_worker_s_end_never_overwrites_a_cancel_that_came_first(
    store: Store, redis: redis_lib.Redis, status: Status, retry: bool
) -> None:
    """The worker read the record (waiting), a person cancelled it, then the worker's lock
    budget ran out: its ``failed`` (or ``retrying``) must not replace ``cancelled``."""
    held = waiting_record(store)
    approvals.cancel(store, held.id, "alice", None, 1001.0)
    if retry:
        held.status = Status.RETRYING
        assert store.save_if_open(held, "execution_retrying") is Status.CANCELLED
    else:
        finish(Runtime(store.config, store), held, status)
        assert held.status is Status.CANCELLED
    assert record_of(store, held.id).status is Status.CANCELLED
    assert audit.read(redis, 100, event="execution_finished") == []
    assert audit.read(redis, 100, event="execution_retrying") == []
    counts = redis.hgetall(keys.EXECUTION_COUNTS)
    assert counts == {b"FLUSH_REDIS|cancelled": b"1"}


def test_a_worker_s_end_is_recorded_with_its_counts_in_one_transaction(
    store: Store, redis: redis_lib.Redis
) -> None:
    held = waiting_record(store)
    finish(Runtime(store.config, store), held, Status.FAILED)
    assert record_of(store, held.id).status is Status.FAILED
    (entry,) = audit.read(redis, 100, event="execution_finished")
    assert (entry["execution_id"], entry["status"]) == (held.id, "failed")
    assert redis.hgetall(keys.EXECUTION_COUNTS) == {b"FLUSH_REDIS|failed": b"1"}
