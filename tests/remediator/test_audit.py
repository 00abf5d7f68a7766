"""The audit trail's log copy is written only for entries that reached Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import redis as redis_lib

from remediator import audit
from remediator.config import RemediatorConfig
from remediator.errors import StoreUnavailable
from remediator.intake import submit
from remediator.store import Store
from tests.services import free_port


@pytest.fixture
def audit_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The audit trail's log lines so far (captured from INFO on)."""
    caplog.set_level(logging.INFO, logger="remediator.audit")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "remediator.audit"]


def test_a_transaction_lost_to_a_watch_conflict_logs_nothing(
    store: Store, redis: redis_lib.Redis, audit_lines: Callable[[], list[str]]
) -> None:
    with store.conn.pipeline() as pipe:
        pipe.watch("guarded")
        redis.set("guarded", "changed by someone else")
        pipe.multi()
        audit.append(pipe, "circuit_reset", {"command": "FLUSH_REDIS"}, 100)
        with pytest.raises(redis_lib.WatchError):
            pipe.execute()
    assert audit_lines() == []
    assert audit.read(redis) == []
    with store.conn.pipeline() as pipe:
        audit.append(pipe, "circuit_reset", {"command": "FLUSH_REDIS"}, 100)
        assert audit_lines() == []  # queued, not yet written
        pipe.execute()
    assert audit_lines() == ["audit circuit_reset"]
    assert [e["event"] for e in audit.read(redis)] == ["circuit_reset"]


def test_a_manual_run_answered_503_is_not_in_the_log(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    audit_lines: Callable[[], list[str]],
) -> None:
    config = make_config(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=1)
    store = store_factory(config)
    with pytest.raises(StoreUnavailable):
        submit(store, "HEALTH_CHECK", {}, "manual")
    assert audit_lines() == []


def test_a_committed_manual_run_is_logged_once(
    store: Store, audit_lines: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    execution_id = submit(store, "HEALTH_CHECK", {}, "manual")
    assert audit_lines() == ["audit manual_run"]
    (record,) = [r for r in caplog.records if r.name == "remediator.audit"]
    assert record.__dict__["audit"]["execution_id"] == execution_id
