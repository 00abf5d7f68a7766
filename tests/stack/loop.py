"""Reading the local stack's loop from the outside: Prometheus' ALERTS, Alertmanager's view,
the remediator's audit, executions and metrics, and people's inbox (tests and bench)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from tests.services import sample_value
from tests.stack.platform import Stack

DECISION_RULES = {
    "DiscoverySystemFailure": "RESTART_DISCOVERY_SYSTEM",
    "DataIntegrityCompromised": "INTEGRATE_REAL_DATA",
    "AlgorithmQualityDegraded": "VALIDATE_ALGORITHMS",
    "HighErrorRate": "EMERGENCY_RESTART",
}


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    """An instant query of the stack's Prometheus; the result vector."""
    url = f"{stack.url('prometheus')}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def settled(stack: Stack) -> bool:
    """The exporter reports the platform healthy with candidates, as Prometheus sees it (the
    stack's start-up is over: its first probes may find the API not listening yet)."""
    healthy = 'amc_discovery_candidates > 0 and on () amc_system_status{status="healthy"} == 1'
    return bool(query(stack, healthy))


def alert_samples(stack: Stack, alertname: str, since: float) -> dict[str, int]:
    """How many evaluations since ``since`` found ``alertname`` pending and firing."""
    window = max(1, int(time.time() - since))
    rows = query(stack, f'count_over_time(ALERTS{{alertname="{alertname}"}}[{window}s])')
    return {row["metric"]["alertstate"]: int(float(row["value"][1])) for row in rows}


def active(stack: Stack, alertname: str) -> str | None:
    """``firing``, ``pending`` or None, now."""
    rows = query(stack, f'ALERTS{{alertname="{alertname}"}}')
    states = {row["metric"]["alertstate"] for row in rows}
    return "firing" if "firing" in states else ("pending" if states else None)


def alertmanager_alerts(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    """Alertmanager's alerts of ``alertname`` (inhibited ones too) with their status."""
    query_string = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    url = f"{stack.url('alertmanager')}/api/v2/alerts?{query_string}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.loads(resp.read()))


def audit(stack: Stack, event: str | None = None) -> list[dict[str, Any]]:
    """The remediator's audit entries (newest first)."""
    path = "/api/v1/audit?limit=1000" + (f"&event={event}" if event else "")
    _, body = stack.call("remediator", "GET", path)
    return list(body["entries"])


def decisions(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    return [e for e in audit(stack, "decision") if e.get("alertname") == alertname]


def executions(stack: Stack, command: str | None = None) -> list[dict[str, Any]]:
    """Execution records (newest first)."""
    path = "/api/v1/executions?limit=1000" + (f"&command={command}" if command else "")
    _, body = stack.call("remediator", "GET", path)
    return list(body["executions"])


def sent_to_people(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """(receiver, alert) of every alert people were sent, oldest first."""
    _, body = stack.call("sandbox", "GET", "/admin/inbox")
    return [
        (note["receiver"], alert)
        for note in body["notifications"]
        for alert in note["notification"]["alerts"]
    ]


def paged(stack: Stack) -> list[tuple[str, str, str]]:
    """(receiver, alertname, status) of every alert people were sent."""
    return [
        (receiver, a["labels"]["alertname"], a["status"]) for receiver, a in sent_to_people(stack)
    ]


def remediator_metric(stack: Stack, name: str, **labels: str) -> float:
    """The value of one sample of the remediator's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"{stack.url('remediator')}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    value = sample_value(text, name, **labels)
    return 0.0 if value is None else value
