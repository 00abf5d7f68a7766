"""A real Alertmanager with our routing: inhibited alerts never reach the remediator.

The configuration under test is alertmanager/alertmanager.yml as ``render`` (conftest.py)
renders it: a deployment's URLs and token file, one-second grouping timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.conftest import (
    TOKEN,
    Receiver,
    nflog_queries,
    post,
    render,
    start_alertmanager,
    statuses,
)
from tests.rules.tools import load_yaml
from tests.services import Service, wait_for

pytestmark = pytest.mark.slow


def _alert(name: str, instance: str, resolved: bool = False) -> dict[str, Any]:
    labels = {"alertname": name, "job": "amc-exporter", "instance": instance}
    labels |= {
        "HighErrorRate": {"severity": "critical", "command": "EMERGENCY_RESTART"},
        "DiscoverySystemFailure": {"severity": "critical", "command": "RESTART_DISCOVERY_SYSTEM"},
        "DataIntegrityCompromised": {"severity": "error", "command": "INTEGRATE_REAL_DATA"},
        "AlgorithmQualityDegraded": {"severity": "warning", "command": "VALIDATE_ALGORITHMS"},
    }[name]
    alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": name}}
    if resolved:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    return alert


def _wait_two_flushes(base: str, receiver: Receiver) -> None:
    """Wait until Alertmanager has flushed its groups twice more (group_interval is 1 s).

    Proves a negative (nothing else comes) by a positive sign that it had the chance: every
    group that notifies queries the notification log once per flush, and all groups were
    created by the same post with the same timers, so the inhibited ones ticked as well.
    """
    groups = len(set(receiver.alerts("/webhook"))) + len(set(receiver.alerts("/page")))
    start = nflog_queries(base)
    wait_for(lambda: nflog_queries(base) >= start + 2 * groups, 10, "two more flushes")


def test_inhibited_alerts_never_reach_the_remediator(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service]
) -> None:
    base = start_alertmanager(services, render(tmp_path, receiver), tmp_path)
    # a: all four decision rules; b: all but HighErrorRate; c: AlgorithmQualityDegraded alone.
    post(
        base,
        [
            _alert("HighErrorRate", "a"),
            *[_alert(name, instance) for name in [
                "DiscoverySystemFailure", "DataIntegrityCompromised", "AlgorithmQualityDegraded"
            ] for instance in ["a", "b"]],
            _alert("AlgorithmQualityDegraded", "c"),
        ],
    )  # fmt: skip
    expected = [
        ("AlgorithmQualityDegraded", "c"),
        ("DiscoverySystemFailure", "b"),
        ("HighErrorRate", "a"),
    ]
    wait_for(lambda: len(receiver.alerts("/webhook")) >= 3, 10, "the remediator's alerts")
    wait_for(lambda: len(receiver.alerts("/page")) == 2, 10, "the pages to arrive")
    _wait_two_flushes(base, receiver)  # nothing else may come

    assert receiver.alerts("/webhook") == expected
    assert receiver.alerts("/page") == [("DiscoverySystemFailure", "b"), ("HighErrorRate", "a")]
    assert receiver.notifications("/notify") == []
    for note in receiver.notifications("/webhook"):
        assert note.authorization == f"Bearer {TOKEN}"
        assert note.body["version"] == "4"
        assert len(note.body["alerts"]) == 1
    for note in receiver.notifications("/page"):
        assert note.authorization is None

    inhibited = {key for key, by in statuses(base).items() if by}
    assert inhibited == {
        ("DiscoverySystemFailure", "a"),
        ("DataIntegrityCompromised", "a"),
        ("AlgorithmQualityDegraded", "a"),
        ("DataIntegrityCompromised", "b"),
        ("AlgorithmQualityDegraded", "b"),
    }

    # The token is rotated in its file, without a reload. HighErrorRate resolves: the
    # remediator hears of it (send_resolved) with the new token, and what it inhibited on a
    # goes on to the next level: DiscoverySystemFailure, which inhibits the rest.
    (tmp_path / "remediator.token").write_text("rotated-token\n")
    post(base, [_alert("HighErrorRate", "a", resolved=True)])
    wait_for(
        lambda: receiver.alerts("/webhook", "resolved") == [("HighErrorRate", "a")],
        10,
        "the resolution of HighErrorRate",
    )
    wait_for(lambda: len(receiver.alerts("/webhook")) >= 4, 10, "the formerly inhibited alert")
    _wait_two_flushes(base, receiver)  # nothing else may come
    assert receiver.alerts("/webhook") == sorted([*expected, ("DiscoverySystemFailure", "a")])
    later = receiver.notifications("/webhook")[len(expected) :]
    assert {note.authorization for note in later} == {"Bearer rotated-token"}


def _with_slack_people(path: Path, receiver: Receiver) -> None:
    """The `people` receiver as a Slack integration using our templates, posting to the sink."""
    config = load_yaml(path)
    (people,) = [r for r in config["receivers"] if r["name"] == "people"]
    people.pop("webhook_configs")
    people["slack_configs"] = [
        {
            "api_url": f"{receiver.url}/slack",
            "send_resolved": True,
            "title": '{{ template "amc.title" . }}',
            "text": '{{ template "amc.text" . }}',
        }
    ]
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _route_alert(route: str, resolved: bool = False) -> dict[str, Any]:
    labels = {
        "alertname": "PlatformRouteMissing", "severity": "info", "job": "amc-exporter",
        "instance": "a", "route": route,
    }  # fmt: skip
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": f"Route {route} missing", "runbook_url": "docs/x.md#y"},
    }
    if resolved:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    return alert


def test_people_templates_show_each_alert_status_in_a_mixed_group(
    tmp_path: Path, receiver: Receiver, services: Callable[..., Service]
) -> None:
    """A group with one firing and one resolved alert: each block says which it is."""
    config = render(tmp_path, receiver)
    _with_slack_people(config, receiver)
    base = start_alertmanager(services, config, tmp_path)
    post(base, [_route_alert("/discovery/contenders"), _route_alert("/discovery/trigger")])
    wait_for(lambda: len(receiver.notifications("/slack")) >= 1, 10, "the first notification")
    post(base, [_route_alert("/discovery/trigger", resolved=True)])
    wait_for(lambda: len(receiver.notifications("/slack")) >= 2, 10, "the mixed notification")

    (attachment,) = receiver.notifications("/slack")[-1].body["attachments"]
    assert attachment["title"] == "[FIRING:1, RESOLVED:1] PlatformRouteMissing on a"
    blocks = attachment["text"].split("\n\n")
    assert len(blocks) == 2, attachment["text"]
    firing, resolved = sorted(blocks, key=lambda block: "RESOLVED" in block)
    assert firing.startswith("[FIRING] [INFO] Route /discovery/contenders missing\n"), firing
    assert "\nStarted: " in firing, firing
    assert "Ended: " not in firing, firing
    assert resolved.startswith("[RESOLVED] [INFO] Route /discovery/trigger missing\n"), resolved
    assert "\nStarted: " in resolved, resolved
    assert "\nEnded: " in resolved, resolved
