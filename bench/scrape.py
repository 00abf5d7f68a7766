"""Scrape latency of amc-exporter beside the peer rq-exporter (PyPI), on one Redis.

Run: ``.venv/bin/python -m bench.scrape`` (options: ``--help``). It starts a redis-server, the
sandbox platform (API; its worker fills the cache once and is stopped so that it does not eat
the bench's jobs), ``amc-exporter`` with its production probe schedule, and ``rq-exporter`` from
a virtual environment of its own (``.run/peer-venv``, created with pip when missing, because
its ``rq`` pin differs from ours). It registers 20 RQ workers over 5 queues, then for 0,
20,000 and 200,000 jobs over those queues checks that both exporters really read them (ours:
``amc_redis_up`` 1 and ``amc_rq_jobs`` summing to the jobs added; the peer: ``rq_jobs`` summing
to the same and 20 ``rq_workers``), scrapes both in turns (a new connection each, as
Prometheus does after an idle period) and prints p50/p99, their ratios and peak RSS; then once
more while the platform's discovery route takes 30 s.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry
from rq.utils import import_attribute

from tests.sandbox_handle import SandboxHandle, start_sandbox
from tests.services import RedisServer, Service, free_port, script, wait_for

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".run" / "peer-venv"
QUEUES = ("amc_discovery", "remediation-critical", "remediation-high", "remediation-medium",
          "remediation-low")  # fmt: skip
WORKERS = 20
PEER = "rq-exporter==3.1.0"
NOOP = "bench.scrape.noop"
"""The bench jobs' function: importable, so that a worker could run them."""


def noop() -> None:
    """The bench jobs' function (never run: the jobs are only counted)."""


