"""The ``worker_wedged`` fault: it lives in the memory of one discovery worker process.

A request waits in Redis until a worker's heartbeat thread takes it; from then on that
process stops heart-beating and every job it forks hangs. Only the end of the process (a
restart) or an operator's ``fault clear`` ends it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from redis import Redis

from sandbox.keys import WEDGE_HOLDERS_KEY, WEDGE_RELEASE_KEY, WEDGE_REQUEST_KEY

log = logging.getLogger(__name__)

LEASE_SECONDS = 5
"""How long a wedged process's lease outlives its last refresh (so a dead one drops out)."""


REQUEST_SECONDS = 10
"""A request that no running worker takes within this long lapses."""


@dataclass
class WedgeState:
    """Whether this process is wedged, and since which release generation."""

    wedged: bool = False
    release_generation: int = 0
    owner_pid: int = 0
    since: float = 0.0


STATE = WedgeState()


def request(conn: Redis) -> dict[str, object]:
    """Ask one running discovery worker to wedge itself (asking twice is asking once)."""
    wedged = [h for h in holders(conn) if "pid" in h]
    if wedged:
        return {"state": "already wedged", "holders": wedged}
    generation = int(conn.get(WEDGE_RELEASE_KEY) or 0)
    payload = {"requested_at": time.time(), "generation": generation}
    conn.set(WEDGE_REQUEST_KEY, json.dumps(payload), ex=REQUEST_SECONDS, nx=True)
    return {"state": "requested: a running worker takes it at its next heartbeat"}


def take_request(conn: Redis, worker_name: str, started_at: float) -> bool:
    """Take a pending request into this process's memory; True when it did.

    Only a worker that was already running when the fault was asked for takes it, so a
    worker started to cure the fault never inherits it.
    """
    raw = conn.get(WEDGE_REQUEST_KEY)
    if raw is None or json.loads(raw)["requested_at"] < started_at:
        return False
    raw = conn.getdel(WEDGE_REQUEST_KEY)
    if raw is None:
        return False  # another worker took it
    STATE.release_generation = int(json.loads(raw)["generation"])
    STATE.owner_pid = os.getpid()
    STATE.since = time.time()
    STATE.wedged = True
    log.warning("worker %s wedged: its jobs will hang and its heartbeat stops", worker_name)
    refresh_lease(conn, worker_name)
    return True


def refresh_lease(conn: Redis, worker_name: str) -> None:
    """Keep this wedged process visible in ``fault list``; drop the wedge if it was released."""
    if not STATE.wedged:
        return
    if released(conn):
        STATE.wedged = False
        conn.delete(WEDGE_HOLDERS_KEY + worker_name)
        log.warning("worker %s released from worker_wedged by an operator", worker_name)
        return
    holder = {"worker": worker_name, "pid": STATE.owner_pid, "host": socket.gethostname()}
    holder["since"] = STATE.since
    conn.set(WEDGE_HOLDERS_KEY + worker_name, json.dumps(holder), ex=LEASE_SECONDS)


def released(conn: Redis) -> bool:
    """True once an operator cleared the fault after this process was wedged."""
    return int(conn.get(WEDGE_RELEASE_KEY) or 0) > STATE.release_generation


def release_all(conn: Redis) -> None:
    """Operator's clear: drop pending requests and let every wedged process go."""
    conn.delete(WEDGE_REQUEST_KEY)
    conn.incr(WEDGE_RELEASE_KEY)
    for key in conn.scan_iter(match=WEDGE_HOLDERS_KEY + "*"):
        conn.delete(key)


def holders(conn: Redis) -> list[dict[str, object]]:
    """The wedged worker processes that are still alive, and pending requests."""
    found: list[dict[str, object]] = []
    for key in conn.scan_iter(match=WEDGE_HOLDERS_KEY + "*"):
        raw = conn.get(key)
        if raw is not None:
            found.append(json.loads(raw))
    if conn.exists(WEDGE_REQUEST_KEY):
        found.append({"pending": True})
    return found


def hang_if_wedged(conn: Redis) -> None:
    """Called inside a job: hang like a stuck provider call while this process is wedged."""
    if not STATE.wedged:
        return
    log.error("discovery job hangs: worker is wedged")
    parent = STATE.owner_pid
    while not released(conn):
        if os.getppid() != parent and os.getpid() != parent:
            os._exit(1)  # the worker that forked us is gone: a hung horse must not outlive it
        time.sleep(0.5)
    raise RuntimeError("worker_wedged released by an operator while the job hung")
