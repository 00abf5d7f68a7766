"""The committed dashboards are the generator's output; uids, rows and the panels users expect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grafana import generate
from tests.grafana.conftest import DASHBOARDS, PROJECT, UIDS, load
from tests.grafana.lint import panels


@pytest.mark.parametrize("uid", UIDS)
def test_committed_json_is_the_generators_output(uid: str) -> None:
    assert (DASHBOARDS / f"{uid}.json").read_text() == generate.render(uid), (
        "run: .venv/bin/python -m grafana.generate"
    )


def test_the_check_finds_a_stale_file(tmp_path: Path) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "grafana.generate", "--check", "--dir",
                               str(tmp_path)], cwd=PROJECT, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip

    assert check().returncode == 1  # nothing there yet
    assert generate.main(["--dir", str(tmp_path)]) == 0
    assert check().returncode == 0
    stale = tmp_path / "amc-agent.json"
    stale.write_text(stale.read_text().replace('"AMC agent"', '"AMC agent (edited)"'))
    done = check()
    assert done.returncode == 1
    assert "amc-agent.json: differs from the generator" in done.stdout


def test_uids_titles_and_the_datasource_uid() -> None:
    assert {uid: load(uid)["uid"] for uid in UIDS} == {uid: uid for uid in UIDS}
    board = load("amc-platform")
    datasource = next(v for v in board["templating"]["list"] if v["type"] == "datasource")
    assert datasource["current"]["value"] == "amc-prometheus"


ROWS = {
    "amc-platform": ["Candidates: is the platform producing?",
                     "Health: latency, errors, components, status", "Queue and workers",
                     "Logs: traffic, providers, log lines"],
    "amc-automation": ["Decision rules: pending, firing, time to trigger",
                       "Remediation: decisions and executions",
                       "Outcomes: MTTR, time to remediate, circuits"],
    "amc-agent": ["Scrapes", "Exporter probes", "Remediator intake and Redis",
                  "Notifications and rules"],
}  # fmt: skip
EXPECTED = {
    "amc-platform": {"Candidates": "timeseries", "Quality score": "timeseries",
                     "Latency per route": "timeseries", "Error ratios": "timeseries",
                     "Component health": "state-timeline", "System status": "state-timeline",
                     "Discovery jobs by state": "timeseries", "Job ages": "timeseries",
                     "Workers": "timeseries"},
    "amc-automation": {"Decision rules": "state-timeline", "Time to trigger": "timeseries",
                       "Executions by command and outcome": "timeseries", "MTTR": "stat",
                       "Time to remediate": "stat", "Circuits": "state-timeline"},
    "amc-agent": {"Scrape duration": "timeseries", "Intake latency": "timeseries"},
}  # fmt: skip


@pytest.mark.parametrize("uid", UIDS)
def test_rows_in_reading_order_and_the_expected_panels(uid: str) -> None:
    board = load(uid)
    rows = [panel for panel in board["panels"] if panel["type"] == "row"]
    assert [row["title"] for row in rows] == ROWS[uid]
    assert board["panels"][0]["type"] == "row"
    ys = [panel["gridPos"]["y"] for panel in board["panels"]]
    assert ys == sorted(ys)  # rows and their panels top to bottom, as read
    kinds = {panel["title"]: panel["type"] for panel in panels(board)}
    assert {title: kinds.get(title) for title in EXPECTED[uid]} == EXPECTED[uid]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)


def test_execution_annotations() -> None:
    names = [a["name"] for a in load("amc-automation")["annotations"]["list"]]
    assert names == ["Executions", "Decision rules firing"]
