"""Webhook intake benchmark: our remediator beside its ceiling and prometheus-am-executor.

Runs a real redis-server and the real ``amc-remediator serve`` (and ``worker``) on free ports:

1. intake of distinct alerts at concurrency 1 and 50, driven by ``wrk`` (Debian's package
   ``wrk``; a C load generator, so that the client takes little of the CPU the server needs).
   The server runs in dry-run, so every alert takes the path of every decision but
   ``enqueued``: its claim with SET NX, its episode and its audit entry, all durable before
   the reply. The bench then checks Redis and the server's metrics: one decision per alert.
   At each concurrency, ``--rounds`` rounds (3) run ours, the ceiling
   (``bench/ceiling.py``: a bare aiohttp + redis.asyncio receiver on the same stack, one
   pipelined SET NX + RPUSH per alert) and the peer in turn, so that the three meet the same
   moments of the machine; each figure is over its rounds (requests/s over all of them, the
   rounds' median p50 and p99);
2. a storm of 10,000 copies of one alert at concurrency 50 (aiohttp client): exactly one
   execution;
3. decision latency, one alert at a time: from the client sending the webhook to the worker
   starting the job (the execution record's ``started_at``, written by the work horse).

Usage: ``.venv/bin/python -m bench.webhook [--seconds 12] [--rounds 3] [--latency-samples 200]``.
Exits 1 naming each bar missed: at concurrency 1 and at 50, ours ahead of the peer in
requests/s and in p99 (when the peer ran); at concurrency 50, at least ``CEILING_SHARE`` of the
ceiling's requests/s; the storm giving exactly one execution; decision latency p99 under 50 ms;
one durable decision per alert. At concurrency 1 the share of the ceiling is printed without a
bar: one request at a time, requests/s is one over the latency, and ours carries the decision's
own work that the ceiling skips (validation, the compare-and-commit script with its episode and
audit entry, the log line), about 100 us of a 300 us request; at concurrency 50 the same work
shares the round trips and the ceiling bar measures the receiver itself.

The peer (``bench/peers.py``: ``$AMC_PEER_AM_EXECUTOR``, else ``../shared/peers/am-executor``)
runs ``/bin/true`` per webhook (it answers once its command has ended, and keeps nothing
durable). It runs in the same run or not at all: without its binary the bench prints ours and
the ceiling only, says that the peer was not run, and reports the peer bars as not checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis
import uvloop
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench import ceiling as ceiling_mod
from bench.load import PHASES, TOKEN, combined, drive, measured, percentile, wrk
from bench.peers import PROJECT, am_executor, start_am_executor
from remediator import keys
from tests.remediator.stack import start_serve, start_worker
from tests.services import Service, free_port, running_redis, wait_for
from tests.stack.platform import ServiceGroup

T = TypeVar("T")
LATENCY_BAR_MS = 50.0
CEILING_SHARE = 0.9  # ours at least this share of the ceiling's requests/s


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


def write_config(tmp: Path, redis_url: str, dry_run: bool) -> Path:
    """The bench's remediator config (and its token file); its path."""
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
    return path


def decisions_made(base: str) -> dict[str, float]:
    """The server's amc_remediator_decisions_total by decision."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "amc_remediator_decisions":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                decision = sample.labels["decision"]
                out[decision] = out.get(decision, 0.0) + sample.value
    return out


def settled(read: Callable[[], T]) -> T:
    """``read()`` once it has stopped changing: the server has finished the requests still in
    flight when wrk stopped (wrk closes its connections; the server still decides what it
    received)."""
    last = read()
    while True:
        time.sleep(0.5)
        now = read()
        if now == last:
            return now
        last = now


def start_ceiling(services: ServiceGroup, tmp: Path, redis_url: str) -> tuple[str, Service]:
    """``bench/ceiling.py`` on a free port, checking the bench's token; (its URL, service)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling", "--listen", f"127.0.0.1:{port}"]
    argv += ["--redis", redis_url, "--token-file", str(tmp / "token")]
    path = os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))
    service = services(argv, ready_url=f"http://127.0.0.1:{port}/healthz",
                       name=f"ceiling-{port}", env={"PYTHONPATH": path})  # fmt: skip
    return f"http://127.0.0.1:{port}/webhook", service


