"""The dashboard linter's rules hold on every dashboard, and each can fail."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.grafana.conftest import UIDS, load
from tests.grafana.lint import RULES, panels

Board = dict[str, Any]


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_holds(board: Board, rule: str) -> None:
    assert RULES[rule](board) == []


def _text_edit(board: Board, pattern: str, replacement: str) -> Board:
    text, count = re.subn(pattern, replacement, json.dumps(board), count=1)
    assert count == 1, pattern
    return dict(json.loads(text))


def _rename_datasource_variable(board: Board) -> Board:
    for variable in board["templating"]["list"]:
        if variable["type"] == "datasource":
            variable["name"] = "ds"
    return board


def _drop_instance_variable(board: Board) -> Board:
    board["templating"]["list"] = [
        v for v in board["templating"]["list"] if v["name"] != "instance"
    ]
    return board


def _unfiltered_query(board: Board) -> Board:
    return _text_edit(board, r', instance=~\\"\$instance\\"', "")


def _first_panel(board: Board) -> dict[str, Any]:
    return next(iter(panels(board)))


def _no_description(board: Board) -> Board:
    _first_panel(board)["description"] = ""
    return board


def _no_unit(board: Board) -> Board:
    del _first_panel(board)["fieldConfig"]["defaults"]["unit"]
    return board


def _fixed_datasource(board: Board) -> Board:
    _first_panel(board)["targets"][0]["datasource"] = {"type": "prometheus",
                                                        "uid": "amc-prometheus"}  # fmt: skip
    return board


def _fixed_rate_range(board: Board) -> Board:
    return _text_edit(board, r"\[\$__rate_interval\]", "[5m]")


def _raw_counter(board: Board) -> Board:
    return _text_edit(board, r"rate\((\w+_total\{[^}]*\})\[\$__rate_interval\]\)", r"\1")


BREAKS: list[tuple[str, Callable[[Board], Board]]] = [
    ("template-datasource", _rename_datasource_variable),
    ("job-instance-templating", _drop_instance_variable),
    ("job-instance-templating", _unfiltered_query),
    ("panel-title-description", _no_description),
    ("panel-units", _no_unit),
    ("panel-datasource", _fixed_datasource),
    ("target-rate-interval", _fixed_rate_range),
    ("target-counter-agg", _raw_counter),
]


@pytest.mark.parametrize("uid", UIDS)
@pytest.mark.parametrize(("rule", "broken"), BREAKS, ids=[b.__name__[1:] for _, b in BREAKS])
def test_rule_fails_on_a_broken_copy(uid: str, rule: str, broken: Callable[[Board], Board]) -> None:
    board = broken(copy.deepcopy(load(uid)))
    assert RULES[rule](board) != []
    assert set(RULES) == {name for name, _ in BREAKS}  # every rule is proven able to fail
