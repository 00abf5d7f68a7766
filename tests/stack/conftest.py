"""The session's loop stacks (``tests/stack/scenarios.py``), launched as soon as collection
ends when any collected test reads them: they then run their minutes while the rest of the
suite runs, instead of after it. The ``scenarios`` fixture waits for the launch to finish."""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.stack.scenarios import SCENARIOS, Scenario, launch, wanted

_launched: dict[str, Future[None] | Path] = {}


def _launch_all(root: Path) -> None:
    chosen = wanted()
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        list(pool.map(lambda item: launch(item[0], item[1], root), chosen.items()))


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any("scenarios" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    root = Path(tempfile.mkdtemp(prefix="amc-loop-"))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loop-launch")
    _launched["root"] = root
    _launched["launch"] = pool.submit(_launch_all, root)
    pool.shutdown(wait=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the stacks even when no test asked for them (all deselected or skipped)."""
    launch_done = _launched.pop("launch", None)
    if isinstance(launch_done, Future):
        launch_done.exception()  # wait: a stack half started is still stopped below
    for scenario in SCENARIOS.values():
        if scenario.services is not None:
            scenario.services.stop()
            scenario.services = None
    root = _launched.pop("root", None)
    if not isinstance(root, Path):
        return
    if session.testsfailed == 0:
        shutil.rmtree(root, ignore_errors=True)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"loop stacks' run directories and logs kept in {root}")


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Scenario]:
    launch_done = _launched.get("launch")
    assert isinstance(launch_done, Future), "the stacks launch when collection ends"
    launch_done.result()
    return SCENARIOS
