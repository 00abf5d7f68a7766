"""Webhook intake benchmark: our remediator beside prometheus-am-executor's published figures.

Runs a real redis-server, the real ``amc-remediator serve`` (and ``worker`` for the latency
part) on free ports, and drives them with an aiohttp client in this process:

1. intake of distinct alerts at concurrency 1 and 50: every request's decisions are durable
   in Redis before the reply (dry-run, so each alert takes its own claim with SET NX and
   records its episode and audit entry: the path of every decision but ``enqueued``, which
   adds the RQ job in a WATCH/MULTI transaction once per episode); then the same load
   spread over two serve replicas on one Redis;
2. a storm of 10,000 copies of one alert at concurrency 50: exactly one execution;
3. decision latency, from the client sending the webhook to the worker starting the job.

Usage: ``.venv/bin/python -m bench.webhook [--requests 5000] [--latency-samples 200]``.
The client shares the machine with the server, so these figures are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis
import uvloop
import yaml

from tests.services import RedisServer, Service, free_port, script, wait_for

TOKEN = "bench-token"  # noqa: S105 (a throwaway token of the benchmark's own server)
PEER = {  # prometheus-am-executor, measured on this kind of machine (issue 5)
    1: {"rps": 784.0, "p99_ms": 1.9},
    50: {"rps": 1711.0, "p99_ms": 36.0},
}


def alert(n: int, name: str = "BenchAlert") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "instance": f"i{n}"},
        "annotations": {},
        "startsAt": "2026-11-25T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"{n:016x}",
    }


def notification(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {"version": "4", "status": "firing", "receiver": "remediator", "alerts": list(alerts)}
    ).encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(urls: list[str], bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Post every body with ``concurrency`` requests in flight (client i posts to
    ``urls[i % len(urls)]``); latencies in ms."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    decisions: dict[str, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client(url: str) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                async with session.post(url, data=body) as resp:
                    reply = await resp.json()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                for d in reply.get("decisions", []):
                    decisions[d["decision"]] = decisions.get(d["decision"], 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "requests": len(bodies),
        "rps": len(bodies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "statuses": statuses,
        "decisions": decisions,
    }


def start_remediator(tmp: Path, redis_url: str, dry_run: bool) -> tuple[str, Service, Path]:
    (tmp / "token").write_text(TOKEN)
    config = {
        "token": {"file": str(tmp / "token")},
        "dry_run": dry_run,
        "alerts": {"BenchAlert": "FLUSH_REDIS", "BenchLatency": "FLUSH_REDIS"},
        "defaults": {"cooldown_seconds": 0, "circuit": {"max_executions": 1_000_000}},
        "platform": {"redis_url": redis_url},
    }
    path = tmp / f"remediator-{'dry' if dry_run else 'live'}.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [script("amc-remediator"), "serve", "--config", str(path)]
    argv += ["--listen", f"127.0.0.1:{port}", "--redis-url", redis_url]
    service = Service(argv, tmp / f"serve-{port}.log", ready_url=f"http://127.0.0.1:{port}/healthz")
    service.start()
    return f"http://127.0.0.1:{port}", service, path


def execution_count(conn: redis.Redis) -> int:
    return int(conn.zcard("amc:remediator:executions"))


async def latency(base: str, conn: redis.Redis, samples: int) -> dict[str, float]:
    """Send one new episode at a time; measure until its job has started in the worker."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    values: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(samples):
            sent = time.time()
            body = notification(alert(10_000_000 + n, "BenchLatency"))
            async with session.post(f"{base}/webhook", data=body) as resp:
                execution_id = (await resp.json())["decisions"][0]["execution_id"]
            started = None
            while started is None:
                raw = conn.get(f"amc:remediator:execution:{execution_id}")
                started = json.loads(raw).get("started_at") if raw else None
                if started is None:
                    await asyncio.sleep(0.0005)
            values.append((started - sent) * 1000)
            await wait_done(conn, execution_id)
    return {"p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99)}


async def wait_done(conn: redis.Redis, execution_id: str) -> None:
    """Let one execution finish before the next sample (one disruptive command at a time)."""
    final = ("succeeded", "failed", "timed_out")
    while True:
        raw = conn.get(f"amc:remediator:execution:{execution_id}")
        if raw and json.loads(raw).get("status") in final:
            return
        await asyncio.sleep(0.001)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(label: str, ours: dict[str, Any], peer: dict[str, float] | None) -> str:
    theirs = f"{peer['rps']:>8.0f} {peer['p99_ms']:>9.1f}" if peer else f"{'-':>8} {'-':>9}"
    return (
        f"{label:<34} {ours['rps']:>8.0f} {ours['p50_ms']:>8.2f} {ours['p99_ms']:>8.2f}   {theirs}"
    )


def intake(tmp: Path, redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Distinct alerts at concurrency 1 and 50 on one serve process, then on two replicas."""
    results: dict[str, Any] = {}
    bases, services = [], []
    for _ in range(2):
        base, serve, _ = start_remediator(tmp, redis_url, dry_run=True)
        bases.append(f"{base}/webhook")
        services.append(serve)
    offset = 0
    try:
        for key, urls, concurrency in (
            ("c1", bases[:1], 1), ("c50", bases[:1], 50), ("c50x2", bases, 50)
        ):  # fmt: skip
            count = args.requests // 2 if concurrency == 1 else args.requests
            bodies = [notification(alert(offset + n)) for n in range(count)]
            offset += count
            uvloop.run(drive(urls, bodies[:200], concurrency))  # warm up
            before = sum(cpu_seconds(s.pid) for s in services)
            results[key] = uvloop.run(drive(urls, bodies[200:], concurrency))
            used = sum(cpu_seconds(s.pid) for s in services) - before
            results[key]["server_cpu_us"] = used / results[key]["requests"] * 1e6
    finally:
        for service in services:
            service.stop()
    return results


def storm_and_latency(
    tmp: Path, redis_url: str, conn: redis.Redis, args: argparse.Namespace
) -> dict[str, Any]:
    """One alert 10,000 times (one execution), then webhook-to-job-start latency."""
    base, serve, path = start_remediator(tmp, redis_url, dry_run=False)
    argv = [script("amc-remediator"), "worker", "--config", str(path), "--redis-url", redis_url]
    worker = Service(argv, tmp / "worker.log")
    try:
        worker.start()
        storm = [notification(alert(424242))] * args.storm
        results: dict[str, Any] = {"storm": uvloop.run(drive([f"{base}/webhook"], storm, 50))}
        wait_for(lambda: execution_count(conn) >= 1, 10, "the storm's execution")
        results["storm_executions"] = execution_count(conn)
        results["latency"] = uvloop.run(latency(base, conn, args.latency_samples))
    finally:
        worker.stop()
        serve.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="amc-bench-"))
    server = RedisServer()
    server.start()
    conn = redis.Redis.from_url(server.url)
    try:
        results = intake(tmp, server.url, args)
        conn.flushall()
        results.update(storm_and_latency(tmp, server.url, conn, args))
    finally:
        conn.close()
        server.cleanup()
    report(results)


def report(results: dict[str, Any]) -> None:
    print(f"{'webhook intake':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   "
          f"{'peer r/s':>8} {'peer p99':>9}")  # fmt: skip
    print(row("distinct alerts, concurrency 1", results["c1"], PEER[1]))
    print(row("distinct alerts, concurrency 50", results["c50"], PEER[50]))
    print(row("  same, two serve replicas", results["c50x2"], PEER[50]))
    print(row("storm of one alert, concurrency 50", results["storm"], None))
    for key in ("c1", "c50", "c50x2"):
        cpu = results[key]["server_cpu_us"]
        print(f"  {key}: serve process CPU {cpu:.0f} us per request")
    for key in ("c1", "c50", "c50x2", "storm"):
        print(
            f"  {key}: statuses {results[key]['statuses']}, decisions {results[key]['decisions']}"
        )
    print(f"storm executions: {results['storm_executions']} (expected exactly 1)")
    lat = results["latency"]
    print(
        f"decision latency, webhook sent -> job started: p50 {lat['p50_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms (bar: p99 < 50 ms)"
    )
    c50 = results["c50"]
    met = c50["rps"] >= 2 * PEER[50]["rps"] and c50["p99_ms"] < PEER[50]["p99_ms"]
    print(
        f"bar at concurrency 50: >= {2 * PEER[50]['rps']:.0f} req/s and p99 < "
        f"{PEER[50]['p99_ms']:.0f} ms: {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
