"""Scale the durations of the production rule and routing files down for the demo.

The files in ``prometheus/rules/`` and ``alertmanager/`` stay the production ones; the local
stack loads copies in which every timer runs ``factor`` times faster: rule ``for:``, range
selectors and offsets, ``predict_linear`` horizons, the restated ``for:`` of the
time-to-trigger rules, and Alertmanager's group and repeat intervals.

The stack's platform runs its own timers ``factor`` times faster too (heartbeat, job timeout,
cache TTL), so the thresholds that restate them scale with them: in the groups of
``PLATFORM_TIMER_GROUPS``, a number compared with a ``*_seconds`` metric (``heartbeat age >
180``, ``oldest queued job age > 900``). Elsewhere a number of seconds is a fact the stack does
not scale (``amc_discovery_response_seconds > 60``: a response is as slow as it is) and stays.
"""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_TEXT = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_RANGE = re.compile(rf"\[({_DURATION_TEXT})(?::({_DURATION_TEXT}))?\]")
_OFFSET = re.compile(rf"\boffset\s+({_DURATION_TEXT})")
_PREDICT = re.compile(r"(predict_linear\((?:[^()]|\([^()]*\))*?,\s*)(\d+(?:\.\d+)?)(\s*\))")
_VECTOR = re.compile(r"\bvector\((\d+(?:\.\d+)?)\)")
# A *_seconds metric (with its matchers), a comparison, maybe `bool`, then the number.
_SECONDS_THRESHOLD = re.compile(
    r"(\b[a-zA-Z_:][\w:]*_seconds\b(?:\s*\{[^}]*\})?\s*(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?)"
    r"(\d+(?:\.\d+)?)\b"
)
TIMER_GROUPS = frozenset({"amc-decision-timers"})
"""Rule groups whose ``vector(N)`` literals restate ``for:`` durations in seconds."""
PLATFORM_TIMER_GROUPS = frozenset({"amc-platform"})
"""Rule groups whose thresholds on ``*_seconds`` metrics restate the platform's timers."""
ROUTE_TIMERS = ("group_wait", "group_interval", "repeat_interval")


def seconds(duration: str) -> float:
    """Seconds of a Prometheus duration such as ``1h30m``; ValueError when malformed."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def scale_duration(duration: str, factor: float) -> str:
    """``duration`` divided by ``factor``, in whole seconds (at least 1s)."""
    return f"{max(1, round(seconds(duration) / factor))}s"


def scale_expr(
    expr: str, factor: float, timers: bool = False, platform_timers: bool = False
) -> str:
    """An expression's ranges, offsets, horizons and, if asked, vector(N) and thresholds scaled."""

    def scale_range(match: re.Match[str]) -> str:
        window = scale_duration(match.group(1), factor)
        step = f":{scale_duration(match.group(2), factor)}" if match.group(2) else ""
        return f"[{window}{step}]"

    def number(text: str) -> str:
        return str(max(1, round(float(text) / factor)))

    expr = _RANGE.sub(scale_range, expr)
    expr = _OFFSET.sub(lambda m: f"offset {scale_duration(m.group(1), factor)}", expr)
    expr = _PREDICT.sub(lambda m: m.group(1) + number(m.group(2)) + m.group(3), expr)
    if timers:
        expr = _VECTOR.sub(lambda m: f"vector({number(m.group(1))})", expr)
    if platform_timers:
        expr = _SECONDS_THRESHOLD.sub(lambda m: m.group(1) + number(m.group(2)), expr)
    return expr


def scale_rules(doc: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of a Prometheus rule file with every timer scaled."""
    groups = []
    for group in doc.get("groups", []):
        timers = group.get("name") in TIMER_GROUPS
        platform_timers = group.get("name") in PLATFORM_TIMER_GROUPS
        rules = []
        for rule in group.get("rules", []):
            rule = dict(rule)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = scale_duration(str(rule[key]), factor)
            rule["expr"] = scale_expr(str(rule["expr"]), factor, timers, platform_timers)
            rules.append(rule)
        scaled = {**group, "rules": rules}
        if "interval" in group:
            scaled["interval"] = scale_duration(str(group["interval"]), factor)
        groups.append(scaled)
    return {**doc, "groups": groups}


def scale_route(route: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of an Alertmanager route tree with its group and repeat intervals scaled."""
    scaled = dict(route)
    for key in ROUTE_TIMERS:
        if key in scaled:
            scaled[key] = scale_duration(str(scaled[key]), factor)
    if "routes" in scaled:
        scaled["routes"] = [scale_route(child, factor) for child in scaled["routes"]]
    return scaled
