"""The platform as the exporter sees it: its settings and one run of its probes (imported,
never copied), for the commands' steps and verifications."""

from __future__ import annotations

import asyncio

from exporter.config import ExporterConfig, load_config
from exporter.probes import probe_once
from exporter.snapshot import Snapshot
from remediator.commands.base import Context

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


def snapshot(ctx: Context) -> Snapshot:
    """Every probe of the exporter run once against the platform."""
    config = exporter_config(ctx)
    conn = ctx.platform_redis()
    try:
        return asyncio.run(probe_once(config, redis_client=conn))
    finally:
        conn.close()
