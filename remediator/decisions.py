"""A decision's Redis effects, written in one place: the scripts that read and commit them.

A decision reads one state (``READ_STATE``) and records itself with one script, ``COMMIT``:
its claim, its episode, the circuit it opens and its audit entry, only if the state is still
the one it was decided on. Both ways of deciding run that same script: on the event loop
(``Decisions``, for decisions that record no execution, batched by the ``Pipeliner``), and inside
the WATCH/MULTI transaction that also writes an execution and its RQ job
(``Store.write_decision``). Resolutions close their episode with ``CLOSE_EPISODE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from remediator import audit, keys
from remediator.alerts import Alert
from remediator.config import RemediatorConfig
from remediator.decide import Decision, Reason, State
from remediator.pipeliner import Pipeliner

# The state a decision depends on (KEYS are ``state_keys``; ARGV[1] starts the circuit
# window): the claim's kind (the decision that took it), pending, cooldown, circuit, recent.
_STATE = """
local state = {redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2]),
               redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]),
               redis.call('ZCOUNT', KEYS[5], '(' .. ARGV[1], '+inf')}
"""

READ_STATE = _STATE + "return state\n"

# Open a command's circuit unless it is open already; audit it. 1 when it opened it.
_OPEN_CIRCUIT = """
local function open_circuit(key, stream, open_until, seconds, max_len, entry)
  if not redis.call('SET', key, open_until, 'NX', 'EX', seconds) then return 0 end
  redis.call('XADD', stream, 'MAXLEN', '~', max_len, '*', 'event', 'circuit_opened',
             'data', entry)
  return 1
end
"""

# KEYS: a command's circuit, the audit stream. ARGV: until, seconds, audit length, entry.
OPEN_CIRCUIT = _OPEN_CIRCUIT + "return open_circuit(KEYS[1], KEYS[2], unpack(ARGV))\n"

# Compare and commit a decision. KEYS: ``state_keys``, the episode, the active episodes, the
# audit stream. ARGV: [1] the circuit window's start; [2..6] the state decided on ('' for a
# missing value); [7] claim|refresh|none; [8] the reason; [9] the dedup TTL; [10..13] the
# alert (name, fingerprint, startsAt, first seen); [14] command or ''; [15] dedup key;
# [16] audit length; [17] the decision's entry; [18..20] the circuit it opens (until,
# seconds, entry) or ''; [21] the execution id or ''. When the state differs, nothing is
# written and the state is returned ({0, ...}) to decide again; else {1, circuit opened}.
COMMIT = (
    _STATE
    + _OPEN_CIRCUIT
    + """
if (state[1] or '') ~= ARGV[2] or state[2] ~= tonumber(ARGV[3])
   or (state[3] or '') ~= ARGV[4] or (state[4] or '') ~= ARGV[5]
   or state[5] ~= tonumber(ARGV[6]) then
  return {0, state[1], state[2], state[3], state[4], state[5]}
end
if ARGV[7] == 'claim' then
  if not redis.call('SET', KEYS[1], ARGV[8], 'NX', 'EX', ARGV[9]) then
    return {0, redis.call('GET', KEYS[1]), state[2], state[3], state[4], state[5]}
  end
elseif ARGV[7] == 'refresh' then
  redis.call('EXPIRE', KEYS[1], ARGV[9])
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HSET', KEYS[6], 'alertname', ARGV[10], 'fingerprint', ARGV[11],
             'starts_at', ARGV[12], 'first_seen', ARGV[13])
else  -- a repeat, or an episode its resolution created (notifications out of order)
  redis.call('HSETNX', KEYS[6], 'alertname', ARGV[10])
  redis.call('HSETNX', KEYS[6], 'fingerprint', ARGV[11])
  redis.call('HSETNX', KEYS[6], 'starts_at', ARGV[12])
  redis.call('HSETNX', KEYS[6], 'first_seen', ARGV[13])
end
if ARGV[14] ~= '' then redis.call('HSETNX', KEYS[6], 'command', ARGV[14]) end
if ARGV[21] ~= '' then redis.call('HSET', KEYS[6], 'execution_id', ARGV[21]) end
redis.call('HSET', KEYS[6], 'last_decision', ARGV[8])
redis.call('EXPIRE', KEYS[6], ARGV[9])
redis.call('ZADD', KEYS[7], 'NX', ARGV[12], ARGV[15])
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[16], '*', 'event', 'decision', 'data', ARGV[17])
local opened = 0
if ARGV[18] ~= '' then
  opened = open_circuit(KEYS[4], KEYS[8], ARGV[18], ARGV[19], ARGV[16], ARGV[20])
end
return {1, opened}
"""
)

# A state reply as Redis gave it: claim kind, pending, cooldown, circuit open (raw or None),
# recent executions. NOTHING_RECORDED is the state assumed before reading any.
Seen = list[Any]
NOTHING_RECORDED: Seen = [None, 0, None, None, 0]

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
local data = cjson.encode(entry)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'event', 'decision', 'data', data)
return {first and 1 or 0, flat, data}
"""

# The claims of decisions that recorded an execution: a repeat names that execution.
RECORDED_EXECUTION = frozenset({Reason.ENQUEUED.value, Reason.AWAITING_APPROVAL.value})


def command_keys(command: str | None) -> list[str]:
    """The keys of a command's state: pending mark, cooldown, open circuit, window."""
    name = command or "-"
    return [
        keys.pending(name),
        keys.cooldown(name),
        keys.circuit_open(name),
        keys.circuit_window(name),
    ]


