"""The rules of Grafana's dashboard linter (grafana/dashboard-linter), as this project applies
them to its dashboards. Each rule takes a dashboard's JSON and returns its problems, one line
each; an empty list is a pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.grafana.promql import selectors

Dashboard = dict[str, Any]
Rule = Callable[[Dashboard], list[str]]

DATASOURCE_REFS = {"$datasource", "${datasource}"}
ALL_VALUE = ".+"
# Grafana's unit ids that these dashboards may use (a subset of the linter's list).
UNITS = {"none", "short", "percent", "percentunit", "s", "ms", "bytes", "reqps", "ops", "opm",
         "dateTimeFromNow", "bool"}  # fmt: skip
RATE_FUNCTIONS = {"rate", "irate"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase"}
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")
# Series that carry no job or instance of their own (rules' output, Prometheus' alerts).
UNSCRAPED = {"ALERTS", "ALERTS_FOR_STATE"}


def panels(board: Dashboard) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows left out, panels of collapsed rows included)."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(board: Dashboard) -> Iterator[tuple[str, str]]:
    """(where, expr) of every PromQL query: panel targets and annotations."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} {target.get('refId')}", target.get("expr", "")
    for item in board.get("annotations", {}).get("list", []):
        if "expr" in item:
            yield f"annotation {item.get('name')!r}", item["expr"]


def _variable(board: Dashboard, name: str) -> dict[str, Any] | None:
    found = [v for v in board.get("templating", {}).get("list", []) if v.get("name") == name]
    return found[0] if found else None


def _uid(ref: Any) -> str | None:
    return ref.get("uid") if isinstance(ref, dict) else ref


def template_datasource(board: Dashboard) -> list[str]:
    """One data source variable, named and labelled as the linter wants, for Prometheus."""
    variables = board.get("templating", {}).get("list", [])
    found = [v for v in variables if v.get("type") == "datasource"]
    if len(found) != 1:
        return [f"{len(found)} data source variables, want 1"]
    variable, problems = found[0], []
    if variable.get("name") != "datasource":
        problems.append(f"data source variable named {variable.get('name')!r}, want 'datasource'")
    if variable.get("label") != "Data source":
        problems.append(f"data source variable labelled {variable.get('label')!r}")
    if variable.get("query") != "prometheus":
        problems.append(f"data source variable of type {variable.get('query')!r}")
    return problems


def job_instance_templating(board: Dashboard) -> list[str]:
    """``job`` and ``instance`` query variables on the templated data source (multi, All is
    ``.+``, refreshed with the time range), and every scraped series filtered by both."""
    problems = []
    for name in ("job", "instance"):
        variable = _variable(board, name)
        if variable is None:
            problems.append(f"no {name} variable")
            continue
        want = {"type": "query", "label": name.title(), "multi": True, "includeAll": True,
                "allValue": ALL_VALUE, "refresh": 2}  # fmt: skip
        for key, value in want.items():
            if variable.get(key) != value:
                problems.append(f"{name} variable: {key} is {variable.get(key)!r}, want {value!r}")
        if _uid(variable.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"{name} variable does not use the templated data source")
    for where, expr in queries(board):
        for selector in selectors(expr):
            if selector.name in UNSCRAPED or ":" in selector.name:
                continue
            for label in ("job", "instance"):
                if selector.matchers.get(label) != ("=~", f"${label}"):
                    problems.append(f"{where}: {selector.name} not filtered by ${label}")
    return problems


def title_description(board: Dashboard) -> list[str]:
    """Every panel has a title and a description."""
    return [
        f"panel {panel.get('id')} ({panel.get('title')!r}) lacks a title or a description"
        for panel in panels(board)
        if not panel.get("title") or not panel.get("description")
    ]


def units(board: Dashboard) -> list[str]:
    """Every panel states a valid unit."""
    problems = []
    for panel in panels(board):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in UNITS:
            problems.append(f"panel {panel.get('title')!r}: unit {unit!r}")
    return problems


def datasource(board: Dashboard) -> list[str]:
    """Every panel, query and annotation reads the templated data source."""
    problems = []
    for panel in panels(board):
        if _uid(panel.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"panel {panel.get('title')!r}: data source {panel.get('datasource')}")
        if not panel.get("targets"):
            problems.append(f"panel {panel.get('title')!r}: no query")
        for target in panel.get("targets", []):
            if _uid(target.get("datasource")) not in DATASOURCE_REFS:
                problems.append(f"panel {panel.get('title')!r} {target.get('refId')}: data source")
    for item in board.get("annotations", {}).get("list", []):
        if _uid(item.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"annotation {item.get('name')!r}: data source")
    return problems


def rate_interval(board: Dashboard) -> list[str]:
    """rate and irate read ``$__rate_interval``; increase that or the dashboard's range."""
    problems = []
    for where, expr in queries(board):
        for selector in selectors(expr):
            if selector.range is None:
                continue
            allowed = {"$__rate_interval"}
            if selector.around == "increase":
                allowed.add("$__range")
            if selector.around in COUNTER_FUNCTIONS and selector.range not in allowed:
                problems.append(f"{where}: {selector.around}(...[{selector.range}])")
    return problems


def counters(board: Dashboard) -> list[str]:
    """A counter (``_total``, and a histogram's ``_bucket``, ``_count``, ``_sum``) is only ever
    read through rate, irate or increase, never shown raw."""
    problems = []
    for where, expr in queries(board):
        for selector in selectors(expr):
            counter = selector.name.endswith(COUNTER_SUFFIXES)
            if counter and (selector.range is None or selector.around not in COUNTER_FUNCTIONS):
                problems.append(f"{where}: counter {selector.name} outside rate/increase")
    return problems


RULES: dict[str, Rule] = {
    "template-datasource": template_datasource,
    "job-instance-templating": job_instance_templating,
    "panel-title-description": title_description,
    "panel-units": units,
    "panel-datasource": datasource,
    "target-rate-interval": rate_interval,
    "target-counter-agg": counters,
}
