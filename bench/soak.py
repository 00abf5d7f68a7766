"""Soak: the remediator in the local stack under a steady webhook load, with a serve crash, a
Redis pause and a worker crash on the way, beside prometheus-am-executor under the same load
and the same crash.

A sender delivers notifications at ``--rate`` per second for ``--seconds``, as Alertmanager
does: each is sent again until answered 200 (a refused or reset connection or a 503 is retried
every 0.1 s; any other answer stops the bench, naming it). Each notification carries one alert
of ``--episodes`` firing episodes, so most are repeats. Ours: the stack (``amc-sandbox up``:
supervisord, Redis, the platform, ``serve`` and a remediation worker; no Prometheus), the
alerts asking for HEALTH_CHECK by their ``command`` label. At a quarter of the time ``serve``
is SIGKILLed and supervisord starts it again; at half, Redis is paused (SIGSTOP) for 3 s; at
three quarters, the remediation worker is SIGKILLed. The peer: ``am-executor`` running
``/bin/sh -c 'echo x >> file'`` per notification, SIGKILLed and started again at a quarter
of the time.

Reported for each: notifications answered, retries, episodes decided, executions, episodes
executed twice (must be 0 for ours), notifications absorbed without an execution (repeats
deduplicated, cooldowns), episodes lost (answered 200 but never decided: must be 0), and the
serve process's resident memory when the load starts (after its restart, for ours) and at the
end. Exits 1 when ours loses an episode, runs one twice, leaves a notification unanswered, or
grows by more than ``RSS_BOUND_MIB``.

Usage: ``.venv/bin/python -m bench.soak [--seconds 120] [--rate 20] [--episodes 40]``. The
peer is ``$AMC_PEER_AM_EXECUTOR``, else ``../shared/peers/am-executor`` beside the checkout;
without it only our column is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import am_executor, start_am_executor
from remediator import audit
from tests.services import wait_for
from tests.stack.platform import ServiceGroup, Stack, start_stack

RSS_BOUND_MIB = 30.0
COMMAND = "HEALTH_CHECK"


@dataclass
class Load:
    """What the sender did, and what it saw."""

    answered: int = 0
    retries: int = 0
    unanswered: int = 0
    episodes: set[str] = field(default_factory=set)


def notification(episode: int, started: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": f"Soak{episode}", "severity": "warning", "command": COMMAND},
        "annotations": {"summary": "soak"},
        "startsAt": started,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"{episode:016x}",
    }
    body = {"version": "4", "status": "firing", "receiver": "remediator", "alerts": [alert],
            "groupKey": f"{{}}:{{alertname=\"Soak{episode}\"}}", "truncatedAlerts": 0}  # fmt: skip
    return json.dumps(body).encode()


def deliver(url: str, body: bytes, token: str | None, load: Load, deadline: float) -> bool:
    """Send until answered 200 or ``deadline``; True when answered. As Alertmanager retries
    (and ``tests/remediator/stack.deliver``): a refused or reset connection and a 503 again;
    any other answer (a bad token's 401...) is a failure, which stops the bench at once."""
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        except OSError:  # refused or reset while the server restarts (URLError included)
            status, text = 0, b""
        if status == 200:
            load.answered += 1
            return True
        if status not in (0, 503):
            raise SystemExit(f"{url} answered {status}: {text[:200]!r}")
        load.retries += 1
        time.sleep(0.1)
    load.unanswered += 1
    return False


def run_load(
    url: str,
    token: str | None,
    seconds: float,
    rate: float,
    episodes: int,
    faults: dict[float, Callable[[], None]],
) -> Load:
    """The steady sender; ``faults`` run (in a thread) at their fraction of the time."""
    load = Load()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    begin = time.monotonic()
    pending = sorted(faults.items())
    n = 0
    while (elapsed := time.monotonic() - begin) < seconds:
        while pending and elapsed >= pending[0][0] * seconds:
            threading.Thread(target=pending.pop(0)[1], daemon=True).start()
        episode = n % episodes if n >= episodes else n
        if deliver(url, notification(episode, started), token, load, begin + seconds + 60):
            load.episodes.add(f"{episode:016x}")
        n += 1
        time.sleep(max(0.0, begin + n / rate - time.monotonic()))
    return load


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def supervised_pid(stack: Stack, program: str) -> int:
    return int(stack.supervisorctl("pid", program).strip())


def ours(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    services = ServiceGroup(root / "ours")
    try:
        stack = start_stack(services, root / "ours", monitoring=False)
        redis_pid = supervised_pid(stack, "redis")
        rss: dict[str, float] = {}

        def crash_serve() -> None:
            os.kill(supervised_pid(stack, "remediator"), signal.SIGKILL)
            wait_for(lambda: "RUNNING" in stack.supervisorctl("status", "remediator"), 30,
                     "serve to be started again", step=0.2)  # fmt: skip
            time.sleep(1)
            rss["start"] = rss_mib(supervised_pid(stack, "remediator"))

        def pause_redis() -> None:
            os.kill(redis_pid, signal.SIGSTOP)
            time.sleep(3)
            os.kill(redis_pid, signal.SIGCONT)

        def crash_worker() -> None:
            os.kill(supervised_pid(stack, "remediator-worker"), signal.SIGKILL)

        url = f"{stack.url('remediator')}/webhook"
        faults = {0.25: crash_serve, 0.5: pause_redis, 0.75: crash_worker}
        load = run_load(url, stack.token, args.seconds, args.rate, args.episodes, faults)
        rss["end"] = rss_mib(supervised_pid(stack, "remediator"))
        conn = stack.redis()
        entries = audit.read(conn, 1_000_000, "decision")
        conn.close()
        decided = {e["fingerprint"] for e in entries}
        path = f"/api/v1/executions?command={COMMAND}&limit=1000"
        _, listed = stack.call("remediator", "GET", path)
        runs = [e["alert"]["fingerprint"] for e in listed["executions"] if e["trigger"] == "alert"]
        return {
            "answered": load.answered, "retries": load.retries, "unanswered": load.unanswered,
            "episodes": len(load.episodes), "decided": len(decided & load.episodes),
            "executions": len(runs), "run twice": len(runs) - len(set(runs)),
            "absorbed": load.answered - len(runs), "lost": len(load.episodes - decided),
            "rss": rss,
        }  # fmt: skip
    finally:
        services.stop()


def peer(args: argparse.Namespace, root: Path, binary: Path) -> dict[str, Any]:
    runs = root / "peer-runs"
    services = ServiceGroup(root / "peer")
    try:
        url, service = start_am_executor(
            services, binary, root, ["/bin/sh", "-c", f"echo x >> {runs}"]
        )
        rss = {"start": rss_mib(service.pid)}

        def crash() -> None:
            service.stop(signal.SIGKILL)  # a crash, not ``restart`` (SIGTERM)
            service.start()  # once it answers again
            time.sleep(1)
            rss["start"] = rss_mib(service.pid)

        load = run_load(url, None, args.seconds, args.rate, args.episodes, {0.25: crash})
        rss["end"] = rss_mib(service.pid)
    finally:
        services.stop()
    executions = len(runs.read_text().splitlines()) if runs.exists() else 0
    return {
        "answered": load.answered, "retries": load.retries, "unanswered": load.unanswered,
        "episodes": len(load.episodes), "decided": None, "executions": executions,
        "run twice": None, "absorbed": load.answered - executions, "lost": None, "rss": rss,
    }  # fmt: skip


def report(results: dict[str, dict[str, Any]]) -> list[str]:
    names = list(results)
    print(f"{'':<24}" + "".join(f"{name:>14}" for name in names))
    rows = ["answered", "retries", "unanswered", "episodes", "decided", "executions",
            "run twice", "absorbed", "lost"]  # fmt: skip
    for row in rows:
        cells = ["-" if r[row] is None else str(r[row]) for r in results.values()]
        print(f"{row:<24}" + "".join(f"{c:>14}" for c in cells))
    for label, key in (("serve RSS start MiB", "start"), ("serve RSS end MiB", "end")):
        print(f"{label:<24}" + "".join(f"{r['rss'][key]:>14.1f}" for r in results.values()))
    mine = results["ours"]
    missed = []
    if mine["lost"]:
        missed.append(f"{mine['lost']} episodes lost")
    if mine["run twice"]:
        missed.append(f"{mine['run twice']} episodes executed twice")
    if mine["unanswered"]:
        missed.append(f"{mine['unanswered']} notifications never answered")
    growth = mine["rss"]["end"] - mine["rss"]["start"]
    if growth > RSS_BOUND_MIB:
        missed.append(f"serve grew by {growth:.1f} MiB (bound {RSS_BOUND_MIB:g})")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--episodes", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amc-bench-soak-") as name:
        root = Path(name)
        results = {"ours": ours(args, root)}
        binary = am_executor()
        if binary is not None:
            results["am-executor"] = peer(args, root, binary)
        else:
            print("am-executor not found (AMC_PEER_AM_EXECUTOR): our column only")
    print(f"{args.seconds:g} s at {args.rate:g} notifications/s over {args.episodes} episodes; "
          "serve SIGKILLed at 1/4, Redis paused 3 s at 1/2, worker SIGKILLed at 3/4 (ours); "
          "the peer SIGKILLed at 1/4")  # fmt: skip
    missed = report(results)
    if missed:
        print("missed: " + "; ".join(missed))
        sys.exit(1)


if __name__ == "__main__":
    main()
