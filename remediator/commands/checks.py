"""HEALTH_CHECK and VALIDATE_ENDPOINTS: the exporter's probes, run once (imported, not copied)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from exporter.config import ExporterConfig, load_config
from exporter.platform import PlatformClient
from exporter.probes import probe_once
from remediator.commands.base import Command, Context

# Share of the command's timeout that one probe may take, so that a hung platform shows in
# the report as a timed-out probe instead of killing the whole command. probe_once on a
# platform that accepts connections and never answers was measured at twice one probe's
# timeout, hence well under a half.
PROBE_SHARE = 0.4


def exporter_config(ctx: Context) -> ExporterConfig:
    """The exporter's settings, pointed at the platform this remediator acts on.

    Each probe's timeout is capped below the command's own. The exporter's discovery probe
    insists on more than 60 s (its scrape loop must see rule 1's slow answers) while
    HEALTH_CHECK has 60 s in all, so the cap is applied with ``model_copy``, which does not
    re-validate: deliberately, for this one-shot run only.
    """
    platform = ctx.config.platform
    base = load_config(platform.exporter_config)
    cap = ctx.policy.timeout_seconds * PROBE_SHARE
    probes = base.probes
    capped = {
        name: schedule.model_copy(update={"timeout_seconds": min(schedule.timeout_seconds, cap)})
        for name, schedule in (
            ("health", probes.health),
            ("discovery", probes.discovery),
            ("routes", probes.routes),
            ("queues", probes.queues),
        )
    }
    return base.model_copy(
        update={
            "platform": base.platform.model_copy(update={"url": platform.url.rstrip("/")}),
            "redis": base.redis.model_copy(update={"url": platform.redis_url}),
            "probes": probes.model_copy(update=capped),
        }
    )


def _snapshot(ctx: Context) -> dict[str, Any]:
    config = exporter_config(ctx)
    conn = ctx.platform_redis()
    try:
        snapshot = asyncio.run(probe_once(config, redis_client=conn))
    finally:
        conn.close()
    data: dict[str, Any] = snapshot.model_dump(mode="json")
    return data


def health_check(ctx: Context) -> dict[str, Any]:
    """Run every probe once; the result is the exporter's snapshot."""
    return ctx.step("probe", lambda: _snapshot(ctx))


def health_verify(ctx: Context) -> bool:
    """The platform is healthy by the exporter's classification."""
    result = ctx.record.result or {}
    return bool(result.get("status") == "healthy")


async def _routes(ctx: Context) -> list[dict[str, Any]]:
    config = exporter_config(ctx)
    async with aiohttp.ClientSession() as session:
        client = PlatformClient(config.platform.url, session)
        results = await client.routes(
            config.platform.expected_routes, config.probes.routes.timeout_seconds
        )
    return [r.model_dump(mode="json") for r in results]


def validate_endpoints(ctx: Context) -> dict[str, Any]:
    """Check every expected route; report the missing ones and the unanswered."""
    results = ctx.step("check routes", lambda: asyncio.run(_routes(ctx)))
    # The exporter's verdict: only the framework's bare 404 is a missing route; a 404 that
    # names a missing resource ("no results cached") comes from a route that exists.
    missing = [r["route"] for r in results if r["up"] is False]
    unanswered = [r["route"] for r in results if r["http_status"] is None]
    return {"routes": results, "missing": missing, "unanswered": unanswered}


def endpoints_verify(ctx: Context) -> bool:
    """Re-check the routes: verified when every expected route is up."""
    results = asyncio.run(_routes(ctx))
    return all(r["up"] for r in results)


COMMANDS = {
    "HEALTH_CHECK": Command(run=health_check, verify=health_verify),
    "VALIDATE_ENDPOINTS": Command(run=validate_endpoints, verify=endpoints_verify),
}
