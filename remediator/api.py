"""The HTTP API's handlers: thin glue from requests to intake, store, audit and report."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic_core import from_json

from remediator import approvals, audit, report
from remediator.alerts import parse_message
from remediator.commands.catalog import CATALOG
from remediator.errors import NotFound, PayloadError, unavailable
from remediator.intake import Intake, submit
from remediator.records import Status
from remediator.store import Store, dumps

T = TypeVar("T")

STORE = web.AppKey("store", Store)
INTAKE = web.AppKey("intake", Intake)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
REGISTRY = web.AppKey("registry", CollectorRegistry)
TOKEN = web.AppKey("token", str)


async def blocking(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Run Redis work in the app's thread pool; an unreachable Redis becomes a 503."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(request.app[EXECUTOR], fn, *args)
    except redis.RedisError as exc:
        if (error := unavailable(exc)) is None:
            raise
        raise error from None


async def webhook(request: web.Request) -> web.Response:
    """Alertmanager's webhook: decide each alert, reply once the decisions are durable."""
    message = parse_message(await request.read())
    outcomes = await request.app[INTAKE].process(message)
    decisions = [
        {
            "alertname": o.alertname,
            "fingerprint": o.fingerprint,
            "status": o.status,
            "decision": o.decision,
            "command": o.command,
            "execution_id": o.execution_id,
            "detail": o.detail,
        }
        for o in outcomes
    ]
    return web.json_response({"status": "ok", "decisions": decisions})


async def list_commands(request: web.Request) -> web.Response:
    """The catalog with each command's effective policy and circuit state."""
    store = request.app[STORE]
    circuits = await blocking(request, store.circuits, request.app[INTAKE].clock())
    out = []
    for name in CATALOG:
        policy = store.config.effective(name)
        out.append(
            {
                "name": name,
                "summary": policy.spec.summary,
                "priority": policy.priority.value,
                "timeout_seconds": policy.timeout_seconds,
                "disruptive": policy.spec.disruptive,
                "enabled": policy.enabled,
                "dry_run": policy.dry_run,
                "cooldown_seconds": policy.cooldown_seconds,
                "retries": policy.retries,
                "parameters": sorted(policy.spec.parameters),
                "circuit": circuits[name],
            }
        )
    return web.json_response({"commands": out})


MAX_PARAM_INT = 2**53
MIN_PARAM_INT = -MAX_PARAM_INT
"""Integers a JSON number holds exactly; anything larger is refused, never stored."""


def _json_body(body: bytes) -> Any:
    """A request body as JSON: UTF-8, standard numbers only (no NaN or Infinity), nesting
    bounded by the parser (pydantic-core's, in Rust: a deep body is an error, not a
    RecursionError). Every failure is a 400 naming the body."""
    try:
        return from_json(body, allow_inf_nan=False, cache_strings=False)
    except ValueError as exc:
        raise PayloadError("body", f"invalid JSON: {exc}") from None


async def run_command(request: web.Request) -> web.Response:
    """An operator's manual run: 202 with the execution id (200 ``dry_run`` under dry-run)."""
    name = request.match_info["name"]
    params: dict[str, Any] = {}
    body = await request.read()
    if body.strip():
        data = _json_body(body)
        if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
            raise PayloadError("params", "must be an object of parameters")
        params = data.get("params", {})
        for key, value in params.items():
            if not isinstance(value, str | int | float | bool):
                raise PayloadError(f"params.{key}", "must be a string, number or boolean")
            if isinstance(value, int) and not MIN_PARAM_INT <= value <= MAX_PARAM_INT:
                raise PayloadError(f"params.{key}", "integer out of range")
            if isinstance(value, float) and not math.isfinite(value):  # 1e400 reads as inf
                raise PayloadError(f"params.{key}", "must be a finite number")
    store = request.app[STORE]
    execution_id = await blocking(request, submit, store, name, params, "manual")
    if store.config.effective(name).dry_run:  # recorded, not queued: nothing to accept
        reply = {"execution_id": execution_id, "status": "dry_run", "dry_run": True}
        return web.json_response(reply, status=200)
    reply = {"execution_id": execution_id, "status": "queued", "dry_run": False}
    return web.json_response(reply, status=202)


def _limit(request: web.Request, default: int = 50, most: int = 1000) -> int:
    raw = request.query.get("limit", str(default))
    # ASCII digits only (str.isdigit also takes "²" and other digits int() refuses), and few
    # of them: the value is echoed in the error, so it is cut short there too.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= most):
        raise PayloadError("limit", f"must be an integer from 1 to {most}", raw[:20])
    return int(raw)


