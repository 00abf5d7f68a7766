"""Driving load at a webhook receiver and measuring it, for the benchmarks.

``wrk`` (a C load generator, with ``bench/webhook.lua``: every request a new alert) for
throughput and latency, ``drive`` (an aiohttp client) for bodies of our choosing, and the
server's CPU time per request from Linux ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

TOKEN = "bench-token"  # noqa: S105 (a throwaway token of the benchmark's own server)
WRK_SCRIPT = Path(__file__).with_name("webhook.lua")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, concurrency: int, seconds: int, phase: str) -> dict[str, Any]:
    """One wrk run (one thread: the second core is the server's); its summary line."""
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url]
    done = subprocess.run(
        [*argv, "--", phase, TOKEN], capture_output=True, text=True, timeout=seconds + 60
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    summary: dict[str, Any] = json.loads(lines[0][4:])
    return {
        "requests": summary["requests"],
        "seconds": summary["duration_us"] / 1e6,
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": summary["p50_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "non_2xx": summary["non_2xx"],
        "socket_errors": summary["socket_errors"],
    }


# wrk's phase digit (one per run) keeps every alert new: up to 7 rounds per concurrency.
PHASES = (("c1", 1, "1234567"), ("c50", 50, "89abcde"))


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one server at one concurrency as one run: requests/s over all of them,
    the rounds' median p50 and p99, counts summed, CPU per request over all requests."""
    requests = sum(r["requests"] for r in runs)
    out: dict[str, Any] = {
        "requests": requests,
        "seconds": sum(r["seconds"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "rounds": [round(r["rps"]) for r in runs],
    }
    out["rps"] = requests / out["seconds"]
    for key in ("non_2xx", "socket_errors", "durable", "listed"):
        if key in runs[0]:
            out[key] = sum(r[key] for r in runs)
    if runs[0].get("server_cpu_us") is not None:
        out["server_cpu_us"] = sum(r["server_cpu_us"] * r["requests"] for r in runs) / requests
    if "decided" in runs[0]:
        decided: dict[str, int] = {}
        for run in runs:
            for decision, count in run["decided"].items():
                decided[decision] = decided.get(decision, 0) + count
        out["decided"] = decided
    return out


def measured(
    url: str, pid: int | None, concurrency: int, seconds: int, phase: str
) -> dict[str, Any]:
    """One wrk run, with the server's CPU time per request when its pid is given."""
    cpu = cpu_seconds(pid) if pid is not None else 0.0
    run = wrk(url, concurrency, seconds, phase)
    run["server_cpu_us"] = (
        (cpu_seconds(pid) - cpu) / run["requests"] * 1e6 if pid is not None else None
    )
    return run


async def drive(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Post every body with ``concurrency`` requests in flight; statuses and decisions."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    decisions: dict[str, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client() -> None:
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
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "requests": len(bodies),
        "rps": len(bodies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "statuses": statuses,
        "decisions": decisions,
    }
