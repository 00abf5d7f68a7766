"""Just enough of PromQL to lint dashboard queries: every vector selector with its metric
name, label matchers, range and the function or aggregation directly around it.

Whether a query parses is promtool's business (``test_queries.py``); this reader only finds
what the rules look at, in queries that promtool accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<var>\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+(?:\.\d+)?(?:[smhdwy]|ms)?(?:\d+(?:[smhdwy]|ms))*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=])
  | (?P<punct>[{}()\[\],:@])
    """,
    re.VERBOSE,
)
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "atan2"}  # fmt: skip
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}  # fmt: skip

# What Grafana puts in place of its variables (All of job and instance is ".+").
VALUES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$job": ".+",
          "$instance": ".+"}  # fmt: skip


def substitute(expr: str, values: dict[str, str] = VALUES) -> str:
    """``expr`` as Grafana sends it to Prometheus."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    if "$" in expr:
        raise ValueError(f"a variable left in {expr}")
    return expr


@dataclass
class Selector:
    """One vector selector of a query."""

    name: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (op, value)
    range: str | None = None  # the text inside [...], as written
    around: str | None = None  # the function or aggregation whose argument it directly is


def tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) of every token; ValueError on a character PromQL does not have."""
    found, pos = [], 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"unexpected {expr[pos : pos + 10]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            found.append((kind, match.group()))
        pos = match.end()
    return found


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of ``expr``, in order."""
    toks = tokens(expr)
    found: list[Selector] = []
    stack: list[str | None] = []  # what each open parenthesis belongs to
    pending: str | None = None  # an aggregation waiting for its argument list
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        after = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text in GROUPING and after == "(":
            i = _skip(toks, i + 1, "(", ")")  # a label list
            continue
        aggregation = text in AGGREGATIONS and after in GROUPING
        if kind == "ident" and (aggregation or (after == "(" and text not in KEYWORDS)):
            pending = text
        elif kind == "ident" and text not in KEYWORDS and text != pending:
            selector, i = _selector(toks, i)
            selector.around = stack[-1] if stack else None
            found.append(selector)
            continue
        elif text == "(":
            stack.append(pending)
            pending = None
        elif text == ")":
            stack.pop()
        i += 1
    return found


def _skip(toks: list[tuple[str, str]], i: int, opening: str, closing: str) -> int:
    """The index after the ``closing`` that matches ``toks[i]`` (``opening``)."""
    depth = 0
    while i < len(toks):
        depth += {opening: 1, closing: -1}.get(toks[i][1], 0)
        i += 1
        if depth == 0:
            break
    return i


def _selector(toks: list[tuple[str, str]], i: int) -> tuple[Selector, int]:
    selector = Selector(toks[i][1])
    i += 1
    if i < len(toks) and toks[i][1] == "{":
        i += 1
        while toks[i][1] != "}":
            if toks[i][1] == ",":
                i += 1
                continue
            label, op, value = toks[i][1], toks[i + 1][1], toks[i + 2][1]
            selector.matchers[label] = (op, value[1:-1])
            i += 3
        i += 1
    if i < len(toks) and toks[i][1] == "[":
        end = _skip(toks, i, "[", "]")
        selector.range = "".join(text for _, text in toks[i + 1 : end - 1])
        i = end
    return selector, i
