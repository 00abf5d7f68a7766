"""The HTTP API's OpenAPI description (``remediator/openapi.yaml``): valid, served, complete,
and the contract that thousands of generated and malformed requests to the real
``amc-remediator serve`` are held to: only documented statuses (no 5xx but the documented
503), no execution behind a refusal, never the token in a reply."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import redis as redis_lib
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from remediator.commands.catalog import CATALOG
from remediator.config import parse_config
from remediator.server import create_app
from tests.remediator.conftest import TOKEN
from tests.remediator.stack import Served, send_raw

SPEC_PATH = Path(__file__).resolve().parents[2] / "remediator" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]


def _documented(operation: dict[str, Any]) -> set[int]:
    return {int(code) for code in operation["responses"]}


def _public(operation: dict[str, Any]) -> bool:
    return operation.get("security", SPEC["security"]) == []


def test_the_description_is_valid_openapi() -> None:
    validate(SPEC)


def test_every_route_the_app_serves_is_described_and_nothing_else(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    app = create_app(parse_config({"token": {"file": str(token)}}), "t")
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    described = {(method, path) for method, path, _ in OPERATIONS}
    assert served == described


def test_the_description_is_served_without_the_token(served: Served) -> None:
    status, body = send_raw(served.base, "GET", "/api/v1/openapi.json", None, {})
    assert status == 200
    assert json.loads(body) == SPEC


def _example_path(path: str) -> str:
    return path.replace("{name}", "HEALTH_CHECK").replace("{id}", "no-such-execution")


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_described_route_answers_with_a_described_status(
    served: Served, method: str, path: str, operation: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    body = b"{}" if method == "POST" else None
    if path == "/webhook":
        body = json.dumps({"status": "firing", "alerts": []}).encode()
    status, _ = send_raw(served.base, method, _example_path(path), body, headers)
    assert status != 405
    assert status in _documented(operation), (method, path, status)
    if not _public(operation):
        status, _ = send_raw(served.base, method, _example_path(path), body, {})
        assert status == 401


# What generated requests are made of: printable junk and the shapes the API knows.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
PATH_VALUES = st.sampled_from([*CATALOG, "alert-0", "manual-x"]) | TEXT
# Numbers as people and scripts write them, and as they should not: other scripts' digits
# (str.isdigit accepts "²", int() does not), huge ones, signs and fractions.
NUMBERS = (
    st.integers().map(str)
    | st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=6)
    | st.integers(4000, 6000).map(lambda n: "9" * n)
    | st.floats().map(str)
)
QUERY_VALUES = TEXT | NUMBERS | st.sampled_from(["queued", "json", "text", *CATALOG])
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"params": st.dictionaries(TEXT, JSON, max_size=3)}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries(
        {"status": st.sampled_from(["firing", "resolved", "x"]),
         "alerts": st.lists(st.dictionaries(TEXT, JSON, max_size=6), max_size=3)}
    ).map(lambda v: json.dumps(v).encode()),
)  # fmt: skip
AUTH = st.sampled_from(["good", "none", "wrong", "scheme"])
MAX_REQUEST_LINE = 8190  # aiohttp's: a longer request line may be a 400 before any route


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], bytes | None, str]:
    method, path, operation = draw(st.sampled_from(OPERATIONS))
    filled = re.sub(r"\{\w+\}", lambda _: quote(draw(PATH_VALUES), safe=""), path)
    query = draw(st.dictionaries(
        st.sampled_from(["limit", "status", "command", "event", "reason", "format", "x"]),
        QUERY_VALUES, max_size=3,
    ))  # fmt: skip
    if query:
        filled += "?" + urlencode(query)
    return method, filled, operation, draw(BODIES), draw(AUTH)


def _executions(conn: redis_lib.Redis) -> set[str]:
    return {key.decode().rsplit(":", 1)[-1] for key in conn.scan_iter("amc:remediator:execution:*")}


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests())
def test_generated_requests_get_described_statuses_and_start_nothing_unasked(
    served: Served, request_: tuple[str, str, dict[str, Any], bytes | None, str]
) -> None:
    base, conn = served.base, served.redis
    method, path, operation, body, auth = request_
    headers = {"Content-Type": "application/json"}
    headers |= {"good": {"Authorization": f"Bearer {TOKEN}"}, "none": {},
                "wrong": {"Authorization": "Bearer nope"},
                "scheme": {"Authorization": f"Basic {TOKEN}"}}[auth]  # fmt: skip
    before = _executions(conn)
    status, reply = send_raw(base, method, path, body, headers)
    assert status < 500, (method, path, body, status, reply[:300])
    assert TOKEN.encode() not in reply
    if len(f"{method} {path} HTTP/1.1") > MAX_REQUEST_LINE and status == 400:
        assert _executions(conn) == before  # refused by the HTTP parser, before any route
        return
    allowed = _documented(operation) | {404}  # a path value that names nothing
    if "{" in next(p for m, p, o in OPERATIONS if o is operation):
        allowed |= {400}
    assert status in allowed, (method, path, status, reply[:300])
    new = _executions(conn) - before
    if auth != "good" and not _public(operation):
        assert status == 401
        assert not new
    if status >= 400:
        assert not new, (method, path, status)
    elif new:  # only an accepted run or an alert's decision creates one, and says so
        assert all(name.encode() in reply for name in new), (new, reply[:300])
