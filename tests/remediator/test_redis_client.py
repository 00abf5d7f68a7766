"""What our two redis-py workarounds rely on, tested against the installed redis-py and a
real Redis: the Pipeliner (hand-driven EVALSHA batches, hiredis packing) and the pipelines
that log after they executed. ``bench/pipeliner.py`` measures why the first is kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as redis_lib
from redis.connection import Encoder, PythonRespSerializer
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from remediator import pipelines
from remediator.pipeliner import Pipeliner, connect_async, pack
from tests.services import RedisServer

ARGS: list[tuple[list[str], list[Any]]] = [
    (["amc:remediator:claim:x", "rq:queue"], [1.5, -3, 0.1 + 0.2, 1800003600.123456]),
    (["k"], ["vål€ur 🚀", 60, "", "x" * 10_000]),
    ([], [b"\x00\xff binary", b"", 10**18, '{"a": 1e-7, "b": "\\n"}']),
]


@pytest.mark.parametrize(("names", "args"), ARGS)
def test_hiredis_packs_the_bytes_redis_py_packs(names: list[str], args: list[Any]) -> None:
    script = redis_lib.Redis().register_script("return 1")
    ours = b"".join(pack([(script, names, args, None)]))  # type: ignore[list-item]
    encoder = Encoder("utf-8", "strict", False)
    python = PythonRespSerializer(6000, encoder.encode)
    assert ours == b"".join(python.pack("EVALSHA", script.sha, len(names), *names, *args))


async def test_a_batch_gets_its_replies_in_order_errors_included(redis_url: str) -> None:
    conn = connect_async(redis_url, 2.0)
    try:
        pipeliner = Pipeliner(conn, 2.0)
        echo = conn.register_script("return ARGV[1]")
        fail = conn.register_script("return redis.error_reply('no ' .. ARGV[1])")
        await conn.script_load(echo.script)
        await conn.script_load(fail.script)
        calls = [pipeliner.call(fail if n % 3 == 0 else echo, [], [n]) for n in range(30)]
        replies = await asyncio.gather(*calls, return_exceptions=True)
        for n, reply in enumerate(replies):
            if n % 3 == 0:
                assert isinstance(reply, ResponseError)
                assert str(reply) == f"no {n}"
            else:
                assert reply == str(n).encode()
        # the connection went back to the pool whole: the next call reads its own reply
        assert await pipeliner.call(echo, [], ["after"]) == b"after"
    finally:
        await conn.aclose()


async def test_a_forgotten_script_is_a_noscript_error_and_is_sent_again(redis_url: str) -> None:
    assert issubclass(NoScriptError, ResponseError)
    conn = connect_async(redis_url, 2.0)
    try:
        script = conn.register_script("return 'x' .. ARGV[1]")
        await conn.script_flush()
        assert await Pipeliner(conn, 2.0).call(script, [], ["y"]) == b"xy"
    finally:
        await conn.aclose()


async def test_a_round_trip_over_its_time_fails_the_batch_and_drops_the_connection(
    own_redis_server: RedisServer,
) -> None:
    conn = connect_async(own_redis_server.url, 2.0)
    try:
        pipeliner = Pipeliner(conn, 0.3)
        echo = conn.register_script("return ARGV[1]")
        await conn.script_load(echo.script)
        with own_redis_server.paused():
            calls = [pipeliner.call(echo, [], [n]) for n in range(5)]
            replies = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in replies)
        # the late replies were never read into another call: that connection is gone
        assert await pipeliner.call(echo, [], ["fresh"]) == b"fresh"
    finally:
        await conn.aclose()


def test_callbacks_run_after_execute_with_their_command_s_reply(
    redis: redis_lib.Redis, redis_url: str
) -> None:  # ``redis``: an empty database, so INCRBY starts from nothing
    seen: list[Any] = []
    with pipelines.Redis.from_url(redis_url) as conn, conn.pipeline() as pipe:
        pipe.multi()
        pipe.set("amc:test:a", "1")
        pipelines.after_execute(pipe, lambda: seen.append("executed"))
        pipe.incrby("amc:test:n", 5)
        pipelines.after_reply(pipe, seen.append)
        pipe.get("amc:test:a")
        pipelines.after_reply(pipe, seen.append)
        assert seen == []
        pipe.execute()
    assert seen == ["executed", 5, b"1"]


def test_callbacks_of_a_transaction_lost_to_watch_never_run(
    redis: redis_lib.Redis, redis_url: str
) -> None:
    seen: list[Any] = []
    with pipelines.Redis.from_url(redis_url) as conn:
        with conn.pipeline() as pipe:
            pipe.watch("amc:test:w")
            redis.set("amc:test:w", "changed")  # another client
            pipe.multi()
            pipe.set("amc:test:w", "mine")
            pipelines.after_execute(pipe, lambda: seen.append("executed"))
            with pytest.raises(redis_lib.WatchError):
                pipe.execute()
            # redis-py's execute resets the pipeline, so a retry starts from nothing
            assert isinstance(pipe, pipelines.Pipeline)
            assert pipe.after_execute == []
            assert pipe.command_stack == []
            assert not pipe.watching
        assert seen == []
        assert conn.get("amc:test:w") == b"changed"


def test_only_our_pipelines_take_callbacks(redis: redis_lib.Redis) -> None:
    with redis.pipeline() as pipe, pytest.raises(TypeError):
        pipelines.after_execute(pipe, lambda: None)
