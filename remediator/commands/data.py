"""INTEGRATE_REAL_DATA: providers checked, mock/fallback results dropped, fresh discovery, the
new data validated with the exporter's integrity checks (imported, never copied).

A provider or database outage is nothing a command can cure: the command stops before it
drops anything (users keep what they have) and its verification names the component, so the
execution ends unverified and is escalated to people.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from exporter.integrity import check
from exporter.platform_client import DiscoveryPayload, HealthPayload
from remediator.commands import cache
from remediator.commands.base import Command, Context, Verification
from remediator.commands.discovery import api, run_discovery
from remediator.commands.view import exporter_config

# The /health components whose failure no command cures (docs/architecture.md, "Rules": outages).
OUTAGE_COMPONENTS = ("database", "polygon", "alpaca")


def check_providers(ctx: Context) -> dict[str, Any]:
    """The platform's own verdict on its components; which of the outage ones fail."""
    status, body = api(ctx).health()
    try:
        health = HealthPayload.model_validate(body)
    except ValidationError:
        return {"health_status": status, "components": None, "down": None}
    components = {name: c.ok for name, c in health.components.items()}
    down = [name for name in OUTAGE_COMPONENTS if components.get(name) is False]
    return {"health_status": status, "components": components, "down": down}


def inspect_cache(ctx: Context) -> dict[str, Any]:
    """The integrity of the cached results (absent: nothing to judge)."""
    platform = exporter_config(ctx)
    conn = ctx.platform_redis()
    try:
        raw = conn.get(platform.discovery.candidates_key)
    finally:
        conn.close()
    if raw is None:
        return {"present": False, "mock_suspected": False, "reasons": []}
    try:
        payload = DiscoveryPayload.parse(json.loads(raw))
    except ValueError as exc:
        return {"present": True, "mock_suspected": True, "reasons": [f"unreadable: {exc}"]}
    report = check(payload, platform.integrity)
    return {
        "present": True,
        "job_id": payload.job_id,
        "mock_suspected": report.mock_suspected,
        "reasons": list(report.reasons),
    }


def integrate(ctx: Context) -> dict[str, Any]:
    """Check providers -> drop mock results -> fresh discovery -> validate the new data."""
    providers = ctx.step("check providers", lambda: check_providers(ctx))
    if providers["down"]:
        return {"providers": providers, "stopped": f"outage: {', '.join(providers['down'])} down"}
    before = ctx.step("inspect cached results", lambda: inspect_cache(ctx))
    dropped = cache.run(ctx) if before["mock_suspected"] else None
    fresh = run_discovery(ctx)
    after = ctx.step("validate the new data", lambda: inspect_cache(ctx))
    return {"providers": providers, "before": before, "dropped": dropped, "discovery": fresh,
            "after": after}  # fmt: skip


def verify(ctx: Context) -> Verification:
    """Providers up, and the results users get now are fresh, real and plausible."""
    providers = check_providers(ctx)
    if providers["down"] is None or providers["down"]:
        named = ", ".join(providers["down"] or []) or "health unreadable"
        return Verification(False, f"outage: {named}", {"providers": providers})
    seen = inspect_cache(ctx)
    count = (ctx.record.result or {}).get("discovery", {}).get("results") or {}
    ok = seen["present"] and not seen["mock_suspected"] and bool(count.get("count"))
    reason = "real results" if ok else "; ".join(seen["reasons"]) or "no fresh results"
    return Verification(ok, reason, {"providers": providers, "results": seen})


INTEGRATE_REAL_DATA = Command(run=integrate, verify=verify)