async def list_executions(request: web.Request) -> web.Response:
    """Execution records, newest first; filters: command, status, limit."""
    query = request.query
    status = query.get("status")
    if status is not None and status not in {s.value for s in Status}:
        raise PayloadError("status", f"must be one of {', '.join(s.value for s in Status)}", status)
    command = query.get("command")
    if command is not None and command not in CATALOG:
        raise PayloadError("command", "not a catalog command", command)
    records = await blocking(
        request,
        request.app[STORE].list_executions,
        query.get("command"),
        query.get("status"),
        _limit(request),
    )
    return web.json_response({"executions": [dumps(r) for r in records]})


async def get_execution(request: web.Request) -> web.Response:
    """One execution record."""
    execution_id = request.match_info["id"]
    if not approvals.EXECUTION_ID.match(execution_id):  # never a key of ours: not looked up
        raise NotFound(f"no execution {execution_id[:80]!r}")
    record = await blocking(request, request.app[STORE].get_execution, execution_id)
    if record is None:
        raise NotFound(f"no execution {execution_id!r}")
    return web.json_response(dumps(record))


async def _answer(request: web.Request, action: Callable[..., Any]) -> web.Response:
    """Approve, reject or cancel one execution; body ``{"by": ..., "reason": ...}``."""
    execution_id = approvals.check_id(request.match_info["id"])
    data: Any = {}
    body = await request.read()
    if body.strip():
        data = _json_body(body)
        if not isinstance(data, dict):
            raise PayloadError("body", 'must be an object {"by": ..., "reason": ...}')
    by, reason = approvals.check_words(data.get("by", "api"), data.get("reason"))
    now = request.app[INTAKE].clock()
    record = await blocking(request, action, request.app[STORE], execution_id, by, reason, now)
    return web.json_response(dumps(record))


async def approve(request: web.Request) -> web.Response:
    """A person's yes: the execution is queued with its original priority (409 when its
    cooldown or circuit holds it back now, or it is no longer awaiting approval)."""
    return await _answer(request, approvals.approve)


async def reject(request: web.Request) -> web.Response:
    """A person's no: the execution ends ``rejected``; nothing runs."""
    return await _answer(request, approvals.reject)


async def cancel(request: web.Request) -> web.Response:
    """Cancel an execution that has not started (409 once it runs: never interrupted)."""
    return await _answer(request, approvals.cancel)


async def get_audit(request: web.Request) -> web.Response:
    """The audit trail, newest first; filters: event, command, reason, limit."""
    q = request.query
    entries = await blocking(
        request,
        audit.read,
        request.app[STORE].conn,
        _limit(request, 100),
        q.get("event"),
        q.get("command"),
        q.get("reason"),
    )
    return web.json_response({"entries": entries})


async def get_report(request: web.Request) -> web.Response:
    """The status report: JSON, or text for people with ``?format=text``."""
    fmt = request.query.get("format", "json")
    if fmt not in ("text", "json"):
        raise PayloadError("format", "must be text or json", fmt)
    data = await blocking(request, report.build, request.app[STORE])
    if fmt == "text":
        return web.Response(text=report.render_text(data), content_type="text/plain")
    return web.json_response(data)


async def list_circuits(request: web.Request) -> web.Response:
    """Every command's circuit."""
    store = request.app[STORE]
    circuits = await blocking(request, store.circuits, request.app[INTAKE].clock())
    return web.json_response({"circuits": circuits})


async def reset_circuit(request: web.Request) -> web.Response:
    """Close a command's circuit by hand."""
    name = request.match_info["name"]
    if name not in CATALOG:
        raise NotFound(f"no command {name!r} in the catalog")
    store = request.app[STORE]
    await blocking(request, store.reset_circuit, name, "api", request.app[INTAKE].clock())
    return web.json_response({"command": name, "open": False})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition (unauthenticated)."""
    body = await asyncio.get_running_loop().run_in_executor(
        request.app[EXECUTOR], generate_latest, request.app[REGISTRY]
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers (decisions can be made durable)."""
    await blocking(request, request.app[STORE].conn.ping)
    return web.json_response({"status": "ready"})


def add_routes(app: web.Application) -> None:
    """The routes of docs/architecture.md, "Contracts", plus the circuits."""
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/api/v1/commands", list_commands)
    app.router.add_post("/api/v1/commands/{name}", run_command)
    app.router.add_get("/api/v1/executions", list_executions)
    app.router.add_get("/api/v1/executions/{id}", get_execution)
    app.router.add_post("/api/v1/executions/{id}/approve", approve)
    app.router.add_post("/api/v1/executions/{id}/reject", reject)
    app.router.add_post("/api/v1/executions/{id}/cancel", cancel)
    app.router.add_get("/api/v1/audit", get_audit)
    app.router.add_get("/api/v1/report", get_report)
    app.router.add_get("/api/v1/circuits", list_circuits)
    app.router.add_delete("/api/v1/circuits/{name}", reset_circuit)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
