"""The HTTP API through aiohttp's test client, on a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Queue

from remediator import audit
from remediator.config import RemediatorConfig, parse_config
from remediator.store import Store
from tests.remediator.conftest import AUTH, TOKEN, MakeClient, alert, body, promtool_check
from tests.services import RedisServer


async def test_webhook_decides_and_replies_with_each_decision(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.post(
        "/webhook", data=body(alert(), alert("Nope", fingerprint="b")), headers=AUTH
    )
    assert resp.status == 200
    data = await resp.json()
    assert [d["decision"] for d in data["decisions"]] == ["enqueued", "unmapped"]
    assert data["decisions"][0]["execution_id"].startswith("alert-")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
async def test_every_api_route_needs_the_token(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = await make_client()
    for method, path in [
        ("POST", "/webhook"),
        ("GET", "/api/v1/commands"),
        ("POST", "/api/v1/commands/HEALTH_CHECK"),
        ("GET", "/api/v1/executions"),
        ("GET", "/api/v1/executions/x"),
        ("POST", "/api/v1/executions/x/approve"),
        ("POST", "/api/v1/executions/x/reject"),
        ("POST", "/api/v1/executions/x/cancel"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/report"),
        ("GET", "/api/v1/circuits"),
        ("DELETE", "/api/v1/circuits/FLUSH_REDIS"),
    ]:
        resp = await client.request(method, path, data=body(alert()), headers=headers)
        assert resp.status == 401, path
        assert await resp.json() == {
            "error": "unauthorized",
            "detail": "missing or invalid bearer token",
        }
    assert await client.get("/api/v1/executions") is not None


async def test_public_routes_need_no_token(make_client: MakeClient) -> None:
    client = await make_client()
    for path in ("/metrics", "/healthz", "/readyz"):
        resp = await client.get(path)
        assert resp.status == 200, path


async def test_payload_errors_are_400_with_the_field(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.post("/webhook", data=b"{nope", headers=AUTH)
    assert resp.status == 400
    data = await resp.json()
    assert data["error"] == "invalid_request"
    assert data["detail"]["field"] == "body"
    bad = json.loads(body(alert()))
    bad["alerts"][0]["status"] = "burning"
    resp = await client.post("/webhook", json=bad, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["detail"]["field"] == "alerts.0.status"


async def test_body_size_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=2048)
    many = body(*[alert(fingerprint=f"f{n}") for n in range(40)])
    assert len(many) > 2048
    resp = await client.post("/webhook", data=many, headers=AUTH)
    assert resp.status == 413
    assert (await resp.json())["error"] == "request_entity_too_large"


async def test_redis_unreachable_is_503_then_the_alert_runs_once(
    make_client: MakeClient, own_redis_server: RedisServer, token_file: Path
) -> None:
    config = parse_config(
        {
            "redis_url": own_redis_server.url,
            "redis_timeout_seconds": 2,
            "token": {"file": str(token_file)},
        }
    )
    client = await make_client(config)
    own_redis_server.stop()
    resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
    assert resp.status == 503
    assert (await resp.json())["error"] == "redis_unavailable"
    assert (await client.get("/readyz")).status == 503
    own_redis_server.start()
    for _ in range(3):  # Alertmanager retries; only the first retry that lands enqueues
        resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
        assert resp.status == 200
    conn = redis_lib.Redis.from_url(own_redis_server.url)
    assert Queue("remediation-critical", connection=conn).count == 1
    conn.close()


@pytest.mark.parametrize(
    ("setting", "value", "reset"),
    [("maxmemory", "1", "0"), ("min-replicas-to-write", "1", "0")],
)
async def test_redis_refusing_writes_is_503_then_decided(
    make_client: MakeClient,
    own_redis_server: RedisServer,
    token_file: Path,
    setting: str,
    value: str,
    reset: str,
) -> None:
    """Out of memory, or no replica to write with: Redis answers but takes no write, so
    Alertmanager must retry (503), not give up on a 500."""
    config = parse_config(
        {"redis_url": own_redis_server.url, "token": {"file": str(token_file)}, "dry_run": True}
    )
    client = await make_client(config)
    conn = redis_lib.Redis.from_url(own_redis_server.url)
    conn.config_set(setting, value)
    try:
        resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
        assert resp.status == 503
        reply = await resp.json()
        assert reply["error"] == "redis_unavailable"
        assert reply["detail"].startswith("Redis cannot take writes: ")
    finally:
        conn.config_set(setting, reset)
        conn.close()
    resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["decisions"][0]["decision"] == "dry_run"


async def test_a_token_that_is_not_utf8_is_refused_with_401(make_client: MakeClient) -> None:
    client = await make_client()
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert json.loads(payload)["error"] == "unauthorized"


async def test_a_stalled_redis_is_503_within_the_timeout_then_decided_once(
    make_client: MakeClient, own_redis_server: RedisServer, token_file: Path
) -> None:
    """A Redis that accepts connections but never answers (stopped process) must not hang
    the webhook: the round trip is bounded by redis_timeout_seconds, then 503."""
    config = parse_config(
        {
            "redis_url": own_redis_server.url,
            "redis_timeout_seconds": 1,
            "token": {"file": str(token_file)},
            "dry_run": True,
        }
    )
    client = await make_client(config)
    assert (await client.post("/webhook", data=body(alert("Warm")), headers=AUTH)).status == 200
    with own_redis_server.paused():
        started = time.monotonic()
        resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
        waited = time.monotonic() - started
    assert resp.status == 503
    assert (await resp.json())["error"] == "redis_unavailable"
    assert waited < 10  # bounded by the timeout, not by the stall
    decisions = []
    for _ in range(3):  # Alertmanager's retries
        resp = await client.post("/webhook", data=body(alert()), headers=AUTH)
        assert resp.status == 200
        decisions.append((await resp.json())["decisions"][0]["decision"])
    # The stalled commit may have run when Redis resumed (a timeout says nothing of whether a
    # command ran): either way the episode is decided exactly once, and the retries say so.
    assert decisions[1:] == ["duplicate", "duplicate"]
    conn = redis_lib.Redis.from_url(own_redis_server.url)
    taken = [e for e in audit.read(conn) if e.get("reason") == "dry_run"]
    conn.close()
    assert [e["fingerprint"] for e in taken] == [alert()["fingerprint"]]


async def test_manual_run_and_execution_records(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.post("/api/v1/commands/FLUSH_REDIS", headers=AUTH)
    assert resp.status == 202
    execution_id = (await resp.json())["execution_id"]
    resp = await client.get(f"/api/v1/executions/{execution_id}", headers=AUTH)
    record = await resp.json()
    assert (record["command"], record["trigger"], record["status"]) == (
        "FLUSH_REDIS",
        "manual",
        "queued",
    )
    await client.post("/api/v1/commands/HEALTH_CHECK", headers=AUTH)
    listed = await (await client.get("/api/v1/executions?command=FLUSH_REDIS", headers=AUTH)).json()
    assert [e["id"] for e in listed["executions"]] == [execution_id]
    listed = await (
        await client.get("/api/v1/executions?status=queued&limit=1", headers=AUTH)
    ).json()
    assert len(listed["executions"]) == 1
    resp = await client.get("/api/v1/executions/nope", headers=AUTH)
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"
    for bad in ("limit=0", "limit=x", "status=done", "command=REBOOT"):
        resp = await client.get(f"/api/v1/executions?{bad}", headers=AUTH)
        assert resp.status == 400, bad
        assert (await resp.json())["detail"]["field"] == bad.split("=")[0]


async def test_manual_run_errors(make_client: MakeClient) -> None:
    client = await make_client(commands={"HEALTH_CHECK": {"enabled": False}})
    resp = await client.post("/api/v1/commands/REBOOT", headers=AUTH)
    assert resp.status == 404
    resp = await client.post("/api/v1/commands/HEALTH_CHECK", headers=AUTH)
    assert resp.status == 409
    resp = await client.post(
        "/api/v1/commands/FLUSH_REDIS", json={"params": {"pattern": "*"}}, headers=AUTH
    )
    assert resp.status == 400
    assert (await resp.json())["detail"]["field"] == "params"
    resp = await client.post(
        "/api/v1/commands/UPDATE_CONFIGURATION", json={"params": {"strategy": ["x"]}}, headers=AUTH
    )
    assert resp.status == 400


@pytest.mark.parametrize(
    ("command", "params", "field", "says"),
    [
        ("UPDATE_CONFIGURATION", {"strategy": "nope_v9"}, "params.strategy", "not one of"),
        ("UPDATE_CONFIGURATION", {"limit": 0}, "params.limit", "greater than or equal to 1"),
        ("UPDATE_CONFIGURATION", {"limit": "5"}, "params.limit", "valid integer"),
        ("VALIDATE_ALGORITHMS", {"apply_best": "yes"}, "params.apply_best", "valid boolean"),
    ],
)
async def test_typed_parameters_are_refused_naming_the_field(
    make_client: MakeClient, command: str, params: dict, field: str, says: str
) -> None:
    client = await make_client()
    resp = await client.post(f"/api/v1/commands/{command}", json={"params": params}, headers=AUTH)
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail["field"] == field
    assert says in detail["message"]


async def test_commands_audit_circuits_and_report(make_client: MakeClient) -> None:
    client = await make_client(defaults={"circuit": {"max_executions": 1}})
    await client.post("/webhook", data=body(alert()), headers=AUTH)
    commands = (await (await client.get("/api/v1/commands", headers=AUTH)).json())["commands"]
    assert [c["name"] for c in commands][:2] == ["RESTART_DISCOVERY_SYSTEM", "INTEGRATE_REAL_DATA"]
    emergency = next(c for c in commands if c["name"] == "EMERGENCY_RESTART")
    assert emergency["circuit"]["open"] is True
    audit = await (await client.get("/api/v1/audit?event=circuit_opened", headers=AUTH)).json()
    assert [e["command"] for e in audit["entries"]] == ["EMERGENCY_RESTART"]
    report = await (await client.get("/api/v1/report", headers=AUTH)).json()
    assert list(report["open_circuits"]) == ["EMERGENCY_RESTART"]
    assert len(report["active_episodes"]) == 1
    assert report["queue_depth"]["remediation-critical"] == 1
    text = await (await client.get("/api/v1/report?format=text", headers=AUTH)).text()
    assert "open circuits: EMERGENCY_RESTART" in text
    resp = await client.delete("/api/v1/circuits/EMERGENCY_RESTART", headers=AUTH)
    assert resp.status == 200
    circuits = (await (await client.get("/api/v1/circuits", headers=AUTH)).json())["circuits"]
    assert circuits["EMERGENCY_RESTART"]["open"] is False
    resets = await (await client.get("/api/v1/audit?event=circuit_reset", headers=AUTH)).json()
    assert len(resets["entries"]) == 1


async def test_report_format_must_be_text_or_json(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get("/api/v1/report?format=xml", headers=AUTH)
    assert resp.status == 400
    assert await resp.json() == {
        "error": "invalid_request",
        "detail": {"field": "format", "message": "must be text or json"},
    }
    for fmt, kind in (("text", "text/plain"), ("json", "application/json")):
        resp = await client.get(f"/api/v1/report?format={fmt}", headers=AUTH)
        assert resp.status == 200
        assert resp.content_type == kind


async def test_metrics_are_promtool_clean(
    make_client: MakeClient,
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
) -> None:
    config = make_config(
        defaults={"circuit": {"max_executions": 1}},
        alerts={"CacheStale": "FLUSH_REDIS", "HighErrorRate": "EMERGENCY_RESTART"},
    )
    client = await make_client(config)
    stale = body(alert("CacheStale", fingerprint="c0ffee"))
    await client.post("/webhook", data=stale, headers=AUTH)
    assert run_jobs(store_factory(config))  # an execution: the Redis-backed families have samples
    await client.post("/webhook", data=body(alert()), headers=AUTH)
    resolved = alert(status="resolved", ends_at="2026-11-25T12:30:00Z")
    await client.post("/webhook", data=body(resolved), headers=AUTH)
    text = await (await client.get("/metrics")).text()
    for line in [
        'amc_remediator_alerts_received_total{alertname="HighErrorRate",status="firing"} 1.0',
        'amc_remediator_decisions_total{command="EMERGENCY_RESTART",decision="enqueued"} 1.0',
        'amc_remediator_queue_depth{priority="critical"} 1.0',
        'amc_remediator_circuit_open{command="EMERGENCY_RESTART"} 1.0',
        'amc_remediator_alert_resolution_seconds_sum{alertname="HighErrorRate"} 1800.0',
        "amc_remediator_decision_latency_seconds_count 3.0",
        'amc_remediator_executions_total{command="FLUSH_REDIS",outcome="succeeded"} 1.0',
        'amc_remediator_execution_duration_seconds_count{command="FLUSH_REDIS"} 1.0',
        'amc_remediator_time_to_remediate_seconds_count{command="FLUSH_REDIS"} 1.0',
        'amc_remediator_queue_depth{priority="low"} 0.0',
    ]:
        assert line in text, line
    await promtool_check(text)
