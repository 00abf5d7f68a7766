"""The platform's logs as metrics in the local stack: mtail reads the sandbox's API and worker
logs, Prometheus scrapes it, the classification rules fire on what it reads, and people hear
of them. Uses the loop's scenario stacks (``tests/stack/scenarios.py``): ``provider``
(polygon down) and ``HighErrorRate`` (every platform request answered 5xx)."""

from __future__ import annotations

import time
from functools import partial

import pytest

from tests.services import wait_for
from tests.stack import loop
from tests.stack.platform import Stack
from tests.stack.scenarios import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _value(stack: Stack, promql: str) -> float:
    """The single value of an instant query (0 when it has none)."""
    rows = loop.query(stack, promql)
    assert len(rows) <= 1, rows
    return float(rows[0]["value"][1]) if rows else 0.0


def _at_least(stack: Stack, promql: str, count: float) -> bool:
    return _value(stack, promql) >= count


def _window(scenario: Scenario) -> str:
    return f"{max(1, int(time.time() - scenario.started))}s"


def _reached_people(stack: Stack, alertname: str, **labels: str) -> set[str]:
    """The receivers of people that were sent ``alertname`` firing with ``labels``."""
    return {
        receiver
        for receiver, alert in loop.sent_to_people(stack)
        if alert["labels"]["alertname"] == alertname
        and alert["status"] == "firing"
        and all(alert["labels"].get(k) == v for k, v in labels.items())
    }


def _every_line_recognized(stack: Stack) -> None:
    read = 'sum by (log) (amc_platform_log_lines_total{job="amc-mtail",matched="true"})'
    logs = {row["metric"]["log"]: float(row["value"][1]) for row in loop.query(stack, read)}
    assert logs.keys() == {"api", "worker"}, logs
    assert all(count > 0 for count in logs.values()), logs
    unknown = 'sum(amc_platform_log_lines_total{job="amc-mtail",matched="false"})'
    assert _value(stack, unknown) == 0.0


def test_a_provider_outage_in_the_logs_and_its_classification(
    scenarios: dict[str, Scenario],
) -> None:
    scenario = scenarios["provider"]
    stack = scenario.up()
    counters = {
        "provider errors": 'sum(amc_platform_provider_errors_total{provider="polygon"})',
        "failed jobs": 'sum(amc_platform_job_failures_total{exception="ProviderUnavailable",'
        'queue="amc_discovery"})',
        "failing /health": 'sum(amc_platform_http_requests_total{route="health",'
        'status_class="5xx"})',
    }  # fmt: skip
    for what, promql in counters.items():
        wait_for(partial(_at_least, stack, promql, 2), 180, f"{what} in mtail's metrics", step=2)
    # A 503 of polygon is neither a rate limit nor an authentication failure.
    kinds = "sum by (kind) (amc_platform_provider_errors_total)"
    assert {row["metric"]["kind"] for row in loop.query(stack, kinds)} == {"other"}
    _every_line_recognized(stack)
    # The exporter's classification of RQ's failed registry agrees, and people hear of it.
    exporter = 'amc_discovery_job_failures{exception="ProviderUnavailable"}'
    wait_for(lambda: _value(stack, exporter) >= 1, 120, "the exporter's classification", step=2)
    wait_for(lambda: "people" in _reached_people(stack, "DiscoveryJobsFailing",
                                                  exception="ProviderUnavailable"),
             240, "DiscoveryJobsFailing to reach people", step=2)  # fmt: skip
    window = _window(scenario)
    for alertname in ("PlatformProviderRateLimited", "PlatformProviderAuthFailing"):
        assert loop.alert_samples(stack, alertname, scenario.started) == {}, alertname
    spikes = f'max_over_time(ALERTS{{alertname="PlatformRouteErrorSpike"}}[{window}])'
    assert loop.query(stack, spikes) == []  # /health's 503s are not a route's errors


def test_api_errors_in_the_logs_and_their_classification(
    scenarios: dict[str, Scenario],
) -> None:
    scenario = scenarios["HighErrorRate"]
    stack = scenario.up()
    failing = 'sum(amc_platform_http_requests_total{route="contenders",status_class="5xx"})'
    wait_for(lambda: _value(stack, failing) >= 2, 180, "failed discovery requests", step=2)
    raised = 'sum(amc_platform_exceptions_total{log="api",exception="RuntimeError"})'
    assert _value(stack, raised) >= 2
    _every_line_recognized(stack)
    wait_for(lambda: "people" in _reached_people(stack, "PlatformRouteErrorSpike",
                                                  route="contenders"),
             240, "PlatformRouteErrorSpike to reach people", step=2)  # fmt: skip
    # The platform's own error ratio went above HighErrorRate's threshold.
    ratio = f"max_over_time(amc:platform_http_errors:ratio_rate10m[{_window(scenario)}])"
    assert _value(stack, ratio) > 0.20
