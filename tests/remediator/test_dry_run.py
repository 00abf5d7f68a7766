"""Dry-run (global or per command) holds for operators' runs too: recorded, never run."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue

from remediator import audit
from remediator.queue import QUEUE_NAMES
from tests.remediator.conftest import AUTH, MakeClient, MakeConfigFile
from tests.services import script

CACHE_KEY = "amc:discovery:candidates:v2"


def queued(redis: redis_lib.Redis) -> int:
    return sum(Queue(name, connection=redis).count for name in QUEUE_NAMES)


@pytest.mark.parametrize(
    "fields",
    [{"dry_run": True}, {"commands": {"FLUSH_REDIS": {"dry_run": True}}}],
    ids=["global", "per-command"],
)
async def test_a_manual_run_under_dry_run_is_recorded_and_not_run(
    make_client: MakeClient, redis: redis_lib.Redis, fields: dict[str, Any]
) -> None:
    redis.set(CACHE_KEY, "demo")
    client = await make_client(**fields)
    resp = await client.post("/api/v1/commands/FLUSH_REDIS", headers=AUTH)
    assert resp.status == 200
    reply = await resp.json()
    assert (reply["status"], reply["dry_run"]) == ("dry_run", True)
    assert queued(redis) == 0
    resp = await client.get(f"/api/v1/executions/{reply['execution_id']}", headers=AUTH)
    record = await resp.json()
    assert (record["status"], record["trigger"], record["steps"]) == ("dry_run", "manual", [])
    assert record["result"] == {"dry_run": True, "would_run": "FLUSH_REDIS", "params": {}}
    (entry,) = audit.read(redis, 10, event="manual_run")
    assert entry["dry_run"] is True
    assert redis.get(CACHE_KEY) == b"demo"  # nothing was flushed


async def test_a_manual_run_without_dry_run_is_queued(
    make_client: MakeClient, redis: redis_lib.Redis
) -> None:
    client = await make_client(commands={"HEALTH_CHECK": {"dry_run": True}})
    resp = await client.post("/api/v1/commands/FLUSH_REDIS", headers=AUTH)
    assert resp.status == 202
    reply = await resp.json()
    assert (reply["status"], reply["dry_run"]) == ("queued", False)
    assert queued(redis) == 1


def test_the_run_cli_under_dry_run_says_so_and_runs_nothing(
    make_config_file: MakeConfigFile, redis_url: str, redis: redis_lib.Redis
) -> None:
    redis.set(CACHE_KEY, "demo")
    config = make_config_file(dry_run=True)
    proc = subprocess.run(
        [script("amc-remediator"), "run", "--config", str(config), "--redis-url", redis_url,
         "FLUSH_REDIS", "--wait", "5"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "dry_run"
    assert "dry run: FLUSH_REDIS was recorded, not run" in proc.stderr
    assert redis.get(CACHE_KEY) == b"demo"
    assert queued(redis) == 0
