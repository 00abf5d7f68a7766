"""HEALTH_CHECK and VALIDATE_ENDPOINTS: the exporter's probes, run once (imported, not copied)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from exporter.platform_client import PlatformClient
from remediator.commands.base import Command, Context, Verification
from remediator.commands.view import exporter_config, snapshot


def _snapshot(ctx: Context) -> dict[str, Any]:
    data: dict[str, Any] = snapshot(ctx).model_dump(mode="json")
    return data


def health_check(ctx: Context) -> dict[str, Any]:
    """Run every probe once; the result is the exporter's snapshot."""
    return ctx.step("probe", lambda: _snapshot(ctx))


def health_verify(ctx: Context) -> Verification:
    """The platform is healthy by the exporter's classification."""
    result = ctx.record.result or {}
    status, why = result.get("status"), result.get("status_reason")
    return Verification(status == "healthy", f"status {status}: {why}", {"status": status})


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


def endpoints_verify(ctx: Context) -> Verification:
    """Re-check the routes: verified when every expected route is up."""
    results = asyncio.run(_routes(ctx))
    missing = [r["route"] for r in results if not r["up"]]
    reason = f"{len(missing)} expected routes missing" if missing else "every expected route up"
    return Verification(not missing, reason, {"routes": len(results), "missing": missing})


COMMANDS = {
    "HEALTH_CHECK": Command(run=health_check, verify=health_verify),
    "VALIDATE_ENDPOINTS": Command(run=validate_endpoints, verify=endpoints_verify),
}
