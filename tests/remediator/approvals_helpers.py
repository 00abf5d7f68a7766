"""What the approval and cancel tests share: their config, and firing, answering and
reading back through the API (``test_approvals.py``, ``test_cancel.py``)."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from remediator import audit
from tests.remediator.conftest import AUTH, alert, body
from tests.services import sample_value

FLUSH = {"CacheStale": "FLUSH_REDIS"}
CACHE_KEY = "amc:discovery:candidates:v2"


def approval(policy: str = "always", **more: Any) -> dict[str, Any]:
    return {"alerts": FLUSH, "commands": {"FLUSH_REDIS": {"approval": policy, **more}}}


def started(conn: redis_lib.Redis) -> list[dict[str, Any]]:
    return audit.read(conn, 1000, event="execution_started")


async def metric(client: Any, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    value = sample_value(text, name, **labels)
    assert value is not None, f"no sample {name}{labels}"
    return value


async def fire(client: Any, status: str = "firing", **fields: str) -> dict[str, Any]:
    resp = await client.post("/webhook", data=body(alert("CacheStale", status, **fields)),
                             headers=AUTH)  # fmt: skip
    assert resp.status == 200, await resp.text()
    (decision,) = (await resp.json())["decisions"]
    return dict(decision)


async def answer(client: Any, execution_id: str, action: str, **words: str) -> Any:
    return await client.post(f"/api/v1/executions/{execution_id}/{action}", json=words,
                             headers=AUTH)  # fmt: skip
