"""Each command's circuit: its state, a reset by hand, and a close by timeout audited once.

An open circuit is a key that expires with its open period, so nothing happens when it
closes by itself. Reading a circuit remembers that it was seen open; read closed again (and
not reset by hand), it closed by its timeout: the read that finds so audits it, once.
"""

from __future__ import annotations

from typing import Any

import redis

from remediator import audit, keys
from remediator.commands.catalog import CATALOG
from remediator.config import RemediatorConfig
from remediator.decisions import as_float

# How long a circuit seen open is remembered (a closure unseen for longer is not audited).
SEEN_TTL_SECONDS = 7 * 86400

# {1, until} while open; {2, audit entry} once on the first read after it closed by itself.
_OBSERVE = """
local open = redis.call('GET', KEYS[1])
if open then
  redis.call('SET', KEYS[2], open, 'EX', ARGV[1])
  return {1, open}
end
local seen = redis.call('GET', KEYS[2])
if not seen then return {0, false} end
redis.call('DEL', KEYS[2])
local entry = cjson.encode({event = 'circuit_closed', command = ARGV[2], by = 'timeout',
                            open_until = tonumber(seen), ts = tonumber(ARGV[3])})
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'event', 'circuit_closed',
           'data', entry)
return {2, entry}
"""


class Circuits:
    """The circuits of every catalog command, in the remediator's Redis."""

    def __init__(self, conn: redis.Redis, config: RemediatorConfig) -> None:
        self.conn = conn
        self.config = config
        self._observe = conn.register_script(_OBSERVE)

    def states(self, now: float) -> dict[str, dict[str, Any]]:
        """Each command's circuit: open or closed, until when, recent alert-triggered runs."""
        max_len = self.config.retention.audit_max_len
        pipe = self.conn.pipeline(transaction=False)
        for name in CATALOG:
            window = self.config.effective(name).circuit.window_seconds
            names = [keys.circuit_open(name), keys.circuit_seen(name), keys.AUDIT]
            args: list[str | float] = [SEEN_TTL_SECONDS, name, now, max_len]
            self._observe(keys=names, args=args, client=pipe)
            pipe.zcount(keys.circuit_window(name), f"({now - window}", "+inf")
            pipe.get(keys.cooldown(name))
        replies = pipe.execute()
        out: dict[str, dict[str, Any]] = {}
        for index, name in enumerate(CATALOG):
            (state, value), recent, cooldown = replies[index * 3 : index * 3 + 3]
            if state == 2:
                audit.log_entry("circuit_closed", value.decode())
            out[name] = {
                "open": state == 1,
                "open_until": as_float(value) if state == 1 else None,
                "recent_executions": int(recent),
                "cooldown_until": as_float(cooldown),
            }
        return out

    def reset(self, command: str, who: str, now: float) -> None:
        """Close a circuit by hand and forget its window."""
        pipe = self.conn.pipeline()
        pipe.delete(
            keys.circuit_open(command), keys.circuit_window(command), keys.circuit_seen(command)
        )
        fields = {"command": command, "by": who, "ts": now}
        audit.append(pipe, "circuit_reset", fields, self.config.retention.audit_max_len)
        pipe.execute()
