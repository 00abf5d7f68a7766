"""The Redis side of decisions on the server's hot path: state reads, commits, resolutions.

Each alert costs two round trips on the event loop (asyncio Redis, no threads): one script
reads the state the decision needs, one script records the decision atomically. Enqueued
decisions take the transactional path in ``intake`` instead (RQ writes its job there).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.connection import HiredisRespSerializer
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from remediator import audit, keys
from remediator.alerts import Alert
from remediator.config import RemediatorConfig
from remediator.decide import Decision, Reason, State

log = logging.getLogger(__name__)

# The state a decision depends on (KEYS are ``state_keys``; ARGV[1] starts the circuit window).
_STATE = """
local state = {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2]),
               redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]),
               redis.call('ZCOUNT', KEYS[5], '(' .. ARGV[1], '+inf')}
"""

READ_STATE = _STATE + "return state\n"

# Compare and commit a decision that takes no RQ job. It was decided on a state seen earlier
# (ARGV[2..6], '' for a missing value) or assumed: when the state now differs, nothing is
# written and the state is returned ({0, ...}) to decide again; else the decision is recorded
# ({1, circuit opened: 1 or 0}). A claiming decision (dry run) takes the claim with SET NX.
COMMIT = (
    _STATE
    + """
if state[1] ~= tonumber(ARGV[2]) or state[2] ~= tonumber(ARGV[3])
   or (state[3] or '') ~= ARGV[4] or (state[4] or '') ~= ARGV[5]
   or state[5] ~= tonumber(ARGV[6]) then
  return {0, state[1], state[2], state[3], state[4], state[5]}
end
if ARGV[7] == 'claim' then
  if not redis.call('SET', KEYS[1], ARGV[8], 'NX', 'EX', ARGV[9]) then
    return {0, 1, state[2], state[3], state[4], state[5]}
  end
elseif ARGV[7] == 'refresh' then
  redis.call('EXPIRE', KEYS[1], ARGV[9])
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HSET', KEYS[6], 'alertname', ARGV[10], 'fingerprint', ARGV[11],
             'starts_at', ARGV[12], 'first_seen', ARGV[13])
end
if ARGV[14] ~= '' then redis.call('HSETNX', KEYS[6], 'command', ARGV[14]) end
redis.call('HSET', KEYS[6], 'last_decision', ARGV[8])
redis.call('EXPIRE', KEYS[6], ARGV[9])
redis.call('ZADD', KEYS[7], 'NX', ARGV[12], ARGV[15])
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[16], '*', 'event', 'decision', 'data', ARGV[17])
local opened = 0
if ARGV[18] ~= '' then
  if redis.call('SET', KEYS[4], ARGV[18], 'NX', 'EX', ARGV[19]) then
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[16], '*', 'event', 'circuit_opened',
               'data', ARGV[20])
    opened = 1
  end
end
return {1, opened}
"""
)

# A state reply as Redis gave it: claimed, pending, cooldown, circuit open (raw or None),
# recent executions. NOTHING_RECORDED is the state assumed before reading any.
Seen = list[Any]
NOTHING_RECORDED: Seen = [0, 0, None, None, 0]

# MTTR is recorded by the first resolution of an episode only (repeats and HA twins); the
# audit entry carries the resolution time and, for a remediated episode, time to remediate.
CLOSE_EPISODE = """
local first = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if first then
  redis.call('HSET', KEYS[3], 'resolved_at', ARGV[3], 'resolution_seconds', ARGV[4])
  -- an episode never seen firing is created here: it must expire like the others
  redis.call('EXPIRE', KEYS[3], ARGV[1], 'NX')
  redis.call('HINCRBYFLOAT', KEYS[4], 'resolution_sum', ARGV[4])
  redis.call('HINCRBY', KEYS[4], 'resolution_count', 1)
end
local flat = redis.call('HGETALL', KEYS[3])
local episode = {}
for i = 1, #flat, 2 do episode[flat[i]] = flat[i + 1] end
local entry = cjson.decode(ARGV[6])
entry['first'] = first and true or false
entry['command'] = episode['command']
entry['execution_id'] = episode['execution_id']
if episode['remediated_at'] and episode['starts_at'] then
  entry['time_to_remediate_seconds'] =
    tonumber(episode['remediated_at']) - tonumber(episode['starts_at'])
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'event', 'decision',
           'data', cjson.encode(entry))
return {first and 1 or 0, flat}
"""


def state_keys(alert: Alert, command: str | None) -> list[str]:
    """The keys a decision about ``alert`` depends on."""
    name = command or "-"
    return [
        keys.claim(alert.dedup_key),
        keys.pending(name),
        keys.cooldown(name),
        keys.circuit_open(name),
        keys.circuit_window(name),
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def state_from_reply(reply: list[Any]) -> State:
    """The State from READ_STATE's reply."""
    claimed, pending, cooldown, opened, recent = reply
    return State(
        claimed=bool(claimed),
        pending=bool(pending),
        cooldown_until=_float(cooldown),
        circuit_open_until=_float(opened),
        recent_executions=int(recent),
    )


def decision_fields(
    alert: Alert, decision: Decision, now: float, execution_id: str | None
) -> dict[str, Any]:
    """A decision's audit entry."""
    fields = {
        "reason": decision.reason.value,
        "command": decision.command,
        "alertname": alert.alertname,
        "fingerprint": alert.fingerprint,
        "starts_at": alert.starts_at.isoformat(),
        "execution_id": execution_id,
        "detail": decision.detail,
        "ts": now,
    }
    return {k: v for k, v in fields.items() if v is not None}