def state_keys(dedup_key: str, command: str | None) -> list[str]:
    """The keys a decision about an episode (its dedup key) depends on."""
    return [keys.claim(dedup_key), *command_keys(command)]


def window_start(config: RemediatorConfig, command: str | None, now: float) -> float:
    """Where the command's circuit window starts (ARGV[1] of the state scripts)."""
    return now - (config.effective(command).circuit.window_seconds if command else 0)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def as_float(value: Any) -> float | None:
    """A Redis value as a float (None stays None)."""
    return None if value is None else float(value)


def state_from_reply(reply: Seen) -> State:
    """The State from READ_STATE's reply (or COMMIT's when it refused)."""
    claim, pending, cooldown, opened, recent = reply
    return State(
        claim=_text(claim) or None,
        pending=bool(pending),
        cooldown_until=as_float(cooldown),
        circuit_open_until=as_float(opened),
        recent_executions=int(recent),
    )


def execution_id_for(alert: Alert) -> str:
    """The execution and RQ job id of an alert's episode: derived from its dedup key."""
    return f"alert-{alert.dedup_key}"


def recorded_execution(alert: Alert, state: State) -> str | None:
    """The execution an episode's claim says was recorded for it (a repeat's reply names it)."""
    return execution_id_for(alert) if state.claim in RECORDED_EXECUTION else None


def decision_fields(
    alert: Alert, decision: Decision, now: float, execution_id: str | None
) -> dict[str, Any]:
    """A decision's audit entry."""
    fields = {
        "event": "decision",
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


def circuit_opening(
    config: RemediatorConfig, command: str, alertname: str, now: float
) -> tuple[str, int, str]:
    """The opening of ``command``'s circuit now: until when (as Redis stores it), for how
    many seconds, and its ``circuit_opened`` audit entry as JSON."""
    seconds = config.effective(command).circuit.open_seconds
    entry = json.dumps(
        {"event": "circuit_opened", "command": command, "until": now + seconds,
         "alertname": alertname, "ts": now}
    )  # fmt: skip
    return repr(now + seconds), seconds, entry


@dataclass(frozen=True)
class Commit:
    """One COMMIT call: its keys and arguments, and the audit entries it writes (as JSON)."""

    names: list[str]
    args: list[str | int | float | bytes]
    entry: str
    circuit_entry: str

    def log(self, reply: list[Any]) -> None:
        """Copy the entries a committed reply wrote to the JSON log."""
        audit.log_entry("decision", self.entry)
        if reply[1]:  # the script opened it (not when the circuit was still open in Redis)
            audit.log_entry("circuit_opened", self.circuit_entry)


def commit_call(
    config: RemediatorConfig,
    alert: Alert,
    command: str | None,
    decision: Decision,
    seen: Seen,
    now: float,
    execution_id: str | None = None,
) -> Commit:
    """The COMMIT call that records ``decision`` if the state is still ``seen``."""
    mode = "claim" if decision.claims else "none"
    if decision.reason is Reason.DUPLICATE:
        mode = "refresh"  # repeats keep the claim alive
    until, seconds, opened = "", 0, ""
    if decision.opens_circuit and decision.command is not None:
        until, seconds, opened = circuit_opening(config, decision.command, alert.alertname, now)
    entry = json.dumps(decision_fields(alert, decision, now, execution_id))
    claim, pending, cooldown, circuit, recent = seen
    args: list[str | int | float | bytes] = [
        window_start(config, command, now),
        claim or "", pending, cooldown or "", circuit or "", recent,
        mode, decision.reason.value, config.dedup_ttl_seconds,
        alert.alertname, alert.fingerprint, alert.starts_at.timestamp(), now,
        decision.command or "", alert.dedup_key,
        config.retention.audit_max_len, entry, until, seconds, opened, execution_id or "",
    ]  # fmt: skip
    names = [
        *state_keys(alert.dedup_key, command),
        keys.episode(alert.dedup_key), keys.EPISODES_ACTIVE, keys.AUDIT,
    ]  # fmt: skip
    return Commit(names, args, entry, opened)


class Decisions:
    """Decisions that record no execution, read and committed on the event loop (asyncio Redis)."""

    def __init__(self, conn: aioredis.Redis, config: RemediatorConfig) -> None:
        self.conn = conn
        self.config = config
        self.pipeliner = Pipeliner(conn, config.redis_timeout_seconds)
        self._read = conn.register_script(READ_STATE)
        self._commit = conn.register_script(COMMIT)
        self._close = conn.register_script(CLOSE_EPISODE)

    async def read(self, alert: Alert, command: str | None, now: float) -> tuple[State, Seen]:
        """What the decision needs, in one round trip: the State and the reply it came from."""
        args = [window_start(self.config, command, now)]
        reply = await self.pipeliner.call(self._read, state_keys(alert.dedup_key, command), args)
        return state_from_reply(reply), reply

    async def commit(
        self, alert: Alert, command: str | None, decision: Decision, seen: Seen, now: float
    ) -> tuple[State, Seen] | None:
        """Record a decision that records no execution if the state is still ``seen``.

        None once recorded; else the state as it is now, to decide again (another replica
        claimed the episode, a command's state changed, or ``seen`` was only assumed).
        """
        assert not decision.records_execution
        call = commit_call(self.config, alert, command, decision, seen, now)
        reply = await self.pipeliner.call(self._commit, call.names, call.args)
        if not reply[0]:
            now_seen: Seen = reply[1:]
            return state_from_reply(now_seen), now_seen
        call.log(reply)
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
        first, flat, entry = await self.pipeliner.call(self._close, names, args)
        episode = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        audit.log_entry("decision", entry.decode())  # the stream's entry, as it is
        return bool(first), episode
