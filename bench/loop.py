"""The loop's own speed: for each decision rule, fault -> firing (MTTD) and firing -> resolved
(MTTR) in the local stack, converted back to production minutes, beside the floor that the
rule's ``for:``, the fault's own onset, the scrape and evaluation intervals and Alertmanager's
``group_wait`` set.

Each rule runs alone in a fresh stack (``amc-sandbox up`` on free ports, at ``--time-scale``,
default 30): the stack settles (the exporter sees the platform healthy, with candidates), the
rule's sandbox fault goes in, and the bench polls Prometheus (``/api/v1/alerts``, every
0.25 s), the remediator's audit and executions until the alert has resolved.

- onset: fault -> pending (the fault's symptoms reach the rule's condition). Its floor is the
  fault's own, from the stack's settings: 0 for api_errors and mock_data; for worker_wedged
  the exporter keeps the last ready results while the platform refreshes, up to two cache
  TTLs; for low_quality the degraded results come with the next refresh (one cache TTL) and
  the slow answer takes ``degraded_strategy_delay_seconds``. These are not scaled the way
  the rules are (the stack keeps its cache at least 50 s), so MTTD is compared in stack
  seconds, and only its ``for:`` part converts to production minutes.
- MTTD: fault -> firing; floor = onset floor + the rule's scaled ``for:``. Goal: within 2
  scrape intervals + ``group_wait`` of the floor.
- MTTR: firing -> resolved. Timers scale, commands do not: a command that takes 12 s takes
  12 s in production too, so production MTTR = (MTTR - command seconds) x scale + command
  seconds. Goal: under the seed's 15 minutes for every rule.

Usage: ``.venv/bin/python -m bench.loop [--time-scale 30] [--rules HighErrorRate,...]``.
Exits 1 when a goal is missed. There is no peer for this figure: no open tool runs this
loop; the floor is the comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from sandbox.timescale import seconds as duration
from tests.services import wait_for
from tests.stack import loop
from tests.stack.platform import ServiceGroup, Stack, start_stack

PROJECT = Path(__file__).resolve().parent.parent
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "HighErrorRate": ("api_errors", {"ratio": 1}),
    "DiscoverySystemFailure": ("worker_wedged", {}),
    "AlgorithmQualityDegraded": ("low_quality", {}),
    "DataIntegrityCompromised": ("mock_data", {"kind": "demo"}),
}
MTTR_GOAL_MINUTES = 15.0


def rule_for(rule: str) -> float:
    """The production ``for:`` of a decision rule, in seconds."""
    doc = yaml.safe_load((PROJECT / "prometheus" / "rules" / "decision.yml").read_text())
    found = [r for g in doc["groups"] for r in g["rules"] if r.get("alert") == rule]
    return duration(found[0]["for"])


def settings(stack: Stack, rule: str) -> dict[str, float]:
    """The stack's scrape and evaluation intervals, the remediator route's group_wait and the
    onset floor of the rule's fault (stack seconds)."""
    prometheus = yaml.safe_load((stack.run_dir / "prometheus.yml").read_text())["global"]
    routing = yaml.safe_load((stack.run_dir / "alertmanager.yml").read_text())["route"]
    route = next(r for r in routing["routes"] if r["receiver"] == "remediator")
    sandbox = yaml.safe_load((stack.run_dir / "sandbox.yml").read_text())
    ttl = float(sandbox["cache_ttl_seconds"])
    onset = {
        "DiscoverySystemFailure": 2 * ttl,
        "AlgorithmQualityDegraded": ttl + float(sandbox["degraded_strategy_delay_seconds"]),
    }
    return {
        "scrape": duration(prometheus["scrape_interval"]),
        "evaluation": duration(prometheus["evaluation_interval"]),
        "group_wait": duration(route.get("group_wait", routing["group_wait"])),
        "onset_floor": onset.get(rule, 0.0),
    }


def prometheus_alert(stack: Stack, rule: str) -> dict[str, Any] | None:
    """The rule's alert as Prometheus holds it now (pending or firing), if any."""
    with urllib.request.urlopen(f"{stack.url('prometheus')}/api/v1/alerts", timeout=10) as resp:
        alerts = json.loads(resp.read())["data"]["alerts"]
    found = [a for a in alerts if a["labels"].get("alertname") == rule]
    return found[0] if found else None


