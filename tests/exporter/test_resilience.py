"""The exporter never waits on the platform, and starts and keeps serving when things are down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis as redis_lib

from tests.exporter.conftest import ExporterHandle
from tests.sandbox_handle import SandboxHandle
from tests.services import RedisServer, free_port

pytestmark = pytest.mark.slow

Start = Callable[..., ExporterHandle]


def test_a_scrape_answers_while_the_platform_takes_90_seconds(
    sandbox_factory: Callable[..., SandboxHandle], exporter_factory: Start
) -> None:
    sandbox = sandbox_factory()
    exporter = exporter_factory(sandbox.url, sandbox.redis_url)
    exporter.wait("amc_discovery_candidates", lambda v: v is not None and v > 0)
    sandbox.set_fault("api_latency", seconds=90)
    # The discovery probe now waits up to its 61 s timeout; scrapes go on meanwhile, and the
    # probe in flight already shows as slow.
    seconds = exporter.wait("amc_discovery_response_seconds", lambda v: v is not None and v > 3)
    assert seconds is not None
    for _ in range(10):
        started = time.monotonic()
        text = exporter.scrape(timeout=10)
        # A generous bound (a scrape takes milliseconds), far from the platform's 90 s.
        assert time.monotonic() - started < 2.0
        assert "amc_discovery_response_seconds" in text
    assert exporter.value("amc_api_up") == 1.0  # /health is not slowed, and it answers
    later = exporter.value("amc_discovery_response_seconds")
    assert later is not None
    assert later > seconds
    # The latest completed result stays until the slow probe ends.
    assert exporter.value("amc_discovery_candidates") == 50.0


def test_starts_with_redis_and_api_down_and_recovers(
    own_redis_server: RedisServer, exporter_factory: Start
) -> None:
    own_redis_server.stop()
    dead_api = f"http://127.0.0.1:{free_port()}"
    exporter = exporter_factory(dead_api, own_redis_server.url)
    exporter.wait("amc_redis_up", lambda v: v == 0.0)
    exporter.wait("amc_api_up", lambda v: v == 0.0)
    exporter.wait("amc_system_status", lambda v: v == 1.0, status="down")
    exporter.wait(
        "amc_api_probe_failures_total", lambda v: v is not None and v > 0,
        route="health", reason="connection",
    )  # fmt: skip
    assert exporter.value("amc_discovery_candidates") == 0.0
    assert exporter.value("amc_discovery_jobs", state="queued") is None  # no stale queue data
    errors = exporter.value("amc_exporter_probe_errors_total", probe="queues")
    assert errors is not None
    assert errors > 0
    own_redis_server.start()
    exporter.wait("amc_redis_up", lambda v: v == 1.0)
    assert exporter.value("amc_discovery_jobs", state="queued") == 0.0
    assert exporter.value("amc_discovery_worker_heartbeat_age_seconds") == float("inf")
    own_redis_server.stop()
    exporter.wait("amc_redis_up", lambda v: v == 0.0)


def test_logs_are_json_lines_at_the_configured_level(exporter_factory: Start) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    chatty = exporter_factory(dead, redis_url)
    quiet = exporter_factory(dead, redis_url, log_level="ERROR")
    for exporter in (chatty, quiet):
        exporter.wait("amc_redis_up", lambda v: v == 0.0)
    chatty.service.stop()
    quiet.service.stop()
    lines = [json.loads(line) for line in chatty.service.log_path.read_text().splitlines()]
    assert lines[0]["message"] == "starting"
    assert "queue probe failed" in {line["message"] for line in lines}
    assert quiet.service.log_path.read_text() == ""


def test_a_stalled_redis_is_down_and_never_stalls_a_scrape(
    own_redis_server: RedisServer, exporter_factory: Start
) -> None:
    exporter = exporter_factory(
        f"http://127.0.0.1:{free_port()}", own_redis_server.url,
        redis={"socket_timeout_seconds": 0.5},
    )  # fmt: skip
    exporter.wait("amc_redis_up", lambda v: v == 1.0)
    # Redis accepts connections but answers no command until the pause ends by itself (no
    # script to kill, nothing to clean up if the test fails half-way).
    pause_seconds = 15
    with redis_lib.Redis(port=own_redis_server.port, socket_timeout=5) as admin:
        admin.execute_command("CLIENT", "PAUSE", pause_seconds * 1000, "ALL")
    paused_until = time.monotonic() + pause_seconds
    exporter.wait("amc_redis_up", lambda v: v == 0.0)
    for _ in range(10):
        assert "amc_redis_up 0.0" in exporter.scrape(timeout=10)
    assert time.monotonic() < paused_until  # the scrapes above all ran while Redis was stalled
    exporter.wait("amc_redis_up", lambda v: v == 1.0, timeout=pause_seconds + 20)
