"""The aiohttp application: factory, the auth-and-errors middleware, resources in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import uvloop
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_request import BaseRequest
from prometheus_client import CollectorRegistry

from amc_core import logs
from remediator import api, openapi
from remediator.config import RemediatorConfig
from remediator.decisions import Decisions
from remediator.errors import (
    Conflict,
    NotFound,
    PayloadError,
    Rejected,
    RemediatorError,
    StoreUnavailable,
)
from remediator.intake import Intake
from remediator.metrics import IntakeMetrics, RedisCollector
from remediator.pipeliner import connect_async
from remediator.store import Store, connect

log = logging.getLogger(__name__)

LOG_FLUSH_SECONDS = 0.5
REQUEST_HEAD_SECONDS = 15.0
"""How long a connection may take to send a request's headers (and how long it may idle
between requests): aiohttp's keep-alive timer also runs from the connection's start and
closes one whose request has not arrived whole, so slow senders do not hold sockets."""
HTTP_LOG = logging.getLogger("remediator.http")
PUBLIC = frozenset({"/metrics", "/healthz", "/readyz", openapi.PATH})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATUS: list[tuple[type[RemediatorError], int, str]] = [
    (PayloadError, 400, "invalid_request"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (Rejected, 409, "rejected"),
    (StoreUnavailable, 503, "redis_unavailable"),
]


def _error(status: int, error: str, detail: object) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


class _NoRequestText(logging.Filter):
    """aiohttp logs a request it cannot parse at ERROR with the offending line, which can be
    the Authorization header: log the kind of error only, as the warning it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code < 500:
            record.msg, record.args = "malformed HTTP request refused: %s", (type(exc).__name__,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


HTTP_LOG.addFilter(_NoRequestText())
# aiohttp's connection settings: bodies are read as sent (a compressed one is refused, 415,
# before it is inflated), and the connection logs through the filter above.
HANDLER_ARGS: dict[str, object] = {"auto_decompress": False, "logger": HTTP_LOG}


def _refuse(status: int, error: str, detail: str) -> web.Response:
    """An error reply that also closes the connection: the request's body, if any, is never
    read (nor waited for, nor drained)."""
    response = _error(status, error, detail)
    response.force_close()
    return response


def guard(token: str, max_body_bytes: int, max_concurrent: int) -> Middleware:
    """The one middleware: the bearer token on every route but /metrics, /healthz and
    /readyz, then domain errors as JSON ``{"error", "detail"}`` with their status.

    Before the token, what the headers alone refuse: a declared body over the size limit
    (413, not waited for) and any ``Content-Encoding`` (415: Alertmanager sends plain JSON,
    and the server does not decompress, so a compressed body costs nothing unread). Beyond
    ``max_concurrent`` requests in progress, the next is a 503 at once (Alertmanager sends
    it again): a flood waits in no queue and holds no thread; the probes are not counted.

    One layer rather than two: it runs on every webhook.
    """
    expected = token.encode()
    in_progress = 0

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_progress
        if request.path in PUBLIC:
            return await _checked(request, handler)
        if in_progress >= max_concurrent:
            response = _refuse(503, "overloaded", f"more than {max_concurrent} requests at once")
            response.headers["Retry-After"] = "1"
            return response
        in_progress += 1
        try:
            return await _checked(request, handler)
        finally:
            in_progress -= 1

    async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > max_body_bytes:
            detail = f"the body may have at most {max_body_bytes} bytes"
            return _refuse(413, "request_entity_too_large", detail)
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            detail = "Content-Encoding is not supported: send the body uncompressed"
            return _refuse(415, "unsupported_media_type", detail)
        if request.path not in PUBLIC:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            # aiohttp keeps bytes that are not UTF-8 as surrogates: compare them as bytes
            secret = given.encode(errors="surrogateescape")
            if scheme.lower() != "bearer" or not hmac.compare_digest(secret, expected):
                response = _refuse(401, "unauthorized", "missing or invalid bearer token")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        try:
            return await handler(request)
        except Exception as exc:
            return _error_response(request, exc)

    return check


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    """The JSON reply of an error raised by a handler (redirects are raised on)."""
    if isinstance(exc, PayloadError):
        return _error(400, "invalid_request", {"field": exc.field, "message": exc.message})
    if isinstance(exc, RemediatorError):
        for kind, status, name in _STATUS:
            if isinstance(exc, kind):
                if status == 503:
                    log.warning("503: %s", exc)
                return _error(status, name, str(exc))
        log.error("unhandled remediator error", exc_info=exc)
        return _error(500, "internal", str(exc))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _error(500, "internal", "unexpected error; see the remediator's log")


def create_app(
    config: RemediatorConfig,
    token: str,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The remediator's application; Redis and the thread pool live in cleanup_ctx."""
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[guard(token, config.max_body_bytes, config.max_concurrent_requests)],
        handler_args=HANDLER_ARGS,
    )
    app[api.REGISTRY] = registry if registry is not None else CollectorRegistry()
    app[api.TOKEN] = token
    intake_metrics = IntakeMetrics(app[api.REGISTRY], config.alerts)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        pool_size = config.intake_threads + 4
        conn = connect(config.redis_url, config.redis_timeout_seconds)
        aconn = connect_async(config.redis_url, config.redis_timeout_seconds)
        executor = ThreadPoolExecutor(pool_size, thread_name_prefix="remediator")
        store = Store(conn, config)
        collector = RedisCollector(conn)
        app[api.REGISTRY].register(collector)
        app[api.STORE] = store
        decisions = Decisions(aconn, config)
        app[api.INTAKE] = Intake(store, decisions, intake_metrics, clock, executor)
        app[api.EXECUTOR] = executor
        yield
        app[api.REGISTRY].unregister(collector)
        executor.shutdown(wait=True)
        await aconn.aclose()
        conn.close()

    app.cleanup_ctx.append(resources)
    api.add_routes(app)
    openapi.add_route(app)
    return app


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler, except that a request it cannot parse (an invalid byte
    in a header, a header over the size limit) is answered without the offending line, which
    may be the Authorization header. aiohttp offers no hook for this reply; the behaviour
    relied on is pinned by ``tests/remediator/test_integration.py``."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError) and status < 500:
            message = "malformed HTTP request"
        return super().handle_error(request, status, exc, message)


async def _run(app: web.Application, host: str, port: int, listening: Callable[[], None]) -> None:
    """Serve ``app`` on ``host:port`` with ``_Connection`` until SIGTERM or SIGINT, then stop
    taking connections, let the requests in progress finish, and clean up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        server = runner.server
        assert server is not None
        handler_args = {**HANDLER_ARGS, "keepalive_timeout": REQUEST_HEAD_SECONDS,
                        "access_log": None}  # fmt: skip
        listener = await loop.create_server(
            lambda: _Connection(server, loop=loop, **handler_args),  # type: ignore[arg-type]
            host, port, reuse_address=True,
        )  # fmt: skip
        listening()
        await stop.wait()
        listener.close()
        await listener.wait_closed()
    finally:
        await runner.cleanup()


def serve(config: RemediatorConfig, token: str) -> None:
    """Run the server until SIGTERM or SIGINT (its log is buffered: see ``logs.setup``)."""
    host, _, port = config.listen.rpartition(":")
    logs.setup(buffered=True)
    app = create_app(config, token)

    async def flushing(app: web.Application) -> AsyncIterator[None]:
        # first in, last out: the lines the thread pool logs while it drains are written too
        flusher = asyncio.get_running_loop().create_task(logs.flush_every(LOG_FLUSH_SECONDS))
        yield
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        logs.flush()

    async def freeze(app: web.Application) -> None:
        # Everything alive now lives as long as the server: keep it out of the collector's
        # generations, so that its full collections stay short (they are the latency tail).
        gc.collect()
        gc.freeze()

    def listening() -> None:  # once the socket is bound
        log.info("remediator listening", extra={"listen": config.listen})

    app.cleanup_ctx.insert(0, flushing)
    app.on_startup.append(freeze)  # after the cleanup contexts have set up
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_run(app, host.strip("[]"), int(port), listening))
