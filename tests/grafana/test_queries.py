"""Every panel query parses (``promtool check rules`` on a rules file made of them, with the
template variables substituted) and names only series that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.amc_agent import META_ALERTS
from tests.grafana.conftest import UIDS, load
from tests.grafana.lint import queries
from tests.grafana.promql import selectors, substitute


def rules_file(boards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One recording rule per query, a group per dashboard."""
    groups = []
    for uid, board in boards.items():
        rules = [
            {"record": f"panel:{re.sub(r'[^a-z0-9]+', '_', where.lower()).strip('_')}:query",
             "expr": substitute(expr)}
            for where, expr in queries(board)
        ]  # fmt: skip
        groups.append({"name": uid, "rules": rules})
    return {"groups": groups}


def promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by scripts/setup.sh"
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_every_query_parses_with_the_variables_substituted(tmp_path: Path) -> None:
    boards = {uid: load(uid) for uid in UIDS}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules_file(boards)))
    done = promtool_check(path)
    assert done.returncode == 0, done.stdout + done.stderr
    count = sum(len(list(queries(board))) for board in boards.values())
    assert f"SUCCESS: {count} rules found" in done.stdout


def test_promtool_rejects_a_query_that_does_not_parse(tmp_path: Path) -> None:
    board = load("amc-platform")
    target = next(panel for panel in board["panels"] if panel.get("targets"))["targets"][0]
    target["expr"] = "sum by (job (" + target["expr"]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules_file({"amc-platform": board})))
    done = promtool_check(path)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr


def unknown_names(board: dict[str, Any], known: set[str]) -> list[str]:
    return [
        f"{where}: {selector.name}"
        for where, expr in queries(board)
        for selector in selectors(expr)
        if selector.name not in known
    ]


@pytest.mark.slow
def test_queries_name_only_series_that_exist(live_names: set[str]) -> None:
    for uid in UIDS:
        assert unknown_names(load(uid), live_names) == [], uid
    # The live sets hold what the dashboards read from each side.
    assert {"amc_discovery_candidates", "amc_remediator_executions_total",
            "amc_remediator_decision_latency_seconds_bucket", "up",
            "alertmanager_notifications_total"} <= live_names  # fmt: skip


@pytest.mark.slow
def test_a_misspelled_series_is_found(live_names: set[str]) -> None:
    board = load("amc-automation")
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            target["expr"] = target["expr"].replace("executions_total", "execution_total")
    missing = unknown_names(board, live_names)
    assert missing
    assert all("amc_remediator_execution_total" in line for line in missing)


def test_the_meta_alerts_panel_matches_every_meta_rule_but_the_watchdog() -> None:
    meta = yaml.safe_load((Path(__file__).parents[2] / "prometheus/rules/meta.yml").read_text())
    rules = [rule for group in meta["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules if "alert" in rule}
    assert {"RemediationAwaitingApproval", "RemediationApprovalExpired"} <= names
    matched = {name for name in names if re.fullmatch(META_ALERTS, name)}
    assert matched == names - {"Watchdog"}
