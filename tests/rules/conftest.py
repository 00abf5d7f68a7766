"""A real Alertmanager with our routing, and a local endpoint for its webhooks.

The configuration under test is alertmanager/alertmanager.yml, rendered the way a deployment
renders it (webhook URLs, token file) plus one-second grouping timers so the tests take
seconds; routes, receivers' options and inhibitions stay as they are.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.rules.tools import (
    ALERTMANAGER_CONFIG,
    ALERTMANAGER_DIR,
    binary,
    load_yaml,
    render_prometheus,
)
from tests.services import Service, free_port, ready_200, wait_for

TOKEN = "s3cret-token-of-the-test"


def alert_key(labels: dict[str, str]) -> tuple[str, str]:
    """(name, instance) of an alert; the name says which component or decision alert it is
    about, as in ``RemediationNotEffective[HighErrorRate]``."""
    about = labels.get("decision_alert") or labels.get("component")
    name = labels["alertname"] + (f"[{about}]" if about else "")
    return name, labels.get("instance", "")


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
            alert_key(alert["labels"])
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


def render(tmp_path: Path, receiver: Receiver) -> Path:
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


def post(base: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def statuses(base: str) -> dict[tuple[str, str], list[str]]:
    """(alertname, instance) -> the fingerprints of the alerts that inhibit it."""
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {alert_key(a["labels"]): a["status"]["inhibitedBy"] for a in alerts}


def nflog_queries(base: str) -> float:
    """Alertmanager's count of notification-log queries: one per flush of a group that has
    alerts left after inhibition, per integration it notifies (the dedup stage asks the log
    whether to send)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "alertmanager_nflog_queries":
            return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    raise AssertionError("alertmanager_nflog_queries_total is not exposed")


def start_alertmanager(services: Callable[..., Service], config: Path, tmp_path: Path) -> str:
    """Run ``prometheus-alertmanager`` on ``config``; returns its base URL once ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    services(
        [
            binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={tmp_path / f'data-{port}'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        ready_url=f"{base}/-/ready",
        name="alertmanager",
    )
    return base


def start_prometheus(
    services: Callable[..., Service],
    tmp_path: Path,
    targets: dict[str, str],
    alertmanager: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Run ``prometheus`` on our prometheus.yml as ``render_prometheus`` renders it (``targets``:
    job name -> base URL or host:port; itself as job ``prometheus``; alerting
    ``alertmanager``); returns its base URL once ready (``/-/ready`` answers 200: it answers
    503 while the TSDB opens)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    scraped = {job: target.removeprefix("http://") for job, target in targets.items()}
    scraped.setdefault("prometheus", f"127.0.0.1:{port}")
    notified = alertmanager.removeprefix("http://") if alertmanager else None
    config = render_prometheus(tmp_path, scraped, notified)
    service = services(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / f'tsdb-{port}'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        name="prometheus",
    )

    def ready() -> bool:
        if not service.alive():
            raise RuntimeError(f"prometheus exited:\n{service.log_tail()}")
        return ready_200(f"{base}/-/ready")

    try:
        wait_for(ready, timeout, f"Prometheus at {base} to be ready", step=0.1)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n--- log ---\n{service.log_tail()}") from None
    return base
