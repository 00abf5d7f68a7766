"""The platform client against a platform of the test's own (a real aiohttp server on a port).

It answers the way a broken platform might: slowly, with errors, with bodies that are not
what the contract says. Each answer must become the right result, never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import redis
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.config import ExporterConfig, load_config
from exporter.metrics import ExporterCollector
from exporter.platform_client import PlatformClient
from exporter.probes import Prober, make_redis
from tests.exporter.payloads import ready
from tests.services import free_port


def dead_redis() -> redis.Redis:
    """A client of the platform's Redis at a port where nothing listens."""
    return make_redis(load_config(None, redis_url=f"redis://127.0.0.1:{free_port()}/0"))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COMPONENTS = {name: {"ok": True} for name in ("env", "database", "redis", "polygon", "alpaca")}


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({"status": "healthy", "components": COMPONENTS})


async def healthy(request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy", "components": COMPONENTS})


async def degraded(request: web.Request) -> web.Response:
    body = {"status": "degraded", "components": {**COMPONENTS, "polygon": {"ok": False}}}
    return web.json_response(body, status=503)


async def crash(request: web.Request) -> web.Response:
    return web.Response(status=500, text="Internal Server Error")


async def gateway(request: web.Request) -> web.Response:
    return web.json_response({"detail": "upstream timed out"}, status=503)


async def queued(request: web.Request) -> web.Response:
    body = {"status": "queued", "job_id": "discovery_1", "poll_url": "/discovery/status?job_id=1"}
    return web.json_response(body, status=202)


async def results(request: web.Request) -> web.Response:
    return web.json_response(ready())


async def garbage(request: web.Request) -> web.Response:
    return web.Response(text="<html>oops</html>", content_type="text/html")


async def not_a_list(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready", "candidates": "AAPL,MSFT"})


async def odd_dates(request: web.Request) -> web.Response:
    return web.json_response(ready(cache_age_seconds="soon", timestamp="yesterday"))


async def iso_date(request: web.Request) -> web.Response:
    body = ready(timestamp="2027-01-15T08:00:00Z")
    del body["cache_age_seconds"]
    return web.json_response(body)


async def nothing_cached(request: web.Request) -> web.Response:
    return web.json_response({"detail": "no discovery results cached"}, status=404)


ROUTES: dict[str, Handler] = {
    "/slow": slow, "/healthy": healthy, "/degraded": degraded, "/crash": crash,
    "/gateway": gateway, "/queued": queued, "/results": results, "/garbage": garbage,
    "/not-a-list": not_a_list, "/last": nothing_cached, "/odd-dates": odd_dates,
    "/iso-date": iso_date,
}  # fmt: skip


@pytest.fixture
async def platform() -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in ROUTES.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, handler_cancellation=True)  # a client gone, a handler gone
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def client(platform: str) -> AsyncIterator[PlatformClient]:
    async with aiohttp.ClientSession() as session:
        yield PlatformClient(platform, session)


HEALTH = [
    ("/healthy", None, True),
    ("/degraded", None, False),  # a 503 with a health report is an answer: "degraded"
    ("/crash", "status", None),
    ("/gateway", "status", None),  # a 503 without a health report is a failure
    ("/slow", "timeout", None),
    ("/garbage", "status", None),
]


@pytest.mark.parametrize(("path", "failure", "is_healthy"), HEALTH, ids=[h[0] for h in HEALTH])
async def test_health(
    client: PlatformClient, path: str, failure: str | None, is_healthy: bool | None
) -> None:
    result = await client.health(path, 0.5)
    assert result.failure == failure
    assert result.healthy is is_healthy
    if failure == "timeout":
        assert result.duration_seconds >= 0.5
        assert result.http_status is None


DISCOVERY = [
    ("/results", "ready", None, 6),
    ("/queued", "queued", None, 0),  # 202 is "queued", not down
    ("/crash", None, "status", 0),
    ("/garbage", None, "status", 0),
    ("/not-a-list", None, "status", 0),
    ("/slow", None, "timeout", 0),
]


@pytest.mark.parametrize(
    ("path", "state", "failure", "count"), DISCOVERY, ids=[d[0] for d in DISCOVERY]
)
async def test_discovery(
    client: PlatformClient, path: str, state: str | None, failure: str | None, count: int
) -> None:
    result = await client.discovery(path, 0.5)
    assert result.state == state
    assert result.failure == failure
    assert len(result.payload.candidates if result.payload else ()) == count


async def test_results_are_dated_and_odd_dates_are_absent(client: PlatformClient) -> None:
    dated = (await client.discovery("/results", 0.5)).payload
    assert dated is not None
    assert dated.cache_age_seconds == 12.0
    odd = (await client.discovery("/odd-dates", 0.5)).payload
    assert odd is not None
    assert len(odd.candidates) == 6  # the results stay readable
    assert (odd.cache_age_seconds, odd.timestamp) == (None, None)
    iso = (await client.discovery("/iso-date", 0.5)).payload
    assert iso is not None
    assert iso.timestamp == 1_800_000_000.0  # 2027-01-15T08:00:00Z


async def test_routes(client: PlatformClient) -> None:
    found = {r.route: r.up for r in await client.routes(("/healthy", "/crash", "/last",
                                                            "/absent", "/slow"), 0.5)}  # fmt: skip
    assert found == {
        "/healthy": True,
        "/crash": True,  # it exists, broken or not
        "/last": True,  # a 404 about a resource ("no results cached"): the route exists
        "/absent": False,  # the framework's bare 404: the only "missing"
        "/slow": None,  # no answer: no verdict, never "missing"
    }


async def test_timeouts_are_counted_with_their_reason(platform: str) -> None:
    config = ExporterConfig.model_validate({
        "platform": {"url": platform, "health_path": "/slow", "discovery_path": "/queued"},
        "probes": {"health": {"interval_seconds": 1, "timeout_seconds": 0.3}},
    })  # fmt: skip
    conn = dead_redis()
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, conn)
        await prober.run_once()
        await prober.run_probe("health")
    conn.close()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(prober))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("amc_api_probes_total", route="health") == 2.0
    assert value("amc_api_probe_failures_total", route="health", reason="timeout") == 2.0
    assert value("amc_api_probe_failures_total", route="discovery", reason="timeout") == 0.0
    assert value("amc_exporter_probe_errors_total", probe="health") == 2.0
    assert value("amc_discovery_candidates") == 0.0


