"""/metrics: every execution count exists from the start, and Redis down leaves a trace."""

from __future__ import annotations

from collections.abc import Callable

from remediator.commands.catalog import CATALOG
from remediator.config import RemediatorConfig
from remediator.intake import submit
from remediator.store import Store, connect
from tests.remediator.conftest import Client, MakeClient, promtool_check
from tests.services import RedisServer, free_port

OUTCOMES = ("succeeded", "failed", "timed_out", "cancelled")


def count(command: str, outcome: str, value: float) -> str:
    return f'amc_remediator_executions_total{{command="{command}",outcome="{outcome}"}} {value}'


async def scrape(client: Client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return await resp.text()


async def test_every_command_and_outcome_is_counted_from_zero(
    make_client: MakeClient, store: Store, run_jobs: Callable[..., bool]
) -> None:
    client = await make_client(store.config)
    text = await scrape(client)
    for command in CATALOG:
        for outcome in OUTCOMES:
            assert count(command, outcome, 0.0) in text
    assert "amc_remediator_redis_up 1.0" in text
    submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    text = await scrape(client)
    assert count("FLUSH_REDIS", "succeeded", 1.0) in text
    assert count("FLUSH_REDIS", "failed", 0.0) in text
    await promtool_check(text)


async def test_metrics_stay_when_redis_goes_down(
    make_client: MakeClient,
    make_config: Callable[..., RemediatorConfig],
    run_jobs: Callable[..., bool],
    own_redis_server: RedisServer,
) -> None:
    config = make_config(redis_url=own_redis_server.url, redis_timeout_seconds=1)
    client = await make_client(config)
    store = Store(connect(config.redis_url, config.redis_timeout_seconds), config)
    submit(store, "FLUSH_REDIS", {}, "manual")
    run_jobs(store)
    store.conn.close()
    text = await scrape(client)
    assert "amc_remediator_redis_up 1.0" in text
    own_redis_server.stop()
    text = await scrape(client)
    assert "amc_remediator_redis_up 0.0" in text
    # the cluster-wide counts as last read: a counter must not vanish or fall back to 0
    assert count("FLUSH_REDIS", "succeeded", 1.0) in text
    assert count("FLUSH_REDIS", "failed", 0.0) in text
    assert 'amc_remediator_queue_depth{priority="critical"} 0.0' in text
    await promtool_check(text)


async def test_a_remediator_that_never_read_redis_invents_no_counts(
    make_client: MakeClient,
) -> None:
    client = await make_client(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=1
    )
    text = await scrape(client)
    assert "amc_remediator_redis_up 0.0" in text
    assert "amc_remediator_executions_total{" not in text  # zeros would fake a reset
    await promtool_check(text)
