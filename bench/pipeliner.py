"""Why the serve's Redis client drives its connection by hand: the Pipeliner beside redis-py.

The webhook's decisions are script calls (``remediator.decisions``) that the Pipeliner sends
in batches, one write and one round trip per batch, on a hand-driven connection
(``send_packed_command``/``read_response``) that packs with hiredis. This bench runs the same
batches of ``READ_STATE`` calls from concurrent callers three ways against one real Redis:

- ours: ``remediator.pipeliner`` as the serve runs it (one connection, packed by hiredis);
- ours without hiredis packing (redis-py's own Python packer);
- redis-py's asyncio pipeline (``pipeline(transaction=False)``, ``evalsha``,
  ``execute(raise_on_error=False)``), the library's way of doing the same.

It prints calls per second of each, in rounds that alternate, and exits 1 when ours is not
ahead of redis-py's pipeline by the margin that justifies keeping it (``--bar``, 1.2x on the
median round).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import uvloop

from remediator.decisions import READ_STATE
from remediator.pipeliner import Pipeliner, connect_async
from tests.services import running_redis

KEYS = ["amc:bench:claim", "amc:bench:pending", "amc:bench:cooldown", "amc:bench:open",
        "amc:bench:window"]  # fmt: skip


class PythonPacking(Pipeliner):
    """Ours, each batch packed by redis-py's asyncio connection (in Python)."""

    def __init__(self, conn: aioredis.Redis, timeout: float) -> None:
        super().__init__(conn, timeout)
        self.packer = conn.connection_pool.make_connection()

    def pack(self, batch: list[Any]) -> list[bytes]:
        """redis-py's own packing of the same commands."""
        commands = [("EVALSHA", s.sha, len(n), *n, *a) for s, n, a, _ in batch]
        packed: list[bytes] = self.packer.pack_commands(commands)
        return packed


class LibraryPipeliner(Pipeliner):
    """The same batching, each batch sent with redis-py's own asyncio pipeline."""

    async def _evalsha(self, batch: list[Any]) -> list[Any]:
        pipe = self.conn.pipeline(transaction=False)
        for script, names, args, _ in batch:
            pipe.evalsha(script.sha, len(names), *names, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


async def calls_per_second(
    make: Callable[[], aioredis.Redis], kind: type[Pipeliner], calls: int, callers: int
) -> float:
    """Calls per second of ``callers`` concurrent callers making ``calls`` in all."""
    conn = make()
    try:
        pipeliner = kind(conn, 5.0)
        script = conn.register_script(READ_STATE)
        await conn.script_load(READ_STATE)

        async def caller() -> None:
            for _ in range(calls // callers):
                await pipeliner.call(script, KEYS, [0])

        await asyncio.gather(*(caller() for _ in range(callers)))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return calls / (time.perf_counter() - started)
    finally:
        await conn.aclose()


async def measure(url: str, rounds: int, calls: int, callers: int) -> dict[str, list[float]]:
    ways: dict[str, tuple[Callable[[], aioredis.Redis], type[Pipeliner]]] = {
        "ours (hand-driven, hiredis packing)": (lambda: connect_async(url, 5.0), Pipeliner),
        "ours with redis-py's Python packer": (lambda: connect_async(url, 5.0), PythonPacking),
        "redis-py asyncio pipeline": (lambda: aioredis.Redis.from_url(url), LibraryPipeliner),
    }
    figures: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (make, kind) in ways.items():
            figures[name].append(await calls_per_second(make, kind, calls, callers))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--bar", type=float, default=1.2)
    args = parser.parse_args()
    with running_redis() as server:
        figures = uvloop.run(measure(server.url, args.rounds, args.calls, args.callers))
    print(f"{args.calls} READ_STATE calls from {args.callers} callers, {args.rounds} rounds")
    print(f"{'way':40} {'median':>10} {'min':>10} {'max':>10}  calls/s")
    medians = {}
    for name, values in figures.items():
        medians[name] = statistics.median(values)
        print(f"{name:40} {medians[name]:10.0f} {min(values):10.0f} {max(values):10.0f}")
    ours, library = (
        medians["ours (hand-driven, hiredis packing)"],
        medians["redis-py asyncio pipeline"],
    )
    ratio = ours / library
    met = ratio >= args.bar
    verdict = "met" if met else "NOT met"
    print(f"ours / redis-py pipeline: {ratio:.2f}x (bar: >= {args.bar}x: {verdict})")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
