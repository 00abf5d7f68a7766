"""The dashboards against the live Prometheus of the loop's stacks (the session's scenarios,
no stack of their own): every panel query answers in the healthy stack, the core panels have
data, and under an injected fault (HighErrorRate's ``api_errors``) the relevant panels change.

Queries are sent as Grafana sends them: the template variables substituted (job and instance
as their "All", ``.+``), as range queries over the scenario's time so far.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.grafana.conftest import UIDS, load
from tests.grafana.lint import panels
from tests.grafana.promql import VALUES, substitute
from tests.services import wait_for
from tests.stack.platform import Stack
from tests.stack.scenarios import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

STEP = 5  # the stack's scrape and evaluation interval
CORE = {
    "amc-platform": ["Candidates", "Discovery latency", "Error ratios", "System status"],
    "amc-automation": ["Decision rules", "Executions by command and outcome"],
}


def panel_queries(uid: str) -> dict[str, list[str]]:
    """Each panel's queries, by title."""
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in panels(load(uid))}


def query_range(stack: Stack, expr: str, since: float) -> list[dict[str, Any]]:
    """A range query as Grafana's, from ``since`` to now; the series. Fails with
    Prometheus' error when the query is refused."""
    end = time.time()
    start = min(since, end)
    values = {**VALUES, "$__range": f"{int(end - start)}s"}
    params = {"query": substitute(expr, values), "start": f"{start:.3f}", "end": f"{end:.3f}",
              "step": str(STEP)}  # fmt: skip
    url = f"{stack.url('prometheus')}/api/v1/query_range?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{params['query']}: {exc.code} {exc.read().decode()}") from None
    assert body["status"] == "success", body
    assert not body.get("warnings"), body["warnings"]
    return list(body["data"]["result"])


def points(series: list[dict[str, Any]], **labels: str) -> list[float]:
    """Every finite value of the series whose labels include ``labels``."""
    return [
        float(value)
        for one in series
        if all(one["metric"].get(k) == v for k, v in labels.items())
        for _, value in one["values"]
        if value not in ("NaN", "+Inf", "-Inf")
    ]


def peak(series: list[dict[str, Any]], **labels: str) -> float | None:
    """The largest value of the series whose labels include ``labels`` (None: no point)."""
    found = points(series, **labels)
    return max(found) if found else None


def test_every_panel_query_answers_and_the_core_panels_have_data(
    scenarios: dict[str, Scenario],
) -> None:
    scenario = scenarios["healthy"]
    stack = scenario.up()
    since = scenario.started - 60
    answered = 0
    for uid in UIDS:
        for exprs in panel_queries(uid).values():
            for expr in exprs:
                query_range(stack, expr, since)  # answers without error
                answered += 1
    assert answered >= 40

    def core_have_data() -> bool:
        return all(
            peak(query_range(stack, expr, since)) is not None
            for uid, titles in CORE.items()
            for title in titles
            for expr in panel_queries(uid)[title][:1]
        )

    wait_for(core_have_data, 120, "every core panel to show data", step=STEP)
    platform = panel_queries("amc-platform")
    assert (peak(query_range(stack, platform["Candidates"][0], since)) or 0) > 0
    status = query_range(stack, platform["System status"][0], scenario.started)
    assert {value for one in status for _, value in one["values"]} <= {"0", "1", "2", "3"}
    # Healthy: the probes' error ratio stays below HighErrorRate's threshold.
    assert (peak(query_range(stack, platform["Error ratios"][0], scenario.started)) or 0) < 0.2


def test_panels_follow_an_injected_fault(scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["HighErrorRate"]  # api_errors at ratio 1, from scenario.started
    stack = scenario.up()
    platform, automation = panel_queries("amc-platform"), panel_queries("amc-automation")
    errors = platform["Error ratios"][0]
    rules = automation["Decision rules"][0]
    executions = automation["Executions by command and outcome"][0]

    def shown(expr: str, minimum: float, **labels: str) -> bool:
        value = peak(query_range(stack, expr, scenario.started), **labels)
        return value is not None and value >= minimum

    wait_for(lambda: shown(errors, 0.2), 300, "the error ratio panel to rise", step=STEP)
    pending = 1.0  # the decision rules panel: 0 inactive, 1 pending, 2 firing
    wait_for(lambda: pending in points(query_range(stack, rules, scenario.started),
                                       alertname="HighErrorRate"),
             300, "HighErrorRate pending in the decision rules panel", step=STEP)  # fmt: skip
    wait_for(lambda: shown(rules, 2, alertname="HighErrorRate"), 300,
             "HighErrorRate firing in the decision rules panel", step=STEP)  # fmt: skip
    wait_for(lambda: shown(executions, 1e-9, command="EMERGENCY_RESTART"), 420,
             "an EMERGENCY_RESTART execution in the executions panel", step=STEP)  # fmt: skip
    # Where no fault was injected, the same panels stay flat.
    healthy = scenarios["healthy"]
    if healthy.wanted and healthy.error is None:
        quiet = healthy.up()
        assert (peak(query_range(quiet, errors, healthy.started)) or 0) < 0.2
        assert (peak(query_range(quiet, rules, healthy.started), alertname="HighErrorRate")
                == 0)  # fmt: skip
        assert (peak(query_range(quiet, executions, healthy.started)) or 0) == 0
