"""UPDATE_CONFIGURATION: typed runtime settings of the platform, applied through its
configuration actuator, with the before and after recorded.

The settings are validated against ``Settings`` (and the strategy against the configured
``platform.strategies``) before anything is sent; the actuator gets them as JSON (an HTTP
body, or a command's standard input), never on a command line. VALIDATE_ALGORITHMS applies
its choice through ``apply`` here.
"""

from __future__ import annotations

import json
from typing import Any

from remediator import actuators
from remediator.commands import params
from remediator.commands.base import Command, Context, Verification
from remediator.errors import CommandFailed

# Our parameter -> the platform's runtime setting.
PLATFORM_NAMES = {"strategy": "scoring_strategy", "limit": "discovery_limit"}


def settings(ctx: Context) -> dict[str, Any]:
    """The platform settings asked for, in the platform's names; CommandFailed when invalid."""
    try:
        parsed = params.parse(ctx.record.command, ctx.params, ctx.config.platform.strategies)
    except params.ParamsError as exc:
        raise CommandFailed(str(exc)) from None
    wanted = parsed.model_dump(exclude_none=True) if parsed is not None else {}
    if not wanted:
        raise CommandFailed("params: give at least one of strategy, limit")
    return {PLATFORM_NAMES[k]: v for k, v in wanted.items()}


def apply(ctx: Context, wanted: dict[str, Any]) -> dict[str, Any]:
    """Send ``wanted`` through the configuration actuator; before and after as it reports."""
    if ctx.config.platform.configuration is None:
        raise CommandFailed("no actuator configured for platform.configuration")

    def send() -> dict[str, Any]:
        outcome = actuators.for_role(ctx.config, "configuration", body=wanted)
        answer = _json(outcome.detail.get("body") or outcome.detail.get("stdout"))
        before = answer.get("before") if isinstance(answer, dict) else None
        return {"actuator": outcome.actuator, "before": before, "after": wanted}

    return ctx.step("apply settings", send)


def current(ctx: Context) -> dict[str, Any] | None:
    """The platform's settings read back through the actuator (HTTP GET of its URL), if it can."""
    if ctx.config.platform.configuration is None:
        return None
    detail = actuators.read_back(ctx.config, ctx.config.platform.configuration)
    answer = _json(detail.get("body")) if detail is not None else None
    return answer if isinstance(answer, dict) else None


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def update(ctx: Context) -> dict[str, Any]:
    """Validate the settings, then apply them."""
    wanted = ctx.step("validate settings", lambda: settings(ctx))
    return apply(ctx, wanted)


def verify_settings(ctx: Context, wanted: dict[str, Any]) -> Verification:
    """The platform reports ``wanted`` (read back), or the actuator accepted it."""
    seen = current(ctx)
    if seen is None:
        return Verification(
            True, "applied (the actuator cannot read settings back)", {"wanted": wanted}
        )
    differ = {k: seen.get(k) for k, v in wanted.items() if seen.get(k) != v}
    reason = "the platform reports the new settings" if not differ else f"still {differ}"
    return Verification(not differ, reason, {"wanted": wanted, "seen": seen})


def verify(ctx: Context) -> Verification:
    """The settings asked for are in force."""
    return verify_settings(ctx, (ctx.record.result or {}).get("after") or {})


UPDATE_CONFIGURATION = Command(run=update, verify=verify)
