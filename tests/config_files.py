"""The invalid configuration files of ``tests/data`` and the message each is refused with.

One convention for the three programs: ``tests/data/invalid-<program>-<what>.yml`` starts
with the line ``# error: <message>``, and loading the file fails with ``<path>: <message>``
(``amc_core.config``'s one format: ``<path>: <field>: <what is wrong> (got <value>)``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
MARK = "# error: "


def invalid_files(program: str) -> list[Path]:
    """The invalid files of ``program`` (exporter, remediator, sandbox), sorted."""
    return sorted(DATA.glob(f"invalid-{program}-*.yml"))


def expected_error(path: Path) -> str:
    """The whole message that loading ``path`` must fail with: its first line says."""
    first = path.read_text().splitlines()[0]
    assert first.startswith(MARK), f"{path.name} must start with '{MARK}<message>'"
    return f"{path}: {first.removeprefix(MARK)}"


def cases(program: str, first: int | None = None) -> list[object]:
    """``invalid_files(program)`` (the first ``first`` of them) as pytest parameters."""
    return [pytest.param(path, id=path.stem) for path in invalid_files(program)[:first]]
