"""A real Prometheus with our configuration and rules, scraping the real amc-exporter.

The platform, the remediator and Alertmanager are absent (nothing listens on their ports): the
exporter reports the platform down, and the rules must make of that what docs/architecture.md says,
without a single evaluation error. prometheus.yml is rendered the way a deployment renders it
(target addresses, rule path) with one-second scrape and evaluation intervals.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.conftest import start_prometheus
from tests.rules.tools import rules
from tests.services import Service, free_port, script, wait_for

pytestmark = pytest.mark.slow


def _get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    return list(_get(base, "/api/v1/query", query=expr)["result"])


def _pending(base: str) -> set[str]:
    return {s["metric"]["alertname"] for s in _query(base, 'ALERTS{alertstate="pending"}')}


def _start_exporter(services: Callable[..., Service], tmp_path: Path) -> str:
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "exporter.yml"
    fast = {"interval_seconds": 0.5, "timeout_seconds": 1}
    probes = {"health": fast, "routes": fast, "queues": fast}
    probes["discovery"] = {"interval_seconds": 0.5, "timeout_seconds": 61}
    config.write_text(yaml.safe_dump({"probes": probes}))
    argv = [
        script("amc-exporter"), "--config", str(config), "--listen", listen,
        "--platform-url", f"http://127.0.0.1:{free_port()}",
        "--redis-url", f"redis://127.0.0.1:{free_port()}/0",
    ]  # fmt: skip
    services(argv, ready_url=f"http://{listen}/metrics", name="amc-exporter")
    return listen


def test_rules_evaluate_on_the_exporter_of_an_unreachable_platform(
    tmp_path: Path, services: Callable[..., Service]
) -> None:
    exporter = _start_exporter(services, tmp_path)
    base = start_prometheus(services, tmp_path, {"amc-exporter": exporter})
    expected = {
        "DiscoverySystemFailure",  # no candidates + status down
        "HighErrorRate",  # every core-route probe fails
        "DataIntegrityCompromised",  # error ratio > 0.10
        "AmcPlatformApiUnreachable",
        "AmcPlatformRedisUnreachable",
        "AmcRemediatorDown",
    }
    try:
        wait_for(lambda: expected <= _pending(base), 20, f"pending alerts {sorted(expected)}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; pending: {sorted(_pending(base))}") from None

    groups = _get(base, "/api/v1/rules")["groups"]
    evaluated = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(evaluated) == {rule.name for rule in rules()}
    errors = {name: rule["lastError"] for name, rule in evaluated.items() if rule["health"] != "ok"}
    assert errors == {}

    # Status down is not degraded, and the responses are fast: one signal of three.
    assert _pending(base).isdisjoint(
        {"AlgorithmQualityDegraded", "AmcExporterDown", "AmcExporterRuleInputsMissing"}
    )
    (ratio,) = _query(base, "amc:api_probe_failures:ratio_rate10m")
    assert ratio["metric"] == {
        "__name__": "amc:api_probe_failures:ratio_rate10m",
        "job": "amc-exporter",
        "instance": exporter,
    }
    # Every probe fails: the exporter counts a probe and its failure together, so the raw
    # counters of one scrape are equal.
    (counts,) = _query(
        base, "sum(amc_api_probes_total) - sum(amc_api_probe_failures_total) "
        "and sum(amc_api_probes_total) > 0",
    )  # fmt: skip
    assert float(counts["value"][1]) == 0, f"probes minus failures: {counts}"
    # The ratio itself: rate() extrapolates each failure series on its own (a series that
    # starts at 0 is not extrapolated below it), so over the first seconds it can be well
    # under 1; it converges as the window fills.
    seen: list[float] = []

    def _converged() -> bool:
        (sample,) = _query(base, "amc:api_probe_failures:ratio_rate10m")
        seen.append(float(sample["value"][1]))
        return 0.9 < seen[-1] <= 1.0 + 1e-9

    try:
        wait_for(_converged, 20, "the error ratio to reach 1", step=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; ratios seen: {seen}") from None
    (left,) = _query(
        base, 'amc:decision_rule_time_to_trigger:seconds{alertname="DiscoverySystemFailure"}'
    )
    assert 1700 < float(left["value"][1]) <= 1800
