"""Trust end to end in the local stack (scenario ``approval``, ``tests/stack/scenarios.py``):
HighErrorRate fires while the change window is open, EMERGENCY_RESTART (``approval:
in_window``) waits for a person, RemediationAwaitingApproval pages people through the real
Prometheus and Alertmanager, and an approval sent with curl cures the fault."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.services import wait_for
from tests.stack import loop
from tests.stack.scenarios import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
COMMAND = "EMERGENCY_RESTART"


def _page(stack: Any, alertname: str) -> dict[str, Any] | None:
    """The first firing alert ``alertname`` sent to people's pager, if any."""
    for receiver, alert in loop.sent_to_people(stack):
        firing = alert["status"] == "firing" and receiver == "people-page"
        if firing and alert["labels"]["alertname"] == alertname:
            return alert
    return None


def test_an_in_window_restart_pages_people_and_the_curl_approval_cures_the_fault(
    scenarios: dict[str, Scenario],
) -> None:
    stack = scenarios["approval"].up()
    waiting: dict[str, Any] = {}

    def awaiting() -> bool:
        found = [e for e in loop.executions(stack, COMMAND) if e["trigger"] == "alert"]
        waiting.update(found[0] if found else {})
        return bool(found)

    wait_for(awaiting, 420, "HighErrorRate to reach the remediator", step=2)
    assert waiting["status"] == "awaiting_approval", waiting
    assert waiting["alert"]["alertname"] == "HighErrorRate"
    execution_id = waiting["id"]
    page: dict[str, Any] = {}
    wait_for(lambda: bool(page.update(_page(stack, "RemediationAwaitingApproval") or {}) or page),
             240, "RemediationAwaitingApproval to page people", step=2)  # fmt: skip
    assert page["labels"]["remediation_command"] == COMMAND
    assert "/api/v1/executions/ID/approve" in page["annotations"]["description"]
    # Nothing ran while it waited: no start, the fault still there.
    started = loop.audit(stack, "execution_started")
    assert not [e for e in started if e["execution_id"] == execution_id]
    state = stack.faults()["api_errors"]
    assert state.get("affecting", state["active"]), state

    approve = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-H", f"Authorization: Bearer {stack.token}",
         "-d", json.dumps({"by": "on-call", "reason": "quiet book"}),
         f"{stack.url('remediator')}/api/v1/executions/{execution_id}/approve"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(approve.stdout)["status"] == "queued", approve.stdout
    record = stack.wait_execution(execution_id, 300)
    assert record["status"] == "succeeded", (record["error"], record["steps"][-3:])
    assert record["verified"] is True, record["verification"]
    assert record["approval"]["by"] == "on-call"
    wait_for(lambda: loop.active(stack, "HighErrorRate") is None, 180, "HighErrorRate to resolve",
             step=2)  # fmt: skip
    state = stack.faults()["api_errors"]
    assert not state.get("affecting", state["active"]), state  # cured by the restart
    started = loop.audit(stack, "execution_started")
    assert len([e for e in started if e["execution_id"] == execution_id]) == 1
