"""VALIDATE_ALGORITHMS: each configured strategy run and validated, the best applied.

A strategy validates when its run finishes within ``platform.max_discovery_seconds`` with at
least ``platform.min_candidates`` candidates that pass the exporter's integrity checks
(scores in range, distinct, plausible symbols, no mock markers). The best valid strategy has
the most trade-ready candidates, then the highest mean score. With ``apply_best`` (the
default) it is applied through UPDATE_CONFIGURATION's path and discovery runs once more so
that users get its results.
"""

from __future__ import annotations

from typing import Any

from remediator.commands import configuration
from remediator.commands.base import Command, Context, Verification
from remediator.commands.discovery import run_discovery, symptoms
from remediator.commands.view import snapshot


def judge(ctx: Context, run: dict[str, Any]) -> list[str]:
    """What is wrong with one strategy's run (nothing: it validates)."""
    platform = ctx.config.platform
    results = run.get("results") or {}
    problems = []
    if run.get("job_status") != "finished" or run.get("skipped"):
        problems.append(f"job {run.get('job_status')}: {run.get('error') or 'skipped'}")
    elif not results.get("ours"):
        problems.append("its results were not found (another run replaced them)")
    else:
        if results.get("count", 0) < platform.min_candidates:
            problems.append(f"{results.get('count', 0)} candidates (< {platform.min_candidates})")
        problems += results.get("integrity_reasons", [])
    seconds = run.get("job_seconds")
    if seconds is not None and seconds > platform.max_discovery_seconds:
        problems.append(f"took {seconds:.1f}s (> {platform.max_discovery_seconds:g}s)")
    return problems


def _rank(item: tuple[str, dict[str, Any]]) -> tuple[int, float]:
    results = item[1].get("results") or {}
    return results.get("trade_ready", 0), results.get("mean_score") or 0.0


def validate(ctx: Context) -> dict[str, Any]:
    """Run and judge every strategy; apply the best; refresh the results."""
    runs: dict[str, dict[str, Any]] = {}
    for strategy in ctx.config.platform.strategies:
        run = run_discovery(ctx, strategy)
        runs[strategy] = {**run, "problems": judge(ctx, run)}
    valid = {name: run for name, run in runs.items() if not run["problems"]}
    failing = sorted(set(runs) - set(valid))
    chosen = max(valid.items(), key=_rank)[0] if valid else None
    outcome: dict[str, Any] = {"strategies": runs, "failing": failing, "chosen": chosen}
    apply_best = bool(ctx.params.get("apply_best", True))
    if chosen is not None and apply_best:
        outcome["applied"] = configuration.apply(ctx, {"scoring_strategy": chosen})
        outcome["refreshed"] = run_discovery(ctx)
    return outcome


def verify(ctx: Context) -> Verification:
    """A strategy validated; when applied, the results users get come from it, with enough
    candidates, fast enough."""
    result = ctx.record.result or {}
    chosen, failing = result.get("chosen"), result.get("failing", [])
    if chosen is None:
        return Verification(False, f"no strategy validates (failing: {', '.join(failing)})",
                            {"failing": failing})  # fmt: skip
    if "applied" not in result:
        return Verification(True, f"{chosen} validates (not applied)", {"chosen": chosen})
    seen = symptoms(snapshot(ctx))
    refreshed = (result.get("refreshed") or {}).get("results") or {}
    platform = ctx.config.platform
    ok = (
        refreshed.get("strategy") == chosen
        and (seen["candidates"] or 0) >= platform.min_candidates
        and (seen["response_seconds"] or 0) <= platform.max_discovery_seconds
    )
    checks = {"chosen": chosen, "failing": failing, "results_strategy": refreshed.get("strategy"),
              **seen}  # fmt: skip
    reason = f"{chosen} applied and serving" if ok else f"{chosen} applied, symptoms remain"
    return Verification(ok, reason, checks)


VALIDATE_ALGORITHMS = Command(run=validate, verify=verify)
