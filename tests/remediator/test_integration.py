"""The real ``amc-remediator serve`` and ``worker`` processes on a real Redis."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_lib

from tests.remediator.conftest import TOKEN, MakeConfigFile, SilentPlatform, alert, message
from tests.remediator.stack import call, deliver, start_serve, start_worker, wait_final
from tests.services import RedisServer, Service, free_port, script, wait_for

pytestmark = pytest.mark.slow
Services = Callable[..., Service]
FLUSH_MAP = {"CacheStale": "FLUSH_REDIS"}


def executions(base: str, **query: str) -> list[dict]:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    status, data = call("GET", f"{base}/api/v1/executions?limit=1000&{suffix}")
    assert status == 200
    return list(data["executions"])


def started_events(base: str) -> list[dict]:
    status, data = call("GET", f"{base}/api/v1/audit?event=execution_started&limit=1000")
    assert status == 200
    return list(data["entries"])


def test_one_hundred_identical_posts_give_one_execution(
    services: Services, make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    config = make_config_file(alerts=FLUSH_MAP)
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    redis.set("amc:discovery:candidates:v2", "demo")
    note = message(alert("CacheStale"))
    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: call("POST", f"{base}/webhook", note), range(100)))
    assert {status for status, _ in replies} == {200}, [r for s, r in replies if s != 200][:2]
    decisions = [r["decisions"][0]["decision"] for _, r in replies]
    assert decisions.count("enqueued") == 1
    assert decisions.count("duplicate") == 99
    (record,) = executions(base)
    done = wait_final(base, record["id"])
    assert done["status"] == "succeeded"
    assert done["verified"] is True
    assert redis.exists("amc:discovery:candidates:v2") == 0
    assert len(started_events(base)) == 1


def test_two_serve_processes_give_one_execution(
    services: Services, make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    config = make_config_file(alerts=FLUSH_MAP)
    first = start_serve(services, config, redis_url)
    second = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    note = message(alert("CacheStale"), alert("CacheStale", fingerprint="0f0f0f"))
    targets = [first, second] * 25
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda b: call("POST", f"{b}/webhook", note), targets))
    assert {status for status, _ in replies} == {200}, [r for s, r in replies if s != 200][:2]
    decisions = [d["decision"] for _, r in replies for d in r["decisions"]]
    assert decisions.count("enqueued") == 1  # the second alert: the first one's pending run
    assert decisions.count("duplicate") + decisions.count("cooldown") == 99
    (record,) = executions(first)
    assert wait_final(first, record["id"])["status"] == "succeeded"
    assert len(started_events(second)) == 1


def test_redis_stopped_gives_503_and_the_alert_runs_once_after_it_returns(
    services: Services, make_config_file: MakeConfigFile, own_redis_server: RedisServer
) -> None:
    url = own_redis_server.url
    config = make_config_file(url, alerts=FLUSH_MAP, redis_timeout_seconds=2)
    base = start_serve(services, config, url)
    start_worker(services, config, url)
    own_redis_server.stop()
    note = message(alert("CacheStale"))
    for _ in range(3):
        status, reply = call("POST", f"{base}/webhook", note)
        assert status == 503
        assert reply["error"] == "redis_unavailable"
    own_redis_server.start()
    wait_for(lambda: call("GET", f"{base}/readyz")[0] == 200, 10, "readyz after Redis returns")
    replies = [call("POST", f"{base}/webhook", note) for _ in range(5)]
    assert [r["decisions"][0]["decision"] for _, r in replies] == ["enqueued"] + ["duplicate"] * 4
    (record,) = executions(base)
    assert wait_final(base, record["id"], timeout=60)["status"] == "succeeded"
    assert len(started_events(base)) == 1


def test_a_runaway_step_is_killed_and_marked_timed_out(
    services: Services,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
    silent_platform: SilentPlatform,
) -> None:
    config = make_config_file(
        platform=silent_platform(120), commands={"FLUSH_REDIS": {"timeout_seconds": 1}}
    )
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    status, reply = call("POST", f"{base}/api/v1/commands/FLUSH_REDIS")
    assert status == 202
    record = wait_final(base, reply["execution_id"])
    assert record["status"] == "timed_out"
    assert record["steps"][0]["status"] == "timed_out"
    assert "timed out" in record["error"]


def test_failures_are_retried_with_backoff(
    services: Services, make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    config = make_config_file(
        platform={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 1},
        commands={"FLUSH_REDIS": {"retries": 2, "backoff": {"initial_seconds": 2, "factor": 2}}},
    )
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    status, reply = call("POST", f"{base}/api/v1/commands/FLUSH_REDIS")
    assert status == 202
    record = wait_final(base, reply["execution_id"], timeout=60)
    assert record["status"] == "failed"
    assert record["attempts"] == 3
    steps = record["steps"]
    assert [s["attempt"] for s in steps] == [1, 2, 3]
    # RQ's scheduler holds each retry back for its backoff (2 s, then 4 s), in whole
    # seconds of the clock, so a retry may start up to 1 s before the full delay
    assert steps[1]["started_at"] - steps[0]["ended_at"] >= 1
    assert steps[2]["started_at"] - steps[1]["ended_at"] >= 3
    status, audit = call("GET", f"{base}/api/v1/audit?event=execution_retrying")
    assert len(audit["entries"]) == 2


def test_resolved_alerts_record_mttr_and_time_to_remediate(
    services: Services, make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    config = make_config_file(alerts=FLUSH_MAP)
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    firing = alert("CacheStale", starts_at="2026-11-25T12:00:00Z")
    status, reply = call("POST", f"{base}/webhook", message(firing))
    record = wait_final(base, reply["decisions"][0]["execution_id"])
    assert record["status"] == "succeeded"
    resolved = alert("CacheStale", status="resolved", ends_at="2026-11-25T12:15:00Z")
    for _ in range(2):
        status, reply = call("POST", f"{base}/webhook", message(resolved))
        assert status == 200
        assert reply["decisions"][0]["decision"] == "resolved"
    status, text = call("GET", f"{base}/metrics", token=None)
    assert status == 200
    assert 'amc_remediator_alert_resolution_seconds_count{alertname="CacheStale"} 1.0' in text
    assert 'amc_remediator_alert_resolution_seconds_sum{alertname="CacheStale"} 900.0' in text
    assert 'amc_remediator_time_to_remediate_seconds_count{command="FLUSH_REDIS"} 1.0' in text
    assert 'amc_remediator_executions_total{command="FLUSH_REDIS",outcome="succeeded"} 1.0' in text
    _status, report = call("GET", f"{base}/api/v1/report")
    assert report["mttr_seconds"] == 900.0
    assert report["active_episodes"] == []
    proc = subprocess.run(
        [script("amc-remediator"), "report", "--config", str(config), "--redis-url", redis_url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "resolved episodes: 1; MTTR 900s" in proc.stdout
    assert "success rate 100%" in proc.stdout


def test_run_cli_waits_and_reports_the_outcome(
    services: Services, make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    config = make_config_file()
    start_worker(services, config, redis_url)
    base = [script("amc-remediator"), "run", "--config", str(config), "--redis-url", redis_url]
    proc = subprocess.run([*base, "FLUSH_REDIS"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert (record["status"], record["trigger"], record["verified"]) == ("succeeded", "cli", True)
    proc = subprocess.run([*base, "EMERGENCY_RESTART"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"] == "no actuator configured for platform.api_restart"
    proc = subprocess.run(
        [*base, "FLUSH_REDIS", "--param", "pattern=*"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "unknown parameters ['pattern']" in proc.stderr


def test_decisions_are_in_the_json_log_and_the_token_never_is(
    services: Services,
    tmp_path: Path,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
) -> None:
    config = make_config_file(alerts=FLUSH_MAP)
    base = start_serve(services, config, redis_url)
    worker = start_worker(services, config, redis_url)
    status, reply = call("POST", f"{base}/webhook", message(alert("CacheStale")))
    assert status == 200
    wait_final(base, reply["decisions"][0]["execution_id"])
    assert call("POST", f"{base}/webhook", message(alert("CacheStale")), token="wrong")[0] == 401
    # serve writes its log in blocks, at least every half second: the line comes soon
    log_path = next(tmp_path.glob("serve-*.log"))
    wait_for(lambda: '"reason": "enqueued"' in log_path.read_text(), 5, "the decision's line")
    serve_log = log_path.read_text()
    entries = [json.loads(line) for line in serve_log.splitlines() if line.startswith("{")]
    audited = [e["audit"] for e in entries if "audit" in e]
    assert [a["reason"] for a in audited if a["event"] == "decision"] == ["enqueued"]
    assert all(e["level"] in {"debug", "info", "warning", "error"} for e in entries)
    worker_log = worker.log_path.read_text()
    assert '"execution_finished"' in worker_log
    for text in (serve_log, worker_log):
        assert TOKEN not in text


def test_redis_stopped_mid_request_gives_503_and_the_retry_is_not_blocked(
    services: Services, make_config_file: MakeConfigFile, own_redis_server: RedisServer
) -> None:
    url = own_redis_server.url
    config = make_config_file(
        url, alerts=FLUSH_MAP, redis_timeout_seconds=1, defaults={"cooldown_seconds": 0}
    )
    base = start_serve(services, config, url)
    note = message(*(alert("CacheStale", fingerprint=f"{n:016x}") for n in range(1000)))
    conn = redis_lib.Redis.from_url(url)
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(call, "POST", f"{base}/webhook", note)
        # stop Redis (its data kept) once part of the notification is decided
        wait_for(
            lambda: conn.zcard("amc:remediator:episodes:active") >= 100, 10, "decisions", 0.001
        )
        with own_redis_server.paused():
            status, body = reply.result(timeout=30)
    assert status == 503, body
    assert body["error"] == "redis_unavailable"
    assert conn.zcard("amc:remediator:episodes:active") < 1000  # stopped in the middle
    status, body = call("POST", f"{base}/webhook", note)  # Alertmanager's retry
    assert status == 200, body
    decisions = [d["decision"] for d in body["decisions"]]
    # the first alert was enqueued by the interrupted request: its retry is a duplicate;
    # the others wait for that execution
    assert decisions[0] == "duplicate"
    assert set(decisions[1:]) == {"cooldown"}
    start_worker(services, config, url)
    (record,) = executions(base)
    assert wait_final(base, record["id"])["status"] == "succeeded"
    assert len(started_events(base)) == 1
    # nothing half-written is left: the next episode runs
    later = alert("CacheStale", fingerprint=f"{1:016x}", starts_at="2026-11-25T13:00:00Z")
    status, body = call("POST", f"{base}/webhook", message(later))
    assert body["decisions"][0]["decision"] == "enqueued"
    assert wait_final(base, body["decisions"][0]["execution_id"])["status"] == "succeeded"
    conn.close()


def test_serve_on_a_busy_port_exits_without_saying_it_listens(
    make_config_file: MakeConfigFile, redis_url: str
) -> None:
    config = make_config_file()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [script("amc-remediator"), "serve", "--config", str(config)]
        argv += ["--listen", f"127.0.0.1:{port}", "--redis-url", redis_url]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr.lower()
    assert "remediator listening" not in proc.stderr


def _send_raw(base: str, request: bytes, timeout: float = 10) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_malformed_authorization_header_never_reaches_the_log_or_the_reply(
    services: Services, tmp_path: Path, make_config_file: MakeConfigFile, redis_url: str
) -> None:
    """aiohttp refuses a header with an invalid byte or over its size limit, and logged the
    offending line (the token) at ERROR and repeated it in its reply."""
    base = start_serve(services, make_config_file(), redis_url)
    for header in (f"Bearer {TOKEN}\x7f".encode(), f"Bearer {TOKEN}".encode() + b"a" * 9000):
        request = b"POST /webhook HTTP/1.1\r\nHost: x\r\nAuthorization: " + header + b"\r\n\r\n"
        reply = _send_raw(base, request)
        assert reply.startswith(b"HTTP/1.0 400")
        assert TOKEN.encode() not in reply  # aiohttp's own reply repeats the line
        assert reply.endswith(b"malformed HTTP request")
    log_path = next(tmp_path.glob("serve-*.log"))
    wait_for(lambda: log_path.read_text().count("malformed HTTP request") == 2, 5,
             "both refusals in the log")  # fmt: skip
    text = log_path.read_text()
    assert TOKEN not in text
    refusals = [json.loads(line) for line in text.splitlines() if "malformed" in line]
    assert {r["level"] for r in refusals} == {"warning"}


def test_a_connection_that_sends_its_headers_slowly_is_closed(
    services: Services, make_config_file: MakeConfigFile, redis_url: str
) -> None:
    base = start_serve(services, make_config_file(), redis_url)
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        closed = None
        for _ in range(60):  # one header line a second, never the blank line
            try:
                sock.sendall(b"X-Drip: 1\r\n")
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(1)
    assert closed, "the server kept a connection that never finished its headers"


def test_a_stream_of_webhooks_loses_nothing_through_a_serve_crash_and_a_redis_pause(
    services: Services, make_config_file: MakeConfigFile, own_redis_server: RedisServer
) -> None:
    """60 notifications, each retried until answered 200; serve is SIGKILLed and started
    again after the 20th, Redis paused 3 s after the 40th. Every alert has exactly one
    first decision, every enqueued episode exactly one execution."""
    url = own_redis_server.url
    names = {f"Stream{n}": "FLUSH_REDIS" for n in range(3)}
    config = make_config_file(url, alerts=names, redis_timeout_seconds=1)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [script("amc-remediator"), "serve", "--config", str(config),
            "--listen", f"127.0.0.1:{port}", "--redis-url", url]  # fmt: skip
    serve = services(argv, ready_url=f"{base}/healthz", name="serve")
    notes = [message(alert(f"Stream{n % 3}", fingerprint=f"{n:016x}")) for n in range(60)]
    first: dict[str, str] = {}
    deadline = time.monotonic() + 120
    for n, note in enumerate(notes):
        if n == 20:
            serve.stop(signal.SIGKILL)
            with ThreadPoolExecutor(1) as pool:  # start it again while the sender retries
                again = pool.submit(serve.start)
                decisions = deliver(base, note, deadline)
                again.result()
        elif n == 40:
            with ThreadPoolExecutor(1) as pool:
                with own_redis_server.paused():  # for 3 s, the sender retrying
                    sent = pool.submit(deliver, base, note, deadline)
                    time.sleep(3.0)
                decisions = sent.result()
        else:
            decisions = deliver(base, note, deadline)
        (decision,) = decisions
        first.setdefault(decision["fingerprint"], decision["decision"])
    assert len(first) == 60
    _, audit = call("GET", f"{base}/api/v1/audit?event=decision&limit=1000")
    by_alert: dict[str, list[str]] = {}
    for entry in audit["entries"]:
        by_alert.setdefault(entry["fingerprint"], []).append(entry["reason"])
    assert set(by_alert) == set(first)  # every alert decided and audited
    for fingerprint, reasons in by_alert.items():
        assert len([r for r in reasons if r != "duplicate"]) == 1, (fingerprint, reasons)
    runs = executions(base)
    episodes = [e["alert"]["fingerprint"] for e in runs]
    assert len(episodes) == len(set(episodes))  # never two executions of one episode
    enqueued = {f for f, reasons in by_alert.items() if "enqueued" in reasons}
    assert set(episodes) == enqueued
