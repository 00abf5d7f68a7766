"""The status report: active episodes, recent executions, success rate, MTTR, open circuits,
and what waits for whom."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from remediator import approvals, keys, metrics
from remediator.queue import queues
from remediator.store import Store, dumps

RECENT = 10


def build(store: Store, now: float | None = None) -> dict[str, Any]:
    """Read the report's facts from Redis."""
    now = time.time() if now is None else now
    raw: dict[bytes, bytes] = store.conn.hgetall(keys.EXECUTION_COUNTS)  # type: ignore[assignment]
    outcomes: dict[str, int] = {}
    for field, value in raw.items():
        _, _, outcome = field.decode().partition("|")
        outcomes[outcome] = outcomes.get(outcome, 0) + int(value)
    finished = sum(outcomes.values())
    stats = store.stats()
    resolved = int(stats.get("resolution_count", 0))
    circuits = store.circuits(now)
    approvals.expire_overdue(store, now)
    return {
        "generated_at": now,
        "active_episodes": store.active_episodes(),
        "recent_executions": [dumps(r) for r in store.list_executions(limit=RECENT)],
        "executions": {
            "finished": finished,
            **{k: outcomes.get(k, 0) for k in metrics.OUTCOMES},
            "success_rate": round(outcomes.get("succeeded", 0) / finished, 4) if finished else None,
        },
        "resolved_episodes": resolved,
        "mttr_seconds": round(stats["resolution_sum"] / resolved, 3) if resolved else None,
        "open_circuits": {name: c for name, c in circuits.items() if c["open"]},
        "queue_depth": {q.name: q.count for q in queues(store.conn)},
        "lock_holder": store.lock_holder(),
        "waiting": approvals.waiting(store),
    }


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_text(data: dict[str, Any]) -> str:
    """The report for people."""
    ex = data["executions"]
    rate = "-" if ex["success_rate"] is None else f"{ex['success_rate']:.0%}"
    mttr = "-" if data["mttr_seconds"] is None else f"{data['mttr_seconds']:.0f}s"
    lines = [
        f"AMC remediator report, {_when(data['generated_at'])} UTC",
        f"executions finished: {ex['finished']} (succeeded {ex['succeeded']}, failed "
        f"{ex['failed']}, timed out {ex['timed_out']}, cancelled {ex['cancelled']}); "
        f"success rate {rate}",
        f"resolved episodes: {data['resolved_episodes']}; MTTR {mttr}",
        "queues: " + ", ".join(f"{k} {v}" for k, v in data["queue_depth"].items()),
        f"open circuits: {', '.join(data['open_circuits']) or 'none'}",
        f"active episodes: {len(data['active_episodes'])}",
    ]
    for ep in data["active_episodes"]:
        starts = float(ep.get("starts_at", 0))
        lines.append(
            f"  {ep.get('alertname', '?')} since {_when(starts)} -> {ep.get('command', '-')} "
            f"({ep.get('last_decision', '-')})"
        )
    lines.append(f"waiting: {len(data['waiting'])}")
    for item in data["waiting"]:
        until = "" if item["deadline"] is None else f" until {_when(item['deadline'])} UTC"
        lines.append(
            f"  {item['execution_id']} {item['command']} ({item['status']}) since "
            f"{_when(item['since'])} waits for {item['waits_for']}{until}"
        )
    lines.append("recent executions:")
    for rec in data["recent_executions"]:
        verified = {True: "verified", False: "not verified", None: "-"}[rec["verified"]]
        lines.append(
            f"  {_when(rec['created_at'])} {rec['command']} [{rec['trigger']}] "
            f"{rec['status']} {verified} attempts={rec['attempts']} {rec['error'] or ''}".rstrip()
        )
    return "\n".join(lines) + "\n"
