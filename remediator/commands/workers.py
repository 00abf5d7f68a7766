"""RESTART_RQ_WORKERS: RQ's own commands over Redis first, then the restart actuator, then a
fresh heartbeat.

A wedged discovery job runs in an RQ work horse, which RQ forks into a session (and process
group) of its own: a process manager that stops the worker's group (supervisord's
``stopasgroup``, systemd's control group aside) does not reach it, and it would outlive the
restart. The ``kill-horse`` command over Redis makes the worker itself kill that group; the
``shutdown`` command then stops the worker warmly. The configured actuator (supervisorctl,
a hosting provider's restart API...) restarts whatever did not stop and starts fresh workers;
without one, the platform's process manager is relied on to restart what stopped. Success
is a heartbeat written after the restart and a worker registered since.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import redis
from rq import Queue, Worker
from rq.command import send_kill_horse_command, send_shutdown_command
from rq.worker import BaseWorker

from exporter.config import ExporterConfig
from exporter.status import DEAD_HEARTBEATS
from exporter.timestamps import epoch_seconds
from remediator import actuators
from remediator.commands.base import Command, Context, Verification, wait_until
from remediator.commands.view import exporter_config

STOP_WAIT_SECONDS = 15.0
START_WAIT_SECONDS = 90.0


def _workers(conn: redis.Redis, platform: ExporterConfig) -> list[BaseWorker]:
    return [w for w in Worker.all(queue=Queue(platform.discovery.queue, connection=conn))]


def _born_after(worker: BaseWorker, since: float) -> bool:
    born = epoch_seconds(worker.birth_date)
    return born is not None and born >= since


def heartbeat_at(conn: redis.Redis, platform: ExporterConfig) -> float | None:
    """The platform's discovery worker heartbeat (epoch seconds), None when absent."""
    return epoch_seconds(conn.get(platform.discovery.heartbeat_key))


def stop(conn: redis.Redis, ctx: Context, platform: ExporterConfig) -> dict[str, Any]:
    """Kill the busy workers' horses and ask every worker to shut down; wait for them."""
    workers = _workers(conn, platform)
    busy = {w.name: w.get_current_job_id() for w in workers if w.get_current_job_id()}
    for name in busy:
        send_kill_horse_command(conn, name)
    names = [w.name for w in workers]
    for name in names:
        send_shutdown_command(conn, name)

    def gone() -> bool | None:
        left = {w.name for w in _workers(conn, platform)} & set(names)
        return True if not left else None

    stopped = bool(wait_until(gone, ctx.budget(STOP_WAIT_SECONDS))) if names else True
    still = sorted({w.name for w in _workers(conn, platform)} & set(names))
    return {
        "workers": names,
        "horses_killed": busy,
        "all_stopped": stopped,
        "still_registered": still,
    }


def restart(ctx: Context) -> dict[str, Any]:
    """Run the configured workers_restart actuator; say so when none is configured."""
    if ctx.config.platform.workers_restart is None:
        return {"actuator": None, "detail": "none configured: the process manager restarts them"}
    return asdict(actuators.for_role(ctx.config, "workers_restart"))


def wait_started(conn: redis.Redis, ctx: Context, platform: ExporterConfig, since: float) -> dict:
    """Wait for a heartbeat written after ``since`` and a worker registered since."""

    def fresh() -> dict[str, Any] | None:
        beat = heartbeat_at(conn, platform)
        new = [w.name for w in _workers(conn, platform) if _born_after(w, since)]
        if beat is not None and beat >= since and new:
            return {"heartbeat_at": beat, "workers": new}
        return None

    found = wait_until(fresh, ctx.budget(START_WAIT_SECONDS))
    if found is None:
        raise TimeoutError("no fresh heartbeat and worker after the restart")
    return found


def restart_workers(ctx: Context) -> dict[str, Any]:
    """The steps of RESTART_RQ_WORKERS (also part of the restart sequences)."""
    platform = exporter_config(ctx)
    conn = ctx.platform_redis()
    try:
        stopped = ctx.step("stop workers over Redis", lambda: stop(conn, ctx, platform))
        since = time.time()
        restarted = ctx.step("restart workers", lambda: restart(ctx))
        started = ctx.step(
            "wait for a fresh heartbeat", lambda: wait_started(conn, ctx, platform, since)
        )
    finally:
        conn.close()
    return {"stopped": stopped, "restart": restarted, "started": started}


def verify(ctx: Context) -> Verification:
    """A worker is registered on the discovery queue and its heartbeat is fresh."""
    platform = exporter_config(ctx)
    conn = ctx.platform_redis()
    try:
        beat = heartbeat_at(conn, platform)
        workers = [w.name for w in _workers(conn, platform)]
    finally:
        conn.close()
    limit = DEAD_HEARTBEATS * platform.thresholds.heartbeat_interval_seconds
    age = None if beat is None else round(max(0.0, time.time() - beat), 3)
    alive = age is not None and age <= limit and bool(workers)
    checks = {"heartbeat_age_seconds": age, "alive_within_seconds": limit, "workers": workers}
    reason = "a worker heart-beats" if alive else "no fresh heartbeat or no registered worker"
    return Verification(alive, reason, checks)


RESTART_RQ_WORKERS = Command(run=restart_workers, verify=verify)
