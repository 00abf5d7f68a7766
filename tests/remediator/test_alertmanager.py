"""The real prometheus-alertmanager delivering to the real remediator and worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_lib
import yaml

from tests.remediator.conftest import MakeConfigFile, iso
from tests.remediator.stack import call, start_serve, start_worker, wait_final
from tests.rules.conftest import start_alertmanager
from tests.services import Service, wait_for

pytestmark = pytest.mark.slow


def alertmanager_config(tmp_path: Path, webhook: str, token_file: Path) -> Path:
    """A minimal Alertmanager config: one webhook receiver with bearer credentials from a file."""
    data = {
        "route": {
            "receiver": "remediator",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "remediator",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {
                                "type": "Bearer",
                                "credentials_file": str(token_file),
                            }
                        },
                    }
                ],
            }
        ],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_alerts_through_alertmanager_execute_once_and_resolve(
    services: Callable[..., Service],
    tmp_path: Path,
    token_file: Path,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
) -> None:
    config = make_config_file(alerts={"CacheStale": "FLUSH_REDIS"})
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    am = start_alertmanager(
        services, alertmanager_config(tmp_path, f"{base}/webhook", token_file), tmp_path
    )
    redis.set("amc:discovery:candidates:v2", "demo")
    started = datetime.now(UTC) - timedelta(minutes=5)
    labels = {"alertname": "CacheStale", "severity": "error", "command": "FLUSH_REDIS"}
    firing = [{"labels": labels, "annotations": {"summary": "stale"}, "startsAt": iso(started)}]
    status, _ = call("POST", f"{am}/api/v2/alerts", firing, token=None)
    assert status == 200

    def decisions(reason: str) -> list[dict]:
        _, data = call("GET", f"{base}/api/v1/audit?event=decision&reason={reason}&limit=1000")
        return list(data["entries"])

    wait_for(lambda: len(decisions("enqueued")) == 1, 30, "Alertmanager's first notification")
    # repeat_interval is 2 s: wait for Alertmanager to repeat the notification twice
    wait_for(lambda: len(decisions("duplicate")) >= 2, 30, "Alertmanager's repeats")
    _, listed = call("GET", f"{base}/api/v1/executions")
    (record,) = listed["executions"]
    assert record["alert"]["alertname"] == "CacheStale"
    done = wait_final(base, record["id"])
    assert done["status"] == "succeeded"
    assert redis.exists("amc:discovery:candidates:v2") == 0

    ended = datetime.now(UTC)
    resolved = [{**firing[0], "endsAt": iso(ended)}]
    status, _ = call("POST", f"{am}/api/v2/alerts", resolved, token=None)
    assert status == 200
    wait_for(lambda: len(decisions("resolved")) >= 1, 30, "the resolved notification")
    _, report = call("GET", f"{base}/api/v1/report")
    assert report["resolved_episodes"] == 1
    assert report["mttr_seconds"] >= 300
    _, listed = call("GET", f"{base}/api/v1/executions")
    assert len(listed["executions"]) == 1


def test_alertmanager_with_the_wrong_token_executes_nothing(
    services: Callable[..., Service],
    tmp_path: Path,
    token_file: Path,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
) -> None:
    config = make_config_file(alerts={"CacheStale": "FLUSH_REDIS"})
    base = start_serve(services, config, redis_url)
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    am = start_alertmanager(
        services, alertmanager_config(tmp_path, f"{base}/webhook", wrong), tmp_path
    )
    labels = {"alertname": "CacheStale", "severity": "error"}
    firing = [{"labels": labels, "startsAt": iso(datetime.now(UTC))}]
    assert call("POST", f"{am}/api/v2/alerts", firing, token=None)[0] == 200

    def failed_deliveries() -> float:
        _, text = call("GET", f"{am}/metrics", token=None)
        total = 0.0
        for line in text.splitlines():
            if line.startswith("alertmanager_notifications_failed_total") and "webhook" in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    wait_for(lambda: failed_deliveries() >= 1, 30, "Alertmanager's rejected delivery")
    _, audit = call("GET", f"{base}/api/v1/audit")
    assert audit["entries"] == []
    _, listed = call("GET", f"{base}/api/v1/executions")
    assert listed["executions"] == []
