"""High availability as deployed: two real Alertmanagers in a gossip cluster, each sending
every notification to two ``amc-remediator serve`` replicas on one Redis (as a Prometheus HA
pair sends every alert to every Alertmanager). Every episode gets exactly one execution and
every notification is answered 2xx."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
import yaml

from tests.remediator.conftest import MakeConfigFile, iso
from tests.remediator.stack import call, start_serve
from tests.services import Service, free_port, sample_value, wait_for

pytestmark = pytest.mark.slow

ALERTS = {
    "CacheStale": "FLUSH_REDIS",
    "QueueStuck": "CLEAR_JOB_QUEUE",
    "RoutesMissing": "VALIDATE_ENDPOINTS",
}


def _config(tmp_path: Path, webhooks: list[str], token_file: Path) -> Path:
    hook = {"send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(token_file)}}}  # fmt: skip
    data = {
        "route": {"receiver": "remediator", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "3s"},
        "receivers": [{"name": "remediator",
                       "webhook_configs": [{"url": url, **hook} for url in webhooks]}],
    }  # fmt: skip
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` of ``url``'s /metrics (0 when none)."""
    _, text = call("GET", f"{url}/metrics", token=None)
    value = sample_value(text, name, **labels)
    return 0.0 if value is None else value


def _gossiping(url: str) -> bool:
    return _metric(url, "alertmanager_cluster_members") == 2


def test_two_clustered_alertmanagers_and_two_replicas_run_each_episode_once(
    services: Callable[..., Service],
    tmp_path: Path,
    token_file: Path,
    make_config_file: MakeConfigFile,
    redis_url: str,
) -> None:
    config = make_config_file(alerts=ALERTS, defaults={"cooldown_seconds": 0})
    replicas = [start_serve(services, config, redis_url) for _ in range(2)]
    am_config = _config(tmp_path, [f"{base}/webhook" for base in replicas], token_file)
    binary = shutil.which("prometheus-alertmanager") or "prometheus-alertmanager"
    gossip = [free_port(), free_port()]
    managers = []
    for n, port in enumerate(gossip):
        web = free_port()
        argv = [
            binary, f"--config.file={am_config}", f"--storage.path={tmp_path / f'am{n}'}",
            f"--web.listen-address=127.0.0.1:{web}",
            f"--cluster.listen-address=127.0.0.1:{port}",
            f"--cluster.peer=127.0.0.1:{gossip[1 - n]}",
            "--cluster.peer-timeout=2s", "--cluster.gossip-interval=100ms",
            "--cluster.pushpull-interval=1s",
        ]  # fmt: skip
        url = f"http://127.0.0.1:{web}"
        services(argv, ready_url=f"{url}/-/ready", name=f"alertmanager{n}")
        managers.append(url)
    for url in managers:
        wait_for(partial(_gossiping, url), 30, "the two Alertmanagers to gossip")

    started = iso(datetime.now(UTC))
    alerts = [{"labels": {"alertname": name, "severity": "error"}, "startsAt": started}
              for name in ALERTS]  # fmt: skip
    for url in managers:  # Prometheus sends every alert to every Alertmanager
        assert call("POST", f"{url}/api/v2/alerts", alerts, token=None)[0] == 200

    def decided() -> list[dict]:
        _, data = call("GET", f"{replicas[0]}/api/v1/audit?event=decision&limit=1000")
        return list(data["entries"])

    # Wait for repeats: every episode notified several times, through both replicas.
    wait_for(lambda: sum(d["reason"] == "duplicate" for d in decided()) >= 2 * len(ALERTS), 60,
             "Alertmanager's repeats to reach the replicas")  # fmt: skip
    reasons = [(d["alertname"], d["reason"]) for d in decided()]
    assert sorted(a for a, r in reasons if r == "enqueued") == sorted(ALERTS)
    assert {r for _, r in reasons} == {"enqueued", "duplicate"}
    _, listed = call("GET", f"{replicas[1]}/api/v1/executions?limit=1000")
    runs = sorted((e["alert"]["alertname"], e["command"]) for e in listed["executions"])
    assert runs == sorted(ALERTS.items())  # one per episode
    for url in managers:
        assert _metric(url, "alertmanager_notifications_failed_total") == 0
    sent = sum(_metric(url, "alertmanager_notifications_total") for url in managers)
    assert sent >= len(ALERTS)
    # the replicas each answered some of them
    for base in replicas:
        assert _metric(base, "amc_remediator_alerts_received_total", alertname="CacheStale") >= 1