def _peer_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('rq-exporter'))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def peer_binary(venv: Path) -> Path:
    """rq-exporter (pinned) in its own virtual environment, installed with pip when missing."""
    binary = venv / "bin" / "rq-exporter"
    wanted = PEER.split("==")[1]
    if _peer_version(venv) != wanted:
        print(f"installing {PEER} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PEER], check=True)
    return binary


def register_workers(conn: redis.Redis) -> list[Worker]:
    """20 workers as RQ registers them, 4 per queue, some busy."""
    workers = []
    for i in range(WORKERS):
        queue = Queue(QUEUES[i % len(QUEUES)], connection=conn)
        worker = Worker([queue], connection=conn, name=f"bench-worker-{i}")
        worker.register_birth()
        worker.set_state("busy" if i % 3 == 0 else "idle")
        workers.append(worker)
    return workers


def add_jobs(conn: redis.Redis, count: int) -> None:
    """``count`` jobs over the queues: 70% queued, 15% finished, 10% failed, 5% scheduled."""
    later = datetime.now(UTC) + timedelta(days=1)
    queues = [Queue(name, connection=conn) for name in QUEUES]
    pipe = conn.pipeline(transaction=False)
    for i in range(count):
        queue = queues[i % len(queues)]
        job = Job.create(NOOP, connection=conn, origin=queue.name)
        kind = i % 20
        if kind < 14:
            job.save(pipeline=pipe)
            pipe.rpush(queue.key, job.id)
        elif kind < 17:
            job.save(pipeline=pipe)
            FinishedJobRegistry(queue=queue).add(job, ttl=86_400, pipeline=pipe)
        elif kind < 19:
            job.save(pipeline=pipe)
            FailedJobRegistry(queue=queue).add(job, ttl=86_400, pipeline=pipe)
        else:
            job.save(pipeline=pipe)
            ScheduledJobRegistry(queue=queue).schedule(job, later, pipeline=pipe)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    for queue in queues:
        conn.sadd(Queue.redis_queues_keys, queue.key)


def samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of one scrape, by sample name."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def readings(urls: tuple[str, str]) -> dict[str, float]:
    """What each exporter says about Redis: job totals, workers, and whether ours is up."""
    ours, peer = samples(urls[0]), samples(urls[1])
    return {
        "ours_redis_up": sum(v for _, v in ours.get("amc_redis_up", [])),
        "ours_jobs": sum(v for _, v in ours.get("amc_rq_jobs", [])),
        "ours_workers": sum(v for _, v in ours.get("amc_rq_workers", [])),
        "peer_jobs": sum(v for _, v in peer.get("rq_jobs", [])),
        "peer_workers": sum(v for _, v in peer.get("rq_workers", [])),
    }


def check_readings(urls: tuple[str, str], jobs: int) -> None:
    """Wait until both exporters report the ``jobs`` added and the 20 workers, or fail."""
    expected = {"ours_redis_up": 1, "ours_jobs": jobs, "ours_workers": WORKERS,
                "peer_jobs": jobs, "peer_workers": WORKERS}  # fmt: skip
    seen: dict[str, float] = {}

    def agree() -> bool:
        seen.update(readings(urls))
        return seen == expected

    try:
        wait_for(agree, 60, f"both exporters to read {jobs:,} jobs", step=0.5)
    except TimeoutError as exc:
        raise SystemExit(f"bench: {exc}: expected {expected}, saw {seen}") from None


def scrape_ms(url: str) -> float:
    """Milliseconds for one full scrape on a new connection."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(ours: Service, peer: Service, urls: tuple[str, str], scrapes: int) -> dict[str, Any]:
    """Scrape both in turns; percentiles in ms and peak RSS in MiB."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(scrapes):
        for side, url in enumerate(urls):
            times[side].append(scrape_ms(url))

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    return {
        "ours": (pct(times[0], 50), pct(times[0], 99)),
        "peer": (pct(times[1], 50), pct(times[1], 99)),
        "rss": (peak_rss_mb(ours.pid), peak_rss_mb(peer.pid)),
    }


def report(label: str, row: dict[str, Any]) -> bool:
    """Print one row; True when our p99 is at or below the peer's median."""
    (o50, o99), (p50, p99), (orss, prss) = row["ours"], row["peer"], row["rss"]
    ok = o99 <= p50
    print(f"{label:>22}  {o50:8.2f} {o99:8.2f}  {p50:8.2f} {p99:8.2f}  "
          f"{p50 / o50:6.1f}x {p99 / o99:6.1f}x  {orss:7.1f} {prss:7.1f}  "
          f"{'ok' if ok else 'MISSED'}", flush=True)  # fmt: skip
    return ok


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[list[Service]]:
    """Processes started inside are stopped at the end."""
    started: list[Service] = []
    try:
        yield started
    finally:
        for service in reversed(started):
            service.stop()


def starter(workdir: Path, started: list[Service]) -> Any:
    def start(argv: list[str], ready_url: str | None = None, name: str | None = None,
              timeout: float = 30.0, env: dict[str, str] | None = None) -> Service:  # fmt: skip
        log = workdir / f"{name or Path(argv[0]).name}-{len(started)}.log"
        service = Service(argv, log, ready_url=ready_url, env=env)
        started.append(service)
        return service.start(timeout)

    return start


def prepare_platform(start: Any, workdir: Path, redis_url: str, conn: redis.Redis) -> SandboxHandle:
    """The sandbox with a long-lived cache, its worker stopped after one discovery run.

    RQ's keys are then deleted (not the results cache), so that the jobs and workers in Redis
    are exactly the bench's and both exporters' totals can be checked against them.
    """
    sandbox = start_sandbox(start, workdir, redis_url, cache_ttl_seconds=86_400)
    sandbox.wait_job(sandbox.trigger(), timeout=60)
    assert sandbox.worker is not None
    sandbox.worker.stop()
    keys = list(conn.scan_iter("rq:*", count=1000))
    if keys:
        conn.delete(*keys)
    return sandbox


def exporter_config(workdir: Path) -> Path:
    """Production probe schedule, but the discovery probe often enough to be in flight."""
    path = workdir / "exporter.yml"
    path.write_text("probes:\n  discovery: {interval_seconds: 5, timeout_seconds: 90}\n")
    return path


def start_exporters(
    start: Any, workdir: Path, platform_url: str, redis_url: str, peer_bin: Path
) -> tuple[Service, Service, tuple[str, str]]:
    """Both exporters on free ports, once ours has its first discovery result."""
    our_port, peer_port = free_port(), free_port()
    our_url, peer_url = f"http://127.0.0.1:{our_port}", f"http://127.0.0.1:{peer_port}"
    ours = start([script("amc-exporter"), "--config", str(exporter_config(workdir)),
                  "--listen", f"127.0.0.1:{our_port}", "--platform-url", platform_url,
                  "--redis-url", redis_url],
                 ready_url=f"{our_url}/healthz", name="amc-exporter")  # fmt: skip
    peer = start([str(peer_bin), "--host", "127.0.0.1", "--port", str(peer_port),
                  "--redis-url", redis_url, "--log-level", "WARNING"],
                 ready_url=f"{peer_url}/", name="rq-exporter")  # fmt: skip
    urls = (f"{our_url}/metrics", f"{peer_url}/")
    wait_for(lambda: _sample(urls[0], "amc_discovery_candidates") == 50,
             30, "the exporter's first discovery result")  # fmt: skip
    return ours, peer, urls


def phases(
    args: argparse.Namespace, conn: redis.Redis, sandbox: SandboxHandle,
    exporters: tuple[Service, Service, tuple[str, str]],
) -> bool:  # fmt: skip
    """Every size, then the slow platform; True when every bar is met."""
    ours, peer, urls = exporters
    workers = register_workers(conn)
    print(f"{args.scrapes} scrapes each; times in ms; ratio = peer / ours; RSS in MiB")
    print(f"{'jobs':>22}  {'ours p50':>8} {'p99':>8}  {'peer p50':>8} {'p99':>8}  "
          f"{'p50':>7} {'p99':>7}  {'ours':>7} {'peer':>7}")  # fmt: skip
    ok, total = True, 0
    for size in args.sizes:
        add_jobs(conn, size - total)
        total = size
        for worker in workers:
            worker.heartbeat()
        check_readings(urls, total)  # both really read the data (ours within its 5 s schedule)
        ok &= report(f"{size:,}", measure(ours, peer, urls, args.scrapes))
    sandbox.set_fault("api_latency", seconds=args.slow_seconds)
    wait_for(lambda: _in_flight(urls[0]), 20, "a discovery probe in flight")
    row = measure(ours, peer, urls, args.scrapes)
    ok &= report(f"{total:,}, platform {args.slow_seconds:g}s", row)
    slow_ok = row["ours"][1] < 5.0
    print(f"while the platform is slow: our p99 {row['ours'][1]:.2f} ms "
          f"({'under' if slow_ok else 'NOT under'} 5 ms)")  # fmt: skip
    sandbox.clear_fault("api_latency")
    return ok and slow_ok


def run(args: argparse.Namespace) -> int:
    """The whole benchmark; returns the exit status (0 when every bar is met)."""
    workdir = Path(tempfile.mkdtemp(prefix="amc-bench-"))
    import_attribute(NOOP)  # the jobs name a function that exists
    peer_bin = peer_binary(args.peer_venv)
    server = RedisServer()
    server.start()
    conn = redis.Redis.from_url(server.url)
    try:
        with running(workdir) as started:
            start = starter(workdir, started)
            sandbox = prepare_platform(start, workdir, server.url, conn)
            exporters = start_exporters(start, workdir, sandbox.url, server.url, peer_bin)
            ok = phases(args, conn, sandbox, exporters)
    finally:
        conn.close()
        server.cleanup()
    return 0 if ok else 1


def _sample(url: str, name: str) -> float | None:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _in_flight(url: str) -> bool:
    seconds = _sample(url, "amc_discovery_response_seconds")
    return seconds is not None and seconds > 1.0


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[0, 20_000, 200_000])  # fmt: skip
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    parser.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
