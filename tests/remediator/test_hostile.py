"""Hostile and sloppy input at the served app (aiohttp's test server on a real port, real
Redis): each case once answered 500, stalled the server, or grew its memory; now a 4xx with
the reason, nothing recorded, nothing run."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
import redis as redis_lib

from remediator.config import parse_config
from tests.remediator.conftest import AUTH, MakeClient, alert, body, message
from tests.services import RedisServer


async def test_an_alert_without_a_time_zone_is_decided_with_the_rest(
    make_client: MakeClient,
) -> None:
    """A resolved alert whose startsAt has no zone while its endsAt has one used to raise a
    TypeError: a 500 for the whole notification, the alerts after it never decided."""
    client = await make_client()
    sloppy = alert(
        status="resolved", fingerprint="0a", starts_at="2026-11-25T12:00:00",
        ends_at="2026-11-25T12:30:00Z",
    )  # fmt: skip
    resp = await client.post("/webhook", data=body(sloppy, alert(fingerprint="0b")), headers=AUTH)
    assert resp.status == 200, await resp.text()
    decisions = (await resp.json())["decisions"]
    assert [d["fingerprint"] for d in decisions] == ["0a", "0b"]
    assert decisions[1]["decision"] == "enqueued"


@pytest.mark.parametrize("path", ["/api/v1/executions", "/api/v1/audit"])
@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "%EF%BC%95", "9" * 5000, "-1", "1.5"])
async def test_a_limit_that_is_not_a_plain_number_is_400(
    make_client: MakeClient, path: str, limit: str
) -> None:
    client = await make_client()
    resp = await client.get(f"{path}?limit={limit}", headers=AUTH)
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail["field"] == "limit"
    assert len(json.dumps(detail)) < 200  # a 5,000-digit value is not echoed whole


BAD_PARAMS = {
    "invalid UTF-8": b'{"params": {"scope": "\xff\xfe"}}',
    "deep nesting": b'{"params": {"scope": ' + b"[" * 100_000 + b"}}",
    "5,000-digit integer": b'{"params": {"scope": ' + b"9" * 5000 + b"}}",
    "NaN": b'{"params": {"strategy": NaN}}',
    "Infinity": b'{"params": {"strategy": Infinity}}',
    "overflowing float": b'{"params": {"strategy": 1e400}}',
    "integer beyond 2**53": b'{"params": {"limit": 18014398509481985}}',
}


@pytest.mark.parametrize("raw", BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
async def test_a_command_body_that_is_not_plain_json_is_400_and_records_nothing(
    make_client: MakeClient, redis: redis_lib.Redis, raw: bytes
) -> None:
    client = await make_client()
    resp = await client.post("/api/v1/commands/UPDATE_CONFIGURATION", data=raw, headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"] == "invalid_request"
    listed = await (await client.get("/api/v1/executions", headers=AUTH)).json()
    assert listed["executions"] == []


async def test_alert_names_the_configuration_does_not_map_share_one_series(
    make_client: MakeClient,
) -> None:
    """/metrics is unauthenticated and the webhook open to whoever holds the token: every
    new alertname used to add series for good."""
    client = await make_client()
    names = [f"Noise{n}" for n in range(200)]
    alerts = [alert(name, fingerprint=f"{n:x}") for n, name in enumerate(names)]
    resp = await client.post("/webhook", json=message(*alerts), headers=AUTH)
    assert resp.status == 200
    resolved = [alert(name, "resolved", f"{n:x}", ends_at="2026-11-25T12:05:00Z")
                for n, name in enumerate(names)]  # fmt: skip
    assert (await client.post("/webhook", json=message(*resolved), headers=AUTH)).status == 200
    text = await (await client.get("/metrics")).text()
    assert "Noise" not in text
    assert 'amc_remediator_alerts_received_total{alertname="other",status="firing"} 200.0' in text
    assert 'amc_remediator_alert_resolution_seconds_count{alertname="other"} 200.0' in text
    await client.post("/webhook", data=body(alert()), headers=AUTH)  # a mapped one keeps its own
    text = await (await client.get("/metrics")).text()
    assert 'alerts_received_total{alertname="HighErrorRate",status="firing"} 1.0' in text


async def _raw(port: int, request: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes; the reply up to the server's close (or ``wait`` seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()


async def test_a_declared_body_over_the_limit_is_refused_without_waiting_for_it(
    make_client: MakeClient,
) -> None:
    client = await make_client(max_body_bytes=2048)
    head = b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n"
    for auth in (b"", f"Authorization: {AUTH['Authorization']}\r\n".encode()):
        reply = await _raw(client.port, head + auth + b"\r\n{", wait=5)  # never sent in full
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


async def test_a_compressed_body_is_refused_unread(make_client: MakeClient) -> None:
    """1 GiB of spaces gzipped to about 1 MB once stalled the server on every request that
    carried it, authenticated or not; a corrupt one was a 500."""
    client = await make_client(max_body_bytes=4 * 1024 * 1024)
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    for data, headers in [
        (bomb, {}),
        (bomb, AUTH),
        (b"\x1f\x8bnot gzip at all", AUTH),
    ]:
        resp = await client.post(
            "/webhook", data=data, headers={**headers, "Content-Encoding": "gzip"}
        )
        assert resp.status == 415, await resp.text()
        assert "Content-Encoding" in (await resp.json())["detail"]
    # the server still answers at once
    assert (await client.post("/webhook", data=body(alert()), headers=AUTH)).status == 200


async def test_requests_beyond_the_concurrency_bound_are_503_at_once(
    make_client: MakeClient, own_redis_server: RedisServer, token_file: Path
) -> None:
    """Two webhooks hang on a paused Redis; the third is refused at once (Alertmanager sends
    it again), and the probes still answer."""
    config = parse_config({
        "redis_url": own_redis_server.url, "redis_timeout_seconds": 3,
        "token": {"file": str(token_file)}, "max_concurrent_requests": 2,
    })  # fmt: skip
    client = await make_client(config)
    with own_redis_server.paused():
        hanging = [
            asyncio.create_task(client.post(
                "/webhook", data=body(alert(fingerprint=f"{n:x}")), headers=AUTH
            ))
            for n in range(2)
        ]  # fmt: skip
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in hanging)
        resp = await client.post("/webhook", data=body(alert(fingerprint="ff")), headers=AUTH)
        assert resp.status == 503
        assert (await resp.json())["error"] == "overloaded"
        assert resp.headers["Retry-After"] == "1"
        assert (await client.get("/healthz")).status == 200
    assert {(await task).status for task in hanging} <= {200, 503}  # done, or Redis timed out
    resp = await client.post("/webhook", data=body(alert(fingerprint="ff")), headers=AUTH)
    assert resp.status == 200  # the bound is free again
