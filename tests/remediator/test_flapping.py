"""A flapping alert through the real binaries: Alertmanager (our alertmanager.yml) carries an
alert that fires, resolves and fires again (each firing a new episode) to the real ``serve``
and worker; the command's circuit opens after its executions, the next episodes are refused
``circuit_open``, and the escalation reaches people: the remediator's /metrics shows the open
circuit, a real Prometheus on our rule files fires AmcRemediationCircuitOpen and the same
Alertmanager pages people with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import yaml

from tests.remediator.conftest import MakeConfigFile, iso
from tests.remediator.stack import call, start_serve, start_worker, wait_final
from tests.rules.conftest import Receiver, receiver, render, start_alertmanager, start_prometheus
from tests.services import Service, sample_value, wait_for

pytestmark = pytest.mark.slow
__all__ = ["receiver"]  # the fixture of tests/rules: people's webhooks

COMMAND = "FLUSH_REDIS"
# Two alert-triggered executions within ten minutes open the circuit for ten minutes.
CIRCUIT = {"max_executions": 2, "window_seconds": 600, "open_seconds": 600}
EPISODES = 4
LABELS = {
    "alertname": "CacheStale", "command": COMMAND, "severity": "warning",
    "job": "amc-exporter", "instance": "platform:8700",
}  # fmt: skip


def _alertmanager_config(tmp_path: Path, people: Receiver, webhook: str, token: Path) -> Path:
    """Our alertmanager.yml as the rules tests render it (people's webhooks to ``people``,
    one-second grouping), its remediator receiver sending to the real ``serve``."""
    path = render(tmp_path, people)
    config = yaml.safe_load(path.read_text())
    (remediator,) = [r for r in config["receivers"] if r["name"] == "remediator"]
    (hook,) = remediator["webhook_configs"]
    hook["url"] = webhook
    hook["http_config"]["authorization"]["credentials_file"] = str(token)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _circuit_gauge(base: str) -> float:
    _, text = call("GET", f"{base}/metrics", token=None)
    value = sample_value(text, "amc_remediator_circuit_open", command=COMMAND)
    assert value is not None, "amc_remediator_circuit_open{command=FLUSH_REDIS} is not exposed"
    return value


def test_a_flapping_alert_opens_the_circuit_and_people_are_paged(
    services: Callable[..., Service],
    tmp_path: Path,
    token_file: Path,
    make_config_file: MakeConfigFile,
    redis_url: str,
    redis: redis_lib.Redis,
    receiver: Receiver,
) -> None:
    config = make_config_file(
        alerts={"CacheStale": COMMAND},
        defaults={"cooldown_seconds": 0},
        commands={COMMAND: {"circuit": CIRCUIT}},
    )
    base = start_serve(services, config, redis_url)
    start_worker(services, config, redis_url)
    am_config = _alertmanager_config(tmp_path, receiver, f"{base}/webhook", token_file)
    am = start_alertmanager(services, am_config, tmp_path)
    # Prometheus scrapes serve and evaluates our rules, notifying the same Alertmanager.
    start_prometheus(services, tmp_path, {"amc-remediator": base}, alertmanager=am)

    def decisions() -> list[dict[str, Any]]:
        _, data = call("GET", f"{base}/api/v1/audit?event=decision&limit=1000")
        return sorted(data["entries"], key=lambda e: e["ts"])

    def episodes() -> list[list[dict[str, Any]]]:
        """The decisions of each firing episode (its first, then Alertmanager's repeats)."""
        by_start: dict[str, list[dict[str, Any]]] = {}
        for entry in decisions():
            if entry["reason"] != "resolved":
                by_start.setdefault(entry["starts_at"], []).append(entry)
        return list(by_start.values())

    def decided(count: int) -> bool:
        return len(episodes()) >= count

    def resolutions(count: int) -> bool:
        return sum(d["reason"] == "resolved" for d in decisions()) >= count

    # Fire, resolve, fire again: each firing is a new episode (a new startsAt, after the end
    # of the last one: Alertmanager merges an alert into an episode it overlaps).
    for episode in range(EPISODES):
        starts_at = datetime.now(UTC)
        alert = {"labels": LABELS, "annotations": {"summary": "stale"}, "startsAt": iso(starts_at)}
        assert call("POST", f"{am}/api/v2/alerts", [alert], token=None)[0] == 200
        wait_for(partial(decided, episode + 1), 20, f"episode {episode + 1}'s decision")
        decision = episodes()[episode][0]
        assert datetime.fromisoformat(decision["starts_at"]) == starts_at  # a new episode
        if decision["reason"] == "enqueued":  # let it run before its alert resolves
            assert wait_final(base, decision["execution_id"])["status"] == "succeeded"
        resolved = {**alert, "endsAt": iso(datetime.now(UTC))}
        assert call("POST", f"{am}/api/v2/alerts", [resolved], token=None)[0] == 200
        wait_for(partial(resolutions, episode + 1), 20, f"episode {episode + 1}'s resolution")

    # Two executions, then the circuit: open, audited, and every later episode refused.
    reasons = [[d["reason"] for d in decided] for decided in episodes()]
    assert [first for first, *_ in reasons] == ["enqueued"] * 2 + ["circuit_open"] * (
        EPISODES - 2
    ), reasons
    for first, *repeats in reasons:  # a refused episode stays refused while it fires
        assert set(repeats) <= {"duplicate" if first == "enqueued" else "circuit_open"}, reasons
    _, listed = call("GET", f"{base}/api/v1/executions?limit=1000")
    assert [e["status"] for e in listed["executions"]] == ["succeeded", "succeeded"]
    _, opened = call("GET", f"{base}/api/v1/audit?event=circuit_opened&limit=1000")
    assert [e["command"] for e in opened["entries"]] == [COMMAND]
    _, circuits = call("GET", f"{base}/api/v1/circuits")
    assert circuits["circuits"][COMMAND]["open"] is True
    assert circuits["circuits"][COMMAND]["recent_executions"] == 2

    # The escalation: the gauge, Prometheus' rule, Alertmanager's page to people.
    assert _circuit_gauge(base) == 1.0

    def paged() -> list[dict[str, Any]]:
        return [
            alert
            for note in receiver.notifications("/page")
            for alert in note.body["alerts"]
            if alert["labels"]["alertname"] == "AmcRemediationCircuitOpen"
        ]

    wait_for(lambda: bool(paged()), 40, "AmcRemediationCircuitOpen to page people")
    (page,) = {a["fingerprint"]: a for a in paged()}.values()
    assert page["status"] == "firing"
    assert page["labels"]["remediation_command"] == COMMAND
    assert page["labels"]["severity"] == "critical"
    assert "command" not in page["labels"]  # not routed back to the remediator
    # ... and never to the remediator, whose only notifications are the flapping alert's
    _, received = call("GET", f"{base}/api/v1/audit?event=decision&limit=1000")
    assert {e["alertname"] for e in received["entries"]} == {"CacheStale"}