def measure(rule: str, scale: float, root: Path) -> dict[str, Any]:
    """One rule's run in a fresh stack; its timings in stack seconds."""
    fault, options = FAULTS[rule]
    services = ServiceGroup(root / rule)
    try:
        stack = start_stack(services, root / rule, time_scale=scale)
        wait_for(lambda: loop.settled(stack), 120, "the stack to settle", step=0.5)
        marks: dict[str, float] = {"fault": time.time()}
        stack.set_fault(fault, **options)
        while "resolved" not in marks:
            now, alert = time.time(), prometheus_alert(stack, rule)
            if alert is not None and "pending" not in marks:
                marks["pending"] = now
            if alert is not None and alert["state"] == "firing":
                marks.setdefault("firing", now)
            if alert is None and "firing" in marks:
                marks["resolved"] = now
            if now - marks["fault"] > 30 * 60:
                raise TimeoutError(f"{rule}: no full cycle in 30 minutes: {marks}")
            time.sleep(0.25)
        command = loop.DECISION_RULES[rule]
        decided = [d for d in loop.decisions(stack, rule) if d["reason"] == "enqueued"]
        runs = [e for e in loop.executions(stack, command) if e["trigger"] == "alert"]
        record = runs[0] if runs else {}
        return {
            **{k: v - marks["fault"] for k, v in marks.items()},
            "decided": float(decided[-1]["ts"]) - marks["fault"] if decided else None,
            "command_seconds": (record.get("ended_at") or 0) - (record.get("started_at") or 0),
            "verified": record.get("verified"),
            "executions": len(runs),
            **settings(stack, rule),
        }
    finally:
        services.stop()


def report(results: dict[str, dict[str, Any]], scale: float) -> list[str]:
    """Print the table; the goals missed."""
    minutes = scale / 60
    print(f"time scale {scale:g}; onset, MTTD, floor and goal in stack seconds; for: and MTTR "
          "in production minutes")  # fmt: skip
    print(f"{'rule':<26}{'onset':>7}{'for:':>7}{'MTTD':>7}{'floor':>7}{'goal<=':>7}"
          f"{'MTTR':>7}{'cmd s':>7}{'runs':>5}  verified")  # fmt: skip
    missed = []
    for rule, r in results.items():
        scaled_for = rule_for(rule) / scale
        floor = r["onset_floor"] + scaled_for
        goal = floor + 2 * r["scrape"] + r["group_wait"]
        mttr_stack = r["resolved"] - r["firing"]
        mttr = (mttr_stack - r["command_seconds"]) * minutes + r["command_seconds"] / 60
        print(
            f"{rule:<26}{r['pending']:>7.1f}{(r['firing'] - r['pending']) * minutes:>7.1f}"
            f"{r['firing']:>7.1f}{floor:>7.1f}{goal:>7.1f}{mttr:>7.1f}"
            f"{r['command_seconds']:>7.1f}{r['executions']:>5}  {r['verified']}"
        )
        if r["firing"] > goal:
            missed.append(f"{rule} MTTD")
        if mttr >= MTTR_GOAL_MINUTES:
            missed.append(f"{rule} MTTR")
        if r["executions"] != 1 or r["verified"] is not True:
            missed.append(f"{rule} remediation")
    print("(onset: fault -> pending; for: pending -> firing; MTTD: fault -> firing; MTTR: firing")
    print(" -> resolved, with the command's own seconds unscaled)")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--rules", default=",".join(FAULTS))
    args = parser.parse_args()
    rules = [r for r in args.rules.split(",") if r]
    unknown = sorted(set(rules) - set(FAULTS))
    if unknown:
        sys.exit(f"unknown rules: {unknown} (known: {', '.join(FAULTS)})")
    with tempfile.TemporaryDirectory(prefix="amc-bench-loop-") as name:
        results = {rule: measure(rule, args.time_scale, Path(name)) for rule in rules}
    missed = report(results, args.time_scale)
    if missed:
        print(f"missed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
