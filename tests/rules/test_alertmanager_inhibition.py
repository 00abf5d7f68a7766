"""A real Alertmanager with our routing: inhibited alerts never reach the remediator.

The configuration under test is alertmanager/alertmanager.yml, rendered the way a deployment
renders it (webhook URLs, token file) plus one-second grouping timers so the test takes
seconds; routes, receivers' options and inhibitions stay as they are.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.tools import ALERTMANAGER_CONFIG, ALERTMANAGER_DIR, binary, load_yaml
from tests.services import Service, free_port, wait_for

TOKEN = "s3cret-token-of-the-test"

pytestmark = pytest.mark.slow


@dataclass
class Received:
    """One webhook notification as Alertmanager sent it."""

    path: str
    authorization: str | None
    body: dict[str, Any]


@dataclass
class Receiver:
    """A local HTTP endpoint standing in for the remediator and the people's webhooks."""

    url: str
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def notifications(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def alerts(self, path: str, status: str = "firing") -> list[tuple[str, str]]:
        """(alertname, instance) of the alerts that reached ``path`` with ``status``."""
        return sorted(
            (alert["labels"]["alertname"], alert["labels"]["instance"])
            for note in self.notifications(path)
            for alert in note.body["alerts"]
            if alert["status"] == status
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    sink = Receiver(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with sink.lock:
                sink.received.append(Received(self.path, self.headers["Authorization"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
    thread.join()


def _render(tmp_path: Path, receiver: Receiver) -> Path:
    """Our alertmanager.yml with a deployment's URLs and token file, and fast timers."""
    config = load_yaml(ALERTMANAGER_CONFIG)
    token_file = tmp_path / "remediator.token"
    token_file.write_text(TOKEN + "\n")
    urls = {
        "remediator": "/webhook", "people-page": "/page", "people": "/notify",
        "deadmans-switch": "/deadmans-switch",
    }  # fmt: skip
    for entry in config["receivers"]:
        for webhook in entry.get("webhook_configs", []):
            webhook["url"] = receiver.url + urls[entry["name"]]
            authorization = webhook.get("http_config", {}).get("authorization")
            if authorization:
                authorization["credentials_file"] = str(token_file)
    for route in [config["route"], *config["route"]["routes"]]:
        for timer in ["group_wait", "group_interval"]:
            if timer in route:
                route[timer] = "1s"
    config["templates"] = [str(ALERTMANAGER_DIR / "templates" / "*.tmpl")]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _alert(name: str, instance: str, resolved: bool = False) -> dict[str, Any]:
    labels = {"alertname": name, "job": "amc-exporter", "instance": instance}
    labels |= {
        "HighErrorRate": {"severity": "critical", "command": "EMERGENCY_RESTART"},
        "DiscoverySystemFailure": {"severity": "critical", "command": "RESTART_DISCOVERY_SYSTEM"},
        "DataIntegrityCompromised": {"severity": "error", "command": "INTEGRATE_REAL_DATA"},
        "AlgorithmQualityDegraded": {"severity": "warning", "command": "VALIDATE_ALGORITHMS"},
    }[name]
    alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": name}}
    if resolved:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    return alert


def _post(base: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _statuses(base: str) -> dict[tuple[str, str], list[str]]:
    """(alertname, instance) -> the fingerprints of the alerts that inhibit it."""
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {
        (a["labels"]["alertname"], a["labels"]["instance"]): a["status"]["inhibitedBy"]
        for a in alerts
    }


def test_inhibited_alerts_never_reach_the_remediator(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    services(
        [
            binary("prometheus-alertmanager"),
            f"--config.file={_render(tmp_path, receiver)}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        ready_url=f"{base}/-/ready",
        name="alertmanager",
    )
    # a: all four decision rules; b: all but HighErrorRate; c: AlgorithmQualityDegraded alone.
    _post(
        base,
        [
            _alert("HighErrorRate", "a"),
            *[_alert(name, instance) for name in [
                "DiscoverySystemFailure", "DataIntegrityCompromised", "AlgorithmQualityDegraded"
            ] for instance in ["a", "b"]],
            _alert("AlgorithmQualityDegraded", "c"),
        ],
    )  # fmt: skip
    expected = [
        ("AlgorithmQualityDegraded", "c"),
        ("DiscoverySystemFailure", "b"),
        ("HighErrorRate", "a"),
    ]
    wait_for(lambda: len(receiver.alerts("/webhook")) >= 3, 10, "the remediator's alerts")
    wait_for(lambda: len(receiver.alerts("/page")) == 2, 10, "the pages to arrive")
    time.sleep(2)  # two more group intervals: nothing else may come

    assert receiver.alerts("/webhook") == expected
    assert receiver.alerts("/page") == [("DiscoverySystemFailure", "b"), ("HighErrorRate", "a")]
    assert receiver.notifications("/notify") == []
    for note in receiver.notifications("/webhook"):
        assert note.authorization == f"Bearer {TOKEN}"
        assert note.body["version"] == "4"
        assert len(note.body["alerts"]) == 1
    for note in receiver.notifications("/page"):
        assert note.authorization is None

    inhibited = {key for key, by in _statuses(base).items() if by}
    assert inhibited == {
        ("DiscoverySystemFailure", "a"),
        ("DataIntegrityCompromised", "a"),
        ("AlgorithmQualityDegraded", "a"),
        ("DataIntegrityCompromised", "b"),
        ("AlgorithmQualityDegraded", "b"),
    }

    # The token is rotated in its file, without a reload. HighErrorRate resolves: the
    # remediator hears of it (send_resolved) with the new token, and what it inhibited on a
    # goes on to the next level: DiscoverySystemFailure, which inhibits the rest.
    (tmp_path / "remediator.token").write_text("rotated-token\n")
    _post(base, [_alert("HighErrorRate", "a", resolved=True)])
    wait_for(
        lambda: receiver.alerts("/webhook", "resolved") == [("HighErrorRate", "a")],
        10,
        "the resolution of HighErrorRate",
    )
    wait_for(lambda: len(receiver.alerts("/webhook")) >= 4, 10, "the formerly inhibited alert")
    time.sleep(2)
    assert receiver.alerts("/webhook") == sorted([*expected, ("DiscoverySystemFailure", "a")])
    later = receiver.notifications("/webhook")[len(expected) :]
    assert {note.authorization for note in later} == {"Bearer rotated-token"}


def _with_slack_people(path: Path, receiver: Receiver) -> None:
    """The `people` receiver as a Slack integration using our templates, posting to the sink."""
    config = load_yaml(path)
    (people,) = [r for r in config["receivers"] if r["name"] == "people"]
    people.pop("webhook_configs")
    people["slack_configs"] = [
        {
            "api_url": f"{receiver.url}/slack",
            "send_resolved": True,
            "title": '{{ template "amc.title" . }}',
            "text": '{{ template "amc.text" . }}',
        }
    ]
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _route_alert(route: str, resolved: bool = False) -> dict[str, Any]:
    labels = {
        "alertname": "PlatformRouteMissing", "severity": "info", "job": "amc-exporter",
        "instance": "a", "route": route,
    }  # fmt: skip
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": f"Route {route} missing", "runbook_url": "docs/x.md#y"},
    }
    if resolved:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    return alert


def test_people_templates_show_each_alert_status_in_a_mixed_group(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service]
) -> None:
    """A group with one firing and one resolved alert: each block says which it is."""
    config = _render(tmp_path, receiver)
    _with_slack_people(config, receiver)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    services(
        [
            binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        ready_url=f"{base}/-/ready",
        name="alertmanager",
    )
    _post(base, [_route_alert("/discovery/contenders"), _route_alert("/discovery/trigger")])
    wait_for(lambda: len(receiver.notifications("/slack")) >= 1, 10, "the first notification")
    _post(base, [_route_alert("/discovery/trigger", resolved=True)])
    wait_for(lambda: len(receiver.notifications("/slack")) >= 2, 10, "the mixed notification")

    (attachment,) = receiver.notifications("/slack")[-1].body["attachments"]
    assert attachment["title"] == "[FIRING:1, RESOLVED:1] PlatformRouteMissing on a"
    blocks = attachment["text"].split("\n\n")
    assert len(blocks) == 2, attachment["text"]
    firing, resolved = sorted(blocks, key=lambda block: "RESOLVED" in block)
    assert firing.startswith("[FIRING] [INFO] Route /discovery/contenders missing\n"), firing
    assert "\nStarted: " in firing, firing
    assert "Ended: " not in firing, firing
    assert resolved.startswith("[RESOLVED] [INFO] Route /discovery/trigger missing\n"), resolved
    assert "\nStarted: " in resolved, resolved
    assert "\nEnded: " in resolved, resolved
