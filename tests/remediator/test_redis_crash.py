"""Redis SIGKILLed under a stream of webhooks and started again on the same port with the same
data directory, persisting as deployed (AOF, ``appendfsync always``): while it is down the
webhook answers 503 (Alertmanager sends again), and afterwards every alert has exactly one
execution, which ran once and succeeded. The worker is never restarted by the test: it must
live through the crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import yaml
from rq import Worker

from remediator.queue import queues
from tests.remediator.conftest import MakeConfigFile, alert, message
from tests.remediator.stack import call, deliver, start_serve, start_worker, wait_final
from tests.services import RedisServer, Service, wait_for

pytestmark = pytest.mark.slow

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
ALERTS = 16
# Alertmanager repeats a firing alert every repeat_interval: here every round of the stream.
ROUND_SECONDS = 0.2
OUTAGE_SECONDS = 3.0


def test_compose_runs_redis_as_this_test_does() -> None:
    """The deployment persists as the test below: AOF, fsynced before every reply."""
    argv = yaml.safe_load(COMPOSE.read_text())["services"]["redis"]["command"]

    def value(flag: str) -> str:
        return str(argv[argv.index(flag) + 1]) if flag in argv else ""

    assert (value("--appendonly"), value("--appendfsync")) == ("yes", "always"), argv


@pytest.fixture
def conn(own_aof_redis_server: RedisServer) -> Iterator[redis_lib.Redis]:
    """The test's client of its Redis, throughout: redis-py reconnects it after the crash."""
    with redis_lib.Redis.from_url(own_aof_redis_server.url) as client:
        yield client


def test_redis_killed_and_restarted_under_a_stream_of_webhooks_runs_every_alert_once(
    own_aof_redis_server: RedisServer,
    conn: redis_lib.Redis,
    services: Callable[..., Service],
    make_config_file: MakeConfigFile,
) -> None:
    aof_redis = own_aof_redis_server  # persists as deployed: AOF fsynced before every reply
    url = aof_redis.url
    # No cooldown and a circuit that never opens: each alert runs once its turn comes (an
    # alert decided `cooldown` while another execution of FLUSH_REDIS is queued claims
    # nothing: its next repeat is decided again). Retries: an attempt cut by the crash in the
    # middle of its steps runs again (its execution stays one).
    config = make_config_file(
        url,
        alerts={"CacheStale": "FLUSH_REDIS"},
        redis_timeout_seconds=1,
        defaults={
            "cooldown_seconds": 0,
            "retries": 3,
            "backoff": {"initial_seconds": 1, "factor": 1.0, "max_seconds": 1},
            "circuit": {"max_executions": 1000, "window_seconds": 3600, "open_seconds": 60},
        },
    )
    base = start_serve(services, config, url)
    worker = start_worker(services, config, url)
    # Keys FLUSH_REDIS must SCAN past (the platform's Redis is this one): its steps take a
    # while, so that the crash lands in the middle of an attempt's steps most of the time.
    conn.eval("for i = 1, 100000 do redis.call('SET', 'filler:' .. i, 'x') end", 0)
    notes = {
        f"{n:016x}": message(alert("CacheStale", fingerprint=f"{n:016x}")) for n in range(ALERTS)
    }

    replies: dict[str, list[str]] = {fingerprint: [] for fingerprint in notes}
    refused: list[int] = []
    rounds_after_restart = 0
    restarted = threading.Event()
    deadline = time.monotonic() + 45

    def send(fingerprint: str) -> None:
        (decision,) = deliver(base, notes[fingerprint], deadline, refused)
        replies[fingerprint].append(decision["decision"])

    def stream() -> None:
        """Every alert, round after round (four notifications at once, as Alertmanager's
        groups go out), until two rounds went out after the restart and each alert was
        enqueued and repeated since."""
        nonlocal rounds_after_restart
        with ThreadPoolExecutor(4) as pool:
            while rounds_after_restart < 2 or not all(
                r[-1] == "duplicate" for r in replies.values()
            ):
                assert worker.alive(), f"the worker died:\n{worker.log_tail()}"
                assert time.monotonic() < deadline, f"not every alert was enqueued: {summary()}"
                after = restarted.is_set()
                list(pool.map(send, notes))
                rounds_after_restart += after
                time.sleep(ROUND_SECONDS)

    def summary() -> dict[str, dict[str, int]]:
        return {f: {d: r.count(d) for d in set(r)} for f, r in replies.items()}

    wip = [queue.started_job_registry.key for queue in queues(conn)]

    def working() -> bool:
        return sum(int(conn.zcard(key)) for key in wip) > 0

    def enqueued() -> int:
        return sum("enqueued" in r for r in replies.values())

    with ThreadPoolExecutor(1) as sender:
        sending = sender.submit(stream)
        # the crash, once a few alerts ran, while a work horse runs the next one
        wait_for(lambda: enqueued() >= 3 or sending.done(), 20, "the first executions")
        wait_for(working, 10, "a job in progress", step=0.001)
        aof_redis.kill()
        down = time.monotonic()
        status, body = call("POST", f"{base}/webhook", notes["0" * 16])
        assert (status, body["error"]) == (503, "redis_unavailable"), body
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
        refused_while_down = len(refused)
        aof_redis.start()
        restarted.set()
        sending.result()
    assert refused_while_down > 0, "the stream was not refused during the outage"
    assert set(refused) == {503}

    # Every alert: one `enqueued` decision, its repeats `duplicate`, the others `cooldown`
    # (another execution of FLUSH_REDIS was queued at the time), in the replies and in the
    # audit, which survived the crash.
    for fingerprint, decisions in replies.items():
        assert decisions.count("enqueued") == 1, (fingerprint, decisions)
        first = decisions.index("enqueued")
        assert set(decisions[:first]) <= {"cooldown"}, (fingerprint, decisions)
        assert set(decisions[first + 1 :]) == {"duplicate"}, (fingerprint, decisions)
    _, audit = call("GET", f"{base}/api/v1/audit?event=decision&reason=enqueued&limit=1000")
    audited = sorted(entry["fingerprint"] for entry in audit["entries"])
    assert audited == sorted(notes)

    # Every alert: exactly one execution, which ended once, succeeded. Each of its attempts
    # started once. The attempt the crash caught (one worker: at most one) was recorded
    # `retrying` once Redis was back, and ran again: its horse lost Redis before the start
    # (one attempt) or in the middle of the steps (two, the first cut short).
    _, listed = call("GET", f"{base}/api/v1/executions?limit=1000")
    runs = {e["alert"]["fingerprint"]: e["id"] for e in listed["executions"]}
    assert len(listed["executions"]) == ALERTS
    assert sorted(runs) == sorted(notes)
    records = [wait_final(base, execution_id, timeout=30) for execution_id in runs.values()]
    assert {r["status"] for r in records} == {"succeeded"}, records

    def ids(event: str) -> list[str]:
        _, data = call("GET", f"{base}/api/v1/audit?event={event}&limit=1000")
        return [entry["execution_id"] for entry in data["entries"]]

    started = ids("execution_started")
    retried = ids("execution_retrying")
    finished = ids("execution_finished")
    assert sorted(finished) == sorted(runs.values())
    for record in records:
        attempts = record["attempts"]
        assert started.count(record["id"]) == attempts, record
        assert attempts - 1 <= retried.count(record["id"]) <= 1, record
    assert len(retried) <= 1, retried

    # The worker lived through it: the same process, still registered, idle.
    assert worker.alive(), worker.log_tail()
    registered: list[Any] = Worker.all(connection=conn)  # on the connection of before the crash
    assert len(registered) == 1
    assert registered[0].pid == worker.pid
