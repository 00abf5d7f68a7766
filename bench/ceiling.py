"""The ceiling of bench/webhook.py: the least a Python + Redis webhook receiver can do.

``python -m bench.ceiling --listen 127.0.0.1:PORT --redis URL [--token-file PATH]``

It takes Alertmanager's notification with the stack ``amc-remediator serve`` uses (aiohttp on
uvloop, redis.asyncio with the hiredis parser, pydantic-core's JSON reader and writer, the
collector frozen after start-up, no access log) and does, per request, what any receiver that
claims alerts durably must: check the bearer token (when ``--token-file`` is given), parse the
body, and in one pipelined round trip (no MULTI) for each alert ``SET NX`` its claim key with
an expiry and ``RPUSH`` the alert to a list; then it answers 200 with whether each alert was
new. Nothing else: no validation beyond a fingerprint per alert, no policy, no episode, no
audit, no log line, no metrics, no limit on requests in progress. So it is the bar our
intake's cost is measured against, not a design to copy.

Keys: ``ceiling:claim:<fingerprint>`` (``CLAIM_SECONDS``) and the list ``ceiling:alerts``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hmac
import signal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop
from aiohttp import web
from pydantic_core import from_json, to_json

CLAIM_SECONDS = 3600
ALERTS = "ceiling:alerts"
CLAIM_PREFIX = "ceiling:claim:"
REDIS = web.AppKey("redis", aioredis.Redis)
JSON = "application/json"


def _bad(detail: str, status: int = 400) -> web.Response:
    return web.Response(body=to_json({"error": detail}), status=status, content_type=JSON)


def create_app(redis_url: str, token: str | None) -> web.Application:
    """The receiver: ``POST /webhook`` and ``GET /healthz``."""
    expected = f"Bearer {token}".encode() if token is not None else None

    async def webhook(request: web.Request) -> web.Response:
        if expected is not None:
            given = request.headers.get("Authorization", "").encode(errors="surrogateescape")
            if not hmac.compare_digest(given, expected):
                return _bad("unauthorized", 401)
        try:
            message = from_json(await request.read())
            alerts = message["alerts"]
            fingerprints = [str(a["fingerprint"]) for a in alerts]
        except (ValueError, TypeError, KeyError):
            return _bad("not an Alertmanager notification")
        pipe = request.app[REDIS].pipeline(transaction=False)
        for alert, fingerprint in zip(alerts, fingerprints, strict=True):
            pipe.set(CLAIM_PREFIX + fingerprint, b"1", nx=True, ex=CLAIM_SECONDS)
            pipe.rpush(ALERTS, to_json(alert))
        replies = await pipe.execute()
        claimed = [bool(r) for r in replies[::2]]
        body = {"status": "ok", "alerts": [
            {"fingerprint": f, "new": c} for f, c in zip(fingerprints, claimed, strict=True)
        ]}  # fmt: skip
        return web.Response(body=to_json(body), content_type=JSON)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type=JSON)

    async def resources(app: web.Application) -> Any:
        app[REDIS] = aioredis.Redis.from_url(redis_url, socket_timeout=5.0)
        yield
        await app[REDIS].aclose()

    async def freeze(app: web.Application) -> None:
        gc.collect()
        gc.freeze()

    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.on_startup.append(freeze)
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/healthz", healthz)
    return app


async def _run(app: web.Application, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--redis", required=True, help="redis://HOST:PORT/DB")
    parser.add_argument("--token-file", type=Path, help="bearer token checked on /webhook")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    token = args.token_file.read_text().strip() if args.token_file else None
    app = create_app(args.redis, token)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_run(app, host.strip("[]"), int(port)))


if __name__ == "__main__":
    main()
