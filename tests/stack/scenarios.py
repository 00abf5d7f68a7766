"""The loop's scenarios: one stack each, all launched at once by the session fixture
``scenarios`` (``conftest.py``), shared by every module under ``tests/stack/`` that reads a
running stack (the loop, the dashboards, the log-derived metrics).

``AMC_LOOP_SCENARIOS=healthy,HighErrorRate`` launches only those (for work on one test); the
tests of the others skip. CI launches all.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import wait_for
from tests.stack import loop
from tests.stack.platform import ServiceGroup, Stack, start_stack


@dataclass
class Scenario:
    """One stack, the faults put into it once it runs, and when."""

    faults: list[tuple[str, dict[str, Any]]]
    remediator: dict[str, Any] = field(default_factory=dict)  # merged into its config
    stack: Stack | None = None
    services: ServiceGroup | None = None
    started: float = 0.0
    error: BaseException | None = None
    wanted: bool = True

    def up(self) -> Stack:
        if not self.wanted:
            pytest.skip("not in AMC_LOOP_SCENARIOS")
        if self.error is not None:
            raise self.error
        assert self.stack is not None
        return self.stack


RULE_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "HighErrorRate": ("api_errors", {"ratio": 1}),
    "DiscoverySystemFailure": ("worker_wedged", {}),
    "AlgorithmQualityDegraded": ("low_quality", {}),
    "DataIntegrityCompromised": ("mock_data", {"kind": "demo"}),
}
SCENARIOS: dict[str, Scenario] = {
    **{rule: Scenario([fault]) for rule, fault in RULE_FAULTS.items()},
    # EMERGENCY_RESTART only pretends (dry-run), so HighErrorRate keeps firing and the
    # rules it inhibits fire too.
    "inhibition": Scenario(
        [("api_errors", {"ratio": 1})], {"commands": {"EMERGENCY_RESTART": {"dry_run": True}}}
    ),
    "provider": Scenario([("provider_down", {"provider": "polygon"})]),
    "database": Scenario([("database_down", {}), ("provider_down", {"provider": "alpaca"})]),
    # Beyond the exporter's discovery probe timeout (90 s): probes time out.
    "slow_api": Scenario([("api_latency", {"seconds": 95})]),
    "healthy": Scenario([]),
    # EMERGENCY_RESTART needs a person's yes while the change window is open: here all day,
    # every day (the window's edges are decide()'s table tests).
    "approval": Scenario(
        [("api_errors", {"ratio": 1})],
        {
            "commands": {"EMERGENCY_RESTART": {"approval": "in_window"}},
            "change_window": {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "00:00",
                "end": "24:00",
            },
        },
    ),
}


def _overlay(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _overlay(base[key], value) if both else value
    return merged


def launch(name: str, scenario: Scenario, root: Path) -> None:
    services = ServiceGroup(root / name)
    scenario.services = services
    try:

        def tweak(run_dir: Path) -> None:
            path = run_dir / "remediator.yml"
            config = yaml.safe_load(path.read_text())
            path.write_text(yaml.safe_dump(_overlay(config, scenario.remediator)))

        stack = start_stack(services, root / name, tweak=tweak)
        # Faults hit a running platform: once the exporter has seen it healthy.
        wait_for(lambda: loop.settled(stack), 120, "the stack to settle", step=1)
        scenario.started = time.time()
        for fault, options in scenario.faults:
            stack.set_fault(fault, **options)
        scenario.stack = stack
    except BaseException as exc:
        scenario.error = exc


def wanted() -> dict[str, Scenario]:
    names = os.environ.get("AMC_LOOP_SCENARIOS", "").strip()
    if not names:
        return SCENARIOS
    chosen = {name.strip() for name in names.split(",")}
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise pytest.UsageError(f"AMC_LOOP_SCENARIOS: unknown scenario(s) {sorted(unknown)}")
    for name, scenario in SCENARIOS.items():
        scenario.wanted = name in chosen
    return {name: SCENARIOS[name] for name in chosen}
