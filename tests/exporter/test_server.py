"""The server supervises its probe loop: a dead loop is reported and stops the process."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pytest_aiohttp import AiohttpClient

from exporter.config import ExporterConfig, load_config
from exporter.server import SUPERVISION, Supervision, create_app, supervise
from tests.services import free_port


def dead_ends() -> ExporterConfig:
    return load_config(
        None,
        platform_url=f"http://127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )


async def test_a_probe_loop_that_dies_is_logged_and_stops_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopped: list[bool] = []
    supervision = Supervision(stop=lambda: stopped.append(True))

    async def broken() -> None:
        raise RuntimeError("probe loop bug")

    task = asyncio.create_task(broken())
    task.add_done_callback(lambda t: supervise(t, supervision))
    with caplog.at_level(logging.CRITICAL, logger="exporter.server"):
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # done-callbacks run on the next turn of the loop
    assert stopped == [True]
    assert isinstance(supervision.died, RuntimeError)
    assert [r.getMessage() for r in caplog.records] == ["probe loop died; stopping"]


async def test_a_cancelled_probe_loop_is_a_normal_end() -> None:
    stopped: list[bool] = []
    supervision = Supervision(stop=lambda: stopped.append(True))
    task = asyncio.create_task(asyncio.sleep(60))
    task.add_done_callback(lambda t: supervise(t, supervision))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert stopped == []
    assert supervision.died is None


async def test_healthz_answers_503_once_the_probe_loop_is_dead(
    aiohttp_client: AiohttpClient,
) -> None:
    app = create_app(dead_ends(), stop=lambda: None)
    client = await aiohttp_client(app)
    response = await client.get("/healthz")
    assert response.status == 200
    app[SUPERVISION].died = RuntimeError("probe loop bug")
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["status"] == "probe loop dead"
