"""The session's loop stacks: see ``tests/stack/scenarios.py``."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.stack.scenarios import SCENARIOS, Scenario, launch, wanted


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Scenario]]:
    root = tmp_path_factory.mktemp("loop")
    chosen = wanted()
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        list(pool.map(lambda item: launch(item[0], item[1], root), chosen.items()))
    yield SCENARIOS
    for scenario in SCENARIOS.values():
        if scenario.services is not None:
            scenario.services.stop()
