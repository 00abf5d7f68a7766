"""Fixtures of the remediator's tests: configs, a settable clock, alerts, stores, intakes,
API clients, workers, servers."""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis as redis_lib
import redis.asyncio as aioredis
import yaml
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from rq import SimpleWorker

from remediator.config import RemediatorConfig, parse_config
from remediator.decisions import Decisions
from remediator.intake import Intake, submit
from remediator.metrics import IntakeMetrics
from remediator.queue import queues
from remediator.records import Execution, Status
from remediator.runner import Runtime, install
from remediator.server import create_app
from remediator.store import Store, connect
from tests.services import RedisServer, free_port
from tests.stack.platform import ServiceGroup

if TYPE_CHECKING:
    from tests.remediator.stack import Served

TOKEN = "test-token-0123456789"
SERVED_ALERTS = {"CacheStale": "FLUSH_REDIS", "HighErrorRate": "EMERGENCY_RESTART"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]
MakeIntake = Callable[[Store], tuple[Intake, CollectorRegistry]]
MakeConfigFile = Callable[..., Path]
SilentPlatform = Callable[[int], dict[str, Any]]


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


def iso(when: datetime) -> str:
    """``when`` as Alertmanager's API takes a time (RFC 3339, UTC, microseconds)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(store: Store, execution_id: str) -> Execution:
    """The execution's record, which must exist."""
    record = store.get_execution(execution_id)
    assert record is not None
    return record


def run(store: Store, command: str, run_jobs: Callable[..., bool]) -> dict[str, Any]:
    """Submit ``command`` by hand, run the queued jobs (``run_jobs``); its record, as JSON."""
    execution_id = submit(store, command, {}, "manual")
    run_jobs(store)
    record = record_of(store, execution_id)
    return record.model_dump(mode="json")


def start_attempt(store: Store, execution_id: str) -> None:
    """Put a record where a live first attempt puts it: running, attempt 1, started."""
    record = record_of(store, execution_id)
    record.status, record.attempts, record.started_at = Status.RUNNING, 1, record.created_at
    store.execution_event(record, "execution_started")


async def promtool_check(text: str) -> None:
    """``promtool check metrics`` accepts the exposition ``text``."""
    proc = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    out, _ = await proc.communicate(text.encode())
    assert proc.returncode == 0, out.decode()


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
def make_config_file(tmp_path: Path, token_file: Path, redis_url: str) -> MakeConfigFile:
    """A config file for our processes; keyword arguments are top-level config fields.

    The processes get their Redis on the command line; ``redis_url`` (the test Redis unless
    given) is the platform's Redis unless ``platform`` names another.
    """

    def make(redis_url: str = redis_url, **fields: Any) -> Path:
        data: dict[str, Any] = {"token": {"file": str(token_file)}, "lock_wait_seconds": 5}
        data.update(fields)
        data["platform"] = {"redis_url": redis_url, **data.get("platform", {})}
        path = tmp_path / f"remediator-{free_port()}.yml"
        path.write_text(yaml.safe_dump(data))
        return path

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
def store(
    make_config: Callable[..., RemediatorConfig], store_factory: Callable[[RemediatorConfig], Store]
) -> Store:
    """A Store of the default config on the test Redis."""
    return store_factory(make_config())


@pytest.fixture
async def make_intake(clock: Clock) -> AsyncIterator[MakeIntake]:
    """The serve process's intake on a store and the test's clock, with its own registry."""
    opened: list[aioredis.Redis] = []

    def make(store: Store) -> tuple[Intake, CollectorRegistry]:
        registry = CollectorRegistry()
        aconn = aioredis.Redis.from_url(store.config.redis_url)
        opened.append(aconn)
        metrics = IntakeMetrics(registry, store.config.alerts)
        return Intake(store, Decisions(aconn, store.config), metrics, clock), registry

    yield make
    for aconn in opened:
        await aconn.aclose()


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    make_config: Callable[..., RemediatorConfig],
    clock: Clock,
    redis: redis_lib.Redis,
) -> MakeClient:
    """A test client of the serve app on ``config``, else on ``make_config(**fields)``."""

    async def make(config: RemediatorConfig | None = None, **fields: Any) -> Client:
        config = config or make_config(**fields)
        app = create_app(config, TOKEN, clock=clock, registry=CollectorRegistry())
        return await aiohttp_client(app)

    return make


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


@pytest.fixture
def silent_platform(silent_port: int) -> SilentPlatform:
    """Platform settings whose Redis is ``silent_port``: each step waits out its timeout."""
    return lambda timeout: {
        "redis_url": f"redis://127.0.0.1:{silent_port}/0",
        "redis_timeout_seconds": timeout,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real ``serve`` for the module on a Redis of its own (no worker: nothing queued
    ever runs); commands map from the alertnames of ``SERVED_ALERTS``."""
    from tests.remediator.stack import Served, start_serve  # it imports this module

    server = RedisServer()
    server.start()
    tmp = tmp_path_factory.mktemp("served")
    services = ServiceGroup(tmp)
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    config = tmp / "remediator.yml"
    config.write_text(yaml.safe_dump({
        "token": {"file": str(token)}, "max_body_bytes": 65536, "alerts": SERVED_ALERTS,
        "platform": {"redis_url": server.url},
    }))  # fmt: skip
    base = start_serve(services, config, server.url)
    conn = redis_lib.Redis.from_url(server.url)
    try:
        yield Served(base, conn, tmp)
    finally:
        conn.close()
        services.stop()
        server.cleanup()