def ours_run(
    base: str, pid: int | None, conn: redis.Redis, concurrency: int, duration: int, phase: str
) -> dict[str, Any]:
    """One wrk run of ours, with the decisions it made and the episodes it made durable."""
    decided = settled(lambda: decisions_made(base))
    episodes = conn.zcard(keys.EPISODES_ACTIVE)
    run = measured(f"{base}/webhook", pid, concurrency, duration, phase)
    after = settled(lambda: decisions_made(base))
    run["decided"] = {k: int(v - decided.get(k, 0.0)) for k, v in after.items()}
    run["durable"] = int(conn.zcard(keys.EPISODES_ACTIVE) - episodes)
    return run


def ceiling_run(
    url: str, pid: int | None, conn: redis.Redis, concurrency: int, duration: int, phase: str
) -> dict[str, Any]:
    """One wrk run of the ceiling, with the alerts it listed."""
    listed = conn.llen(ceiling_mod.ALERTS)
    run = measured(url, pid, concurrency, duration, phase)
    run["listed"] = int(settled(lambda: conn.llen(ceiling_mod.ALERTS))) - int(listed)
    return run


def intake(
    tmp: Path, redis_url: str, conn: redis.Redis, seconds: int, rounds: int
) -> dict[str, Any]:
    """Distinct alerts at concurrency 1 and 50 (after a warm-up), each decision checked. In
    ``rounds`` rounds at each concurrency, ours, the ceiling and the peer in turn, so that
    the three meet the same moments of the machine (its load moves a single run by 20 %)."""
    binary = am_executor()
    services = ServiceGroup(tmp / "intake")
    peer: Service | None = None
    # the peer's figures by concurrency: None when it was not run
    results: dict[str, Any] = {"ceiling": {}, "peer": None if binary is None else {}}
    try:
        base = start_serve(services, write_config(tmp, redis_url, dry_run=True), redis_url)
        serve = services.started[-1]  # start_serve gives its URL; wrk reads its CPU time
        url = f"{base}/webhook"
        ceiling_url, ceiling = start_ceiling(services, tmp, redis_url)
        if binary is not None:
            peer_url, peer = start_am_executor(services, binary, tmp, ["/bin/true"])
        wrk(url, 50, 2, "0")  # warm-ups
        wrk(ceiling_url, 50, 2, "0")
        if peer is not None:
            wrk(peer_url, 50, 2, "0")
        for key, concurrency, phases in PHASES:
            total = seconds if concurrency > 1 else max(2, seconds // 2)
            duration = max(2, total // rounds)
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "ceiling": [], "peer": []}
            for phase in phases[:rounds]:
                args = (concurrency, duration, phase)
                runs["ours"].append(ours_run(base, serve.pid, conn, *args))
                runs["ceiling"].append(ceiling_run(ceiling_url, ceiling.pid, conn, *args))
                if peer is not None:
                    run = measured(peer_url, peer.pid, concurrency, duration, phase)
                    if run["non_2xx"] or run["socket_errors"]:
                        raise SystemExit(f"am-executor failed at concurrency {concurrency}: {run}")
                    runs["peer"].append(run)
            results[key] = combined(runs["ours"])
            results["ceiling"][concurrency] = combined(runs["ceiling"])
            if peer is not None:
                results["peer"][concurrency] = combined(runs["peer"])
    finally:
        services.stop()
    return results


def execution_count(conn: redis.Redis) -> int:
    return int(conn.zcard(keys.EXECUTIONS))


async def latency(base: str, conn: redis.Redis, first: int, samples: int) -> list[float]:
    """Send one new episode at a time (alerts ``first``, ``first + 1``...); ms until its job
    has started in the worker."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    values: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(samples):
            sent = time.time()
            body = notification(alert(first + n, "BenchLatency"))
            async with session.post(f"{base}/webhook", data=body) as resp:
                decision = (await resp.json())["decisions"][0]
            if decision["decision"] != "enqueued":
                raise SystemExit(f"a latency sample was not enqueued: {decision}")
            execution_id = decision["execution_id"]
            started = None
            while started is None:
                raw = conn.get(keys.execution(execution_id))
                started = json.loads(raw).get("started_at") if raw else None
                if started is None:
                    await asyncio.sleep(0.0005)
            values.append((started - sent) * 1000)
            await wait_done(conn, execution_id)
    return values


async def wait_done(conn: redis.Redis, execution_id: str) -> None:
    """Let one execution finish before the next sample (one disruptive command at a time)."""
    final = ("succeeded", "failed", "timed_out")
    while True:
        raw = conn.get(keys.execution(execution_id))
        if raw and json.loads(raw).get("status") in final:
            return
        await asyncio.sleep(0.001)


def storm_and_latency(
    tmp: Path, redis_url: str, conn: redis.Redis, args: argparse.Namespace
) -> dict[str, Any]:
    """One alert ``args.storm`` times (one execution), then webhook-to-job-start latency."""
    services = ServiceGroup(tmp / "storm")
    try:
        path = write_config(tmp, redis_url, dry_run=False)
        base = start_serve(services, path, redis_url)
        start_worker(services, path, redis_url)  # once it has registered
        storm = [notification(alert(424242))] * args.storm
        results: dict[str, Any] = {"storm": uvloop.run(drive(f"{base}/webhook", storm, 50))}
        wait_for(lambda: execution_count(conn) >= 1, 10, "the storm's execution")
        time.sleep(1)  # a second execution, were there one, would be recorded by now
        results["storm_executions"] = execution_count(conn)
        for raw in conn.zrange(keys.EXECUTIONS, 0, -1):
            # its pending mark would make the latency samples' alerts cooldowns
            uvloop.run(wait_done(conn, raw.decode()))
        uvloop.run(latency(base, conn, 10_000_000, 5))  # warm-up: the worker's first forks
        values = uvloop.run(latency(base, conn, 20_000_000, args.latency_samples))
        results["latency"] = {
            "p50_ms": percentile(values, 0.5),
            "p99_ms": percentile(values, 0.99),
            "max_ms": max(values),
        }
    finally:
        services.stop()
    return results


def _row(name: str, run: dict[str, Any]) -> str:
    cpu = run.get("server_cpu_us")
    cpu_text = f"{cpu:>10.0f} us" if cpu is not None else f"{'-':>13}"
    p50 = run.get("p50_ms")
    p50_text = f"{p50:>8.2f}" if p50 is not None else f"{'-':>8}"
    return f"  {name:<32} {run['rps']:>8.0f} {p50_text} {run['p99_ms']:>8.2f}   {cpu_text}"


def checks_missed(concurrency: int, ours: dict[str, Any], ceiling: dict[str, Any]) -> list[str]:
    """The runs' own checks: no failed request, one durable decision per alert, the ceiling
    one listed alert per request (else its figures are void)."""
    missed: list[str] = []
    answered = ours["requests"]
    if ours["non_2xx"] or ours["socket_errors"]:
        missed.append(f"concurrency {concurrency}: requests failed")
    slack = concurrency * len(ours["rounds"])  # requests wrk left in flight, each round
    if not answered <= ours["durable"] <= answered + slack:
        missed.append(f"concurrency {concurrency}: {ours['durable']} episodes recorded")
    if ours["decided"].get("dry_run", 0) != ours["durable"]:
        missed.append(f"concurrency {concurrency}: decisions {ours['decided']}")
    listed_ok = ceiling["requests"] <= ceiling["listed"] <= ceiling["requests"] + slack
    if ceiling["non_2xx"] or ceiling["socket_errors"] or not listed_ok:
        missed.append(f"concurrency {concurrency}: the ceiling failed (its figures void)")
    return missed


def concurrency_report(
    concurrency: int, ours: dict[str, Any], ceiling: dict[str, Any], peer: dict[str, Any] | None
) -> list[str]:
    """Print one concurrency's rows, checks and ratios (the peer's when it ran); returns the
    bars missed."""
    print(f"concurrency {concurrency}")
    print(_row("ours (amc-remediator serve)", ours))
    print(_row("ceiling (bench/ceiling.py)", ceiling))
    if peer is not None:
        print(_row("peer (am-executor)", peer))
    rounds = [
        f"{name} {run['rounds']}"
        for name, run in (("ours", ours), ("ceiling", ceiling), ("peer", peer))
        if run is not None
    ]
    print(f"  req/s of each round: {'; '.join(rounds)}")
    print(
        f"  ours: {ours['requests']} requests, non-2xx {ours['non_2xx']}, socket errors "
        f"{ours['socket_errors']}; decisions {ours['decided']}; new durable episodes "
        f"{ours['durable']}"
    )
    print(
        f"  ceiling: {ceiling['requests']} requests, non-2xx {ceiling['non_2xx']}, socket "
        f"errors {ceiling['socket_errors']}; alerts listed {ceiling['listed']}"
    )
    missed = checks_missed(concurrency, ours, ceiling)
    if peer is None:
        print("  ours / peer: the peer was not run (bar: req/s above 1 and p99 below 1: "
              "not checked)")  # fmt: skip
    else:
        rps, p99 = ours["rps"] / peer["rps"], ours["p99_ms"] / peer["p99_ms"]
        met = rps > 1 and p99 < 1
        print(
            f"  ours / peer: req/s {rps:.2f}x, p99 {p99:.2f}x "
            f"(bar: req/s above 1 and p99 below 1: {'met' if met else 'NOT met'})"
        )
        if not met:
            missed.append(f"ahead of the peer at concurrency {concurrency}")
    share = ours["rps"] / ceiling["rps"]
    ratios = f"req/s {share:.2f}x, p99 {ours['p99_ms'] / ceiling['p99_ms']:.2f}x"
    if concurrency == 1:  # one request at a time: requests/s is 1 / latency
        print(f"  ours / ceiling: {ratios} (reported, no bar: the decision's own work)")
        return missed
    met = share >= CEILING_SHARE
    verdict = "met" if met else "NOT met"
    print(f"  ours / ceiling: {ratios} (bar: req/s >= {CEILING_SHARE:.2f}x: {verdict})")
    if not met:
        missed.append(f"{CEILING_SHARE:.0%} of the ceiling at concurrency {concurrency}")
    return missed


def report(results: dict[str, Any]) -> list[str]:
    """Print the table; returns the bars missed."""
    missed: list[str] = []
    peers, ceilings = results["peer"], results["ceiling"]
    if peers is None:
        print("the peer: am-executor not found (AMC_PEER_AM_EXECUTOR): not run, its bars not "
              "checked; the ceiling: bench/ceiling.py, this run")  # fmt: skip
    else:
        print("the peer: am-executor, measured in this run; the ceiling: bench/ceiling.py, "
              "this run")  # fmt: skip
    print(f"{'webhook intake (distinct alerts)':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f"   {'server CPU/req':>13}")  # fmt: skip
    for key, concurrency in (("c1", 1), ("c50", 50)):
        ours, ceiling = results[key], ceilings[concurrency]
        peer = None if peers is None else peers[concurrency]
        missed += concurrency_report(concurrency, ours, ceiling, peer)
    storm = results["storm"]
    print(
        f"storm of one alert x {storm['requests']}, concurrency 50: {storm['rps']:.0f} req/s, "
        f"p99 {storm['p99_ms']:.1f} ms; statuses {storm['statuses']}, decisions "
        f"{storm['decisions']}; executions {results['storm_executions']} (expected 1)"
    )
    if results["storm_executions"] != 1 or set(storm["statuses"]) != {200}:
        missed.append("storm")
    lat = results["latency"]
    met = lat["p99_ms"] < LATENCY_BAR_MS
    print(
        f"decision latency, webhook sent -> job started: p50 {lat['p50_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms "
        f"(bar: p99 < {LATENCY_BAR_MS:.0f} ms: {'met' if met else 'NOT met'})"
    )
    if not met:
        missed.append("decision latency")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=12, help="wrk time at concurrency 50")
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 8))
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench.webhook needs wrk: apt-get install wrk")
    with (
        running_redis() as server,
        redis.Redis.from_url(server.url) as conn,
        tempfile.TemporaryDirectory(prefix="amc-bench-") as name,
    ):
        tmp = Path(name)
        results = intake(tmp, server.url, conn, args.seconds, args.rounds)
        conn.flushall()
        results.update(storm_and_latency(tmp, server.url, conn, args))
    missed = report(results)
    if results["peer"] is None:
        print("not checked: ahead of the peer at concurrency 1 and 50 (the peer was not run)")
    if missed:
        print(f"missed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
