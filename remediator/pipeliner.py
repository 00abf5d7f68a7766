"""The server's asyncio Redis client, and the Pipeliner that batches its script calls.

Each request on the hot path costs script calls (``decisions``); the Pipeliner sends those of
concurrent requests together, one write and one round trip per batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A script call waiting for its batch: the script, its keys, its arguments, its reply to be.
Call = tuple[AsyncScript, list[str], list[Any], "asyncio.Future[Any]"]


def connect_async(url: str, timeout: float) -> aioredis.Redis:
    """The server's asyncio client. Its replies have no timeout of their own: the Pipeliner
    bounds each whole round trip instead (one timer per batch, not one per reply)."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=None)


def pack(batch: list[Call]) -> list[bytes]:
    """The EVALSHA of every call, packed by hiredis (redis-py's asyncio connections pack in
    Python, and ``pack_commands`` copies each command into a buffer once more)."""
    return [
        hiredis.pack_command(("EVALSHA", script.sha, len(names), *names, *args))
        for script, names, args, _ in batch
    ]


class Pipeliner:
    """Sends the script calls of concurrent requests together, one pipeline per round trip.

    Calls made while a round trip is in flight wait for it and then go together, so an idle
    server adds no delay and a busy one pays one round trip for many alerts. A round trip
    that takes longer than ``timeout`` fails every call in it with redis's TimeoutError (the
    cancelled read closes its connection, so no late reply is ever taken for another's).
    """

    def __init__(self, conn: aioredis.Redis, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.waiting: list[Call] = []
        # One batch is in flight at a time, so it has a connection of its own, taken from
        # the client's pool once (the pool's close closes it) and reconnected after an error.
        self.connection: aioredis.Connection | None = None
        self.flushing = False
        self.task: asyncio.Task[None] | None = None  # referenced, so it is never collected

    async def call(self, script: AsyncScript, names: list[str], args: list[Any]) -> Any:
        """Run one script call in the next pipeline; its reply or its error."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((script, names, args, future))
        if not self.flushing:
            self.flushing = True
            self.task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                await self._send(batch)
        finally:
            self.flushing = False

    async def _send(self, batch: list[Call]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                replies = await self._evalsha(batch)
                missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
                if missing:  # Redis restarted and forgot the scripts: load them, send again
                    for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                        await self.conn.script_load(script.script)
                    again = await self._evalsha([batch[i] for i in missing])
                    for i, reply in zip(missing, again, strict=True):
                        replies[i] = reply
        except TimeoutError:
            error = RedisTimeoutError(f"Redis did not answer within {self.timeout}s")
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        except Exception as exc:  # the connection failed: every caller gets the error
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    pack = staticmethod(pack)

    async def _evalsha(self, batch: list[Call]) -> list[Any]:
        """One write of every call, then their replies in order (an error reply is the
        call's exception). EVALSHA directly: a redis-py pipeline that runs registered scripts
        asks SCRIPT EXISTS first, and its per-command machinery costs more than the scripts
        (``bench/pipeliner.py``)."""
        if self.connection is None:
            self.connection = await self.conn.connection_pool.get_connection()
        conn = self.connection
        try:
            await conn.send_packed_command(self.pack(batch), check_health=False)
            replies: list[Any] = []
            for _ in batch:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # read whole: the next reply is the next call's
                    replies.append(exc)
            return replies
        except BaseException:
            await conn.disconnect()  # never read a late reply: the next batch reconnects
            raise
