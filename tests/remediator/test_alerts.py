"""Alertmanager payloads: parsed once, unknown fields accepted, errors name the field."""

from __future__ import annotations

import json

import pytest

from remediator.alerts import parse_message
from remediator.errors import PayloadError
from tests.remediator.conftest import alert, body, message, ts


def test_parses_a_version_4_message_and_ignores_new_fields() -> None:
    data = message(alert(), alert("Other", status="resolved", fingerprint="ff00"))
    data["someFutureField"] = {"x": 1}
    data["alerts"][0]["silencedBy"] = []
    parsed = parse_message(json.dumps(data).encode())
    assert [a.status for a in parsed.alerts] == ["firing", "resolved"]
    first = parsed.alerts[0]
    assert first.alertname == "HighErrorRate"
    assert first.starts_at.timestamp() == ts("2026-11-25T12:00:00Z")


def test_dedup_key_is_fingerprint_and_starts_at() -> None:
    one = parse_message(body(alert())).alerts[0]
    same = parse_message(body(alert(severity="x"))).alerts[0]
    later = parse_message(body(alert(starts_at="2026-11-25T13:00:00Z"))).alerts[0]
    other = parse_message(body(alert(fingerprint="ffff"))).alerts[0]
    assert one.dedup_key == same.dedup_key
    assert len({one.dedup_key, later.dedup_key, other.dedup_key}) == 3


def test_resolution_seconds() -> None:
    resolved = alert(status="resolved", ends_at="2026-11-25T12:10:00Z")
    assert parse_message(body(resolved)).alerts[0].resolution_seconds() == 600.0
    assert parse_message(body(alert())).alerts[0].resolution_seconds() is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"\xff\xfe", "body"),
        (json.dumps({"status": "firing"}).encode(), "alerts"),
        (json.dumps(message(alert(status="burning"))).encode(), "alerts.0.status"),
        (json.dumps(message({**alert(), "startsAt": "yesterday"})).encode(), "alerts.0.startsAt"),
        (json.dumps(message(alert(fingerprint="../../etc"))).encode(), "alerts.0.fingerprint"),
        (json.dumps(message({**alert(), "labels": {"a": 1}})).encode(), "alerts.0.labels.a"),
        (json.dumps([1, 2]).encode(), "body"),
    ],
)
def test_invalid_payloads_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_message(raw)
    assert info.value.field == field
