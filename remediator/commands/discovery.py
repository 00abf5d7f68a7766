"""Discovery runs through the platform's API, and the two restart sequences built on them:
RESTART_DISCOVERY_SYSTEM and EMERGENCY_RESTART."""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from typing import Any

from exporter.integrity import check
from exporter.platform_client import DiscoveryPayload
from exporter.snapshot import Snapshot
from exporter.timestamps import epoch_seconds
from remediator import actuators
from remediator.commands import cache, queue, workers
from remediator.commands.base import Command, Context, Verification, wait_until
from remediator.commands.platform_api import PlatformApi
from remediator.commands.view import exporter_config, snapshot
from remediator.errors import CommandFailed

JOB_WAIT_SECONDS = 120.0
API_WAIT_SECONDS = 60.0
# A run skipped because another job held the lock is tried again this many times.
SKIPPED_RETRIES = 3
# The platform's trade-ready score (docs/architecture.md, "The platform being watched").
TRADE_READY_SCORE = 65.0
ENDED = ("finished", "failed", "stopped", "canceled")


def api(ctx: Context) -> PlatformApi:
    """The platform's API with the configured timeout per call."""
    platform = ctx.config.platform
    return PlatformApi(platform.url, platform.api_timeout_seconds)


def wait_job(ctx: Context, client: PlatformApi, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends; its report. TimeoutError when it does not in time."""

    def ended() -> dict[str, Any] | None:
        report = client.job(job_id)
        if report is None:
            raise CommandFailed(f"job {job_id} vanished from the platform")
        return report if report.get("status") in ENDED else None

    report = wait_until(ended, ctx.budget(JOB_WAIT_SECONDS))
    if report is None:
        raise TimeoutError(f"discovery job {job_id} did not end in time")
    return report


def _skipped(report: dict[str, Any]) -> bool:
    result = report.get("result")
    return isinstance(result, dict) and result.get("status") == "skipped"


def run_discovery(ctx: Context, strategy: str | None = None) -> dict[str, Any]:
    """Trigger a discovery run (``strategy``: the platform's active one when None), wait for
    its job, and read the results it left; steps are recorded."""
    client = api(ctx)
    label = strategy or "active strategy"
    report: dict[str, Any] = {}
    for _ in range(SKIPPED_RETRIES + 1):
        job_id = ctx.step(f"trigger discovery ({label})", lambda: client.trigger(strategy))
        report = ctx.step(f"wait for job {job_id}", partial(_job_summary, ctx, client, job_id))
        if not report["skipped"]:
            break
        ctx.step("release a stale discovery lock", lambda: _release_lock(ctx))
    results = ctx.step("read the results", lambda: read_results(ctx, client, report["job_id"]))
    return {**report, **results}


def _job_summary(ctx: Context, client: PlatformApi, job_id: str) -> dict[str, Any]:
    report = wait_job(ctx, client, job_id)
    error = report.get("error") or []
    return {
        "job_id": job_id,
        "job_status": report.get("status"),
        "skipped": _skipped(report),
        "error": error[-1] if isinstance(error, list) and error else error or None,
        "job_seconds": _seconds_between(report.get("started_at"), report.get("ended_at")),
    }


def _seconds_between(start: Any, end: Any) -> float | None:
    """Seconds between two times of a job report; None when either is missing."""
    a, b = epoch_seconds(start), epoch_seconds(end)
    return None if a is None or b is None else round(b - a, 3)


def _release_lock(ctx: Context) -> dict[str, Any]:
    conn = ctx.platform_redis()
    try:
        return queue.release_stale_lock(conn, exporter_config(ctx).discovery)
    finally:
        conn.close()


def read_results(ctx: Context, client: PlatformApi, job_id: str) -> dict[str, Any]:
    """The platform's cached results: their job, strategy, count and mean score."""
    status, body = client.call("GET", "/discovery/contenders/last")
    if status != 200 or not isinstance(body, dict):
        return {"results": None, "results_status": status}
    payload = DiscoveryPayload.parse(body)
    scores = [c.bms_score for c in payload.candidates]
    integrity = check(payload, exporter_config(ctx).integrity)
    return {
        "results": {
            "job_id": payload.job_id,
            "ours": payload.job_id == job_id,
            "strategy": body.get("strategy"),
            "count": len(scores),
            "trade_ready": sum(score >= TRADE_READY_SCORE for score in scores),
            "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
            "integrity_reasons": list(integrity.reasons),
        },
        "results_status": status,
    }


def restart_sequence(ctx: Context) -> dict[str, Any]:
    """Clear the job queue, restart the workers, flush the cache (RESTART_DISCOVERY_SYSTEM's
    first three parts, EMERGENCY_RESTART's too)."""
    return {
        "queue": queue.clear(ctx),
        "workers": workers.restart_workers(ctx),
        "cache": cache.run(ctx),
    }


def restart_discovery_system(ctx: Context) -> dict[str, Any]:
    """Clear queue -> restart workers -> flush cache -> run discovery and wait for candidates."""
    done = restart_sequence(ctx)
    done["discovery"] = run_discovery(ctx)
    return done


def _restart_api(ctx: Context) -> dict[str, Any]:
    if ctx.config.platform.api_restart is None:
        raise CommandFailed("no actuator configured for platform.api_restart")
    return asdict(actuators.for_role(ctx.config, "api_restart"))


def _wait_api(ctx: Context, since: float) -> dict[str, Any]:
    client = api(ctx)

    def answers() -> dict[str, Any] | None:
        try:
            status, body = client.health()
        except CommandFailed:
            return None
        return (
            {"health_status": status, "after_seconds": round(time.time() - since, 3)}
            if body
            else None
        )

    found = wait_until(answers, ctx.budget(API_WAIT_SECONDS))
    if found is None:
        raise TimeoutError("the API did not answer /health after its restart")
    return found


def emergency_restart(ctx: Context) -> dict[str, Any]:
    """Clear queue -> restart the API and wait for it -> the restart sequence's other parts ->
    run discovery; verification is the full validation."""
    cleared = queue.clear(ctx)
    since = time.time()
    restarted = ctx.step("restart the API", lambda: _restart_api(ctx))
    answered = ctx.step("wait for the API", lambda: _wait_api(ctx, since))
    return {
        "queue": cleared,
        "api": {"restart": restarted, **answered},
        "workers": workers.restart_workers(ctx),
        "cache": cache.run(ctx),
        "discovery": run_discovery(ctx),
    }


def symptoms(view: Snapshot) -> dict[str, Any]:
    """What the platform looks like to the decision rules, from one exporter snapshot."""
    discovery = view.discovery
    return {
        "status": view.status,
        "status_reason": view.status_reason,
        "api_up": view.api_up,
        "candidates": discovery.candidates if discovery else None,
        "response_seconds": round(discovery.response_seconds, 3) if discovery else None,
        "discovery_failure": discovery.failure if discovery else None,
        "mock_suspected": view.integrity.mock_suspected if view.integrity else None,
    }


def verify_discovery(ctx: Context) -> Verification:
    """Discovery works again: candidates come, and the system is neither critical nor down."""
    seen = symptoms(snapshot(ctx))
    ok = bool(seen["candidates"]) and seen["status"] not in ("critical", "down", None)
    reason = (
        "candidates and a live system"
        if ok
        else f"{seen['candidates']} candidates, {seen['status']}"
    )
    return Verification(ok, reason, seen)


def verify_emergency(ctx: Context) -> Verification:
    """Full validation: the core routes answer every probe without error, fast enough, with
    candidates and a system that is neither critical nor down."""
    limit = ctx.config.platform.max_discovery_seconds
    rounds = [symptoms(snapshot(ctx)) for _ in range(ctx.config.platform.validation_probes)]
    failures = [r for r in rounds if r["discovery_failure"] or not r["api_up"]]
    slow = [r["response_seconds"] for r in rounds if (r["response_seconds"] or 0) > limit]
    last = rounds[-1]
    ok = not failures and not slow and bool(last["candidates"])
    ok = ok and last["status"] not in ("critical", "down", None)
    reason = "every probe answered, fast, with candidates"
    if not ok:
        counts = f"{len(failures)} failed and {len(slow)} slow of {len(rounds)} probes"
        reason = f"{counts}; status {last['status']}"
    return Verification(
        ok, reason, {"probes": len(rounds), "failed": len(failures), "slow": slow, **last}
    )


RESTART_DISCOVERY_SYSTEM = Command(run=restart_discovery_system, verify=verify_discovery)
EMERGENCY_RESTART = Command(run=emergency_restart, verify=verify_emergency)
