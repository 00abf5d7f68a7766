"""The sandbox's own admin routes: faults and the runtime configuration."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from redis import Redis

from sandbox.app_state import API_FAULTS, CONFIG, REDIS
from sandbox.config import STRATEGIES
from sandbox.discovery import runtime_settings
from sandbox.errors import FaultConflict, FaultError
from sandbox.fault_control import FaultControl
from sandbox.keys import INBOX_KEY, RUNTIME_CONFIG_KEY
from sandbox.redis_ops import blocking

log = logging.getLogger(__name__)
INBOX_LENGTH = 500
SETTINGS = ("scoring_strategy", "discovery_limit")


def _control(request: web.Request) -> FaultControl:
    return FaultControl(request.app[REDIS], request.app[CONFIG], request.app[API_FAULTS])


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not valid JSON: {exc.msg}"}),
            content_type="application/json",
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}),
            content_type="application/json",
        )
    return body


async def list_faults(request: web.Request) -> web.Response:
    """Every fault and whether it is active."""
    return web.json_response({"faults": await blocking(_control(request).list)})


async def set_fault(request: web.Request) -> web.Response:
    """Inject a fault with the JSON body as its options."""
    options = await _json_body(request)
    try:
        result = await blocking(_control(request).set, request.match_info["name"], options)
    except FaultConflict as exc:
        return _error(409, str(exc))
    except FaultError as exc:
        status = 404 if str(exc).startswith("unknown fault") else 400
        return _error(status, str(exc))
    return web.json_response(result)


async def clear_fault(request: web.Request) -> web.Response:
    """Remove a fault by hand."""
    try:
        result = await blocking(_control(request).clear, request.match_info["name"])
    except FaultError as exc:
        return _error(404, str(exc))
    return web.json_response(result)


async def get_config(request: web.Request) -> web.Response:
    """The runtime configuration the platform reads at each discovery."""
    settings = await blocking(runtime_settings, request.app[REDIS], request.app[CONFIG])
    return web.json_response({**settings, "strategies": list(STRATEGIES)})


def _setting_error(body: dict[str, Any]) -> str | None:
    """Why a runtime setting is refused (None: every one is valid)."""
    unknown = sorted(set(body) - set(SETTINGS))
    if unknown:
        return f"{unknown[0]}: unknown setting"
    strategy = body.get("scoring_strategy", STRATEGIES[0])
    if strategy not in STRATEGIES:
        return f"scoring_strategy: expected one of {list(STRATEGIES)}, got {strategy!r}"
    limit = body.get("discovery_limit", 1)
    if type(limit) is not int or not 1 <= limit <= 500:
        return f"discovery_limit: expected an integer 1-500, got {limit!r}"
    return None


async def patch_config(request: web.Request) -> web.Response:
    """Change runtime settings (``scoring_strategy``, ``discovery_limit``); unknown keys and
    bad values are refused; the answer has the settings before and after."""
    body = await _json_body(request)
    error = _setting_error(body)
    if error is not None or not body:
        return _error(400, error or "no setting given")
    conn, config = request.app[REDIS], request.app[CONFIG]
    current = await blocking(runtime_settings, conn, config)
    for key, value in body.items():  # validated above: a known setting, a str or an int
        await blocking(conn.hset, RUNTIME_CONFIG_KEY, key, value)
    before = {key: current[key] for key in body}
    return web.json_response({"before": before, "after": body})


async def receive_notification(request: web.Request) -> web.Response:
    """Stand in for people's pagers: keep what Alertmanager sends them (the latest 500)."""
    body = await _json_body(request)
    receiver = request.query.get("receiver", "people")
    alerts = [a.get("labels", {}).get("alertname", "?") for a in body.get("alerts", [])]
    entry = {"receiver": receiver, "received_at": time.time(), "notification": body}
    conn = request.app[REDIS]
    await blocking(_push_inbox, conn, json.dumps(entry))
    log.warning("people notified via %s: %s %s", receiver, body.get("status"), alerts)
    return web.json_response({"accepted": True})


def _push_inbox(conn: Redis, entry: str) -> None:
    with conn.pipeline() as pipe:
        pipe.lpush(INBOX_KEY, entry)
        pipe.ltrim(INBOX_KEY, 0, INBOX_LENGTH - 1)
        pipe.execute()


async def read_inbox(request: web.Request) -> web.Response:
    """What people have been sent, newest first."""
    raw = await blocking(request.app[REDIS].lrange, INBOX_KEY, 0, -1)
    return web.json_response({"notifications": [json.loads(item) for item in raw]})


def add_routes(app: web.Application) -> None:
    """Mount the admin routes."""
    app.router.add_get("/admin/faults", list_faults)
    app.router.add_put("/admin/faults/{name}", set_fault)
    app.router.add_post("/admin/faults/{name}", set_fault)
    app.router.add_delete("/admin/faults/{name}", clear_fault)
    app.router.add_get("/admin/config", get_config)
    app.router.add_patch("/admin/config", patch_config)
    app.router.add_post("/admin/inbox", receive_notification)
    app.router.add_get("/admin/inbox", read_inbox)