class HiredisPacking(aioredis.Connection):
    """redis-py packs asyncio commands in Python and sync ones with hiredis: use hiredis here."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        """The same bytes as redis-py's own packer, built in C."""
        packed: list[bytes] = self._packer.pack(*args)
        return packed


def connect(url: str, timeout: float) -> aioredis.Redis:
    """The server's asyncio client. Its replies have no timeout of their own: the Pipeliner
    bounds each whole round trip instead (one timer per batch, not one per reply)."""
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=None, connection_class=HiredisPacking
    )


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
        self.waiting: list[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]] = []
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

    async def _send(
        self, batch: list[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]]
    ) -> None:
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

    async def _evalsha(
        self, batch: list[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        """One write of every call, then their replies in order (an error reply is the
        call's exception). EVALSHA directly: a redis-py pipeline that runs registered scripts
        asks SCRIPT EXISTS first, and its per-command machinery cost more than the scripts."""
        pool = self.conn.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(
                conn.pack_commands(
                    [("EVALSHA", script.sha, len(names), *names, *args)
                     for script, names, args, _ in batch]
                ),
                check_health=False,
            )  # fmt: skip
            replies: list[Any] = []
            for _ in batch:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # read whole: the next reply is the next call's
                    replies.append(exc)
            return replies
        except BaseException:
            await conn.disconnect()  # never leave a half-read connection in the pool
            raise
        finally:
            await pool.release(conn)


class Claims:
    """Async reads and writes of decisions (the server's event loop owns the client)."""

    def __init__(self, conn: aioredis.Redis, config: RemediatorConfig) -> None:
        self.conn = conn
        self.config = config
        self.pipeliner = Pipeliner(conn, config.redis_timeout_seconds)
        self._read = conn.register_script(READ_STATE)
        self._commit = conn.register_script(COMMIT)
        self._close = conn.register_script(CLOSE_EPISODE)

    def _window_start(self, command: str | None, now: float) -> float:
        window = self.config.effective(command).circuit.window_seconds if command else 0
        return now - window

    async def read_state(self, alert: Alert, command: str | None, now: float) -> tuple[State, Seen]:
        """What the decision needs, in one round trip: the State and the reply it came from."""
        reply = await self.pipeliner.call(
            self._read, state_keys(alert, command), [self._window_start(command, now)]
        )
        return state_from_reply(reply), reply

    async def commit(
        self, alert: Alert, command: str | None, decision: Decision, seen: Seen, now: float
    ) -> tuple[State, Seen] | None:
        """Record a decision that enqueues nothing if the state is still ``seen``.

        None once recorded; else the state as it is now, to decide again (another replica
        claimed the episode, a command's state changed, or ``seen`` was only assumed).
        """
        assert decision.reason is not Reason.ENQUEUED
        cfg = self.config
        mode = "claim" if decision.claims else "none"
        if decision.reason is Reason.DUPLICATE:
            mode = "refresh"  # repeats keep the claim alive
        fields = decision_fields(alert, decision, now, None)
        until, opened, seconds = "", "", 0
        if decision.opens_circuit and decision.command is not None:
            seconds = cfg.effective(decision.command).circuit.open_seconds
            until = repr(now + seconds)
            opened = json.dumps(
                {"event": "circuit_opened", "command": decision.command, "until": now + seconds,
                 "alertname": alert.alertname, "ts": now}
            )  # fmt: skip
        entry = json.dumps({"event": "decision", **fields})
        claimed, pending, cooldown, circuit, recent = seen
        args: list[str | int | float | bytes] = [
            self._window_start(command, now),
            claimed, pending, cooldown or "", circuit or "", recent,
            mode, decision.reason.value, cfg.dedup_ttl_seconds,
            alert.alertname, alert.fingerprint, alert.starts_at.timestamp(), now,
            decision.command or "", alert.dedup_key,
            cfg.retention.audit_max_len, entry, until, seconds, opened,
        ]  # fmt: skip
        names = [
            *state_keys(alert, command),
            keys.episode(alert.dedup_key), keys.EPISODES_ACTIVE, keys.AUDIT,
        ]  # fmt: skip
        reply = await self.pipeliner.call(self._commit, names, args)
        if not reply[0]:
            now_seen: Seen = reply[1:]
            return state_from_reply(now_seen), now_seen
        audit.log_entry("decision", entry)
        if reply[1]:  # the script opened it (not when the circuit was still open in Redis)
            audit.log_entry("circuit_opened", opened)
        return None

    async def close_episode(self, alert: Alert, now: float) -> tuple[bool, dict[str, str]]:
        """Record a resolution (MTTR once per episode) and audit it; (first?, episode)."""
        seconds = alert.resolution_seconds()
        fields: dict[str, Any] = {
            "event": "decision",
            "reason": Reason.RESOLVED.value,
            "alertname": alert.alertname,
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at.isoformat(),
            "resolution_seconds": seconds,
            "ts": now,
        }
        names = [
            keys.resolved(alert.dedup_key), keys.EPISODES_ACTIVE, keys.episode(alert.dedup_key),
            keys.STATS, keys.AUDIT,
        ]  # fmt: skip
        args: list[str | int | float] = [
            self.config.dedup_ttl_seconds, alert.dedup_key, now, seconds or 0.0,
            self.config.retention.audit_max_len, json.dumps(fields),
        ]  # fmt: skip
        first, flat = await self.pipeliner.call(self._close, names, args)
        episode = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        audit.log_entry("decision", {**fields, "first": bool(first), **episode})
        return bool(first), episode
