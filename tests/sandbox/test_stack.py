"""``amc-sandbox up``: the whole loop under supervisord, on free ports, timers 30x faster."""

import json
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from tests.services import Service, free_port, script, wait_for

pytestmark = pytest.mark.slow
PROGRAMS = ["redis", "sandbox-api", "sandbox-worker", "exporter", "remediator",
            "remediator-worker", "alertmanager", "mtail", "prometheus"]  # fmt: skip


def supervisorctl(conf: Path, *args: str) -> str:
    done = subprocess.run([script("supervisorctl"), "-c", str(conf), *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.stdout


def get(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack(services: Callable[..., Service], tmp_path: Path) -> dict[str, Any]:
    ports = {name: free_port() for name in ("redis", "sandbox", "exporter", "remediator",
                                            "prometheus", "alertmanager", "mtail")}  # fmt: skip
    run_dir = tmp_path / "stack"
    argv = [script("amc-sandbox"), "up", "--dir", str(run_dir)]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    service = services(argv, ready_url=f"http://127.0.0.1:{ports['sandbox']}/healthz",
                       name="stack", timeout=60)  # fmt: skip
    token = (run_dir / "remediator.token").read_text().strip()
    conf = run_dir / "supervisord.conf"
    return {"ports": ports, "dir": run_dir, "conf": conf, "service": service, "token": token}


def test_the_whole_loop_runs_and_stops(stack: dict[str, Any]) -> None:
    ports = stack["ports"]

    def all_running() -> bool:
        status = supervisorctl(stack["conf"], "status")
        return all(f"{p} " in status for p in PROGRAMS) and status.count("RUNNING") == len(PROGRAMS)

    wait_for(all_running, 60, "every program RUNNING")

    def targets_up() -> bool:
        data = get(f"http://127.0.0.1:{ports['prometheus']}/api/v1/targets")["data"]
        health = {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}
        jobs = ("amc-exporter", "amc-remediator", "prometheus", "alertmanager", "amc-mtail")
        return health == dict.fromkeys(jobs, "up")

    wait_for(targets_up, 60, "Prometheus to scrape the exporter and the remediator", step=1)

    # A fault travels the loop: exporter -> Prometheus rule -> Alertmanager -> remediator
    # and people; the inhibited rules reach neither.
    sandbox = f"http://127.0.0.1:{ports['sandbox']}"
    fault = subprocess.run([script("amc-sandbox"), "fault", "set", "api_errors", "--ratio", "1",
                            "--api-url", sandbox], capture_output=True, text=True)  # fmt: skip
    assert fault.returncode == 0, fault.stderr
    audit_url = f"http://127.0.0.1:{ports['remediator']}/api/v1/audit?event=decision"

    def decided() -> list[dict[str, Any]]:
        return list(get(audit_url, stack["token"])["entries"])

    wait_for(lambda: any(e.get("alertname") == "HighErrorRate" for e in decided()),
             150, "HighErrorRate to reach the remediator", step=2)  # fmt: skip
    entry = next(e for e in decided() if e.get("alertname") == "HighErrorRate")
    assert (entry["command"], entry["reason"]) == ("EMERGENCY_RESTART", "enqueued")
    paged: list[str] = []

    def people_paged() -> bool:
        try:
            inbox = get(f"{sandbox}/admin/inbox")["notifications"]
        except OSError:  # EMERGENCY_RESTART is restarting the API behind the inbox
            return False
        paged[:] = [a["labels"]["alertname"] for n in inbox for a in n["notification"]["alerts"]]
        return "HighErrorRate" in paged

    wait_for(people_paged, 30, "HighErrorRate to reach people", step=0.5)
    assert "DiscoverySystemFailure" not in paged
    assert all(e.get("alertname") != "DiscoverySystemFailure" for e in decided())

    stack["service"].stop(timeout=60)
    assert not any(port_open(port) for port in ports.values())


def test_a_supervisorctl_restart_cures_a_wedged_worker(stack: dict[str, Any]) -> None:
    ports = stack["ports"]
    client = redis_lib.Redis(port=ports["redis"])
    wait_for(lambda: client.get("amc:discovery:worker:heartbeat") is not None, 30, "heartbeat")
    fault = subprocess.run([script("amc-sandbox"), "fault", "set", "worker_wedged",
                            "--api-url", f"http://127.0.0.1:{ports['sandbox']}"],
                           capture_output=True, text=True)  # fmt: skip
    assert fault.returncode == 0, fault.stderr
    holders = "amc:sandbox:faults:worker_wedged:holder:*"
    wait_for(lambda: bool(list(client.scan_iter(holders))), 10, "the worker to wedge")
    beat = client.get("amc:discovery:worker:heartbeat")

    assert "sandbox-worker: started" in supervisorctl(stack["conf"], "restart", "sandbox-worker")
    wait_for(lambda: client.get("amc:discovery:worker:heartbeat") != beat, 20, "a fresh heartbeat")
    wait_for(lambda: not list(client.scan_iter(holders)), 10, "the wedge to end with its process")
    client.close()


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    return list(get(url)["data"]["result"])


def test_a_fresh_stack_sends_its_first_alerts_and_drops_none(stack: dict[str, Any]) -> None:
    prometheus = f"http://127.0.0.1:{stack['ports']['prometheus']}"
    alertmanager = f"http://127.0.0.1:{stack['ports']['alertmanager']}"

    def watchdog_arrived() -> bool:
        alerts = get(f"{alertmanager}/api/v2/alerts")
        return any(a["labels"]["alertname"] == "Watchdog" for a in alerts)

    wait_for(watchdog_arrived, 60, "the Watchdog to reach Alertmanager", step=0.5)
    # Prometheus' own counters, as it scraped them after its first successful send.
    sent = "sum(prometheus_notifications_sent_total)"
    wait_for(lambda: bool(query(prometheus, f"{sent} > 0")), 30, "a scrape after a send", step=1)
    dropped = query(prometheus, "max_over_time(prometheus_notifications_dropped_total[5m])")
    errors = query(prometheus, "sum(max_over_time(prometheus_notifications_errors_total[5m]))")
    assert [float(r["value"][1]) for r in dropped] == [0.0]
    assert [float(r["value"][1]) for r in errors] == [0.0]
    meta = 'ALERTS{alertname=~"PrometheusNotifications(Dropped|Failing)"}'
    assert query(prometheus, meta) == []


def test_low_quality_shows_algorithm_quality_degraded_two_signals_until_the_switch(
    stack: dict[str, Any],
) -> None:
    ports = stack["ports"]
    sandbox = f"http://127.0.0.1:{ports['sandbox']}"
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    fault = subprocess.run([script("amc-sandbox"), "fault", "set", "low_quality",
                            "--api-url", sandbox], capture_output=True, text=True)  # fmt: skip
    assert fault.returncode == 0, fault.stderr
    # Two independent signals: one poor candidate, and answers slower than the rule's 20 s
    # (real seconds in a scaled stack; the cache outlives such an answer, so it is 1, not 0).
    alert = 'ALERTS{alertname="AlgorithmQualityDegraded"}'
    signals = "amc_discovery_candidates == 1 and on() amc_discovery_response_seconds > 20"
    both = f"{alert} and on() {signals}"
    wait_for(lambda: bool(query(prometheus, both)), 180, "the alert on both signals", step=2)

    request = urllib.request.Request(
        f"{sandbox}/admin/config",
        method="PATCH",
        data=json.dumps({"scoring_strategy": "legacy_v0"}).encode(),
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    wait_for(lambda: not query(prometheus, alert), 60, "the alert to end with the switch", step=2)
    assert query(prometheus, "amc_discovery_response_seconds < 20")
