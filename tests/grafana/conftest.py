"""Fixtures of the dashboard tests: the committed dashboards, and the series that exist (the
live ``/metrics`` of our exporter and remediator, and of the real Prometheus and Alertmanager,
the mtail contract, the recording rules, Prometheus' alerts)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.exporter.conftest import start_exporter
from tests.remediator.stack import start_serve
from tests.rules.conftest import start_alertmanager, start_prometheus
from tests.sandbox_handle import start_sandbox
from tests.services import running_redis, wait_for
from tests.stack.platform import ServiceGroup

PROJECT = Path(__file__).resolve().parents[2]
DASHBOARDS = PROJECT / "grafana" / "dashboards"
UIDS = ("amc-platform", "amc-automation", "amc-agent")

# The log-derived metrics of mtail's programs (docs/architecture.md, "Metrics") and the
# recording rule over them: the one place the dashboard tests name them.
MTAIL_CONTRACT = {
    "amc_platform_http_requests_total",
    "amc_platform_http_request_duration_seconds_bucket",
    "amc_platform_http_request_duration_seconds_count",
    "amc_platform_http_request_duration_seconds_sum",
    "amc_platform_jobs_total",
    "amc_platform_job_failures_total",
    "amc_platform_provider_errors_total",
    "amc_platform_log_lines_total",
    "amc:platform_http_errors:ratio_rate10m",
}
ALERT_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("_count", "_sum")}  # fmt: skip


def load(uid: str) -> dict[str, Any]:
    """A committed dashboard."""
    return dict(json.loads((DASHBOARDS / f"{uid}.json").read_text()))


@pytest.fixture(params=UIDS)
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each committed dashboard in turn."""
    return load(request.param)


def recording_rules() -> set[str]:
    """The names of the recording rules of ``prometheus/rules/``."""
    names = set()
    for path in (PROJECT / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def exposed(url: str) -> set[str]:
    """Every series name one ``/metrics`` exposes, those of families without samples yet
    too (a histogram nothing was observed in)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ())}
        if family.type in ("gauge", "unknown", "stateset", "info"):
            names.add(family.name)
    return names


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def live_names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The series names that exist: our processes and the real Prometheus and Alertmanager,
    running on a real Redis, plus the contract, the recording rules and the alerts."""
    root = tmp_path_factory.mktemp("grafana-live")
    with running_redis() as redis_server:
        group = ServiceGroup(root)
        try:
            yield _start_and_read(group, root, redis_server.url)
        finally:
            group.stop()


def _start_and_read(group: ServiceGroup, root: Path, redis_url: str) -> set[str]:
    sandbox = start_sandbox(group, root, redis_url)
    urls = {"exporter": start_exporter(group, root, sandbox.url, redis_url).url}
    token = root / "token"
    token.write_text("t" * 32 + "\n")
    remediator_config = root / "remediator.yml"
    remediator_config.write_text(yaml.safe_dump(
        {"token": {"file": str(token)}, "platform": {"redis_url": redis_url}}))  # fmt: skip
    urls["remediator"] = start_serve(group, remediator_config, redis_url)
    alertmanager_config = root / "alertmanager.yml"
    alertmanager_config.write_text(yaml.safe_dump({"route": {"receiver": "nobody"},
                                                   "receivers": [{"name": "nobody"}]}))  # fmt: skip
    urls["am"] = start_alertmanager(group, alertmanager_config, root)
    # Our prometheus.yml and rules, scraping the exporter, the remediator, Alertmanager and
    # itself, alerting that Alertmanager.
    targets = {
        "amc-exporter": urls["exporter"],
        "amc-remediator": urls["remediator"],
        "alertmanager": urls["am"],
    }
    urls["prometheus"] = start_prometheus(group, root, targets, alertmanager=urls["am"])
    # Prometheus (ready) has scraped every target and found its Alertmanager.
    wait_for(lambda: {"up", "scrape_duration_seconds", "amc_discovery_candidates"}
             <= set(_get(urls["prometheus"] + "/api/v1/label/__name__/values")["data"]),
             30, "Prometheus' first scrapes", step=0.2)  # fmt: skip
    wait_for(lambda: "prometheus_notifications_sent_total" in exposed(urls["prometheus"]
             + "/metrics"), 30, "Prometheus to find its Alertmanager", step=0.2)  # fmt: skip
    wait_for(lambda: "amc_discovery_quality_score" in exposed(urls["exporter"] + "/metrics"),
             30, "the exporter's first candidates", step=0.2)  # fmt: skip
    names = set(_get(urls["prometheus"] + "/api/v1/label/__name__/values")["data"])
    for name in ("exporter", "remediator", "prometheus", "am"):
        names |= exposed(urls[name] + "/metrics")
    return names | MTAIL_CONTRACT | recording_rules() | ALERT_SERIES
