"""Fixtures of the remediator's tests: configs, a settable clock, alerts, workers, servers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from rq import SimpleWorker

from remediator.config import RemediatorConfig, parse_config
from remediator.queue import queues
from remediator.runner import Runtime, install
from remediator.store import Store, connect

TOKEN = "test-token-0123456789"


class Clock:
    """A clock the test moves by hand (the decision takes time as a parameter)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def alert(
    name: str = "HighErrorRate",
    status: str = "firing",
    fingerprint: str = "a1b2c3d4e5f60718",
    starts_at: str = "2026-11-25T12:00:00Z",
    ends_at: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it."""
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {"summary": "s"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def message(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """A webhook notification (version 4) carrying ``alerts``."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if firing else "resolved"),
        "receiver": "remediator",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(message(*alerts)).encode()


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def make_config(redis_url: str, token_file: Path) -> Callable[..., RemediatorConfig]:
    """A config on the test Redis; keyword arguments are top-level config fields."""

    def make(**fields: Any) -> RemediatorConfig:
        data: dict[str, Any] = {"redis_url": redis_url, "token": {"file": str(token_file)}}
        platform = {"url": "http://127.0.0.1:9", "redis_url": redis_url}
        platform.update(fields.pop("platform", {}))
        data.update(fields)
        data["platform"] = platform
        return parse_config(data)

    return make


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_factory(
    redis: redis_lib.Redis,
) -> Iterator[Callable[[RemediatorConfig], Store]]:
    """Stores on the test Redis (flushed around the test by the ``redis`` fixture)."""
    made: list[Store] = []

    def make(config: RemediatorConfig) -> Store:
        store = Store(connect(config.redis_url, config.redis_timeout_seconds), config)
        made.append(store)
        return store

    yield make
    for store in made:
        store.conn.close()


@pytest.fixture
def run_jobs() -> Callable[..., bool]:
    """Run queued jobs in-process with RQ's SimpleWorker until the queues are empty.

    Its scheduler first enqueues the jobs whose delay is over (retries, lock waits).
    """

    def run(store: Store, clock: Callable[[], float] | None = None) -> bool:
        install(Runtime(config=store.config, store=store, **({"clock": clock} if clock else {})))
        conn = redis_lib.Redis.from_url(store.config.redis_url)
        try:
            worker = SimpleWorker(queues(conn), connection=conn)
            return worker.work(burst=True, with_scheduler=True)
        finally:
            conn.close()

    return run


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung Redis or API)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield int(sock.getsockname()[1])
    sock.close()