async def test_api_up_follows_the_most_recently_finished_core_probe(platform: str) -> None:
    config = ExporterConfig.model_validate({
        "platform": {"url": platform, "health_path": "/slow", "discovery_path": "/queued"},
        "probes": {"health": {"timeout_seconds": 0.3}},
    })  # fmt: skip
    conn = dead_redis()
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, conn)
        await prober.run_probe("discovery")
        assert prober.snapshot().api_up is True  # the discovery route answered (202)
        await prober.run_probe("health")
        # The older discovery answer must not keep an API that stopped answering "up".
        snapshot = prober.snapshot()
        assert snapshot.api_up is False
        assert snapshot.status == "down"
        await prober.run_probe("discovery")
        assert prober.snapshot().api_up is True
    conn.close()


async def test_an_unanswered_route_keeps_its_verdict_and_counts_an_error() -> None:
    app = web.Application()
    app.router.add_get("/here", healthy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    config = ExporterConfig.model_validate({
        "platform": {"url": f"http://127.0.0.1:{port}", "expected_routes": ["/here", "/gone"]},
        "probes": {"routes": {"timeout_seconds": 2}},
    })  # fmt: skip
    conn = dead_redis()
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, conn)
        await prober.run_probe("routes")
        assert prober.snapshot().routes_up == {"/here": True, "/gone": False}
        await runner.cleanup()  # the platform goes away: connections are refused
        await prober.run_probe("routes")
    conn.close()
    snapshot = prober.snapshot()
    assert snapshot.routes_up == {"/here": True, "/gone": False}  # unchanged, not "missing"
    assert snapshot.routes_missing == ("/gone",)
    assert prober.stats.errors["routes"] == 1


async def test_routes_never_answered_have_no_sample(client: PlatformClient) -> None:
    config = ExporterConfig.model_validate({
        "platform": {"url": client.base_url, "expected_routes": ["/slow", "/absent"]},
        "probes": {"routes": {"timeout_seconds": 0.3}},
    })  # fmt: skip
    conn = dead_redis()
    prober = Prober(config, client.session, conn)
    await prober.run_probe("routes")
    conn.close()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(prober))
    assert registry.get_sample_value("amc_api_route_up", {"route": "/slow"}) is None
    assert registry.get_sample_value("amc_api_route_up", {"route": "/absent"}) == 0.0
    assert registry.get_sample_value("amc_exporter_probe_errors_total", {"probe": "routes"}) == 1


class Clock:
    """A settable clock for the prober."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_refresh_shows_the_latest_results_until_two_cache_ttls(platform: str) -> None:
    config = ExporterConfig.model_validate({
        "platform": {"url": platform, "discovery_path": "/results"},
        "thresholds": {"cache_ttl_seconds": 60},
    })  # fmt: skip
    conn = dead_redis()
    clock = Clock(1_800_000_000.0)
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, conn, clock=clock)
        await prober.run_probe("discovery")  # ready, the results 12 s old
        prober.config = config.model_copy(
            update={"platform": config.platform.model_copy(update={"discovery_path": "/queued"})}
        )
        clock.now += 100  # 112 s old: the cache expired, the platform refreshes
        await prober.run_probe("discovery")
        view = prober.snapshot().discovery
        assert view is not None
        assert (view.state, view.refreshing, view.candidates) == ("queued", True, 6)
        assert view.results_age_seconds == 112
        clock.now += 8  # 120 s old: two cache TTLs, no refresh takes that long
        view = prober.snapshot().discovery
        assert view is not None
        assert (view.refreshing, view.candidates, view.quality_score) == (True, 0, None)
    conn.close()
